/**
 * The isolation demo (`npm start`): producers with very different manners share one 2-worker
 * runtime.
 *
 *   careful     submits at exactly its quota, on a fixed schedule
 *   aggressive  floods: submits until rejected, yields one event-loop turn, again
 *   hostile     retries blindly in a tight loop, never backs off (--no-hostile leaves it out)
 *
 * The producers' slots partition the global ceiling (globalSlots is the sum of their slots, and
 * every ring can hold globalSlots cells), so the global gate and the rings can never turn anyone
 * away: every rejection a producer sees comes from its own limits. The summary checks that, that
 * the careful producer was admitted at exactly its quota, and that its latency stayed within the
 * bound that the partition implies.
 *
 *   npm start -- [--duration <seconds>] [--no-hostile] [--json <path>]
 */
import { writeFileSync } from 'node:fs';
import { Runtime } from '../index.js';
import type { Producer, ProducerLimits, ProducerStats, RejectReason, RuntimeStats, TaskRef } from '../index.js';
import { DrainTimes, Histogram, LoopGaps, WindowedHistogram, WindowedRate } from './stats.js';
import { LiveView, Style, bar, compact, int, makeStyle, ms, table } from './view.js';
import { parseArgs, UsageError, USAGE } from './args.js';

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

const WORKERS = 2;
/** CPU each task burns (a busy loop), in microseconds. */
const TASK_US = 200;
/** Cells per worker ring: at least globalSlots, so a ring is never full (checkStructure). */
const RING_CAPACITY = 256;
/** Latency percentiles in the live view cover this much recent time. */
const RECENT_MS = 5000;
/** How often the workers' progress (tasks started) is sampled, for drain times and the view. */
const SAMPLE_MS = 5;
/** Blind attempts the hostile producer makes per event-loop turn, whatever the answers. */
const HOSTILE_ATTEMPTS_PER_TURN = 16;

type Manner = 'paced' | 'flood' | 'blind';

interface ProducerSpec {
  name: string;
  limits: Required<ProducerLimits>;
  manner: Manner;
  blurb: string;
}

const CAREFUL: ProducerSpec = {
  name: 'careful',
  // Sized for its quota on a noisy machine: burst / rate = 200 ms of main-thread stall that the
  // catch-up schedule can make up, slots / rate = 200 ms of latency before its own slots bind. So
  // the checks measure isolation, not a careful producer that cut its own limits too fine.
  limits: { rate: 200, burst: 40, slots: 40 },
  manner: 'paced',
  blurb: 'submits at exactly its quota, on a 5 ms schedule that catches up when late',
};
const AGGRESSIVE: ProducerSpec = {
  // A rate well above what the workers can run (2 / 200 µs = 10k/s): it keeps them saturated
  // and is held back by its slots.
  name: 'aggressive',
  limits: { rate: 20_000, burst: 200, slots: 32 },
  manner: 'flood',
  blurb: 'floods: submits until rejected, yields one turn, repeats',
};
const HOSTILE: ProducerSpec = {
  name: 'hostile',
  limits: { rate: 1_000, burst: 50, slots: 16 },
  manner: 'blind',
  blurb: `retries blindly: ${HOSTILE_ATTEMPTS_PER_TURN} attempts every turn, whatever the answer`,
};

const OVERLOAD_REASONS: readonly RejectReason[] = ['rate', 'producer-slots', 'global-slots', 'ring-full'];
const OWN_REASONS: ReadonlySet<RejectReason> = new Set(['rate', 'producer-slots']);

const hrMicros = (): number => Number(process.hrtime.bigint() / 1000n);

// ---------------------------------------------------------------------------------------------
// Per-producer measurement
// ---------------------------------------------------------------------------------------------

/** What the `probe` task returns (demo-tasks.mjs). */
type ProbeResult = [threadId: number, startedOnWorker: number, startMicros: number, endMicros: number];

/**
 * Where a probed task's time went, and how many tasks started on its worker between its submit
 * and its own start: the quantity the partition bounds.
 */
