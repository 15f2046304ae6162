// Cancellation the piscina way (issue 19 item 4; docs/design.md §4.5, §4.6 step 6):
// - an rt.run call waiting for capacity rejects at once when its signal aborts (capacity never
//   frees during these tests: a blocked worker holds it), and leaves no listener behind;
// - `abandonOnAbort: true` makes an abort also stop a running task, as cancel({ force: true })
//   does: 'abandoned' at once, only its worker respawned, other tasks unaffected.
import { getEventListeners } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AbandonedError, ConfigError, RetractedError, Runtime, type Token } from '../src/index.js';
import { heldRuntime, Signals } from './helpers/signals.js';

const tasks = new URL('./fixtures/tasks.mjs', import.meta.url);
const abortListeners = (s: AbortSignal): number => getEventListeners(s, 'abort').length;

describe('rt.run waiting for capacity: an abort rejects it at once', () => {
  let rt: Runtime;
  let sig: Signals;
  let blocker: Token;
  let end: () => Promise<void>;
  beforeAll(async () => {
    // One slot in all: the blocked task holds it, so capacity never frees until the test releases it.
    ({ rt, sig, blocker, end } = await heldRuntime({ globalSlots: 1 }, 'default'));
  });
  afterAll(() => end());

  it('abort while waiting: rejects with the signal reason, leaves the line, detaches its listener; the others keep their place', async () => {
    const ac = new AbortController();
    const first = rt.run<number>('inc', 1);               // waits (no signal)
    const aborted = rt.run<number>('inc', 2, { signal: ac.signal });
    const last = rt.run<number>('inc', 3);                // waits behind it
    expect(rt.runQueue.length).toBe(3);
    expect(abortListeners(ac.signal)).toBe(1);
    const reason = new Error('stop waiting');
    ac.abort(reason);
    await expect(aborted).rejects.toBe(reason);
    // Rejected while capacity is still held: the blocker runs, the other two still wait.
    expect(blocker.state).toBe('running');
    expect(rt.runQueue.length).toBe(2);
    expect(abortListeners(ac.signal)).toBe(0);
    expect(rt.stats().producers.find((p) => p.name === 'default')!.admitted).toBe(1); // never admitted
    sig.release('hold');
    expect(await Promise.all([first, last])).toEqual([2, 4]);
    blocker = rt.producer('default').submit(rt.task('blockUntil'), 'hold2') as Token;
    await sig.started('hold2');
  });

  it('abort() without a reason rejects with an AbortError', async () => {
    const ac = new AbortController();
    const p = rt.run('inc', 1, { signal: ac.signal });
    ac.abort();
    const err = await p.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DOMException);
    expect((err as DOMException).name).toBe('AbortError');
    expect(rt.runQueue.length).toBe(0);
  });

  it('a signal aborted before rt.run rejects without queuing (with others waiting, and alone)', async () => {
    const waiting = rt.run<number>('inc', 10);
    expect(rt.runQueue.length).toBe(1);
    const ac = new AbortController();
    const reason = new Error('already');
    ac.abort(reason);
    await expect(rt.run('inc', 1, { signal: ac.signal })).rejects.toBe(reason);
    expect(rt.runQueue.length).toBe(1);
    expect(abortListeners(ac.signal)).toBe(0);
    // Abort after the call but before it was admitted: same thing, the waiter is gone.
    const ac2 = new AbortController();
    const p2 = rt.run('inc', 1, { signal: ac2.signal });
    ac2.abort('x');
    await expect(p2).rejects.toBe('x');
    expect(rt.runQueue.length).toBe(1);
    sig.release('hold2');
    expect(await waiting).toBe(11);
    blocker = rt.producer('default').submit(rt.task('blockUntil'), 'hold3') as Token;
    await sig.started('hold3');
  });

  it('a signal aborted by a payload getter while its waiter is being submitted: the admitted token retracts itself unless the worker took it first; nothing is left behind', async () => {
    const ac = new AbortController();
    let reads = 0;
    // Read once by rt.run's first attempt (refused: no capacity), again when the line is flushed.
    const payload = { get n(): number { if (++reads === 2) ac.abort('from a getter'); return 1; } };
    const p = rt.run('echo', payload, { signal: ac.signal });
    expect(rt.runQueue.length).toBe(1);
    sig.release('hold3');
    // The abort fired inside the flush's submit: the queue's listener left the waiter to the
    // flush, the admitted token saw the signal aborted and cancelled itself (retracted), unless
    // the idle worker, spinning, claimed the task in between (then it runs: a plain abort never
    // stops a running task).
    const r = await p.then((v) => v, (e: unknown) => e);
    if (r instanceof Error) expect(r).toBeInstanceOf(RetractedError);
    else expect(r).toEqual({ n: 1 });
    expect(reads).toBe(2);
    expect(rt.runQueue.length).toBe(0);
    expect(abortListeners(ac.signal)).toBe(0);
    blocker = rt.producer('default').submit(rt.task('blockUntil'), 'hold3') as Token;
    await sig.started('hold3');
  });

  it('a waiter admitted later hands its signal to the token: the queue listener is gone, the token detaches its own at resolve', async () => {
    const ac = new AbortController();
    const p = rt.run<number>('inc', 41, { signal: ac.signal });
    expect(abortListeners(ac.signal)).toBe(1);
    sig.release('hold3');
    expect(await p).toBe(42);
    expect(abortListeners(ac.signal)).toBe(0);
    ac.abort(); // after resolve: nothing happens
    blocker = rt.producer('default').submit(rt.task('blockUntil'), 'hold') as Token;
    await sig.started('hold');
  });
});

