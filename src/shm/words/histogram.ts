/**
 * Histogram words (layout.ts metrics region; docs/design.md §2.5): one log-linear histogram of
 * durations in microseconds, HIST_WORDS words, 128-byte aligned.
 *
 *   word 0 .. HIST_BUCKETS-1   bucket counts (uint32, wrapping)
 *   word HIST_MAX              the largest value recorded (uint32 µs)
 *   the rest                   padding (the histogram is a whole number of 128-byte blocks)
 *
 * Buckets (HdrHistogram-like, HIST_SUB = 8 linear sub-buckets per power of two):
 *   v < 8            bucket v (exact)
 *   2^e <= v < 2^e+1 bucket 8 (e - 2) + ((v >> (e - 3)) & 7), e = 3 .. 31
 * so a bucket is at most 1/8 of its lower bound wide (12.5% relative error), values up to
 * 2^32 - 1 µs (71 minutes); larger values are counted in the last bucket.
 *
 * Owners: any thread adds (Atomics.add on a bucket, a CAS loop on HIST_MAX only while the value
 * is larger: lock-free, no torn word). Readers copy the words with plain loads (each word is read
 * whole; the copy is not atomic across words: a histogram read while tasks complete may be a
 * few counts behind in some buckets). Reset (any thread) stores 0 in every word: an add that
 * races with it is kept or lost, never half-applied.
 */

export const HIST_SUB_BITS = 3;
export const HIST_SUB = 1 << HIST_SUB_BITS;
/** Buckets: 8 exact ones (0..7) and 8 per power of two from 2^3 to 2^31. */
export const HIST_BUCKETS = HIST_SUB * (32 - HIST_SUB_BITS + 1);
export const HIST_MAX = HIST_BUCKETS;
/** Words per histogram: buckets, max, padding to a whole number of 128-byte blocks. */
export const HIST_WORDS = 256;
export const HIST_BYTES = HIST_WORDS * 4;
if (HIST_MAX >= HIST_WORDS || HIST_BYTES % 128 !== 0) throw new Error('sluice: histogram words do not fit their blocks');

const U32_MAX = 0xffffffff;

/** The bucket of a duration of `us` microseconds (any number: negative and NaN count as 0, too large as the last). */
export function bucketOf(us: number): number {
  const v = us > 0 ? (us >= U32_MAX ? U32_MAX : us >>> 0) : 0;
  if (v < HIST_SUB) return v;
  const e = 31 - Math.clz32(v);
  return ((e - HIST_SUB_BITS + 1) << HIST_SUB_BITS) + ((v >>> (e - HIST_SUB_BITS)) & (HIST_SUB - 1));
}

/** Smallest value (µs) counted in bucket `b`. */
export function bucketLow(b: number): number {
  if (b < HIST_SUB) return b;
  const e = (b >> HIST_SUB_BITS) + HIST_SUB_BITS - 1;
  return 2 ** e + (b & (HIST_SUB - 1)) * 2 ** (e - HIST_SUB_BITS);
}

/** One past the largest value (µs) counted in bucket `b` (the last bucket: 2^32). */
export function bucketHigh(b: number): number {
  return b + 1 < HIST_BUCKETS ? bucketLow(b + 1) : 2 ** 32;
}

/** Add one duration of `us` microseconds to the histogram at word `base`. Any thread. */
export function recordUs(i32: Int32Array, base: number, us: number): void {
  Atomics.add(i32, base + bucketOf(us), 1);
  const v = us > 0 ? (us >= U32_MAX ? U32_MAX : us >>> 0) : 0;
  const w = base + HIST_MAX;
  let seen = i32[w]!;
  while (v > seen >>> 0) {
    const was = Atomics.compareExchange(i32, w, seen, v | 0);
    if (was === seen) return;
    seen = was;
  }
}

/** A copy of one histogram's words: counts per bucket and the max (µs). */
export interface HistogramCopy {
  counts: Uint32Array;
  max: number;
}

/** Copy the histogram at word `base` (plain loads: see the header). */
export function copyHistogram(i32: Int32Array, base: number): HistogramCopy {
  const counts = new Uint32Array(HIST_BUCKETS);
  for (let b = 0; b < HIST_BUCKETS; b++) counts[b] = i32[base + b]! >>> 0;
  return { counts, max: i32[base + HIST_MAX]! >>> 0 };
}

/** Zero the histogram at word `base`. Any thread; see the header for the race with adds. */
export function resetHistogram(i32: Int32Array, base: number): void {
  for (let i = 0; i <= HIST_MAX; i++) Atomics.store(i32, base + i, 0);
}

/** What rt.stats() reports of one histogram: durations in microseconds. */
export interface LatencyStats {
  /** Durations recorded in the window. */
  count: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  /** Exact largest duration recorded (0 when none). */
  max: number;
}

/**
 * Percentiles of a copy: the p-th is the upper end of the bucket holding the ceil(p x count)-th
 * smallest value (so it over-states by at most one bucket width, 12.5%), never above max.
 */
export function summarize(h: HistogramCopy): LatencyStats {
  let count = 0;
  for (let b = 0; b < HIST_BUCKETS; b++) count += h.counts[b]!;
  const at = (q: number): number => {
    if (count === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * count));
    let seen = 0;
    for (let b = 0; b < HIST_BUCKETS; b++) {
      seen += h.counts[b]!;
      if (seen >= rank) return Math.min(bucketHigh(b) - 1, h.max);
    }
    return h.max;
  };
  return { count, p50: at(0.5), p90: at(0.9), p99: at(0.99), p999: at(0.999), max: count === 0 ? 0 : h.max };
}
