/**
 * Measurement for the demo, all in bounded memory (no sample is ever kept, so a run of any length
 * costs the same): a fixed log-linear histogram (HDR-style), sliding windows built from a few
 * rotating slices, the main thread's event-loop gaps, and workers' drain times.
 */

/** Sub-buckets per power of two: relative resolution 1/32 (about 3%). */
const SUB_BITS = 5;
const SUB = 1 << SUB_BITS;
/** Largest recordable value: 2^MAX_EXP microseconds (about 19 hours); larger values clamp. */
const MAX_EXP = 36;
const BUCKETS = (MAX_EXP - SUB_BITS + 2) * SUB;

/** Bucket of an integer value v >= 0 (microseconds). */
function bucketOf(v: number): number {
  if (v < SUB) return v;
  let e = Math.min(Math.floor(Math.log2(v)), MAX_EXP);
  if (e < MAX_EXP && 2 ** e > v) e--; // log2 rounded up just below a power of two
  const sub = Math.min(Math.floor(v / 2 ** (e - SUB_BITS)), 2 * SUB - 1) - SUB;
  return (e - SUB_BITS + 1) * SUB + sub;
}

/** Largest value that falls into bucket b (what a percentile reports: never an underestimate). */
function upperOf(b: number): number {
  if (b < SUB) return b;
  const e = Math.floor(b / SUB) - 1 + SUB_BITS;
  const sub = b % SUB;
  return (SUB + sub + 1) * 2 ** (e - SUB_BITS) - 1;
}

export class Histogram {
  readonly counts = new Float64Array(BUCKETS);
  count = 0;
  max = 0;
  sum = 0;

  /** Record one value in microseconds (with a weight: how much it counts in the quantiles). */
  record(us: number, weight = 1): void {
    const v = us > 0 ? Math.round(us) : 0;
    this.counts[bucketOf(v)]! += weight;
    this.count += weight;
    this.sum += v * weight;
    if (v > this.max) this.max = v;
  }

  reset(): void {
    this.counts.fill(0);
    this.count = 0;
    this.max = 0;
    this.sum = 0;
  }

  /** Add another histogram's counts into this one. */
  add(h: Histogram): void {
    if (h.count === 0) return;
    for (let b = 0; b < BUCKETS; b++) this.counts[b]! += h.counts[b]!;
    this.count += h.count;
    this.sum += h.sum;
    if (h.max > this.max) this.max = h.max;
  }

  /**
   * The q-quantile (0 < q <= 1) in microseconds: the upper edge of the bucket where the weight
   * seen so far reaches q of the total, capped at the exact maximum. NaN when empty.
   */
  quantile(q: number): number {
    if (this.count === 0) return NaN;
    const rank = q * this.count * (1 - 1e-12); // float noise must not push it past a whole count
    let seen = 0;
    for (let b = 0; b < BUCKETS; b++) {
      seen += this.counts[b]!;
      if (seen >= rank) return Math.min(upperOf(b), this.max);
    }
    return this.max;
  }

  mean(): number {
    return this.count === 0 ? NaN : this.sum / this.count;
  }
}

/**
 * Quantiles over roughly the last `windowMs`: `slices` histograms, each covering windowMs/slices;
 * the oldest is cleared and reused as time moves on. Memory: slices + 1 histograms, always.
 */
export class WindowedHistogram {
  private readonly ring: Histogram[];
  private readonly sliceMs: number;
  private current = 0;
  private sliceStart: number;
  private readonly merged = new Histogram();

  constructor(windowMs: number, slices = 5, now = performance.now()) {
    this.ring = Array.from({ length: slices }, () => new Histogram());
    this.sliceMs = windowMs / slices;
    this.sliceStart = now;
  }

  private rotate(now: number): void {
    while (now - this.sliceStart >= this.sliceMs) {
      this.sliceStart += this.sliceMs;
      this.current = (this.current + 1) % this.ring.length;
      this.ring[this.current]!.reset();
      if (now - this.sliceStart >= this.sliceMs * this.ring.length) {
        // Idle for longer than the whole window: everything is stale.
        for (const h of this.ring) h.reset();
        this.sliceStart = now;
      }
    }
  }

