/**
 * I/O classes under real threads (docs/design.md §4.1 step 3a, §4.10 step 4): four attached
 * threads submit tasks of two classes while a fifth samples both class counts from shared memory
 * in a tight loop; the counts never pass their limits at any sampled instant and the books close
 * exactly. Then producer death: a thread killed while it holds a class slot mid-submit (a pause
 * point), and a flooding thread killed at random instants: after the supervisor's reconcile the
 * class count equals the live tokens of that class, exactly.
 */
import { describe, expect, it } from 'vitest';
import { Worker } from 'node:worker_threads';
import { Runtime, type Token } from '../src/index.js';
import { IO_COUNT, Memory } from '../src/shm/layout.js';
import { TK_FREE } from '../src/shm/words/token.js';
import { Holds } from './helpers/admission.js';
import { prng } from './stress/chaos-lib.js';
import { message } from './helpers/thread-message.js';

const IO_TASKS = new URL('./fixtures/io-tasks.mjs', import.meta.url);
const CONTENDER = new URL('./fixtures/io-contender.mjs', import.meta.url);
const MONITOR = new URL('./fixtures/admission/monitor.mjs', import.meta.url);
const bootstrap = new URL('./fixtures/ts-bootstrap.mjs', import.meta.url);
const victim = new URL('./fixtures/io-victim.ts', import.meta.url).href;
const flood = new URL('./fixtures/flood-forever.ts', import.meta.url).href;
const SLOW = 0; // class slots: slow 0, moderate 1 (admission/io-class.ts IO_CLASS_NAMES)
const MODERATE = 1;


/** Tokens not FREE whose class word names slot k, over every attachment (what the recount counts). */
function liveOfClass(mem: Memory, k: number): number {
  let n = 0;
  for (let a = 0; a < mem.layout.maxAttachments; a++) {
    for (let t = 0; t < mem.layout.tokenCapacity; t++) {
      if (Atomics.load(mem.i32, mem.tokenWord(a, t)) !== TK_FREE && mem.i32[mem.tokenIoWord(a, t)] === k + 1) n++;
    }
  }
  return n;
}

async function until(cond: () => boolean, explain: () => string): Promise<void> {
  const deadline = performance.now() + 15_000;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(explain());
    await new Promise((r) => setTimeout(r, 2));
  }
}

interface Counts { admitted: number; fulfilled: number; wrong: number; rejected: Record<string, number> }

describe('class limits under 4 submitting threads and a sampling thread', () => {
  it('no sampled instant shows a class count above its limit or below 0; each thread was refused io-class only; the books close at 0', async () => {
    const LIMITS = { slow: 3, moderate: 5 };
    const THREADS = 4;
    const SUBMITS = 20_000;
    const rt = await Runtime.start({ tasks: IO_TASKS, workers: 2, globalSlots: 64, affinity: false, ioLimits: LIMITS, warmUp: false });
    try {
      const mem = new Memory(rt.handle.sab);
      const words = [mem.ioWord(SLOW, IO_COUNT), mem.ioWord(MODERATE, IO_COUNT)];
      const control = new SharedArrayBuffer(16);
      const ctl = new Int32Array(control);
      const mon = new Worker(MONITOR, { workerData: { sab: rt.handle.sab, control, words: words.map((index) => ({ index, mask: -1 })) } });
      const threads = Array.from({ length: THREADS }, (_, n) => new Worker(CONTENDER, {
        workerData: { handle: rt.handle, submits: SUBMITS, control, words, n, limits: LIMITS },
      }));
      await Promise.all([mon, ...threads].map((w) => message(w, 'ready')));
      const monitorDone = message<{ max: number[]; min: number[]; samples: number }>(mon, 'done');
      const done = threads.map((w) => message<{ per: Counts[]; maxSeen: number[] }>(w, 'done'));
      Atomics.store(ctl, 0, 1);
      Atomics.notify(ctl, 0);
      let reports: { per: Counts[]; maxSeen: number[] }[];
      let monitor: { max: number[]; min: number[]; samples: number };
      try {
        reports = await Promise.all(done);
      } finally {
        Atomics.store(ctl, 1, 1);
        monitor = await monitorDone;
        await Promise.all([mon, ...threads].map((w) => w.terminate()));
      }
      expect(monitor.samples).toBeGreaterThan(0);
      expect(monitor.max[0]).toBeLessThanOrEqual(LIMITS.slow);
      expect(monitor.max[1]).toBeLessThanOrEqual(LIMITS.moderate);
      expect(Math.min(...monitor.min)).toBeGreaterThanOrEqual(0);
      let admitted = 0;
      for (const r of reports) {
        expect(r.maxSeen[0]).toBeLessThanOrEqual(LIMITS.slow);
        expect(r.maxSeen[1]).toBeLessThanOrEqual(LIMITS.moderate);
        for (const c of r.per) {
          expect(c.wrong).toBe(0);
          expect(c.fulfilled).toBe(c.admitted);
          admitted += c.admitted;
        }
        // A thread resolves its own tokens only when it yields, and yields only after a refusal: it
        // holds at most 3 + 5 < the producer's and the global limits, so every refusal is the class's.
        const reasons = r.per.flatMap((c) => Object.keys(c.rejected));
        expect(new Set(reasons)).toEqual(new Set(['io-class']));
        const refused = r.per.reduce((n, c) => n + c.rejected['io-class']!, 0);
        expect(r.per[0]!.admitted + r.per[1]!.admitted + refused).toBe(SUBMITS);
      }
      const s = rt.stats();
      expect(s.io.slice(0, 2)).toEqual([{ class: 'slow', limit: 3, inFlight: 0 }, { class: 'moderate', limit: 5, inFlight: 0 }]);
      expect(s.global.inFlight).toBe(0);
      const ps = s.producers.filter((p) => p.name.startsWith('io-'));
      expect(ps.reduce((n, p) => n + p.admitted, 0)).toBe(admitted);
      for (const p of ps) expect(p.resolved.fulfilled).toBe(p.admitted);
    } finally {
      await rt.close();
    }
  }, 120_000);
});

