// Issue 19 item 3: a task's own error classes come back as themselves (Runtime.start({ errors }),
// Runtime.attach(handle, { errors })): instanceof holds on the submitting thread, with the
// thrown error's own enumerable data, cause and AggregateError.errors (rebuilt recursively);
// registration is checked (unique names, Error subclasses only); a hostile class (a constructor
// that throws, getters and setters on its prototype) cannot break a drain (docs/design.md 4.12).
import v8 from 'node:v8';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, Runtime } from '../src/index.js';
import { errorRecord, rebuildError, type ErrorRecord } from '../src/runtime/codec.js';
import { Batch, Hostile, OtherQuotaError, QuotaError, SubQuotaError, Unnamed } from './fixtures/error-classes.mjs';

const tasks = new URL('./fixtures/error-classes-tasks.mjs', import.meta.url);

const thrown = async (p: PromiseLike<unknown>): Promise<Error> => {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
};

describe('registered error classes', () => {
  let rt: Runtime;
  beforeAll(async () => { rt = await Runtime.start({ tasks, workers: 1, warmUp: false, errors: [QuotaError, Unnamed, Batch, Hostile] }); });
  afterAll(async () => { await rt.close(); });

  it('a thrown QuotaError is a QuotaError: class, name, message, stack, own data, methods', async () => {
    for (const task of ['quota', 'asyncQuota']) {
      const err = await thrown(rt.run(task, 30));
      expect(err).toBeInstanceOf(QuotaError);
      expect(err).toBeInstanceOf(Error);
      expect(err.name).toBe('QuotaError');
      expect(err.message).toMatch(/^over quota/);
      expect(err.stack).toMatch(/error-classes-tasks\.mjs/); // the worker's stack
      const q = err as QuotaError;
      expect(q.code).toBe('E_QUOTA');
      expect(q.retryAfter).toBe(30);
      expect(q.retryAt(100)).toBe(130);
      expect(Object.keys(err).sort()).toEqual(['code', 'name', 'retryAfter']);
    }
  });

  it('through every path: a token, token.error, and a submitCallback callback', async () => {
    const p = rt.producer('p');
    const a = p.submit('quota', 1);
    expect(a.admitted).toBe(true);
    if (!a.admitted) return;
    expect(await thrown(a.token)).toBeInstanceOf(QuotaError);
    expect(a.token.error).toBeInstanceOf(QuotaError);
    const viaCallback = await new Promise<unknown>((resolve) => { p.submitCallback('quota', 2, (err) => resolve(err)); });
    expect(viaCallback).toBeInstanceOf(QuotaError);
  });

  it('a class that never set its name is matched by its class name (err.name stays Error)', async () => {
    const err = await thrown(rt.run('unnamed'));
    expect(err).toBeInstanceOf(Unnamed);
    expect(err.name).toBe('Error');
    expect((err as Error & { code: string }).code).toBe('E_UNNAMED');
  });

  it('an unregistered subclass comes back as its nearest registered ancestor, keeping its name', async () => {
    const err = await thrown(rt.run('sub'));
    expect(err).toBeInstanceOf(QuotaError);
    expect(err).not.toBeInstanceOf(SubQuotaError);
    expect(err.name).toBe('SubQuotaError');
    expect((err as QuotaError).retryAfter).toBe(5);
  });

  it('cause chains are rebuilt recursively, as own non-enumerable properties', async () => {
    const err = await thrown(rt.run('chained'));
    expect(err).toBeInstanceOf(QuotaError);
    expect(Object.getOwnPropertyDescriptor(err, 'cause')?.enumerable).toBe(false);
    const middle = err.cause as Error & { code: string };
    expect(middle).toBeInstanceOf(Unnamed);
    expect(middle.code).toBe('E_MID');
    expect(middle.message).toBe('middle');
    const inner = middle.cause as Error;
    expect(inner).toBeInstanceOf(TypeError);
    expect(inner.message).toBe('inner');
  });

  it('an AggregateError subclass keeps its errors, each rebuilt', async () => {
    const err = await thrown(rt.run('batch'));
    expect(err).toBeInstanceOf(Batch);
    expect(err).toBeInstanceOf(AggregateError);
    expect(err.message).toBe('two failed');
    const [a, b, c] = (err as AggregateError).errors as unknown[];
    expect(a).toBeInstanceOf(QuotaError);
    expect((a as QuotaError).retryAfter).toBe(1);
    expect(b).toBeInstanceOf(Unnamed);
    expect(c).toBe('not an error');
  });

  it('a hostile class (constructor throws here, prototype getters and a throwing setter) is rebuilt without running any of it; the drain goes on', async () => {
    expect(() => new Hostile('x')).toThrow(/must not run/); // on this thread its constructor throws
    const results = await Promise.all([
      thrown(rt.run('hostile')), rt.run('inc', 1), thrown(rt.run('hostile')), rt.run('inc', 2),
    ]);
    const [h1, one, h2, two] = results as [Error, number, Error, number];
    expect([one, two]).toEqual([2, 3]);
    for (const h of [h1, h2]) {
      expect(h).toBeInstanceOf(Hostile);
      expect(h.message).toBe('hostile');
      // Own data properties shadow the prototype's accessors: neither getter nor setter ran.
      expect((h as Error & { code: string }).code).toBe('E_HOSTILE');
      expect((h as Error & { detail: unknown }).detail).toEqual({ n: 1 });
    }
    expect(rt.stats().global.inFlight).toBe(0);
    expect(await rt.run('inc', 41)).toBe(42);
  });
});

