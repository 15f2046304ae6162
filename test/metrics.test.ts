/**
 * Metrics (docs/design.md §2.5): every admitted task that ran is counted once in its task's and
 * its producer's queue-wait and run-time histograms -- from every thread, sync and async tasks,
 * fulfilled and rejected -- by the time its token resolves; rt.resetStats() starts a new window;
 * without `metrics: true` (the default) stats report nulls and takes the region out of the layout.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Runtime, type LatencyStats, type Producer } from '../src/index.js';
import { internals } from '../src/runtime/testing/testing.js';
import { produceInc, runProducerThread } from './helpers/produce.js';
import { Signals } from './helpers/signals.js';

const tasks = new URL('./fixtures/tasks.mjs', import.meta.url);

/** Submit on `p` and return the token (admitted: the tests stay inside every limit). */
function go(p: Producer, task: string, x: unknown): PromiseLike<unknown> {
  const a = p.submit(task, x);
  if (!a.admitted) throw new Error(`rejected: ${a.reason}`);
  return a.token;
}

function ordered(s: LatencyStats): void {
  expect(s.p50).toBeLessThanOrEqual(s.p90);
  expect(s.p90).toBeLessThanOrEqual(s.p99);
  expect(s.p99).toBeLessThanOrEqual(s.p999);
  expect(s.p999).toBeLessThanOrEqual(s.max);
  expect(s.p50).toBeGreaterThanOrEqual(0);
}

describe('metrics: true', () => {
  let rt: Runtime;
  beforeAll(async () => { rt = await Runtime.start({ tasks, workers: 2, metrics: true }); });
  afterAll(async () => { await rt.close(); });

  it('counts each resolved task once per task and per producer, sync, async and throwing alike', async () => {
    rt.resetStats();
    const a = rt.producer('m-a', { slots: 128 });
    const b = rt.producer('m-b', { slots: 128 });
    const tokens: PromiseLike<unknown>[] = [];
    for (let i = 0; i < 50; i++) tokens.push(go(a, 'inc', i));
    for (let i = 0; i < 30; i++) tokens.push(go(b, 'asyncInc', i));
    for (let i = 0; i < 7; i++) tokens.push(go(b, 'fail', 'x').then(undefined, () => 'rejected'));
    await Promise.all(tokens);
    const s = rt.stats();
    const pa = s.producers.find((p) => p.name === 'm-a')!;
    const pb = s.producers.find((p) => p.name === 'm-b')!;
    expect(pa.latency!.queueWait.count).toBe(50);
    expect(pa.latency!.run.count).toBe(50);
    expect(pb.latency!.queueWait.count).toBe(37);
    expect(pb.latency!.run.count).toBe(37);
    const byTask = new Map(s.tasks.map((t) => [t.name, t.latency!]));
    expect(byTask.get('inc')!.run.count).toBe(50);
    expect(byTask.get('asyncInc')!.queueWait.count).toBe(30);
    expect(byTask.get('asyncInc')!.run.count).toBe(30);
    expect(byTask.get('fail')!.run.count).toBe(7);
    expect(byTask.get('echo')!.run.count).toBe(0);
    for (const l of [pa.latency!, pb.latency!, ...byTask.values()]) { ordered(l.queueWait); ordered(l.run); }
    // producer.stats() reads the same histograms.
    expect(a.stats().latency).toEqual(pa.latency);
    expect(s.windowSeconds).toBeGreaterThan(0);
    for (const w of s.workers) {
      expect(w.utilization).not.toBeNull();
      expect(w.utilization!).toBeGreaterThanOrEqual(0);
      expect(w.utilization!).toBeLessThanOrEqual(1);
    }
  });

  it('counts the tasks of attached threads too, under their producers', async () => {
    rt.resetStats();
    const results = await Promise.all([
      produceInc(rt, 'm-main', 500, 64, 0),
      runProducerThread({ handle: rt.handle, count: 700, window: 64, producer: 'm-thread', base: 1e6 }),
    ]);
    expect(results.map((r) => r.wrong)).toEqual([0, 0]);
    const s = rt.stats();
    expect(s.producers.find((p) => p.name === 'm-main')!.latency!.run.count).toBe(500);
    expect(s.producers.find((p) => p.name === 'm-thread')!.latency!.run.count).toBe(700);
    expect(s.tasks.find((t) => t.name === 'inc')!.latency!.queueWait.count).toBe(1200);
  });

  it('a run time covers the task from its start to its end (sync: return; async: settle): at least the interval the test held it', async () => {
    const sig = new Signals();
    try {
      for (const [task, key] of [['blockUntil', 'm-hold-sync'], ['waitFor', 'm-hold-async']] as const) {
        rt.resetStats();
        const token = go(rt.producer('m-hold'), task, key);
        await sig.started(key); // it has started: its run record is open
        const t0 = performance.now();
        for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r)); // let some time pass while it is held
        const held = Math.floor((performance.now() - t0) * 1000);
        sig.release(key);
        await token;
        const run = rt.stats().tasks.find((t) => t.name === task)!.latency!.run;
        expect(run.count).toBe(1);
        // Both are differences on one thread's monotonic clock: no cross-thread calibration involved.
        expect(run.max).toBeGreaterThanOrEqual(held);
      }
    } finally {
      sig.close();
    }
  });

  it('rt.resetStats() empties every histogram and starts a new window; counters are not reset', async () => {
    await go(rt.producer('m-r'), 'inc', 1);
    const admitted = rt.stats().producers.find((p) => p.name === 'm-r')!.admitted;
    rt.resetStats();
    const s = rt.stats();
    for (const p of s.producers) expect(p.latency).toEqual({ queueWait: zero, run: zero });
    for (const t of s.tasks) expect(t.latency).toEqual({ queueWait: zero, run: zero });
    expect(s.producers.find((p) => p.name === 'm-r')!.admitted).toBe(admitted);
  });
});

const zero: LatencyStats = { count: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 };

describe('metrics off (the default)', () => {
  it('reports null latency (producers and tasks) and utilization, and lays out no metrics region', async () => {
    const rt = await Runtime.start({ tasks, workers: 1 });
    try {
      const on = await Runtime.start({ tasks, workers: 1, metrics: true });
      const bigger = internals(on).mem.layout.totalBytes;
      await on.close();
      await go(rt.producer('p'), 'inc', 1);
      const s = rt.stats();
      expect(s.producers[0]!.latency).toBeNull();
      expect(s.tasks.length).toBeGreaterThan(0); // the Guard House's health is kept either way
      expect(s.tasks.every((t) => t.latency === null)).toBe(true);
      expect(s.windowSeconds).toBeNull();
      expect(s.workers[0]!.utilization).toBeNull();
      expect(internals(rt).mem.layout.totalBytes).toBeLessThan(bigger);
      rt.resetStats(); // a no-op
    } finally {
      await rt.close();
    }
  });
});