describe('producer death and the class counts (§4.10 step 4)', () => {
  it("a thread killed at 'submit:io' (it holds a class slot, no cell yet): the recount gives exactly that slot back", async () => {
    const rt = await Runtime.start({ tasks: IO_TASKS, workers: 1, testHooks: true, globalSlots: 8, ioLimits: { slow: 2 }, affinity: false, warmUp: false });
    const holds = new Holds();
    try {
      const mem = new Memory(rt.handle.sab);
      const p = rt.producer('main');
      const key = holds.key();
      const mine = p.submit(rt.task('hold', { io: 'slow' }), key) as Token;
      expect(mine.admitted).toBe(true);
      rt.testing!.hooks.arm('submit:io');
      const thread = new Worker(bootstrap, { workerData: { entry: victim, handle: rt.handle, task: 'inc', payload: 1 } });
      const exited = new Promise((r) => thread.once('exit', r));
      await rt.testing!.hooks.hit();
      await thread.terminate();
      await exited;
      // The dead thread holds a slow slot: the class is full.
      expect(rt.stats().io[SLOW]!.inFlight).toBe(2);
      const refused = p.submit(rt.task('inc', { io: 'slow' }), 1);
      expect(refused.admitted ? 'admitted' : refused.reason).toBe('io-class');
      rt.testing!.checkAttachments();
      await until(() => rt.stats().events.some((e) => e.includes('reconciled')), () => JSON.stringify(rt.stats().events));
      expect(rt.stats().io[SLOW]!.inFlight).toBe(1);
      expect(liveOfClass(mem, SLOW)).toBe(1);
      expect(await rt.run('inc', 1, undefined)).toBe(2);
      const again = p.submit<number>(rt.task('inc', { io: 'slow' }), 41) as Token<number>;
      expect(again.admitted).toBe(true);
      expect(await again).toBe(42);
      holds.release(key);
      await mine;
      expect(rt.stats().io[SLOW]!.inFlight).toBe(0);
      expect(rt.stats().global.inFlight).toBe(0);
      const v = rt.stats().producers.find((x) => x.name === 'victim-io')!;
      expect(v.inFlight).toBe(0);
    } finally {
      holds.close();
      await rt.close();
    }
  });

  const seed = Number(process.env.SLUICE_DEATH_SEED ?? 2121);
  it(`(seed ${seed}) a flooding thread killed at random instants, 12 rounds: after each reconcile the class count is its live tokens, and 0 once drained`, async () => {
    const rand = prng(seed);
    const rt = await Runtime.start({ tasks: IO_TASKS, workers: 1, globalSlots: 64, maxAttachments: 3, ioLimits: { slow: 5 }, affinity: false, warmUp: false });
    const mem = new Memory(rt.handle.sab);
    try {
      for (let round = 0; round < 12; round++) {
        const thread = new Worker(bootstrap, { workerData: { entry: flood, handle: rt.handle, io: true } });
        await new Promise((r) => thread.once('message', r));
        const killAt = performance.now() + rand() * 3;
        while (performance.now() < killAt);
        await thread.terminate();
        const events = rt.stats().events.length;
        rt.testing?.checkAttachments();
        await until(() => rt.stats().events.length > events || rt.stats().events.length === 32, () => `round ${round}: never reconciled`);
        // Outside any live thread's window (this thread is the only one left submitting or resolving,
        // and it is between its own windows here), the count is exactly the tokens that hold it.
        expect(rt.stats().io[SLOW]!.inFlight, `round ${round}`).toBe(liveOfClass(mem, SLOW));
        expect(rt.stats().io[SLOW]!.inFlight).toBeLessThanOrEqual(5);
        await until(() => rt.stats().global.inFlight === 0, () => `round ${round}: global never drained`);
        expect(rt.stats().io[SLOW]!.inFlight, `round ${round}`).toBe(0);
        const d = rt.stats().producers.find((p) => p.name === 'doomed-io')!;
        expect(d.inFlight).toBe(0);
      }
      // The class still admits up to its limit.
      expect(await Promise.all([1, 2, 3, 4, 5].map((i) => rt.run<number>(rt.task('inc', { io: 'slow' }), i)))).toEqual([2, 3, 4, 5, 6]);
    } finally {
      await rt.close();
    }
  }, 120_000);
});