class ProbeStats {
  /** Tasks that ran ahead of it on its worker (only probes where that is known exactly). */
  readonly ahead = new Histogram();
  readonly queued = new Histogram();
  readonly ran = new Histogram();
  readonly delivered = new Histogram();
  /** Probes whose worker started a task while we were submitting: `ahead` is not exact for them. */
  inexact = 0;
  /** Probes whose numbers make no sense (should stay 0). */
  anomalies = 0;

  record(r: ProbeResult, submitMicros: number, before: number[], after: number[], workerOf: (thread: number) => number): void {
    const [thread, n, start, end] = r;
    this.queued.record(start - submitMicros);
    this.ran.record(end - start);
    this.delivered.record(hrMicros() - end);
    const w = workerOf(thread);
    if (w < 0) { this.anomalies++; return; }
    // The worker had started before[w] tasks when we submitted and this was its n-th: the ones in
    // between ran ahead of it. Exact only if none started during the submit call itself.
    if (before[w] !== after[w]) { this.inexact++; return; }
    const ahead = n - 1 - before[w]!;
    if (ahead < 0) { this.anomalies++; return; }
    this.ahead.record(ahead);
  }
}

interface Probe {
  task: TaskRef;
  /** Tasks each worker has started so far (rt.stats().workers[].executed). */
  started: () => number[];
  /** Worker index of a thread id; -1 if none. */
  workerOf: (thread: number) => number;
  stats: ProbeStats;
}

class Tracked {
  /** Submissions attempted. */
  offered = 0;
  /** Tokens that resolved with an error (the demo's tasks never throw: must stay 0). */
  failed = 0;
  readonly overall = new Histogram();
  readonly recent: WindowedHistogram;
  readonly admitRate = new WindowedRate(2000);
  startedAt = 0;
  stoppedAt = 0;

  constructor(
    readonly spec: ProducerSpec,
    readonly producer: Producer,
    private readonly task: TaskRef,
    readonly probe: Probe | null,
    now: number,
  ) {
    this.recent = new WindowedHistogram(RECENT_MS, 5, now);
  }

  /** One submission; true when admitted. Latency: submit to the token's resolution. */
  submit(): boolean {
    this.offered++;
    if (this.probe !== null) return this.submitProbe(this.probe);
    const t0 = performance.now();
    const a = this.producer.submit(this.task, TASK_US);
    if (!a.admitted) return false;
    this.admitRate.add(1, t0);
    a.then(() => this.done(t0), () => this.fail(t0));
    return true;
  }

  private submitProbe(p: Probe): boolean {
    const before = p.started();
    const hr0 = hrMicros();
    const t0 = performance.now();
    const a = this.producer.submit<ProbeResult>(p.task, TASK_US);
    if (!a.admitted) return false;
    const after = p.started();
    this.admitRate.add(1, t0);
    a.then(
      (r) => { this.done(t0); p.stats.record(r, hr0, before, after, p.workerOf); },
      () => this.fail(t0),
    );
    return true;
  }

  private fail(t0: number): void {
    this.failed++;
    this.done(t0);
  }

  private done(t0: number): void {
    const now = performance.now();
    const us = (now - t0) * 1000;
    this.overall.record(us);
    this.recent.record(us, now);
  }

  get windowS(): number {
    return ((this.stoppedAt || performance.now()) - this.startedAt) / 1000;
  }
}

