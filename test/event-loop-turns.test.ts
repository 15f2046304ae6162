// A worker's event loop gets its turns (docs/design.md §4.2 step 0): what a synchronous task
// leaves behind runs although its worker has nothing of its own pending (it sleeps blocked), and
// timers run while it is busy. Before the rule none of these moved: the loop never returned.
import { afterEach, describe, expect, it } from 'vitest';
import { Runtime } from '../src/index.js';

const tasks = new URL('./fixtures/turn-tasks.mjs', import.meta.url);
/** How long a test waits for a word to move before it fails (generous: not a measurement). */
const WAIT_MS = 10_000;

let rt: Runtime | null = null;
afterEach(async () => { await rt?.close(); rt = null; });

async function start(words: Int32Array, options: Record<string, unknown> = {}): Promise<Runtime> {
  rt = await Runtime.start({ tasks, workers: 1, taskData: words, ...options });
  return rt;
}

/** Resolves once words[i] is at least `n`; rejects after WAIT_MS. */
async function reaches(words: Int32Array, i: number, n: number): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const v = Atomics.load(words, i);
    if (v >= n) return;
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`word ${i} stayed at ${v}, below ${n}`);
    const w = Atomics.waitAsync(words, i, v, left);
    if (w.async) await w.value;
  }
}

describe('a worker gives its event loop turns (§4.2 step 0)', () => {
  for (const spinUs of [50, 0]) {
    it(`spinUs ${spinUs}: a microtask and a nextTick a synchronous task left behind run while its worker is idle`, async () => {
      const words = new Int32Array(new SharedArrayBuffer(16));
      const r = await start(words, { spinUs, warmUp: false }); // a warm-up's steps give turns of their own
      expect(await r.run('leavesMicrotask')).toBe(1);
      await reaches(words, 0, 1);
      expect(await r.run('leavesNextTick')).toBe(1);
      await reaches(words, 1, 1);
      expect(Atomics.load(words, 0)).toBe(1);
    });
  }

  it('an unref\'d interval of the module fires while its worker is idle (no task after it)', async () => {
    const words = new Int32Array(new SharedArrayBuffer(16));
    const r = await start(words, { warmUp: false });
    await r.run('unrefInterval', 5);
    await reaches(words, 2, 2);
  });

  it('a timer fires while its worker runs tasks back to back (its ring never empty)', async () => {
    const words = new Int32Array(new SharedArrayBuffer(16));
    const r = await start(words, { warmUp: false });
    // 100 tasks of 1 ms each queued at once: one worker, so it runs them without a gap, for far
    // longer than BUSY_TURN_MS. The first starts a 2 ms timer, due long before the last one starts.
    const reads = await Promise.all(Array.from({ length: 100 }, (_, i) => r.run('spinThenRead', [1, i === 0 ? 2 : 0])));
    expect(reads[0]).toBe(0);
    expect(reads[reads.length - 1]).toBe(1);
  });

  it('a microtask a synchronous task left behind runs while its worker runs tasks back to back, with nothing of its own pending', async () => {
    const words = new Int32Array(new SharedArrayBuffer(16));
    const r = await start(words, { warmUp: false });
    // 200 tasks of 1 ms queued at once (one worker, no handle of the module's): twice QUIET_TURN_MS.
    const reads = await Promise.all(Array.from({ length: 200 }, (_, i) => r.run('spinThenReadMicrotask', [1, i === 0])));
    expect(reads[0]).toBe(0);
    expect(reads[reads.length - 1]).toBe(1);
  });

  it('a rejection a synchronous task left behind with no handler is an uncaught error: the worker is replaced, and the next task runs', async () => {
    const words = new Int32Array(new SharedArrayBuffer(16));
    const r = await start(words, { warmUp: false });
    expect(await r.run('leavesRejection')).toBe(1);
    const deadline = Date.now() + WAIT_MS;
    while (r.stats().workers[0]!.restarts === 0) {
      if (Date.now() > deadline) throw new Error('the worker was not replaced');
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(r.stats().events.some((e) => e.includes('left behind, unhandled'))).toBe(true);
    expect(await r.run('inc', 41)).toBe(42);
  });

  it('work a synchronous task left behind that never ends holds its worker: the stall check replaces it, and the task queued behind runs on the replacement', async () => {
    const words = new Int32Array(new SharedArrayBuffer(16));
    const r = await start(words, { warmUp: false, stallMs: 200 });
    expect(await r.run('leavesEndlessMicrotasks')).toBe(1);
    // The worker turns its event loop within PENDING_TURN_MS and never comes back: once the chain
    // has begun, a task routed to it waits in its ring until the stall check replaces the worker.
    await reaches(words, 0, 1);
    expect(await r.run('inc', 1)).toBe(2);
    expect(r.stats().workers[0]!.restarts).toBe(1);
    expect(r.stats().events.some((e) => e.includes('stalled'))).toBe(true);
  });
});