describe('without registration', () => {
  it('an unregistered class comes back as an Error carrying its name and data (as before)', async () => {
    const rt = await Runtime.start({ tasks, workers: 1, warmUp: false });
    try {
      const err = await thrown(rt.run('quota', 3));
      expect(err).not.toBeInstanceOf(QuotaError);
      expect(Object.getPrototypeOf(err)).toBe(Error.prototype);
      expect(err.name).toBe('QuotaError');
      expect((err as QuotaError).retryAfter).toBe(3);
    } finally {
      await rt.close();
    }
  });

  it('an attached thread registers its own list: its errors are rebuilt, the starting thread\'s are not', async () => {
    const rt = await Runtime.start({ tasks, workers: 1, warmUp: false });
    try {
      const remote = await Runtime.attach(rt.handle, { errors: [QuotaError] });
      expect(await thrown(remote.run('quota', 1))).toBeInstanceOf(QuotaError);
      expect(await thrown(rt.run('quota', 1))).not.toBeInstanceOf(QuotaError);
      await expect(Runtime.attach(rt.handle, { errors: [QuotaError, OtherQuotaError] })).rejects.toBeInstanceOf(ConfigError);
      await remote.close();
    } finally {
      await rt.close();
    }
  });
});

describe('registration is checked (ConfigError, nothing started)', () => {
  class NotAnError {}
  class TypeError2 extends Error {}
  Object.defineProperty(TypeError2, 'name', { value: 'TypeError' });
  class Payload extends Error {}
  Object.defineProperty(Payload, 'name', { value: 'PayloadError' });
  const nameless = class extends Error {};
  Object.defineProperty(nameless, 'name', { value: '' });
  const trap = new Proxy(class P extends Error {}, { getOwnPropertyDescriptor() { throw new Error('trap'); } });
  const cases: [string, unknown, RegExp][] = [
    ['not an array', QuotaError, /errors must be an array/],
    ['a non-function', ['QuotaError'], /errors\[0\] must be an Error subclass/],
    ['an arrow function (no prototype)', [() => {}], /extends Error/],
    ['a class that does not extend Error', [NotAnError], /extends Error/],
    ['two classes with one name', [QuotaError, Unnamed, OtherQuotaError], /errors\[2\].*two classes are named 'QuotaError'/],
    ['a built-in name', [TypeError2], /built-in or sluice/],
    ["a sluice class's name", [Payload], /built-in or sluice/],
    ['an empty name', [nameless], /must have a name/],
    ['a Proxy whose traps throw', [trap], /reading errors\[0\] threw/],
  ];
  for (const [what, errors, message] of cases) {
    it(what, async () => {
      await expect(Runtime.start({ tasks, workers: 1, errors } as never)).rejects.toThrow(message);
      await expect(Runtime.start({ tasks, workers: 1, errors } as never)).rejects.toBeInstanceOf(ConfigError);
    });
  }
});

