// Aggregation (medians, per-repetition ratios) and plain-text tables.
import { median } from './stats.js';
import type { Measurement } from './workload.js';

export const METRICS = ['tasksPerSec', 'p50', 'p99', 'p999', 'cpuEff'] as const;
export type Metric = (typeof METRICS)[number];
export type Figures = Partial<Record<Metric, number>>;
/** One repetition: row name -> its figures in that repetition. */
export type Rep = Record<string, Figures & { raw: Measurement[]; errors?: string[] }>;

export function figuresOf(m: Measurement): Figures {
  if (m.kind === 'throughput') return { tasksPerSec: m.tasksPerSec };
  if (m.kind === 'latency') return { p50: m.p50, p99: m.p99, p999: m.p999 };
  return { cpuEff: m.efficiency };
}

export function medians(reps: readonly Rep[], row: string): Figures {
  const out: Figures = {};
  for (const k of METRICS) {
    const xs = reps.flatMap((r) => (r[row]?.[k] === undefined ? [] : [r[row]![k]!]));
    if (xs.length > 0) out[k] = median(xs);
  }
  return out;
}

/** Median over repetitions of a[metric] / b[metric], both taken from the same repetition. */
export function ratio(reps: readonly Rep[], a: string, b: string, k: Metric): number | undefined {
  const xs = reps.flatMap((r) => {
    const x = r[a]?.[k];
    const y = r[b]?.[k];
    return x === undefined || y === undefined ? [] : [x / y];
  });
  return xs.length > 0 ? median(xs) : undefined;
}

/** A plain-text table; columns listed in `left` are left-aligned, the others right-aligned. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[], left: readonly number[] = [0]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]): string =>
    cells.map((c, i) => (left.includes(i) ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ');
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('-|-'), ...rows.map(line)].join('\n');
}

export function fmt(x: number | undefined, digits = 1): string {
  if (x === undefined || !Number.isFinite(x)) return '—';
  if (Math.abs(x) >= 1000) return Math.round(x).toLocaleString('en-US');
  if (x !== 0 && Math.abs(x) < 0.1) return x.toPrecision(2);
  return x.toFixed(digits);
}

export function mainTable(reps: readonly Rep[], rows: readonly string[], baseline: string): string {
  const body = rows.map((row) => {
    const m = medians(reps, row);
    const failed = reps.some((r) => r[row]?.errors?.length) ? ' (errors)' : '';
    return [
      row + failed,
      fmt(m.tasksPerSec, 0),
      fmt(ratio(reps, row, baseline, 'tasksPerSec'), 2),
      fmt(m.p50),
      fmt(m.p99),
      fmt(m.p999),
      fmt(m.cpuEff, 2),
    ];
  });
  return table(['row', 'tasks/s', `× ${baseline}`, 'p50 µs', 'p99 µs', 'p99.9 µs', 'CPU eff.'], body);
}

/** [metric, label, higher is better]: latency ratios are shown as other ÷ sluice, so > 1 always favours sluice. */
const RATIO_LINES: readonly [Metric, string, boolean][] = [
  ['tasksPerSec', 'tasks/s', true],
  ['p50', 'p50', false],
  ['p99', 'p99', false],
  ['cpuEff', 'CPU eff.', true],
];

const short = (name: string): string => name.replace(/ \d+\.\d+\.\d+/, '').replace(/ \(.*\)$/, '');

/** One line per (sluice row, metric): the median per-rep ratio against every other row. */
export function ratioLines(reps: readonly Rep[], ours: readonly string[], others: readonly string[]): string[] {
  const width = Math.max(0, ...ours.map((a) => a.length)) + 10;
  const lines = ours.flatMap((a) =>
    RATIO_LINES.flatMap(([k, label, higherIsBetter]) => {
      const parts = others.flatMap((b) => {
        const r = higherIsBetter ? ratio(reps, a, b, k) : ratio(reps, b, a, k);
        return r === undefined ? [] : [`${short(b)} ${fmt(r, 2)}`];
      });
      return parts.length > 0 ? [`  ${`${a} ${label}`.padEnd(width)}${parts.join(' · ')}`] : [];
    }),
  );
  return lines.length > 0 ? ['sluice vs each row, median of per-rep ratios (> 1: sluice better; latency = theirs ÷ ours):', ...lines] : [];
}