  record(us: number, now = performance.now()): void {
    this.rotate(now);
    this.ring[this.current]!.record(us);
  }

  /** A merged snapshot of the window (valid until the next call). */
  snapshot(now = performance.now()): Histogram {
    this.rotate(now);
    this.merged.reset();
    for (const h of this.ring) this.merged.add(h);
    return this.merged;
  }
}

/**
 * A rate over a sliding window: counts per slice, like WindowedHistogram but for events.
 * rate() is events per second over the slices that have elapsed (at most the whole window).
 */
export class WindowedRate {
  private readonly counts: Float64Array;
  private readonly sliceMs: number;
  private current = 0;
  private sliceStart: number;
  private readonly born: number;

  constructor(windowMs: number, slices = 10, now = performance.now()) {
    this.counts = new Float64Array(slices);
    this.sliceMs = windowMs / slices;
    this.sliceStart = now;
    this.born = now;
  }

  private rotate(now: number): void {
    while (now - this.sliceStart >= this.sliceMs) {
      this.sliceStart += this.sliceMs;
      this.current = (this.current + 1) % this.counts.length;
      this.counts[this.current] = 0;
    }
  }

  add(n: number, now = performance.now()): void {
    this.rotate(now);
    this.counts[this.current]! += n;
  }

  rate(now = performance.now()): number {
    this.rotate(now);
    let total = 0;
    for (const c of this.counts) total += c;
    const spanMs = Math.min(now - this.born, (this.counts.length - 1) * this.sliceMs + (now - this.sliceStart));
    return spanMs > 0 ? (total * 1000) / spanMs : 0;
  }
}

/**
 * How long the event loop of this thread is away between two turns, weighted by time: the
 * q-quantile answers "for a fraction q of the time, the loop came back within this long", which
 * bounds how long a completion arriving at a random moment waits to be drained. (An event-loop
 * delay histogram counts one sample per timer tick, so a 50 ms stall weighs as much as a 1 ms
 * tick; here it weighs 50 times more, as it does for what arrives during it.)
 */
export class LoopGaps {
  readonly gaps = new Histogram();
  private last = 0;
  private running = false;

  start(): void {
    if (this.running) return;
    this.running = true;
    this.last = performance.now();
    setImmediate(this.turn);
  }

  stop(): void {
    this.running = false;
  }

  private readonly turn = (): void => {
    if (!this.running) return;
    const now = performance.now();
    const gapUs = (now - this.last) * 1000;
    this.last = now;
    this.gaps.record(gapUs, gapUs);
    setImmediate(this.turn);
  };
}

/**
 * How long a worker takes to get through `k` tasks, from any moment. Fed with samples of (tasks
 * started so far, clock) it records, for every sample, the clock time until k more tasks had
 * started (the crossing found by linear interpolation between samples), weighted by the clock
 * time the sample stands for, into `into`. Its quantiles are then over time: "for 99% of the
 * time, the worker got through k tasks within this long". The clock need not be wall time: the
 * demo advances it only while the worker has a backlog.
 */
export class DrainTimes {
  private readonly pending: { at: number; weight: number; target: number }[] = [];
  private prev: { at: number; count: number } | null = null;

  /** maxPending bounds memory if the worker stalls: the oldest is then recorded as its age so far. */
  constructor(readonly k: number, readonly into: Histogram, private readonly maxPending = 20_000) {}

  sample(count: number, clock: number): void {
    const prev = this.prev;
    this.prev = { at: clock, count };
    if (prev === null) return;
    while (this.pending.length > 0 && count >= this.pending[0]!.target) {
      const p = this.pending.shift()!;
      const frac = count > prev.count ? Math.max(0, (p.target - prev.count) / (count - prev.count)) : 1;
      this.into.record((prev.at + frac * (clock - prev.at) - p.at) * 1000, p.weight);
    }
    if (this.pending.length >= this.maxPending) {
      const p = this.pending.shift()!;
      this.into.record((clock - p.at) * 1000, p.weight);
    }
    this.pending.push({ at: clock, weight: clock - prev.at, target: count + this.k });
  }
}
