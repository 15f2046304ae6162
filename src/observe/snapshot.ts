/**
 * metricsSnapshot(rt): one plain, JSON-safe object with everything sluice/observe exports --
 * counters, gauges and the histograms as cumulative `le` buckets -- read from shared memory at
 * call time (rt.stats() plus the histogram words). Prometheus (prometheus.ts) and the dashboard
 * read this one shape; docs/api.md documents it.
 */
import { Runtime } from '../runtime/runtime.js';
import { ConfigError, describe } from '../errors.js';
import type { RejectReason } from '../admission/reasons.js';
import type { Outcome } from '../admission/outcomes.js';
import type { RawMetrics } from '../runtime/metrics.js';
import { HIST_BUCKETS, bucketHigh, bucketLow, summarize, type HistogramCopy, type LatencyStats } from '../shm/words/histogram.js';

/** One histogram: percentiles (µs) and cumulative buckets (seconds), as Prometheus wants them. */
export interface HistogramSnapshot extends LatencyStats {
  /**
   * Cumulative counts: `count` durations were shorter than `le` seconds. Bounds are the powers of
   * two from 1 µs to 2^32 µs (33 of them, always the same), then `+Inf` (le: null, count: all).
   */
  buckets: { le: number | null; count: number }[];
  /** Sum of the durations in seconds, estimated from bucket midpoints (within 6.25%). */
  sum: number;
}

export interface ProducerSnapshot {
  name: string;
  inFlight: number;
  admitted: number;
  rejected: Record<RejectReason, number>;
  resolved: Record<Outcome, number>;
  /** Null with metrics off. */
  queueWait: HistogramSnapshot | null;
  run: HistogramSnapshot | null;
}

export interface TaskSnapshot {
  name: string;
  queueWait: HistogramSnapshot;
  run: HistogramSnapshot;
}

export interface WorkerSnapshot {
  index: number;
  executed: number;
  queued: number;
  asyncInFlight: number;
  restarts: number;
  failed: boolean;
  /** Busy share of the window, 0..1; null with metrics off. */
  utilization: number | null;
}

/** metricsSnapshot(rt)'s shape (docs/api.md, "sluice/observe"). */
export interface MetricsSnapshot {
  /** Wall-clock time of the snapshot, ms since the Unix epoch. */
  at: number;
  state: 'running' | 'draining' | 'closed';
  /** Whether the runtime keeps histograms (Runtime.start({ metrics: true })). */
  metrics: boolean;
  /** Seconds the histograms and utilization cover (since start or rt.resetStats()); null with metrics off. */
  windowSeconds: number | null;
  global: { inFlight: number; limit: number };
  producers: ProducerSnapshot[];
  /** Per task function; empty with metrics off. */
  tasks: TaskSnapshot[];
  workers: WorkerSnapshot[];
}

/** The `le` bounds in µs: 2^0 .. 2^32. Each is a bucket edge of the log-linear histogram. */
export const LE_MICROS: readonly number[] = Array.from({ length: 33 }, (_, e) => 2 ** e);

/** A histogram copy as percentiles plus cumulative `le` buckets. */
export function histogramSnapshot(h: HistogramCopy): HistogramSnapshot {
  const s = summarize(h);
  const buckets: HistogramSnapshot['buckets'] = [];
  let cum = 0;
  let b = 0;
  let sumUs = 0;
  for (const le of LE_MICROS) {
    // Every bucket lies wholly below or above a power of two: add those whose values are all < le.
    while (b < HIST_BUCKETS && bucketHigh(b) <= le) {
      const c = h.counts[b]!;
      cum += c;
      sumUs += c * (bucketLow(b) + (bucketHigh(b) - 1)) / 2;
      b++;
    }
    buckets.push({ le: le / 1e6, count: cum });
  }
  buckets.push({ le: null, count: s.count });
  return { ...s, buckets, sum: sumUs / 1e6 };
}

/** Everything sluice/observe exports, read now. */
export function metricsSnapshot(rt: Runtime): MetricsSnapshot {
  if (!(rt instanceof Runtime)) throw new ConfigError(`metricsSnapshot: expected a Runtime; got ${describe(rt)}`);
  const stats = rt.stats();
  const raw: RawMetrics | null = rt.rawMetrics();
  const producers: ProducerSnapshot[] = stats.producers.map((p) => {
    const h = raw === null ? undefined : raw.producers.get(p.name);
    return {
      name: p.name, inFlight: p.inFlight, admitted: p.admitted, rejected: p.rejected, resolved: p.resolved,
      queueWait: h === undefined ? null : histogramSnapshot(h.wait),
      run: h === undefined ? null : histogramSnapshot(h.run),
    };
  });
  return {
    at: Date.now(),
    state: stats.state,
    metrics: raw !== null,
    windowSeconds: stats.windowSeconds,
    global: { ...stats.global },
    producers,
    tasks: raw === null ? [] : raw.tasks.map((t) => ({ name: t.name, queueWait: histogramSnapshot(t.wait), run: histogramSnapshot(t.run) })),
    workers: stats.workers.map((w) => ({
      index: w.index, executed: w.executed, queued: w.queued, asyncInFlight: w.asyncInFlight, restarts: w.restarts, failed: w.failed,
      utilization: w.utilization,
    })),
  };
}
