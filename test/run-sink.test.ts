// rt.run's two ways of being settled (docs/design.md §4.6 step 3, src/runtime/producer.ts
// _submitRun): its common case (no options, a task without retries or queue timeout) makes no
// Token, its admission is tracked like a callback's (RUN_SINK) and resolved by the drain, close,
// a cancel by key or a dead worker's abandon; any other case settles the call from its Token
// (Token._settleInto), with no second promise. Either way, waiting for capacity or not, the
// call's promise settles exactly once with what a Token would have delivered, and the books
// (producer counters, the token table) balance.
// No sleeps: capacity is held by a task blocked on the 'sluice-test' channel (fixtures/tasks.mjs).
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { AbandonedError, RejectedError, RetractedError, Runtime, type Token } from '../src/index.js';
import { internals } from '../src/runtime/testing/testing.js';
import { RUN_SINK } from '../src/runtime/submit/token-table.js';
import { Signals } from './helpers/signals.js';

const tasks = new URL('./fixtures/tasks.mjs', import.meta.url);
const faults = new URL('./fixtures/faults.mjs', import.meta.url);

/** Settles with ['ok', value] or ['err', error]; counts how often its handlers ran (a promise's are once). */
const outcome = (p: Promise<unknown>): Promise<['ok' | 'err', unknown]> => p.then((v) => ['ok', v] as ['ok', unknown], (e: unknown) => ['err', e] as ['err', unknown]);

/** The default producer's books: admitted, and resolved per outcome. */
function books(rt: Runtime): { admitted: number; resolved: number; inFlight: number; fulfilled: number; rejected: number } {
  const p = rt.stats().producers.find((x) => x.name === 'default');
  if (p === undefined) return { admitted: 0, resolved: 0, inFlight: 0, fulfilled: 0, rejected: 0 }; // registered at its first submit
  const resolved = Object.values(p.resolved).reduce((a, b) => a + b, 0);
  return { admitted: p.admitted, resolved, inFlight: p.inFlight, fulfilled: p.resolved.fulfilled, rejected: p.resolved.rejected };
}

/** No run admission left in this thread's token table. */
function noRunSinks(rt: Runtime): void {
  const table = internals(rt).att.table;
  expect(table.callbacks.some((c) => c === RUN_SINK)).toBe(false);
  expect(table.sinks.every((s) => s === undefined)).toBe(true);
  expect(table.outstanding).toBe(0);
}