/** Drives one producer in its manner until the returned stop function is called. */
function drive(t: Tracked): () => void {
  let stopped = false;
  t.startedAt = performance.now();
  switch (t.spec.manner) {
    case 'paced': {
      // Self-correcting schedule: by time x it has offered exactly floor(x * rate) + 1, however
      // late the timer fires (a late tick catches up, within the bucket's burst).
      const rate = t.spec.limits.rate;
      const tick = (): void => {
        const due = Math.floor(((performance.now() - t.startedAt) * rate) / 1000) + 1;
        while (t.offered < due) t.submit();
      };
      const timer = setInterval(tick, Math.max(1, Math.floor(1000 / rate)));
      tick();
      return () => { tick(); clearInterval(timer); t.stoppedAt = performance.now(); };
    }
    case 'flood': {
      const turn = (): void => {
        if (stopped) return;
        while (t.submit());
        setImmediate(turn);
      };
      setImmediate(turn);
      return () => { stopped = true; t.stoppedAt = performance.now(); };
    }
    case 'blind': {
      const turn = (): void => {
        if (stopped) return;
        for (let i = 0; i < HOSTILE_ATTEMPTS_PER_TURN; i++) t.submit();
        setImmediate(turn);
      };
      setImmediate(turn);
      return () => { stopped = true; t.stoppedAt = performance.now(); };
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The workers' progress: throughput, and how long they take to get through a full queue
// ---------------------------------------------------------------------------------------------

class WorkerMeter {
  readonly throughput = new WindowedRate(2000);
  /** Drain times of every worker, over backlogged time (see sample()). */
  readonly drainTimes = new Histogram();
  private readonly drains: DrainTimes[] = [];
  private prev: { at: number; started: number[]; queued: number[] } | null = null;
  private readonly busyClock: number[] = [];
  private readonly busyStarted: number[] = [];
  started = 0;

  constructor(readonly drainTasks: number, workers: number) {
    for (let w = 0; w < workers; w++) {
      this.drains.push(new DrainTimes(drainTasks, this.drainTimes));
      this.busyClock.push(0);
      this.busyStarted.push(0);
    }
  }

  /**
   * Called every SAMPLE_MS. A worker whose ring was non-empty at two consecutive samples had a
   * backlog all along (it never idles with work queued; only the OS can hold it up), so that
   * interval, and the tasks it started in it, count on its "backlog clock". A careful task only
   * ever waits while its worker has a backlog (itself, at least), so drain times on that clock
   * are the time a queue ahead of it takes on this machine, whatever else is running here.
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
      this.busyClock[w]! += now - prev.at;
      this.busyStarted[w]! += n - prev.started[w]!;
      this.drains[w]!.sample(this.busyStarted[w]!, this.busyClock[w]!);
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------------------

interface Snapshot {
  elapsedMs: number;
  rs: RuntimeStats;
  rows: { t: Tracked; ps: ProducerStats }[];
}

function producerTable(snap: Snapshot, st: Style, final: boolean): string[] {
  const header = [
    'producer', 'rate/burst/slots', 'admitted', 'adm/s', 'rate', 'prod-slots', 'global', 'ring',
    'in flight', final ? 'p50 ms' : 'p50 ms 5s', final ? 'p99 ms' : 'p99 ms 5s', 'max ms',
  ];
  const rows = snap.rows.map(({ t, ps }) => {
    const l = ps.limits;
    const lat = final ? t.overall : t.recent.snapshot();
    const admPerS = final ? ps.admitted / t.windowS : t.admitRate.rate();
    const rej = (r: RejectReason): string => {
      const n = ps.rejected[r];
      if (n === 0) return st.dim('0');
      return OWN_REASONS.has(r) ? compact(n) : st.red(compact(n));
    };
    return [
      st.bold(ps.name), `${compact(l.rate)}/${l.burst}/${l.slots}`, int(ps.admitted), admPerS.toFixed(1),
      rej('rate'), rej('producer-slots'), rej('global-slots'), rej('ring-full'),
      `${ps.inFlight}/${l.slots}`, ms(lat.quantile(0.5)), ms(lat.quantile(0.99)), ms(t.overall.max),
    ];
  });
  const lines = table(header, rows, new Set([2, 3, 4, 5, 6, 7, 8, 9, 10, 11]));
  // A group label over the rejection columns: they start right after 'adm/s'.
  const at = lines[0]!.indexOf('adm/s') + 'adm/s'.length + 2;
  return [st.dim(`${' '.repeat(at)}─ rejected, by reason ─`), st.dim(lines[0]!), ...lines.slice(1)];
}

function footer(snap: Snapshot, meter: WorkerMeter, loopP99Us: number): string {
  const rs = snap.rs;
  return `global in flight ${rs.global.inFlight}/${rs.global.limit} · queued ${rs.workers.map((w) => w.queued).join(' + ')} · ` +
    `workers ${compact(meter.throughput.rate())} tasks/s · event-loop gap p99 ${ms(loopP99Us)} ms`;
}

function progressLine(snap: Snapshot, durationMs: number): string {
  const parts = snap.rows.map(({ t, ps }) => {
    const rej = OVERLOAD_REASONS.filter((r) => ps.rejected[r] > 0).map((r) => `${r} ${compact(ps.rejected[r])}`);
    return `${ps.name} ${t.admitRate.rate().toFixed(0)}/s, rejected ${rej.length ? rej.join(' ') : 0}, ` +
      `p99 ${ms(t.recent.snapshot().quantile(0.99))} ms`;
  });
  const secs = `${(snap.elapsedMs / 1000).toFixed(0).padStart(String(durationMs / 1000).length)}/${durationMs / 1000} s`;
  return `[${secs}] ${parts.join(' | ')} | global ${snap.rs.global.inFlight}/${snap.rs.global.limit}`;
}

// ---------------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------------

interface Check {
  name: string;
  pass: boolean;
  detail: string[];
}

interface Bound {
  /** Tasks that can be queued ahead of a careful task on its worker: floor((G - 1) / W). */
  queuedAhead: number;
  /** Tasks a worker must start, from a careful task's submit, for it to be done: queuedAhead + 2. */
  drainTasks: number;
  /** p99 over backlogged time of how long a worker takes to start that many tasks, µs. */
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
 * running, those queued ahead and itself, i.e. has started queuedAhead + 2 more tasks (the
 * last being the one after it); and it is resolved when the main thread next drains completions.
 */
function queuedAheadBound(globalSlots: number): number {
  return Math.floor((globalSlots - 1) / WORKERS);
}

function latencyBound(globalSlots: number, meter: WorkerMeter, loop: LoopGaps): Bound {
  const queuedAhead = queuedAheadBound(globalSlots);
  const drainUs = meter.drainTimes.quantile(0.99);
  const loopUs = loop.gaps.quantile(0.99);
  return { queuedAhead, drainTasks: meter.drainTasks, drainUs, loopUs, us: drainUs + loopUs };
}

function checkStructure(snap: Snapshot, globalSlots: number): Check {
  const slots = snap.rs.producers.map((p) => p.limits.slots);
  const sum = slots.reduce((a, b) => a + b, 0);
  return {
    name: 'isolation is structural: the producers\' slots partition the global ceiling',
    pass: sum <= globalSlots && RING_CAPACITY >= globalSlots,
    detail: [
      `slots ${slots.join(' + ')} = ${sum} <= globalSlots ${globalSlots}: the global gate cannot reject anyone`,
      `ringCapacity ${RING_CAPACITY} >= globalSlots ${globalSlots}: no ring can be full`,
      `so a producer can only be rejected by its own rate or slots, whatever the others do`,
    ],
  };
}

function checkQuota(t: Tracked, ps: ProducerStats): Check {
  const windowS = t.windowS;
  const rate = ps.limits.rate;
  const expected = rate * windowS;
  // The schedule offers floor(window * rate) + 1; admission may refuse some (its own slots), and
  // a full bucket could add up to `burst`: allow 5% of the quota, or the burst on a short run.
  const tolerance = Math.max(0.05 * expected, ps.limits.burst);
  const spilled = ps.rejected['global-slots'] + ps.rejected['ring-full'];
  const own = ps.rejected.rate + ps.rejected['producer-slots'];
  return {
    name: `${ps.name} got exactly its quota, and others' overload never turned it away`,
    pass: Math.abs(ps.admitted - expected) <= tolerance && spilled === 0,
    detail: [
      `admitted ${int(ps.admitted)} of ${int(t.offered)} offered in ${windowS.toFixed(2)} s = ${(ps.admitted / windowS).toFixed(1)}/s ` +
        `for a quota of ${rate}/s (expected ${expected.toFixed(0)} ± ${tolerance.toFixed(0)})`,
      `rejected for global-slots ${ps.rejected['global-slots']}, ring-full ${ps.rejected['ring-full']} (must be 0); ` +
        `by its own limits ${own}`,
    ],
  };
}

function checkOwnRejections(others: Snapshot['rows']): Check {
  const detail: string[] = [];
  let pass = true;
  for (const { ps } of others) {
    const own = ps.rejected.rate + ps.rejected['producer-slots'];
    const foreign = ps.rejected['global-slots'] + ps.rejected['ring-full'];
    if (own === 0 || foreign !== 0) pass = false;
    detail.push(
      `${ps.name}: ${int(own + foreign)} rejected: rate ${int(ps.rejected.rate)}, producer-slots ${int(ps.rejected['producer-slots'])}, ` +
        `global-slots ${ps.rejected['global-slots']}, ring-full ${ps.rejected['ring-full']}` +
        (own === 0 ? ' (never over its limits: there was no overload to isolate)' : ''),
    );
  }
  return { name: 'the overloading producers were rejected, and only by their own limits', pass, detail };
}

function checkLatency(t: Tracked, b: Bound): Check {
  const p = t.probe!.stats;
  const p99 = t.overall.quantile(0.99);
  const aheadMax = p.ahead.max;
  const pass = p.ahead.count > 0 && p.anomalies === 0 && aheadMax <= b.queuedAhead && Number.isFinite(b.us) && p99 <= b.us;
  return {
    name: `${t.spec.name}'s latency stayed bounded: at most ${b.queuedAhead} tasks queued ahead of it, p99 ${ms(p99)} ms <= ${ms(b.us)} ms`,
    pass,
    detail: [
      `queued ahead on its worker: at most floor((globalSlots - 1) / workers) = ${b.queuedAhead}; measured max ${aheadMax}, ` +
        `p50 ${p.ahead.quantile(0.5)} (exact for ${int(p.ahead.count)} tasks, ${int(p.inexact)} inexact` +
        `${p.anomalies ? `, ${p.anomalies} unreadable` : ''})`,
      `bound = ${ms(b.drainUs)} ms for a worker with a backlog to get through ${b.drainTasks} tasks (the running one, ` +
        `${b.queuedAhead} queued, itself) + ${ms(b.loopUs)} ms for the main thread to come round and drain the completion`,
      `  both p99 over time, measured in this run (${b.drainTasks} x ${TASK_US} µs = ${ms(b.drainTasks * TASK_US)} ms of CPU, ` +
        `plus whatever this machine's other threads take)`,
      `latency p50 ${ms(t.overall.quantile(0.5))} ms (queued ${ms(p.queued.quantile(0.5))} + ran ${ms(p.ran.quantile(0.5))} + ` +
        `delivered ${ms(p.delivered.quantile(0.5))}, p50s), p99 ${ms(p99)}, max ${ms(t.overall.max)} over ${int(t.overall.count)} tasks`,
    ],
  };
}

function checkAccounting(snap: Snapshot): Check {
  const detail: string[] = [];
  let pass = snap.rs.global.inFlight === 0;
  for (const { t, ps } of snap.rows) {
    const rejected = Object.values(ps.rejected).reduce((a, b) => a + b, 0);
    const resolved = Object.values(ps.resolved).reduce((a, b) => a + b, 0);
    if (!(t.offered === ps.admitted + rejected && resolved === ps.admitted && ps.resolved.fulfilled === ps.admitted &&
      ps.inFlight === 0 && t.failed === 0 && t.overall.count === ps.admitted)) pass = false;
    detail.push(
      `${ps.name}: offered ${int(t.offered)} = admitted ${int(ps.admitted)} + rejected ${int(rejected)}; ` +
        `fulfilled ${int(ps.resolved.fulfilled)}; in flight after close ${ps.inFlight}`,
    );
  }
  detail.push(`global in flight after close ${snap.rs.global.inFlight}`);
  return { name: 'every submission accounted for; every admitted task ran and resolved exactly once', pass, detail };
}

// ---------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------

async function main(argv: readonly string[]): Promise<number> {
  let opts;
  try {
    opts = parseArgs(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`isolation demo: ${err.message}\n\n${USAGE}\n`);
    return 2;
  }
  if (opts === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }

  const tty = process.stdout.isTTY === true;
  const st = makeStyle(tty && !('NO_COLOR' in process.env));
  const view = new LiveView(process.stdout, tty);
  const specs = opts.hostile ? [CAREFUL, AGGRESSIVE, HOSTILE] : [CAREFUL, AGGRESSIVE];
  // The partition: the global ceiling is exactly the sum of the producers' slots.
  const globalSlots = specs.reduce((s, p) => s + p.limits.slots, 0);
  const durationMs = opts.durationS * 1000;

  const rt = await Runtime.start({
    tasks: new URL('./demo-tasks.mjs', import.meta.url),
    workers: WORKERS,
    globalSlots,
    ringCapacity: RING_CAPACITY,
  });
  const workerOf = new Map<number, number>();
  const probe: Probe = {
    task: rt.task('probe'),
    started: () => rt.stats().workers.map((w) => w.executed),
    workerOf: (thread) => {
      if (!workerOf.has(thread)) {
        // A worker stores its thread id only after it reported ready (see the report), so the map
        // is built on first use rather than right after Runtime.start.
        for (const w of rt.stats().workers) if (w.threadId !== 0) workerOf.set(w.threadId, w.index);
      }
      return workerOf.get(thread) ?? -1;
    },
    stats: new ProbeStats(),
  };
  const spin = rt.task('spin');
  const t0 = performance.now();
  const tracked = specs.map((s) => new Tracked(s, rt.producer(s.name, s.limits), spin, s === CAREFUL ? probe : null, t0));

  const title = `sluice isolation demo · ${WORKERS} workers · ${TASK_US} µs CPU per task · ` +
    `globalSlots ${globalSlots} = ${specs.map((s) => s.limits.slots).join(' + ')}, the producers' slots`;
  const intro = [
    st.bold(title),
    ...tracked.map(({ spec: { name, limits: l, blurb } }) => st.dim(`  ${name}: rate ${l.rate}/s, burst ${l.burst}, slots ${l.slots}; ${blurb}`)),
  ];
  if (!tty) process.stdout.write(`${intro.join('\n')}\nrunning for ${opts.durationS} s\n`);

  const loop = new LoopGaps();
  loop.start();
  const meter = new WorkerMeter(queuedAheadBound(globalSlots) + 2, WORKERS);
  let interrupted = false;
  let finish: () => void = () => {};
  const finished = new Promise<void>((r) => { finish = r; });
  const onSigint = (): void => { interrupted = true; finish(); };
  process.once('SIGINT', onSigint);

  const snapshot = (): Snapshot => {
    const rs = rt.stats();
    return {
      elapsedMs: performance.now() - t0,
      rs,
      rows: tracked.map((t) => ({ t, ps: rs.producers.find((p) => p.name === t.spec.name)! })),
    };
  };

  const stops = tracked.map(drive);
  meter.sample(rt.stats(), performance.now());
  const sampler = setInterval(() => meter.sample(rt.stats(), performance.now()), SAMPLE_MS);
  // On a TTY redraw at 10 Hz; otherwise a progress line every max(1 s, duration / 10): about ten
  // lines at most, never a scroll.
  const redraw = setInterval(() => {
    const snap = snapshot();
    const f = snap.elapsedMs / durationMs;
    const barCols = Math.max(10, Math.min(50, view.columns - 20));
    view.frame([
      ...intro,
      '',
      `[${bar(f, barCols)}] ${(Math.min(snap.elapsedMs, durationMs) / 1000).toFixed(1)} / ${opts.durationS} s`,
      '',
      ...producerTable(snap, st, false),
      '',
      st.dim(footer(snap, meter, loop.gaps.quantile(0.99))),
    ]);
  }, 100);
  const progress = tty ? null : setInterval(() => view.line(progressLine(snapshot(), durationMs)), Math.max(1000, durationMs / 10));
  const endTimer = setTimeout(finish, durationMs);

  await finished;
  clearTimeout(endTimer);
  const stopAt = performance.now();
  meter.sample(rt.stats(), stopAt);
  for (const stop of stops) stop();
  clearInterval(sampler);
  clearInterval(redraw);
  if (progress !== null) clearInterval(progress);

  // Every admitted task resolves, then the shutdown protocol runs.
  loop.stop();
  await rt.close();
  process.off('SIGINT', onSigint);
  const after = snapshot();
  view.clear();

  // ---- the checks ----
  const bound = latencyBound(globalSlots, meter, loop);
  const careful = after.rows[0]!;
  const checks = [
    checkStructure(after, globalSlots),
    checkQuota(careful.t, careful.ps),
    checkOwnRejections(after.rows.slice(1)),
    checkLatency(careful.t, bound),
    checkAccounting(after),
  ];
  const pass = checks.every((c) => c.pass);

  // ---- the summary ----
  const out: string[] = [
    ...intro,
    '',
    `ran ${((stopAt - t0) / 1000).toFixed(2)} s${interrupted ? st.yellow(' (interrupted)') : ''}: ` +
      `the workers ran ${int(meter.started)} tasks (${int(meter.started / ((stopAt - t0) / 1000))}/s)`,
    '',
    ...producerTable(after, st, true),
    '',
  ];
  for (const c of checks) {
    out.push(`${c.pass ? st.green('✓') : st.red('✗')} ${c.name}`);
    for (const d of c.detail) out.push(st.dim(`    ${d}`));
  }
  out.push('', pass
    ? st.green(st.bold('isolation held: every check passed'))
    : st.red(st.bold(`FAILED: ${checks.filter((c) => !c.pass).length} check(s) did not pass (✗ above)`)));
  process.stdout.write(`${out.join('\n')}\n`);

  if (opts.json !== null) {
    const p = probe.stats;
    const json = {
      durationSeconds: (stopAt - t0) / 1000,
      interrupted,
      workers: WORKERS,
      taskMicros: TASK_US,
      globalSlots,
      ringCapacity: RING_CAPACITY,
      tasksRun: meter.started,
      latencyBound: {
        queuedAhead: bound.queuedAhead, measuredQueuedAheadMax: p.ahead.max, drainTasks: bound.drainTasks,
        drainMicros: bound.drainUs, mainThreadGapMicros: bound.loopUs, micros: bound.us,
      },
      producers: after.rows.map(({ t, ps }) => ({
        name: ps.name,
        manner: t.spec.manner,
        limits: ps.limits,
        offered: t.offered,
        admitted: ps.admitted,
        admittedPerSecond: ps.admitted / t.windowS,
        rejected: ps.rejected,
        resolved: ps.resolved,
        latencyMicros: {
          p50: t.overall.quantile(0.5), p99: t.overall.quantile(0.99), max: t.overall.max, mean: t.overall.mean(), count: t.overall.count,
        },
      })),
      checks,
      pass,
    };
    writeFileSync(opts.json, `${JSON.stringify(json, null, 2)}\n`);
    process.stdout.write(st.dim(`summary written to ${opts.json}\n`));
  }
  return pass ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // The runtime is closed and every timer is cleared: the process now exits by itself. If
    // something still holds it open, say so rather than hang.
    setTimeout(() => {
      process.stderr.write('isolation demo: still running 5 s after rt.close(); something holds the event loop open\n');
      process.exit(code === 0 ? 1 : code);
    }, 5000).unref();
  },
  (err: unknown) => {
    if (process.stdout.isTTY) process.stdout.write('\x1b[?25h');
    process.stderr.write(`isolation demo failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
