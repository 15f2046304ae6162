/**
 * Issue 16, classes 1 and 2 (docs/design.md 4.12): a task's result or error that cannot be read
 * never wedges its worker, async tasks abandoned at their deadline give their place back, and a
 * worker whose loop is stuck outside any task is detected and replaced.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AbandonedError, PayloadError, Runtime, type Token } from '../src/index.js';

const tasks = new URL('./fixtures/unreadable.mjs', import.meta.url);

async function outcome(t: Token): Promise<{ outcome: string | undefined; value: unknown }> {
  const value = await t.then((v) => v, (e: unknown) => e);
  return { outcome: t.outcome, value };
}

describe('unreadable results and errors (one worker: a wedge would hang every later task)', () => {
  let rt: Runtime;
  beforeAll(async () => { rt = await Runtime.start({ tasks, workers: 1, asyncConcurrency: 2 }); });
  afterAll(async () => { await rt.close(); });
  const run = (name: string): Promise<{ outcome: string | undefined; value: unknown }> => {
    const a = rt.producer('p').submit(rt.task(name));
    if (!a.admitted) throw new Error(`not admitted: ${a.reason}`);
    return outcome(a);
  };
  const stillServes = async (): Promise<void> => { expect(await rt.run('inc', 41)).toBe(42); };

  it('a result whose then getter throws: rejected with what it threw, as a promise would; the worker carries on', async () => {
    const r = await run('thenGetterThrows');
    expect(r.outcome).toBe('rejected');
    expect(r.value).toBeInstanceOf(RangeError);
    expect((r.value as Error).message).toBe('then getter');
    await stillServes();
  });

  it('a Proxy result that throws on every trap: rejected with what reading its then threw', async () => {
    const r = await run('proxyResult');
    expect(r.outcome).toBe('rejected');
    expect((r.value as Error).message).toBe('trap');
    await stillServes();
  });

  it('a result whose getter throws while it is encoded: rejected with a PayloadError that says the result could not be sent', async () => {
    const r = await run('getterResult');
    expect(r.outcome).toBe('rejected');
    expect(r.value).toBeInstanceOf(PayloadError);
    expect((r.value as Error).message).toMatch(/the task's result \(an object\) could not be sent back/);
    await stillServes();
  });

  it.each([
    ['throwsProxy', /threw \(an object\) could not be sent back/],
    ['throwsSymbol', /threw \(a symbol\) could not be sent back/],
    ['throwsUnreadableError', /threw .*could not be sent back/],
    ['throwsErrorWithThrowingProp', /threw .*could not be sent back/],
    ['causeGetterThrows', /threw .*could not be sent back/],
  ])('%s: an error that cannot be read becomes a PayloadError of sluice\'s own; the worker carries on', async (name, message) => {
    const r = await run(name);
    expect(r.outcome).toBe('rejected');
    expect(r.value).toBeInstanceOf(PayloadError);
    expect((r.value as Error).message).toMatch(message);
    await stillServes();
  });

  it('a thenable whose then throws: rejected with the error', async () => {
    const r = await run('thenThrows');
    expect(r.outcome).toBe('rejected');
    expect(r.value).toBeInstanceOf(SyntaxError);
    await stillServes();
  });

  it('a thenable that settles twice, or throws after settling, settles once, with its first value', async () => {
    expect(await run('thenSettlesTwice')).toEqual({ outcome: 'fulfilled', value: 'first' });
    expect(await run('thenThrowsAfterResolve')).toEqual({ outcome: 'fulfilled', value: 'kept' });
    const nested = await run('thenResolvesHostile');
    expect(nested.outcome).toBe('rejected');
    expect(nested.value).toBeInstanceOf(RangeError);
    await stillServes();
    expect(rt.stats().workers[0]!.asyncInFlight).toBe(0);
  });

  it('Error.cause (an Error or any clonable value) and AggregateError.errors come back; a cyclic cause ends at its repeat', async () => {
    const c = await run('withCause');
    expect(c.outcome).toBe('rejected');
    const inner = (c.value as Error).cause as Error & { code?: string };
    expect(inner).toBeInstanceOf(TypeError);
    expect(inner.message).toBe('inner');
    expect(inner.code).toBe('E_INNER');
    expect(Object.keys(c.value as object)).not.toContain('cause'); // own and non-enumerable, as the constructor makes it
    expect(((await run('nonErrorCause')).value as Error).cause).toEqual({ detail: [1, 2] });
    const a = (await run('aggregate')).value as AggregateError;
    expect(a).toBeInstanceOf(AggregateError);
    expect(a.message).toBe('many');
    expect(a.errors[0]).toBeInstanceOf(RangeError);
    expect(a.errors[1]).toBe(42);
    expect((a.errors[2] as Error).cause).toBe('why');
    const cyc = (await run('cyclicCause')).value as Error;
    expect(cyc.message).toBe('a');
    expect((cyc.cause as Error).message).toBe('b');
    expect((cyc.cause as Error).cause).toBeUndefined();
  });
});

describe('async places (class 2)', () => {
  it('async tasks abandoned at their deadline give their place back: the worker runs the next task', async () => {
    const rt = await Runtime.start({ tasks, workers: 1, asyncConcurrency: 2 });
    try {
      const p = rt.producer('p');
      const stuck = [0, 1, 2, 3].map(() => p.submit(rt.task('neverSettles'), undefined, { deadlineMs: 30 }) as Token);
      for (const t of stuck) {
        const r = await outcome(t);
        expect(r.outcome).toBe('abandoned');
        expect(r.value).toBeInstanceOf(AbandonedError);
      }
      expect(await rt.run('inc', 1)).toBe(2);
      expect(rt.stats().workers[0]!.asyncInFlight).toBe(0);
    } finally {
      await rt.close({ timeoutMs: 1000 });
    }
  });

  it('a running async task cancelled with force gives its place back (the task runs on, ignored)', async () => {
    const rt = await Runtime.start({ tasks, workers: 1, asyncConcurrency: 1 });
    try {
      const t = rt.producer('p').submit(rt.task('neverSettles')) as Token;
      const next = rt.run('inc', 5); // queued behind the only place
      while (rt.stats().workers[0]!.asyncInFlight === 0) await new Promise((r) => setImmediate(r));
      expect(t.cancel({ force: true })).toBe(true);
      expect((await outcome(t)).outcome).toBe('abandoned');
      expect(await next).toBe(6);
    } finally {
      await rt.close({ timeoutMs: 1000 });
    }
  });
});

describe('a stalled worker (its loop stuck outside any task)', () => {
  it('is detected, reported in stats().events and replaced; what it ran is abandoned, what was queued runs', async () => {
    const rt = await Runtime.start({ tasks, workers: 1, stallMs: 100 });
    try {
      const p = rt.producer('p');
      const before = await rt.run('whereRan');
      const wedge = p.submit(rt.task('wedge')) as Token;
      while (rt.stats().workers[0]!.asyncInFlight === 0) await new Promise((r) => setImmediate(r));
      const queued = p.submit(rt.task('inc'), 1) as Token;
      expect(await queued).toBe(2);
      const w = await outcome(wedge);
      expect(w.outcome).toBe('abandoned');
      expect((w.value as Error).message).toMatch(/stalled/);
      expect(rt.stats().events.some((e) => /worker 0 stalled/.test(e))).toBe(true);
      expect(rt.stats().workers[0]!.restarts).toBe(1);
      expect(await rt.run('whereRan')).not.toBe(before);
    } finally {
      await rt.close({ timeoutMs: 1000 });
    }
  });
});
