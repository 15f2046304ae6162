/**
 * Metrics (docs/design.md §2.5): queue-wait and run-time histograms in shared memory, per task
 * and per producer, and each worker's busy time. Writers: the submitter stamps a token's submit
 * tick (Producer.admit, §4.1 step 5); the worker that runs it adds to the histograms
 * (WorkerMetrics, §4.2 step 4); any thread reads (readMetrics) or resets (resetMetrics).
 *
 * Times are microseconds since the runtime's epoch, from performance.now() plus a per-thread
 * offset (as MonotonicClock, which calibrates each thread against CLOCK_MONOTONIC): a few µs of
 * calibration skew between threads can make a tiny wait read negative; it counts as 0.
 */
import { HIST_RUN, HIST_WAIT, M_TASKS, MW_BUSY_MS, type Memory } from '../shm/layout.js';
import { copyHistogram, type HistogramCopy, type LatencyStats, recordUs, resetHistogram, summarize } from '../shm/words/histogram.js';
import { hrtimeMicros } from '../admission/clock.js';
import { producerName } from './producer-name.js';

/** `performance.now() * 1000 + microsOffset(epoch)` is µs since `epoch` on this thread. */
export function microsOffset(epochMicros: number): number {
  return hrtimeMicros() - performance.now() * 1000 - epochMicros;
}

/** One worker's writes (its thread only, besides the shared histograms' Atomics.add). */
export class WorkerMetrics {
  private readonly i32: Int32Array;
  private readonly offset: number;
  private readonly busyW: number;
  private readonly maxProducers: number;
  /** Busy µs not yet added to the shared ms counter (< 1000). */
  private busyFrac = 0;

  constructor(private readonly mem: Memory, w: number) {
    this.i32 = mem.i32;
    this.offset = microsOffset(mem.epochMicros());
    this.busyW = mem.metricWorkerWord(w, MW_BUSY_MS);
    this.maxProducers = mem.layout.maxProducers;
  }

  now(): number { return performance.now() * 1000 + this.offset; }

  /**
   * §4.2 step 4, at the start of a run (the token is RUNNING on this worker, so its submit tick
   * and producer are still the submitter's): the queue wait. Returns the producer index.
   */
  started(id: number, att: number, t: number, startUs: number): number {
    const i32 = this.i32;
    const mem = this.mem;
    // Written by the submitter before it published the cell (§4.1 step 5): a producer index. It
    // decides where we write, so it is bounded anyway (a wrong one lands in producer 0's pair).
    let p = i32[mem.tokenMetaWord(att, t)]!;
    if (p >>> 0 >= this.maxProducers) p = 0;
    // Wrapping int32 µs: exact while the wait is under 35 minutes.
    const wait = ((startUs | 0) - i32[mem.tokenTickWord(att, t)]!) | 0;
    recordUs(i32, mem.taskHistWord(id, HIST_WAIT), wait);
    recordUs(i32, mem.producerHistWord(p, HIST_WAIT), wait);
    return p;
  }

  /** The end of a run: its run time, in both histograms. */
  ended(id: number, p: number, startUs: number, endUs: number): void {
    const run = endUs - startUs;
    recordUs(this.i32, this.mem.taskHistWord(id, HIST_RUN), run);
    recordUs(this.i32, this.mem.producerHistWord(p, HIST_RUN), run);
  }

  /** The thread was busy with a task's synchronous part from startUs to endUs. */
  busy(startUs: number, endUs: number): void {
    const d = endUs - startUs;
    if (!(d > 0)) return;
    const f = this.busyFrac + d;
    if (f < 1000) { this.busyFrac = f; return; }
    const ms = Math.floor(f / 1000);
    this.busyFrac = f - ms * 1000;
    Atomics.add(this.i32, this.busyW, ms);
  }
}

