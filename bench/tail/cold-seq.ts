// The user-workloads protocol's cold sequential row for one configuration: a fresh runtime, then
// at once N sequential round trips (no warm-up of the harness's), ROUNDS times; prints each
// round's p50/p99/p99.9 and the medians. A diagnostic, not part of `npm run bench`.
//   npx tsx bench/tail/cold-seq.ts [rounds=5] [trips=1000] ['{json options}']
import { submitSession } from '../e2e/sluice.js';
import { sequential } from '../workload.js';
import { summarize } from '../stats.js';

const [rounds = '5', trips = '1000', opts = '{}'] = process.argv.slice(2);
const figs: { p50: number; p99: number; p999: number }[] = [];
for (let r = 0; r < Number(rounds); r++) {
  const s = await submitSession(JSON.parse(opts) as Record<string, unknown>);
  const l = summarize(await sequential(s, Number(trips)));
  await s.close();
  figs.push(l);
  console.log(`${r} p50 ${l.p50.toFixed(1)} p99 ${l.p99.toFixed(0)} p99.9 ${l.p999.toFixed(0)}`);
}
const med = (xs: number[]): number => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`median p50 ${med(figs.map((f) => f.p50)).toFixed(1)} p99 ${med(figs.map((f) => f.p99)).toFixed(0)} p99.9 ${med(figs.map((f) => f.p999)).toFixed(0)}`);
