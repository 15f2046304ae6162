/**
 * What the demo proves, as checks: the partition, the careful producer's quota, whose rejections
 * are whose, the careful producer's latency bound, and the accounting. Plus the measurement the
 * latency bound needs: how fast the workers really get through a queue on this machine.
 */
import type { ProducerStats, RuntimeStats } from '../../index.js';
import { DrainTimes, Histogram, LoopGaps, WindowedRate } from './stats.js';
import { TASK_US, Tracked } from './producers.js';
import { compact, int, ms } from './view.js';

export interface Check {
  name: string;
  pass: boolean;
  detail: string[];
}

export interface Row {
  t: Tracked;
  ps: ProducerStats;
}

// ---------------------------------------------------------------------------------------------
// The workers' progress: throughput, and how long they take to get through a queue
// ---------------------------------------------------------------------------------------------

export class WorkerMeter {
  readonly throughput = new WindowedRate(2000);
  /** Drain times of every worker, on backlog clocks (see sample()). */
  readonly drainTimes = new Histogram();
  private readonly drains: DrainTimes[] = [];
  private readonly backlogClock: number[] = [];
  private readonly backlogStarted: number[] = [];
  private prev: { at: number; started: number[]; queued: number[] } | null = null;
  /** Tasks started by all workers so far. */
  started = 0;

  constructor(readonly drainTasks: number, workers: number) {
    for (let w = 0; w < workers; w++) {
      this.drains.push(new DrainTimes(drainTasks, this.drainTimes));
      this.backlogClock.push(0);
      this.backlogStarted.push(0);
    }
  }

  /**
   * Called every few milliseconds. A worker whose ring was non-empty at two consecutive samples
   * had a backlog all along (it never idles with work queued; only the OS can hold it up), so
   * that interval, and the tasks it started in it, go on its backlog clock. A careful task only
   * waits while its worker has a backlog (itself, at least), so drain times on that clock are
   * what a queue ahead of it costs on this machine, whatever else is running here.
   */
  sample(rs: RuntimeStats, now: number): void {
    const started = rs.workers.map((w) => w.executed);
    const queued = rs.workers.map((w) => w.queued);
    const total = started.reduce((a, b) => a + b, 0);
    this.throughput.add(total - this.started, now);
    this.started = total;
    const prev = this.prev;
    this.prev = { at: now, started, queued };
    if (prev === null) return;
    started.forEach((n, w) => {
      if (prev.queued[w]! === 0 || queued[w]! === 0) return;
      this.backlogClock[w]! += now - prev.at;
      this.backlogStarted[w]! += n - prev.started[w]!;
      this.drains[w]!.sample(this.backlogStarted[w]!, this.backlogClock[w]!);
    });
  }
}

// ---------------------------------------------------------------------------------------------
// The careful producer's latency bound
// ---------------------------------------------------------------------------------------------

export interface Bound {
  /** Tasks that can be queued ahead of a careful task on its worker: floor((G - 1) / W). */
  queuedAhead: number;
  /** Tasks its worker gets through until it is done: the running one, queuedAhead, itself. */
  drainTasks: number;
  /** p99 over backlogged time of how long a worker takes to get through drainTasks, µs. */
  drainUs: number;
  /** p99 over time of the main thread's gaps between event-loop turns, µs. */
  loopUs: number;
  /** drainUs + loopUs. */
  us: number;
}

/**
 * Admitted-and-unresolved tasks never exceed globalSlots (G), the careful task among them, so
 * when it is routed at most G - 1 others are queued; routing picks the least-occupied of the W
 * rings, so at most floor((G - 1) / W) are queued ahead of it there. Rings are FIFO: nothing
 * submitted later overtakes it. So it is done once its worker has finished the task it was
 * running, the ones queued ahead and itself; it is resolved when the main thread next drains
 * completions.
 */
export function queuedAheadBound(globalSlots: number, workers: number): number {
  return Math.floor((globalSlots - 1) / workers);
}

/** Tasks a worker must get through for a careful task to be done: running + queued ahead + itself. */
export function drainTasks(globalSlots: number, workers: number): number {
  return queuedAheadBound(globalSlots, workers) + 2;
}

export function latencyBound(globalSlots: number, workers: number, meter: WorkerMeter, loop: LoopGaps): Bound {
  const drainUs = meter.drainTimes.quantile(0.99);
  const loopUs = loop.gaps.quantile(0.99);
  return {
    queuedAhead: queuedAheadBound(globalSlots, workers), drainTasks: meter.drainTasks, drainUs, loopUs, us: drainUs + loopUs,
  };
}

// ---------------------------------------------------------------------------------------------
// The checks
// ---------------------------------------------------------------------------------------------

export function checkStructure(rs: RuntimeStats, ringCapacity: number): Check {
  const slots = rs.producers.map((p) => p.limits.slots);
  const sum = slots.reduce((a, b) => a + b, 0);
  const g = rs.global.limit;
  return {
    name: 'isolation is structural: the producers\' slots partition the global ceiling',
    pass: sum <= g && ringCapacity >= g,
    detail: [
      `slots ${slots.join(' + ')} = ${sum} <= globalSlots ${g}: the global gate can never reject anyone`,
      `ringCapacity ${ringCapacity} >= globalSlots ${g}: no ring can ever be full`,
      'so a producer can only be rejected by its own rate or slots, whatever the others do',
    ],
  };
}

