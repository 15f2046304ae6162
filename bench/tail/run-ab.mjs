// Paired A/B of run-prof.ts (one row, one task, the user-workloads protocol) between checkouts,
// alternating processes (A B B A ...): tasks/s and the main thread's on-CPU ns per task.
//   node bench/tail/run-ab.mjs <pairs> 'NAME@BENCHDIR' 'NAME2@BENCHDIR2' -- [row task n reps]
// BENCHDIR: a checkout's bench/ (run-prof.ts itself always comes from this checkout).
import { execFileSync } from 'node:child_process';
const argv = process.argv.slice(2);
const dash = argv.indexOf('--');
const extra = dash < 0 ? [] : argv.slice(dash + 1);
const [pairsArg, ...specs] = dash < 0 ? argv : argv.slice(0, dash);
const cfgs = specs.map((s) => { const [name, dir] = s.split('@'); return { name, dir }; });
const script = new URL('./run-prof.ts', import.meta.url).pathname;
const res = Object.fromEntries(cfgs.map((c) => [c.name, []]));
for (let r = 0; r < Number(pairsArg); r++) for (const c of (r % 2 ? [...cfgs].reverse() : cfgs)) {
  const out = execFileSync('node', ['--import', 'tsx', script, ...extra], { env: { ...process.env, BENCH: c.dir }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = out.trim().split('\n').map((l) => JSON.parse(l));
  const m = { perSec: med(lines.map((l) => l.perSec)), ns: med(lines.map((l) => l.mainNsPerTask)) };
  res[c.name].push(m);
  process.stderr.write(`${r} ${c.name} ${m.perSec}/s ${m.ns} ns/task\n`);
}
function med(xs) { const a = [...xs].sort((x, y) => x - y); const n = a.length; return n % 2 ? a[(n - 1) / 2] : (a[n / 2 - 1] + a[n / 2]) / 2; }
const [A, B] = cfgs.map((c) => c.name);
for (const k of ['perSec', 'ns']) {
  const a = res[A].map((m) => m[k]); const b = res[B].map((m) => m[k]);
  const pairs = a.map((x, i) => b[i] / x);
  console.log(`${extra.slice(0, 2).join(' ')} ${k}: ${A} ${med(a)} [${Math.min(...a)}-${Math.max(...a)}]  ${B} ${med(b)} [${Math.min(...b)}-${Math.max(...b)}]  ${B}÷${A} per pair: median ${med(pairs).toFixed(3)} [${pairs.map((p) => p.toFixed(2)).join(' ')}]`);
}
