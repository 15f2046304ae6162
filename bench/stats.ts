// Medians and percentiles. Percentiles use the nearest-rank method on a sorted copy.

export function sorted(xs: readonly number[]): number[] {
  return [...xs].sort((a, b) => a - b);
}

/** Nearest-rank percentile of an ascending array; q in (0, 1]. */
export function percentile(asc: readonly number[], q: number): number {
  if (asc.length === 0) return Number.NaN;
  const rank = Math.min(asc.length, Math.max(1, Math.ceil(q * asc.length)));
  return asc[rank - 1]!;
}

export function median(xs: readonly number[]): number {
  const finite = sorted(xs.filter(Number.isFinite));
  const n = finite.length;
  if (n === 0) return Number.NaN;
  return n % 2 === 1 ? finite[(n - 1) / 2]! : (finite[n / 2 - 1]! + finite[n / 2]!) / 2;
}

export interface LatencySummary {
  n: number;
  mean: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
}

/** Summary of round-trip samples (µs). */
export function summarize(samples: readonly number[]): LatencySummary {
  const asc = sorted(samples);
  const mean = asc.reduce((s, x) => s + x, 0) / asc.length;
  return {
    n: asc.length,
    mean,
    p50: percentile(asc, 0.5),
    p99: percentile(asc, 0.99),
    p999: percentile(asc, 0.999),
    max: asc[asc.length - 1] ?? Number.NaN,
  };
}
