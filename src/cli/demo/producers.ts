/**
 * The demo's producers: who they are (limits, manners), how each one is driven, and what is
 * measured about it from the submitting side (offered, latency, and for the careful one, where
 * each task's time went and how much work ran ahead of it).
 */
import type { Producer, ProducerLimits, RejectReason, TaskRef } from '../../index.js';
import { Histogram, WindowedHistogram, WindowedRate } from './stats.js';

/** CPU each task burns (a busy loop), in microseconds. */
export const TASK_US = 200;
/** Latency percentiles in the live view cover this much recent time. */
export const RECENT_MS = 5000;
/** Blind attempts the hostile producer makes per event-loop turn, whatever the answers. */
export const HOSTILE_ATTEMPTS_PER_TURN = 16;

export type Manner = 'paced' | 'flood' | 'blind';

export interface ProducerSpec {
  name: string;
  limits: Required<ProducerLimits>;
  manner: Manner;
  blurb: string;
}

export const CAREFUL: ProducerSpec = {
  name: 'careful',
  // Its limits leave it a full second of headroom: the catch-up schedule can make up a 1 s stall
  // of this (shared, noisy) machine within its burst, and its own slots only bind once a task
  // takes more than slots / rate = 1 s. So its admissions measure isolation, not a producer that
  // cut its own limits too fine. Headroom is not free: its slots count in globalSlots, and so in
  // the latency bound (checks.ts), exactly like everyone else's.
  limits: { rate: 100, burst: 100, slots: 100 },
  manner: 'paced',
  blurb: 'exactly its quota, on a 10 ms catch-up schedule',
};

export const AGGRESSIVE: ProducerSpec = {
  // A rate well above what the workers can run (2 / 200 µs = 10k/s): it keeps them saturated
  // and is held back by its slots.
  name: 'aggressive',
  limits: { rate: 20_000, burst: 200, slots: 32 },
  manner: 'flood',
  blurb: 'floods: submits until rejected, yields, repeats',
};

export const HOSTILE: ProducerSpec = {
  name: 'hostile',
  limits: { rate: 1_000, burst: 50, slots: 16 },
  manner: 'blind',
  blurb: `retries blindly, ${HOSTILE_ATTEMPTS_PER_TURN} tries a turn, never backs off`,
};

/** Reasons that are a producer's own limits; the others would be someone else's load. */
export const OWN_REASONS: ReadonlySet<RejectReason> = new Set(['rate', 'producer-slots']);

export const hrMicros = (): number => Number(process.hrtime.bigint() / 1000n);

/** What the `probe` task returns (demo-tasks.mjs). */
export type ProbeResult = [threadId: number, startedOnWorker: number, startMicros: number, endMicros: number];

/**
 * Where a probed task's time went, and how many tasks started on its worker between its submit
 * and its own start: the quantity the partition bounds.
 */
export class ProbeStats {
  /** Tasks queued ahead of it on its worker (only probes where that is known exactly). */
  readonly ahead = new Histogram();
  readonly queued = new Histogram();
  readonly ran = new Histogram();
  readonly delivered = new Histogram();
  /** Probes whose worker started a task while we were submitting: `ahead` is not exact for them. */
  inexact = 0;
  /** Probes whose numbers make no sense (must stay 0). */
  anomalies = 0;

  record(r: ProbeResult, submitMicros: number, before: number[], after: number[], workerOf: (thread: number) => number): void {
    const [thread, n, start, end] = r;
    this.queued.record(start - submitMicros);
    this.ran.record(end - start);
    this.delivered.record(hrMicros() - end);
    const w = workerOf(thread);
    if (w < 0) { this.anomalies++; return; }
    // Its worker had started before[w] tasks when we submitted, and this was its n-th: the ones
    // in between were queued ahead of it. Exact only if none started during the submit call.
    if (before[w] !== after[w]) { this.inexact++; return; }
    const ahead = n - 1 - before[w]!;
    if (ahead < 0) { this.anomalies++; return; }
    this.ahead.record(ahead);
  }
}

export interface Probe {
  task: TaskRef;
  /** Tasks each worker has started so far (rt.stats().workers[].executed). */
  started: () => number[];
  /** Worker index of a thread id; -1 if none. */
  workerOf: (thread: number) => number;
  stats: ProbeStats;
}

/** One producer with its submitting-side measurements. */
export class Tracked {
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
    /** What each submit sends (the demo: its busy-loop length; `sluice stress`: the user's payload). */
    private readonly payload: unknown = TASK_US,
  ) {
    this.recent = new WindowedHistogram(RECENT_MS, 5, now);
  }

  /** One submission; true when admitted. Latency: from submit to the token's resolution. */
  submit(): boolean {
    this.offered++;
    if (this.probe !== null) return this.submitProbe(this.probe);
    const t0 = performance.now();
    const a = this.producer.submit(this.task, this.payload);
    if (!a.admitted) return false;
    this.admitRate.add(1, t0);
    a.then(() => this.done(t0), () => this.fail(t0));
    return true;
  }

  private submitProbe(p: Probe): boolean {
    const before = p.started();
    const hr0 = hrMicros();
    const t0 = performance.now();
    const a = this.producer.submit<ProbeResult>(p.task, this.payload);
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

  /** Seconds it has been (or was) submitting. */
  get windowS(): number {
    return ((this.stoppedAt || performance.now()) - this.startedAt) / 1000;
  }
}

/** Drive one producer in its manner; returns the function that stops it. */
export function drive(t: Tracked): () => void {
  let stopped = false;
  t.startedAt = performance.now();
  const stop = (): void => { stopped = true; t.stoppedAt = performance.now(); };
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
      return () => { tick(); clearInterval(timer); stop(); };
    }
    case 'flood': {
      const turn = (): void => {
        if (stopped) return;
        while (t.submit());
        setImmediate(turn);
      };
      setImmediate(turn);
      return stop;
    }
    case 'blind': {
      const turn = (): void => {
        if (stopped) return;
        for (let i = 0; i < HOSTILE_ATTEMPTS_PER_TURN; i++) t.submit();
        setImmediate(turn);
      };
      setImmediate(turn);
      return stop;
    }
  }
}
