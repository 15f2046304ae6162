/**
 * The gates under real contention: four attached threads submit into one shared producer and a
 * small global ceiling, while a fifth thread samples the gate words in a tight loop
 * (design.md §5 invariants 2-4: limits hold at every observable instant; counts balance).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Worker } from 'node:worker_threads';
import { Runtime, type Producer, type RejectReason } from '../../src/index.js';
import { Memory, P_PACKED } from '../../src/shm/layout.js';
import { ADMISSION_TASKS, CONTENDER, MONITOR } from '../helpers/admission.js';
import { message } from '../helpers/thread-message.js';

const THREADS = 4;
const SUBMITS = 50_000; // per thread
const SHARED_SLOTS = 3;
const OWN_SLOTS = 2;
const GLOBAL = 4; // < SHARED_SLOTS + THREADS * OWN_SLOTS: both gates bind

const GO = 0;
const STOP = 1;

interface Counts { admitted: number; fulfilled: number; wrong: number; rejected: Partial<Record<RejectReason, number>> }
interface ContenderReport { per: { shared: Counts; own: Counts }; max: { shared: number; own: number; global: number }; rejections: number }
interface MonitorReport { max: number[]; min: number[]; maxHigh: number[]; samples: number }


const REASONS: RejectReason[] = ['rate', 'producer-slots', 'global-slots', 'ring-full', 'arena-full', 'no-workers', 'draining', 'closed', 'quarantined', 'io-class'];
const sumRejected = (list: Counts[]): Record<RejectReason, number> =>
  Object.fromEntries(REASONS.map((r) => [r, list.reduce((n, c) => n + (c.rejected[r] ?? 0), 0)])) as Record<RejectReason, number>;

describe('gates under contention from 4 threads', () => {
  let rt: Runtime;
  let shared: Producer;
  let owns: Producer[];
  let reports: ContenderReport[];
  let monitor: MonitorReport;

  beforeAll(async () => {
    rt = await Runtime.start({ tasks: ADMISSION_TASKS, workers: 2, globalSlots: GLOBAL, affinity: false });
    shared = rt.producer('shared', { slots: SHARED_SLOTS });
    owns = Array.from({ length: THREADS }, (_, t) => rt.producer(`own-${t}`, { slots: OWN_SLOTS }));
    const mem = new Memory(rt.handle.sab);
    const packed = (p: Producer): number => mem.producerWord(p.index, P_PACKED);
    const control = new SharedArrayBuffer(16);
    const ctl = new Int32Array(control);

    const mon = new Worker(MONITOR, {
      workerData: {
        sab: rt.handle.sab, control,
        words: [{ index: packed(shared), mask: 0xffff }, { index: mem.globalWord, mask: -1 }, ...owns.map((p) => ({ index: packed(p), mask: 0xffff }))],
      },
    });
    const threads = owns.map((p, t) => new Worker(CONTENDER, {
      workerData: {
        handle: rt.handle, submits: SUBMITS, own: p.name, control,
        words: { shared: packed(shared), own: packed(p), global: mem.globalWord },
      },
    }));
    await Promise.all([mon, ...threads].map((w) => message(w, 'ready')));
    const monitorDone = message<MonitorReport>(mon, 'done');
    const done = threads.map((w) => message<ContenderReport>(w, 'done'));
    Atomics.store(ctl, GO, 1);
    Atomics.notify(ctl, GO);
    try {
      reports = await Promise.all(done);
    } finally {
      Atomics.store(ctl, STOP, 1);
      monitor = await monitorDone;
      await Promise.all([mon, ...threads].map((w) => w.terminate()));
    }
  });

  afterAll(async () => { await rt?.close(); });

  it('the sampling thread never saw the shared producer above its slots, an own producer above its slots, or the global count above its ceiling or below 0', () => {
    expect(monitor.samples).toBeGreaterThan(0);
    const [sharedMax, globalMax, ...ownMax] = monitor.max;
    expect(sharedMax).toBeLessThanOrEqual(SHARED_SLOTS);
    expect(globalMax).toBeLessThanOrEqual(GLOBAL);
    for (const m of ownMax) expect(m).toBeLessThanOrEqual(OWN_SLOTS);
    for (const m of monitor.min) expect(m).toBeGreaterThanOrEqual(0);
    // No rate limit: the token half of a producer word stays 0 (an in-flight underflow would borrow from it).
    expect(monitor.maxHigh[0]).toBe(0);
    for (const h of monitor.maxHigh.slice(2)) expect(h).toBe(0);
  });

  it('right after each of its own admissions, no thread saw a gate word above its limit', () => {
    for (const r of reports) {
      expect(r.max.shared).toBeLessThanOrEqual(SHARED_SLOTS);
      expect(r.max.own).toBeLessThanOrEqual(OWN_SLOTS);
      expect(r.max.global).toBeLessThanOrEqual(GLOBAL);
      expect(r.max.global).toBeGreaterThanOrEqual(1); // it read after its own admission
    }
  });

  it('the limits bound every thread: more than GLOBAL admissions in a row without yielding is impossible, so each thread was rejected at least floor(N / (GLOBAL + 1)) times', () => {
    for (const r of reports) expect(r.rejections).toBeGreaterThanOrEqual(Math.floor(SUBMITS / (GLOBAL + 1)));
  });

  it('counts balance exactly: every submit counted once, admitted == resolved == fulfilled with the right value, per thread and per producer', () => {
    for (const r of reports) {
      for (const c of [r.per.shared, r.per.own]) {
        expect(c.wrong).toBe(0);
        expect(c.fulfilled).toBe(c.admitted);
      }
      const calls = r.per.shared.admitted + r.per.own.admitted + r.rejections;
      expect(calls).toBe(SUBMITS);
    }
    const s = shared.stats();
    const sharedAdmitted = reports.reduce((n, r) => n + r.per.shared.admitted, 0);
    expect(s.admitted).toBe(sharedAdmitted);
    expect(s.resolved).toEqual({ fulfilled: sharedAdmitted, rejected: 0, retracted: 0, abandoned: 0 });
    expect(s.rejected).toEqual(sumRejected(reports.map((r) => r.per.shared)));
    expect(s.admitted + Object.values(s.rejected).reduce((a, b) => a + b, 0)).toBe((THREADS * SUBMITS) / 2);
    owns.forEach((p, t) => {
      const o = p.stats();
      const mine = reports[t]!.per.own;
      expect(o.admitted).toBe(mine.admitted);
      expect(o.resolved).toEqual({ fulfilled: mine.admitted, rejected: 0, retracted: 0, abandoned: 0 });
      expect(o.rejected).toEqual(sumRejected([mine]));
    });
  });

  it('at the end nothing is in flight: the shared producer, every own producer and the global count are 0', () => {
    expect(shared.stats().inFlight).toBe(0);
    for (const p of owns) expect(p.stats().inFlight).toBe(0);
    expect(rt.stats().global.inFlight).toBe(0);
  });
});