/** Raw histograms of one runtime, copied from shared memory (observe's metricsSnapshot). */
export interface RawMetrics {
  /** Window start and now, µs since the runtime's epoch. */
  windowStartUs: number;
  nowUs: number;
  /** Per task name: [queue wait, run time]. Ids past M_TASKS - 1 share one pair, named '(other)'. */
  tasks: { name: string; wait: HistogramCopy; run: HistogramCopy }[];
  /** Per registered producer, by name. */
  producers: Map<string, { wait: HistogramCopy; run: HistogramCopy }>;
  /** Busy ms per worker in the window. */
  busyMs: number[];
}

/** Copy every histogram of `mem` (null when metrics are off). `names`: the task names by id. */
export function readMetrics(mem: Memory, names: readonly string[], producers: readonly number[]): RawMetrics | null {
  if (!mem.metrics) return null;
  const i32 = mem.i32;
  const nowUs = hrtimeMicros() - mem.epochMicros();
  const tasks: RawMetrics['tasks'] = [];
  const n = Math.min(names.length, M_TASKS);
  for (let id = 0; id < n; id++) {
    const name = id === M_TASKS - 1 && names.length > M_TASKS ? '(other)' : names[id]!;
    tasks.push({ name, wait: copyHistogram(i32, mem.taskHistWord(id, HIST_WAIT)), run: copyHistogram(i32, mem.taskHistWord(id, HIST_RUN)) });
  }
  const byProducer = new Map<string, { wait: HistogramCopy; run: HistogramCopy }>();
  for (const p of producers) {
    byProducer.set(producerName(mem, p), { wait: copyHistogram(i32, mem.producerHistWord(p, HIST_WAIT)), run: copyHistogram(i32, mem.producerHistWord(p, HIST_RUN)) });
  }
  const busyMs: number[] = [];
  for (let w = 0; w < mem.layout.workers; w++) busyMs.push(Atomics.load(i32, mem.metricWorkerWord(w, MW_BUSY_MS)));
  return { windowStartUs: mem.windowStartMicros(), nowUs, tasks, producers: byProducer, busyMs };
}

/** Utilization of a worker: busy ms / window ms, in [0, 1] (null with an empty window). */
export function utilization(busyMs: number, windowStartUs: number, nowUs: number): number | null {
  const wallMs = (nowUs - windowStartUs) / 1000;
  if (!(wallMs > 0)) return null;
  return Math.min(1, Math.max(0, busyMs / wallMs));
}

/** Percentiles of a pair, for rt.stats(). */
export function latencyPair(h: { wait: HistogramCopy; run: HistogramCopy }): { queueWait: LatencyStats; run: LatencyStats } {
  return { queueWait: summarize(h.wait), run: summarize(h.run) };
}

/**
 * rt.resetStats(): a new window. Zeroes every histogram and busy counter, then stores the
 * window's start. Not atomic with the workers' adds (§2.5): an add racing with the zeroing is
 * kept or lost; a task's wait and run may fall in different windows.
 */
export function resetMetrics(mem: Memory): void {
  if (!mem.metrics) return;
  const i32 = mem.i32;
  for (let id = 0; id < M_TASKS; id++) {
    resetHistogram(i32, mem.taskHistWord(id, HIST_WAIT));
    resetHistogram(i32, mem.taskHistWord(id, HIST_RUN));
  }
  for (let p = 0; p < mem.layout.maxProducers; p++) {
    resetHistogram(i32, mem.producerHistWord(p, HIST_WAIT));
    resetHistogram(i32, mem.producerHistWord(p, HIST_RUN));
  }
  for (let w = 0; w < mem.layout.workers; w++) Atomics.store(i32, mem.metricWorkerWord(w, MW_BUSY_MS), 0);
  mem.setWindowStartMicros(hrtimeMicros() - mem.epochMicros());
}

/** Producer p's percentiles (producer.stats()), or null when metrics are off. */
export function producerLatency(mem: Memory, p: number): { queueWait: LatencyStats; run: LatencyStats } | null {
  if (!mem.metrics) return null;
  return latencyPair({ wait: copyHistogram(mem.i32, mem.producerHistWord(p, HIST_WAIT)), run: copyHistogram(mem.i32, mem.producerHistWord(p, HIST_RUN)) });
}