describe('rt.run waiting for capacity, then admitted', () => {
  let rt: Runtime;
  let sig: Signals;
  beforeAll(async () => {
    sig = new Signals();
    rt = await Runtime.start({ tasks, workers: 1, globalSlots: 1 });
  });
  afterAll(async () => {
    await rt.close();
    sig.close();
  });

  it('plain and with options: each settles once with its task\'s value or error; the books balance', async () => {
    const before = books(rt);
    const blocker = rt.producer('default').submit(rt.task('blockUntil'), 'w1') as Token;
    await sig.started('w1');
    const calls = [
      rt.run<number>('inc', 1),                              // plain: no Token
      rt.run('fail', 'plain boom'),                          // plain, the task throws
      rt.run<number>('inc', 2, { deadlineMs: 60_000 }),      // options: a Token settles the call
      rt.run('fail', 'token boom', { deadlineMs: 60_000 }),  // options, the task throws
    ].map(outcome);
    expect(rt.runQueue.length).toBe(4);
    sig.release('w1');
    await blocker;
    const [a, b, c, d] = await Promise.all(calls);
    expect(a).toEqual(['ok', 2]);
    expect(b[0]).toBe('err');
    expect(b[1]).toBeInstanceOf(TypeError);
    expect(b[1]).toMatchObject({ message: 'plain boom', code: 'E_TASK' });
    expect(c).toEqual(['ok', 3]);
    expect(d[0]).toBe('err');
    expect(d[1]).toMatchObject({ name: 'TypeError', message: 'token boom', code: 'E_TASK' });
    const after = books(rt);
    expect(after.admitted - before.admitted).toBe(5);
    expect(after.resolved - before.resolved).toBe(5);
    expect(after.fulfilled - before.fulfilled).toBe(3);
    expect(after.rejected - before.rejected).toBe(2);
    expect(after.inFlight).toBe(0);
    noRunSinks(rt);
  });

  it('hostile payloads in the line: a getter that throws, or a Proxy whose traps throw, is read only at the call\'s turn; that call rejects with what the encoder says, the calls around it run, nothing is admitted for it', async () => {
    const before = books(rt);
    const blocker = rt.producer('default').submit(rt.task('blockUntil'), 'w2') as Token;
    await sig.started('w2');
    let reads = 0;
    const getterBomb = { get v(): number { reads++; throw new Error('getter bomb'); } };
    const proxyBomb = new Proxy({}, { ownKeys() { reads++; throw new Error('trap bomb'); }, get() { reads++; throw new Error('trap bomb'); } });
    const calls = [
      rt.run<number>('inc', 1),
      rt.run('echo', getterBomb),
      rt.run<number>('inc', 2),
      rt.run('echo', proxyBomb),
      rt.run<number>('inc', 3),
    ].map(outcome);
    expect(rt.runQueue.length).toBe(5);
    expect(reads).toBe(0); // nothing of a waiting call's payload is read before its turn
    sig.release('w2');
    await blocker;
    const [a, b, c, d, e] = await Promise.all(calls);
    expect([a, c, e]).toEqual([['ok', 2], ['ok', 3], ['ok', 4]]);
    for (const [kind, err] of [b, d]) {
      expect(kind).toBe('err');
      expect(err).toBeInstanceOf(Error);
    }
    const after = books(rt);
    expect(after.admitted - before.admitted).toBe(4); // the blocker and the three inc calls
    expect(after.resolved - before.resolved).toBe(4);
    expect(after.inFlight).toBe(0);
    expect(rt.runQueue.length).toBe(0);
    noRunSinks(rt);
  });

  it('a task returning a structured value: the call gets it as a Token would', async () => {
    expect(await rt.run('echo', { v: 1, tag: 'x', a: [1, 2] })).toEqual({ v: 1, tag: 'x', a: [1, 2] });
    noRunSinks(rt);
  });

  it('thenables: a result with a `then` data property is a value; a payload with a `then` method is refused at the call (PayloadError), nothing admitted', async () => {
    expect(await rt.run('echo', { then: 'not a function', v: 1 })).toEqual({ then: 'not a function', v: 1 });
    const before = books(rt);
    let thenCalls = 0;
    const thenable = { then(): void { thenCalls++; } };
    await expect(rt.run('echo', thenable)).rejects.toMatchObject({ name: 'PayloadError' });
    expect(thenCalls).toBe(0);
    expect(books(rt).admitted).toBe(before.admitted);
    noRunSinks(rt);
  });

  it('property: any mix of plain and optioned calls, values and throws, waiting or not, settles each call once as its task did', async () => {
    await fc.assert(fc.asyncProperty(
      fc.array(fc.record({ fail: fc.boolean(), options: fc.boolean(), x: fc.integer({ min: -1000, max: 1000 }) }), { minLength: 1, maxLength: 12 }),
      async (spec) => {
        const before = books(rt);
        const calls = spec.map((s) => outcome(rt.run(s.fail ? 'fail' : 'inc', s.fail ? `m${s.x}` : s.x, s.options ? { deadlineMs: 60_000 } : undefined)));
        const got = await Promise.all(calls);
        got.forEach(([kind, v], i) => {
          const s = spec[i]!;
          if (s.fail) expect([kind, (v as Error).message]).toEqual(['err', `m${s.x}`]);
          else expect([kind, v]).toEqual(['ok', s.x + 1]);
        });
        const after = books(rt);
        expect(after.resolved - before.resolved).toBe(spec.length);
        expect(after.admitted - before.admitted).toBe(spec.length);
        noRunSinks(rt);
      },
    ), { numRuns: 25 });
  });
});

