// benchmark.js around one function at a time: ns/op = 1e9 / hz. Shared by every micro section.
import Benchmark from 'benchmark';
import { fmt, table } from './report.js';
import { median } from './stats.js';

export interface MicroResult {
  name: string;
  nsPerOp: number;
  /** benchmark.js's relative margin of error; for repeated custom timings, half the range ÷ median. */
  rmePercent: number;
  samples: number;
  /** A ratio or remark printed next to the figure (e.g. contended ÷ uncontended). */
  note?: string;
  error?: string;
}

/**
 * A micro case: its name and the operation (called in benchmark.js's timed loop). `ops`: how
 * many operations one call performs (a batch amortizes the harness's per-call cost); ns/op is
 * per operation.
 */
export type Case = readonly [name: string, fn: () => void, ops?: number];

/** Seconds benchmark.js may spend on one case (per run). */
export const maxTimeFor = (quick: boolean): number => (quick ? 0.1 : 0.5);

export function measureCase([name, fn, ops = 1]: Case, quick: boolean): MicroResult {
  process.stderr.write(`[micro] ${name}\n`);
  // Let the JIT settle on this case's own type feedback before benchmark.js times it
  // (200k operations or 50 ms, whichever comes first).
  const until = performance.now() + 50;
  for (let i = 0, n = Math.ceil(200_000 / ops); i < n && ((i & 63) !== 0 || performance.now() < until); i++) fn();
  const b = new Benchmark(name, fn, { maxTime: maxTimeFor(quick) });
  b.run({ async: false });
  const error = (b as Benchmark & { error?: Error }).error;
  return {
    name,
    nsPerOp: 1e9 / b.hz / ops,
    rmePercent: b.stats.rme,
    samples: b.stats.sample.length,
    ...(error ? { error: String(error) } : {}),
  };
}

/** A row from repeated custom timings (ns per op, one figure per repetition): median and spread. */
export function repeated(name: string, nsPerOp: readonly number[], note?: string): MicroResult {
  const m = median(nsPerOp);
  const spread = nsPerOp.length > 1 ? ((Math.max(...nsPerOp) - Math.min(...nsPerOp)) / 2 / m) * 100 : 0;
  return { name, nsPerOp: m, rmePercent: spread, samples: nsPerOp.length, ...(note ? { note } : {}) };
}

export function microTable(results: readonly MicroResult[]): string {
  return table(
    ['micro', 'ns/op', '± %', 'samples', 'note'],
    results.map((r) => [
      r.error ? `${r.name} (error: ${r.error})` : r.name,
      fmt(r.nsPerOp, 2),
      fmt(r.rmePercent, 1),
      String(r.samples),
      r.note ?? '',
    ]),
    [0, 4],
  );
}