export function checkQuota({ t, ps }: Row): Check {
  const windowS = t.windowS;
  const rate = ps.limits.rate ?? 0; // every demo producer has a rate limit
  const expected = rate * windowS;
  // The schedule offers floor(window * rate) + 1, never more: allow 5% below the quota for what
  // its own limits may refuse if this machine stalls the demo for longer than their headroom.
  const tolerance = 0.05 * expected + 1;
  const foreign = ps.rejected['global-slots'] + ps.rejected['ring-full'];
  return {
    name: `${ps.name} was admitted at its quota, and never rejected because of the others`,
    pass: Math.abs(ps.admitted - expected) <= tolerance && foreign === 0,
    detail: [
      `admitted ${int(ps.admitted)} of ${int(t.offered)} offered in ${windowS.toFixed(2)} s = ${(ps.admitted / windowS).toFixed(1)}/s; ` +
        `quota ${rate}/s -> ${expected.toFixed(0)} ± ${tolerance.toFixed(0)}`,
      `rejected for global-slots ${ps.rejected['global-slots']}, ring-full ${ps.rejected['ring-full']} (must be 0); ` +
        `by its own limits: rate ${ps.rejected.rate}, producer-slots ${ps.rejected['producer-slots']}`,
    ],
  };
}

export function checkOwnRejections(rows: readonly Row[]): Check {
  let pass = true;
  const detail = rows.map(({ ps }) => {
    const own = ps.rejected.rate + ps.rejected['producer-slots'];
    const foreign = ps.rejected['global-slots'] + ps.rejected['ring-full'];
    if (own === 0 || foreign !== 0) pass = false;
    return `${ps.name}: ${compact(own + foreign)} rejected: rate ${compact(ps.rejected.rate)}, ` +
      `producer-slots ${compact(ps.rejected['producer-slots'])}, global-slots ${ps.rejected['global-slots']}, ` +
      `ring-full ${ps.rejected['ring-full']}${own === 0 ? ' (never over its limits: no overload to isolate)' : ''}`;
  });
  const who = rows.map((r) => r.ps.name).join(' and ');
  return { name: `${who} ${rows.length === 1 ? 'was' : 'were'} rejected, and only by ${rows.length === 1 ? 'its' : 'their'} own limits`, pass, detail };
}

export function checkLatency(t: Tracked, b: Bound): Check {
  const p = t.probe!.stats;
  const p99 = t.overall.quantile(0.99);
  const pass = p.ahead.count > 0 && p.anomalies === 0 && p.ahead.max <= b.queuedAhead && Number.isFinite(b.us) && p99 <= b.us;
  return {
    name: `${t.spec.name}'s latency stayed bounded: p99 ${ms(p99)} ms <= ${ms(b.us)} ms`,
    pass,
    detail: [
      `queued ahead of it: at most floor((globalSlots - 1) / workers) = ${b.queuedAhead}; measured max ${p.ahead.max}, ` +
        `p50 ${p.ahead.quantile(0.5)} (${int(p.ahead.count)} exact, ${p.inexact} inexact${p.anomalies ? `, ${p.anomalies} unreadable` : ''})`,
      'bound = drain + delivery, each the p99 over this run:',
      `  drain    ${ms(b.drainUs)} ms for a backlogged worker to get through ${b.drainTasks} tasks (running + ${b.queuedAhead} + itself;`,
      `           ${b.drainTasks} x ${TASK_US} µs = ${ms(b.drainTasks * TASK_US)} ms of CPU, the rest is this machine's other load)`,
      `  delivery ${ms(b.loopUs)} ms for the main thread to come round and drain the completion`,
      `measured: p50 ${ms(t.overall.quantile(0.5))} ms (queued ${ms(p.queued.quantile(0.5))}, ran ${ms(p.ran.quantile(0.5))}, ` +
        `delivered ${ms(p.delivered.quantile(0.5))}), p99 ${ms(p99)} ms, max ${ms(t.overall.max)} ms, ${int(t.overall.count)} tasks`,
    ],
  };
}

export function checkAccounting(rows: readonly Row[], rs: RuntimeStats): Check {
  let pass = rs.global.inFlight === 0;
  const detail = rows.map(({ t, ps }) => {
    const rejected = Object.values(ps.rejected).reduce((a, b) => a + b, 0);
    const resolved = Object.values(ps.resolved).reduce((a, b) => a + b, 0);
    if (!(t.offered === ps.admitted + rejected && resolved === ps.admitted && ps.resolved.fulfilled === ps.admitted &&
      ps.inFlight === 0 && t.failed === 0 && t.overall.count === ps.admitted)) pass = false;
    return `${ps.name}: offered ${int(t.offered)} = admitted ${int(ps.admitted)} + rejected ${int(rejected)}; ` +
      `fulfilled ${int(ps.resolved.fulfilled)}; in flight after close ${ps.inFlight}`;
  });
  detail.push(`global in flight after close ${rs.global.inFlight}`);
  return { name: 'every submission accounted for; every admitted task ran and resolved exactly once', pass, detail };
}
