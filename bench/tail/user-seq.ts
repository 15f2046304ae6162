// The user-workloads protocol (bench/harness.ts) for one row, configurations interleaved, a fresh
// runtime each: warm-up 3,000 pipelined + 100 sequential + 50 CPU tasks, a forced GC, then the test.
//   npx tsx --expose-gc bench/tail/user-seq.ts ROUNDS TRIPS 'name={json options}' ...
// Test: TRIPS sequential round trips (REPEAT=k: k runs of TRIPS in a row, the later ones named
// name#1...), or with CPU=1 u4's 2,000 × 50 µs tasks returning [checksum, µs] (efficiency =
// Σ in-worker µs ÷ (wall × 2)). Row: submit/token; ROW=run for rt.run. Prints each run and the
// medians per configuration. A diagnostic, not part of `npm run bench`.
import { submitSession, startSluice } from '../e2e/sluice.js';
import { pipelined, sequential, promiseSession, type Session } from '../workload.js';
import { summarize } from '../stats.js';
import { readFileSync } from 'node:fs';

const [rounds = '4', trips = '5000', ...specs] = process.argv.slice(2);
const configs = (specs.length > 0 ? specs : ['default={}']).map((s) => {
  const i = s.indexOf('=');
  return { name: s.slice(0, i), opts: JSON.parse(s.slice(i + 1)) as Record<string, unknown> };
});
/** This (main) thread's CPU time so far, ns (Linux: /proc/thread-self/schedstat; 0 elsewhere). */
function mainCpuNs(): number {
  try { return Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]); } catch { return 0; }
}
const gc = (globalThis as { gc?: () => void }).gc ?? null;
const ident = (v: unknown): number => v as number;
async function open(opts: Record<string, unknown>): Promise<Session> {
  if (process.env.ROW === 'run') {
    const rt = await startSluice(opts);
    return promiseSession((task, arg) => rt.run<number>(task, arg), () => rt.close());
  }
  return submitSession(opts);
}
type Fig = { p50: number; p99: number; p999: number };
const all = new Map<string, Fig[]>();
const keep = (name: string, x: Fig): void => { (all.get(name) ?? all.set(name, []).get(name)!).push(x); };
for (let r = 0; r < Number(rounds); r++) {
  for (const c of configs) {
    const s = await open(c.opts);
    await pipelined(s, 'inc', 3000, ident);
    await sequential(s, 100);
    await pipelined(s, 'spin50', 50, () => 50);
    gc?.();
    if (process.env.CPU) {
      const m0 = mainCpuNs();
      const p = await pipelined(s, 'spinArr', 2000, () => 50, 1024, (v) => (v as number[])[1]!);
      const eff = p.sum / (p.wallMs * 1000 * 2);
      console.log(`${r} ${c.name} main CPU ${((mainCpuNs() - m0) / 1e6).toFixed(1)} ms of ${p.wallMs.toFixed(1)} ms wall`);
      keep(c.name, { p50: eff, p99: eff, p999: eff });
      console.log(`${r} ${c.name} efficiency ${eff.toFixed(3)}`);
    } else {
      for (let k = 0; k < Number(process.env.REPEAT ?? 1); k++) {
        if (process.env.MARK) console.log(`==== measure ${k} start ${performance.timeOrigin + performance.now()}`); // MARK=1: delimits a measurement in --trace-opt/--trace-deopt output
        const l = summarize(await sequential(s, Number(trips)));
        if (process.env.MARK) console.log(`==== measure ${k} end`);
        const name = k === 0 ? c.name : `${c.name}#${k}`;
        keep(name, { p50: l.p50, p99: l.p99, p999: l.p999 });
        console.log(`${r} ${name} p50 ${l.p50.toFixed(2)} p99 ${l.p99.toFixed(1)} p99.9 ${l.p999.toFixed(0)}`);
      }
    }
    await s.close();
  }
}
const med = (xs: number[]): number => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
for (const [n, xs] of all) {
  if (process.env.CPU) { console.log(`${n}: efficiency ${med(xs.map((x) => x.p50)).toFixed(3)}`); continue; }
  console.log(`${n}: p50 ${med(xs.map((x) => x.p50)).toFixed(2)} p99 ${med(xs.map((x) => x.p99)).toFixed(1)} p99.9 ${med(xs.map((x) => x.p999)).toFixed(0)} p99/p50 ${med(xs.map((x) => x.p99 / x.p50)).toFixed(2)}`);
}