describe('rt.run and close', () => {
  let sig: Signals;
  beforeAll(() => { sig = new Signals(); });
  afterAll(() => { sig.close(); });

  it('a call waiting when the runtime closes rejects (RejectedError, never admitted); the blocked task still finishes', async () => {
    const rt = await Runtime.start({ tasks, workers: 1, globalSlots: 1 });
    const blocker = rt.producer('default').submit(rt.task('blockUntil'), 'c1') as Token;
    await sig.started('c1');
    const plain = outcome(rt.run('inc', 1));
    const optioned = outcome(rt.run('inc', 2, { deadlineMs: 60_000 }));
    expect(rt.runQueue.length).toBe(2);
    const closing = rt.close();
    const [p, o] = await Promise.all([plain, optioned]);
    for (const [kind, err] of [p, o]) {
      expect(kind).toBe('err');
      expect(err).toBeInstanceOf(RejectedError);
    }
    expect(rt.runQueue.length).toBe(0);
    sig.release('c1');
    await closing;
    expect(await blocker).toBe('c1');
    expect(books(rt).admitted).toBe(1);
  });

  it('a plain call admitted but not started when close times out is retracted (RetractedError); one running is abandoned', async () => {
    const rt = await Runtime.start({ tasks, workers: 1, globalSlots: 2 });
    const running = outcome(rt.run('blockUntil', 'c2'));
    await sig.started('c2');
    const queued = outcome(rt.run('inc', 1)); // admitted (a slot is free), behind the blocked task
    expect(rt.runQueue.length).toBe(0);
    expect(internals(rt).att.table.callbacks.filter((c) => c === RUN_SINK).length).toBe(2);
    await rt.close({ timeoutMs: 1 }); // the blocked task is never released: close retracts, then stops the worker
    const [r, q] = await Promise.all([running, queued]);
    expect(q[0]).toBe('err');
    expect(q[1]).toBeInstanceOf(RetractedError);
    expect(r[0]).toBe('err');
    expect(r[1]).toBeInstanceOf(AbandonedError);
    const b = books(rt);
    expect(b.resolved).toBe(b.admitted);
    noRunSinks(rt);
  });
});

describe('rt.run admissions resolved outside a drain', () => {
  let rt: Runtime;
  let sig: Signals;
  beforeAll(async () => {
    sig = new Signals();
    rt = await Runtime.start({ tasks: faults, workers: 1, globalSlots: 2 });
  });
  afterEach(() => noRunSinks(rt));
  afterAll(async () => {
    await rt.close();
    sig.close();
  });

  it('rt.cancelToken by key retracts a plain call that has not started (RetractedError), once', async () => {
    const blocker = rt.producer('default').submit(rt.task('blockUntil'), 'k1') as Token;
    await sig.started('k1');
    const call = outcome(rt.run('inc', 1));
    const table = internals(rt).att.table;
    const t = table.callbacks.findIndex((c) => c === RUN_SINK);
    expect(t).toBeGreaterThanOrEqual(0);
    const key = { attachment: 0, index: t, generation: table.gens[t]! };
    expect(rt.cancelToken(key)).toBe(true);
    expect(rt.cancelToken(key)).toBe(false); // resolved: its generation moved on
    const [kind, err] = await call;
    expect(kind).toBe('err');
    expect(err).toBeInstanceOf(RetractedError);
    sig.release('k1');
    expect(await blocker).toBe('k1');
  });

  it('a plain call whose worker dies rejects with AbandonedError; the next call runs on the replacement', async () => {
    const [kind, err] = await outcome(rt.run('exitNow', 3));
    expect(kind).toBe('err');
    expect(err).toBeInstanceOf(AbandonedError);
    expect(await rt.run('inc', 41)).toBe(42);
  });
});