describe('abandonOnAbort: an abort also stops a running task (terminating only its worker)', () => {
  let rt: Runtime;
  let sig: Signals;
  const restarts = (): number => rt.stats().workers.reduce((a, w) => a + w.restarts, 0);
  beforeAll(async () => {
    sig = new Signals();
    rt = await Runtime.start({ tasks, workers: 2, steal: false });
  });
  afterAll(async () => {
    await rt.close();
    sig.close();
  });

  it("a running task: 'abandoned' at once, its worker is respawned, a task running on the other worker is unaffected", async () => {
    const before = restarts();
    const p = rt.producer('p');
    const victim = p.submit(rt.task('blockUntil'), 'victim') as Token;
    const ac = new AbortController();
    const running = p.submit(rt.task('blockUntil'), 'abandon-me', { signal: ac.signal, abandonOnAbort: true }) as Token;
    await sig.started('victim');
    await sig.started('abandon-me');
    expect(running.state).toBe('running');
    ac.abort();
    expect(running.outcome).toBe('abandoned'); // at once, not when the worker dies
    const err = await running.promise().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbandonedError);
    expect((err as Error).message).toMatch(/signal aborted/);
    expect(abortListeners(ac.signal)).toBe(0);
    // Only that worker is terminated and replaced; the other still runs its task.
    while (restarts() === before) await new Promise((r) => setTimeout(r, 5));
    expect(restarts()).toBe(before + 1);
    expect(victim.state).toBe('running');
    expect(await rt.run('inc', 1)).toBe(2);
    sig.release('victim');
    expect(await victim).toBe('victim');
  });

  it('without abandonOnAbort an abort leaves a running task alone (piscina would end it)', async () => {
    const ac = new AbortController();
    const t = rt.producer('p').submit(rt.task('blockUntil'), 'keeps-running', { signal: ac.signal }) as Token;
    await sig.started('keeps-running');
    ac.abort();
    expect(t.state).toBe('running');
    sig.release('keeps-running');
    expect(await t).toBe('keeps-running');
  });

  it('a pending task is retracted, as without abandonOnAbort', async () => {
    const ac = new AbortController();
    const p = rt.producer('pending', { slots: 4 });
    const holds: Token[] = [];
    for (const k of ['h1', 'h2']) { holds.push(p.submit(rt.task('blockUntil'), k) as Token); await sig.started(k); } // one per worker
    const queued = p.submit(rt.task('inc'), 1, { signal: ac.signal, abandonOnAbort: true }) as Token;
    expect(queued.state).toBe('pending');
    ac.abort();
    expect(queued.outcome).toBe('retracted');
    await expect(queued).rejects.toBeInstanceOf(RetractedError);
    sig.release('h1');
    sig.release('h2');
    await Promise.all(holds);
  });

  it('rt.run with abandonOnAbort: a running call rejects with AbandonedError when aborted', async () => {
    const before = restarts();
    const ac = new AbortController();
    const p = rt.run('blockUntil', 'run-abandon', { signal: ac.signal, abandonOnAbort: true });
    await sig.started('run-abandon');
    ac.abort();
    await expect(p).rejects.toBeInstanceOf(AbandonedError);
    while (restarts() === before) await new Promise((r) => setTimeout(r, 5));
    expect(await rt.run('inc', 2)).toBe(3);
  });

  it('bad input: abandonOnAbort without a signal, or not a boolean, is a ConfigError with nothing taken', () => {
    const p = rt.producer('bad');
    const admitted = p.stats().admitted;
    expect(() => p.submit('inc', 1, { abandonOnAbort: true })).toThrow(ConfigError);
    expect(() => p.submit('inc', 1, { signal: new AbortController().signal, abandonOnAbort: 1 as unknown as boolean })).toThrow(/abandonOnAbort must be a boolean/);
    expect(p.stats().admitted).toBe(admitted);
  });
});
