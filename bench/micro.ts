// Single-thread microbenchmarks (benchmark.js): ns/op = 1e9 / hz.
// Adding a case is one `suite.add(name, fn)` line in `cases` below.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import Benchmark from 'benchmark';
import { fmt, table } from './report.js';

const i32 = new Int32Array(new SharedArrayBuffer(256));
let sink = 0;

function cases(suite: Benchmark.Suite): Benchmark.Suite {
  return suite
    .add('empty function (harness floor)', () => {})
    .add('SAB Int32Array plain increment', () => {
      i32[0]!++;
    })
    .add('Atomics.load', () => {
      sink += Atomics.load(i32, 32);
    })
    .add('Atomics.store', () => {
      Atomics.store(i32, 32, sink);
    })
    .add('Atomics.add', () => {
      Atomics.add(i32, 32, 1);
    })
    .add('Atomics.compareExchange', () => {
      sink += Atomics.compareExchange(i32, 33, 0, 0); // always succeeds: a real locked cmpxchg
    });
  // sluice micro rows go here, e.g. .add('sluice ring push+pop', () => { ... })
}

export interface MicroResult {
  name: string;
  nsPerOp: number;
  rmePercent: number;
  samples: number;
  error?: string;
}

export function runMicro(opts: { quick?: boolean; only?: string } = {}): MicroResult[] {
  Benchmark.options.maxTime = opts.quick ? 0.3 : 1;
  const suite = cases(new Benchmark.Suite('micro'));
  const results: MicroResult[] = [];
  suite.forEach((b: Benchmark) => {
    const name = String(b.name);
    if (opts.only && !name.includes(opts.only)) return;
    process.stderr.write(`[micro] ${name}\n`);
    b.run({ async: false });
    const error = (b as Benchmark & { error?: Error }).error;
    results.push({
      name,
      nsPerOp: 1e9 / b.hz,
      rmePercent: b.stats.rme,
      samples: b.stats.sample.length,
      ...(error ? { error: String(error) } : {}),
    });
  });
  if (sink === 0.5) console.log(sink); // keep the sink observable
  return results;
}

export function microTable(results: readonly MicroResult[]): string {
  return table(
    ['micro (single thread)', 'ns/op', '± %', 'samples'],
    results.map((r) => [r.error ? `${r.name} (error: ${r.error})` : r.name, fmt(r.nsPerOp, 2), fmt(r.rmePercent, 1), String(r.samples)]),
  );
}

const invokedDirectly = process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
if (invokedDirectly) console.log(microTable(runMicro({ quick: process.argv.includes('--quick') })));