describe('rebuildError, the last line', () => {
  it('a registered class that cannot be rebuilt gives a plain Error with the name, saying so in rebuildFailed', () => {
    const rec: ErrorRecord = { name: 'QuotaError', message: 'm', stack: 's', props: { code: 'E' }, classes: ['QuotaError'] };
    // A prototype the option parser would never accept (not an object): Object.create throws.
    const err = rebuildError(rec, new Map([['QuotaError', 42 as unknown as object]]));
    expect(Object.getPrototypeOf(err)).toBe(Error.prototype);
    expect(err.name).toBe('QuotaError');
    expect((err as Error & { code: string }).code).toBe('E');
    expect((err as Error & { rebuildFailed: string }).rebuildFailed).toMatch(/could not rebuild the error as the registered class QuotaError/);
  });

  it('own properties are defined, never assigned: a __proto__ key cannot change the prototype', () => {
    const rec: ErrorRecord = { name: 'Error', message: 'm', stack: 's', props: JSON.parse('{"__proto__": {"polluted": true}}') as Record<string, unknown> };
    const err = rebuildError(rec);
    expect(Object.getPrototypeOf(err)).toBe(Error.prototype);
    expect((err as unknown as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('the rebuild, as a property (encode as a worker does, clone, decode)', () => {
  // A hierarchy Error <- L0 <- L1 <- L2 <- L3 (L2 extends AggregateError's branch: A0 <- A1).
  class L0 extends Error {}
  class L1 extends L0 {}
  class L2 extends L1 {}
  class L3 extends L2 {}
  class A0 extends AggregateError {}
  class A1 extends A0 {}
  const classes = [L0, L1, L2, L3, A0, A1] as const;
  const chain = (c: (typeof classes)[number]): (typeof classes)[number][] => {
    const out: (typeof classes)[number][] = [];
    for (let p = c as unknown; p !== Error && p !== AggregateError; p = Object.getPrototypeOf(p)) out.push(p as (typeof classes)[number]);
    return out;
  };
  const propValue = fc.oneof(fc.integer(), fc.string({ maxLength: 8 }), fc.boolean(), fc.constant(null));
  const props = fc.dictionary(fc.constantFrom('code', 'retryAfter', 'detail', 'status'), propValue, { maxKeys: 3 });

  it('an error comes back as its nearest registered class (else by its built-in), with its message and own data, through cause and errors', () => {
    fc.assert(fc.property(
      fc.subarray([...classes]), fc.array(fc.record({ cls: fc.constantFrom(...classes), props, message: fc.string({ maxLength: 12 }) }), { minLength: 1, maxLength: 4 }),
      (registered, links) => {
        // links[0] caused by links[1] caused by ...; an AggregateError link holds the next one in errors instead.
        const make = (i: number): Error => {
          const { cls, props: own, message } = links[i]!;
          const next = i + 1 < links.length ? make(i + 1) : undefined;
          const isAgg = cls === A0 || cls === A1;
          const err: Error = isAgg
            ? new (cls as typeof A0)(next === undefined ? [] : [next], message)
            : new (cls as typeof L0)(message, ...(next === undefined ? [] : [{ cause: next }]) as []);
          Object.assign(err, own);
          return err;
        };
        const map = new Map(registered.map((c) => [c.name, c.prototype as object]));
        const back = rebuildError(v8.deserialize(v8.serialize(errorRecord(make(0)))) as ErrorRecord, map);
        let got: unknown = back;
        for (let i = 0; i < links.length; i++) {
          const { cls, props: own, message } = links[i]!;
          const e = got as Error;
          const nearest = chain(cls).find((c) => registered.includes(c));
          const isAgg = cls === A0 || cls === A1;
          if (nearest !== undefined) expect(Object.getPrototypeOf(e)).toBe(nearest.prototype);
          else expect(Object.getPrototypeOf(e)).toBe(isAgg ? AggregateError.prototype : Error.prototype);
          expect(e.message).toBe(message);
          for (const [k, v] of Object.entries(own)) expect((e as unknown as Record<string, unknown>)[k]).toEqual(v);
          if (isAgg) expect((e as AggregateError).errors.length).toBe(i + 1 < links.length ? 1 : 0);
          got = isAgg ? (e as AggregateError).errors[0] : e.cause;
        }
        expect(got).toBeUndefined();
      },
    ), { numRuns: 300 });
  });
});
