import { describe, expect, it, vi } from 'vitest';
import fc from 'fast-check';
import { ConfigError, Runtime } from '../src/index.js';
import { scratchFor } from '../src/runtime/start-warm-up.js';
import { A_WAKER, CELL_BYTES, H_BARRIER, Memory, W_EXECUTED, W_STOLEN, computeLayout } from '../src/shm/layout.js';
import { WAKER_RUNNING } from '../src/shm/waker.js';
import { Ring } from '../src/shm/ring.js';
import { WarmUp } from '../src/runtime/worker/warm-up.js';
import { WorkerLoop } from '../src/runtime/worker/loop.js';

const tasks = new URL('./fixtures/counting-tasks.mjs', import.meta.url);

describe('worker warm-up (docs/design.md 4.2b)', () => {
  for (const warmUp of [true, false]) {
    it(`warmUp: ${warmUp} -- no task of the module runs, and every counter is zero once each worker has parked (after its warm-up, if any)`, async () => {
      const calls = new Int32Array(new SharedArrayBuffer(4));
      const rt = await Runtime.start({ tasks, workers: 2, warmUp, taskData: calls });
      try {
        // With no task, a worker parks until WARM_UP_DELAY_MS after 'ready' (§4.2b step 2), then
        // warms up and parks again; without a warm-up it parks once. (When the warm-up may begin is
        // the unit test below; this one is about what it touches.)
        const parked = warmUp ? 2 : 1;
        while (!rt.stats().workers.every((w) => w.parks >= parked)) await new Promise((r) => setImmediate(r));
        expect(Atomics.load(calls, 0)).toBe(0);
        const s = rt.stats();
        expect(s.global.inFlight).toBe(0);
        for (const w of s.workers) expect([w.executed, w.queued, w.stolen, w.asyncInFlight]).toEqual([0, 0, 0, 0]);
        // Every payload type the warm-up cycles through, and some it does not, comes back intact.
        const values = [7, -1.25, 'text', undefined, null, true, { a: [1, 2] }, 2n ** 40n, new Uint8Array([1, 2, 3])];
        const got = await Promise.all(values.map((v) => rt.run(rt.task('counted'), v)));
        expect(got).toEqual(values);
        expect(Atomics.load(calls, 0)).toBe(values.length);
        const executed = rt.stats().workers.reduce((n, w) => n + w.executed, 0);
        expect(executed).toBe(values.length);
      } finally {
        await rt.close();
      }
    });
  }

  it('runs in restartable steps (§4.2b step 2): each runs min(k, what is left) tasks, done exactly when all n have run, nothing after', () => {
    const like = computeLayout({
      workers: 2, ringCapacity: 64, globalSlots: 64, maxProducers: 1, maxAttachments: 1, spillBytes: 1 << 12,
      taskCount: 1, spinMicros: 50, asyncLimit: 8,
    });
    fc.assert(fc.property(fc.integer({ min: 0, max: 300 }), fc.array(fc.integer({ min: 1, max: 97 }), { maxLength: 12 }), (n, ks) => {
      const w = new WarmUp(n, like);
      let expected = 0;
      for (const k of [...ks, n + 1, 1]) {
        const done = w.step(k);
        expected = Math.min(n, expected + k);
        expect(w.ran).toBe(expected);
        expect(done).toBe(expected === n);
        // Each one went through the loop's per-task path on the scratch buffer (which is let go when done).
        const scratch = (w as unknown as { scratch: { mem: Memory } | null }).scratch;
        if (done) expect(scratch).toBeNull();
        else expect(scratch!.mem.i32[scratch!.mem.workerWord(0, W_EXECUTED)]).toBe(expected);
      }
    }), { numRuns: 60 });
  });

  it('trains complete()\'s waking branch: the scratch owner is parked before every 16th task (i & 15 = 7) and woken by it', () => {
    const like = computeLayout({
      workers: 2, ringCapacity: 64, globalSlots: 64, maxProducers: 1, maxAttachments: 1, spillBytes: 1 << 12,
      taskCount: 1, spinMicros: 50, asyncLimit: 8,
    });
    const w = new WarmUp(100, like);
    const notify = vi.spyOn(Atomics, 'notify');
    try {
      w.step(1); // builds the scratch buffer
      const { mem } = (w as unknown as { scratch: { mem: Memory } }).scratch;
      const owner = mem.attachWord(0, A_WAKER);
      const woken = (): number => notify.mock.calls.filter(([i32, word]) => (i32 as unknown) === mem.i32 && word === owner).length;
      expect(woken()).toBe(0);
      w.step(6); // tasks 1..6
      expect(woken()).toBe(0);
      w.step(1); // task 7: parked before it, woken by its completion
      expect(woken()).toBe(1);
      expect(Atomics.load(mem.i32, owner)).toBe(WAKER_RUNNING);
      w.step(40); // tasks 8..47: 23, 39
      expect(woken()).toBe(3);
    } finally {
      notify.mockRestore();
    }
  });

  it('trains the steal (§4.2a) and the victim\'s skip (§4.2 step 2 failing): tasks 49, 113, 177 are stolen from the scratch sibling, cells claimed by it are skipped before 17, 81, 145; none without a spin (no stealer)', () => {
    for (const spinMicros of [50, 0]) {
      const like = computeLayout({
        workers: 2, ringCapacity: 64, globalSlots: 64, maxProducers: 1, maxAttachments: 1, spillBytes: 1 << 12,
        taskCount: 1, spinMicros, asyncLimit: 8,
      });
      const w = new WarmUp(200, like);
      w.step(49); // tasks 0..48: one skip (before 17), no steal yet
      const { mem } = (w as unknown as { scratch: { mem: Memory } }).scratch;
      const stolen = (): number => mem.i32[mem.workerWord(0, W_STOLEN)]!;
      expect([w.stole, w.skipped, stolen()]).toEqual(spinMicros > 0 ? [0, 1, 0] : [0, 0, 0]);
      w.step(1); // task 49
      expect([w.stole, stolen()]).toEqual(spinMicros > 0 ? [1, 1] : [0, 0]);
      w.step(150); // to 199
      expect([w.stole, w.skipped, stolen()]).toEqual(spinMicros > 0 ? [3, 3, 3] : [0, 0, 0]);
      // Every task ran exactly once, stolen ones included; the skipped cells ran nothing.
      expect(mem.i32[mem.workerWord(0, W_EXECUTED)]).toBe(200);
    }
  });

  it('the starting thread\'s scratch runtime (start-warm-up.ts) takes the runtime\'s window protocol too', () => {
    for (const plain of [true, false]) {
      const s = scratchFor(50, 8, plain);
      expect([s.mem.i32[H_BARRIER], s.att.window.plain]).toEqual([plain ? 1 : 0, plain]);
      s.att.dispose();
    }
  });

  for (const plain of [true, false]) {
    it(`trains the runtime's window protocol (H_BARRIER ${plain ? 1 : 0}): the scratch loop enters its windows ${plain ? 'with plain stores' : 'with Atomics.store'}, as the real tasks will`, () => {
      const like = computeLayout({
        workers: 2, ringCapacity: 64, globalSlots: 64, maxProducers: 1, maxAttachments: 1, spillBytes: 1 << 12,
        taskCount: 1, spinMicros: 50, asyncLimit: 8,
      });
      const w = new WarmUp(20, like, plain);
      const store = vi.spyOn(Atomics, 'store');
      try {
        w.step(1); // builds the scratch buffer and runs a task (its complete() enters the window)
        const { mem, loop } = (w as unknown as { scratch: { mem: Memory; loop: { window: { plain: boolean; flagW: number } } } }).scratch;
        expect(mem.i32[H_BARRIER]).toBe(plain ? 1 : 0);
        expect(loop.window.plain).toBe(plain);
        const flagStores = store.mock.calls.filter(([i32, word]) => (i32 as unknown) === mem.i32 && word === loop.window.flagW).length;
        if (plain) expect(flagStores).toBe(0);
        else expect(flagStores).toBeGreaterThan(0);
      } finally {
        store.mockRestore();
      }
    });
  }

  it('a step ends before its next warm-up task once a real task is published on the worker\'s own ring (§4.2b step 2)', () => {
    const like = computeLayout({
      workers: 2, ringCapacity: 64, globalSlots: 64, maxProducers: 1, maxAttachments: 1, spillBytes: 1 << 12,
      taskCount: 1, spinMicros: 50, asyncLimit: 8,
    });
    const w = new WarmUp(100, like);
    const real = new Ring(new Int32Array(new SharedArrayBuffer(128 + 4 * CELL_BYTES)), 0, 0, 1, 128, 4);
    expect(w.step(8, real, 0)).toBe(false);
    expect(w.ran).toBe(8); // nothing published: the whole step
    real.publish(real.claim()); // a real task at the worker's head
    expect(w.step(64, real, 0)).toBe(false);
    expect(w.ran).toBe(8); // it ended before its first warm-up task
    real.release(1); // the worker took it
    expect(w.step(64, real, 1)).toBe(false);
    expect(w.ran).toBe(72);
  });

  it('when it may begin (§4.2b step 2): by the timer only while no worker of the runtime has run a task; after that, not by the timer again', () => {
    const mem = Memory.create({
      workers: 3, ringCapacity: 64, globalSlots: 64, maxProducers: 1, maxAttachments: 1, spillBytes: 1 << 12,
      taskCount: 1, spinMicros: 50, asyncLimit: 8,
    });
    const loop = new WorkerLoop(mem, 1, [(x: unknown) => x], 0);
    const byTimer = (): boolean => (loop as unknown as { warmByTimer(): boolean }).warmByTimer();
    loop.warmFrom = performance.now() + 60_000;
    expect(byTimer()).toBe(false); // not yet
    loop.warmFrom = performance.now() - 1;
    expect(byTimer()).toBe(true); // due, and nothing has run anywhere
    mem.i32[mem.workerWord(2, W_EXECUTED)] = 1; // a sibling ran a task
    expect(byTimer()).toBe(false);
    expect(loop.warmFrom).toBe(Infinity); // its park sleeps until woken; its own first task starts the warm-up
    mem.i32[mem.workerWord(2, W_EXECUTED)] = 0;
    expect(byTimer()).toBe(false); // the timer is gone for good
  });

  it('a warmUp that is not a boolean is a ConfigError', async () => {
    await expect(Runtime.start({ tasks, workers: 1, warmUp: 1 as never })).rejects.toThrow(ConfigError);
  });
});
