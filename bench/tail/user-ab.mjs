// Paired A/B of the user workloads' sluice rows (bench/tail/user-one.ts) between checkouts,
// alternating processes (A B B A A B ...), each after a >= 80%-idle second when one comes within 20 s.
//   node bench/tail/user-ab.mjs <reps> 'NAME@DIR' 'NAME2@DIR2' [-- user-one args]
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
const cpuTimes = () => { const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number); return { idle: f[3] + f[4], total: f.reduce((a, b) => a + b, 0) }; };
const sleep = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
function quiet() {
  let best = 0;
  for (let i = 0; i < 20; i++) { const a = cpuTimes(); sleep(1000); const b = cpuTimes(); const idle = (b.idle - a.idle) / (b.total - a.total); best = Math.max(best, idle); if (idle >= 0.8) return idle; }
  return -best;
}
const argv = process.argv.slice(2);
const dash = argv.indexOf('--');
const extra = dash < 0 ? [] : argv.slice(dash + 1);
const [repsArg, ...specs] = dash < 0 ? argv : argv.slice(0, dash);
const reps = Number(repsArg);
const cfgs = specs.map((s) => { const [name, cwd] = s.split('@'); return { name, cwd: cwd ?? process.cwd() }; });
const res = Object.fromEntries(cfgs.map((c) => [c.name, []]));
for (let r = 0; r < reps; r++) for (const c of (r % 2 ? [...cfgs].reverse() : cfgs)) {
  const q = quiet();
  const o = execFileSync('npx', ['tsx', 'bench/tail/user-one.ts', ...extra], { cwd: c.cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const m = JSON.parse(o.trim().split('\n').pop());
  res[c.name].push(m);
  process.stderr.write(`${r} ${c.name} idle-before ${q.toFixed(2)} ${Object.entries(m).map(([k, v]) => `${k} ${v < 10 ? v.toFixed(3) : v.toFixed(0)}`).join(' | ')}\n`);
}
const med = (xs) => { const a = [...xs].sort((x, y) => x - y); const n = a.length; return n % 2 ? a[(n - 1) / 2] : (a[n / 2 - 1] + a[n / 2]) / 2; };
const keys = Object.keys(res[cfgs[0].name][0]);
const [A, B] = cfgs.map((c) => c.name);
console.log(`figure`.padEnd(22), `${A} median`.padStart(14), `${B} median`.padStart(14), `${B}÷${A}`.padStart(8), `per-pair ${B}÷${A} median`.padStart(24), `(n=${reps} each)`);
for (const k of keys) {
  const a = res[A].map((m) => m[k]);
  const b = res[B].map((m) => m[k]);
  const pairs = a.map((x, i) => b[i] / x);
  const f = (v) => (v < 10 ? v.toFixed(3) : v.toFixed(0));
  console.log(k.padEnd(22), f(med(a)).padStart(14), f(med(b)).padStart(14), (med(b) / med(a)).toFixed(2).padStart(8), med(pairs).toFixed(2).padStart(24));
}
// Per-row structured ÷ number ratios, per process then median.
for (const c of cfgs) for (const row of ['submit', 'run', 'callback']) {
  const r = (w) => med(res[c.name].map((m) => m[`${row} ${w}`] / m[`${row} ${w.replace(/Arr|Obj/, 'Num')}`]).filter(Number.isFinite));
  if (res[c.name][0][`${row} pipeNum`] === undefined) continue;
  console.log(`${c.name} ${row}: pipeArr÷pipeNum ${r('pipeArr').toFixed(2)}  pipeObj÷pipeNum ${r('pipeObj').toFixed(2)}  cpuArr÷cpuNum ${r('cpuArr')?.toFixed(2)}  cpuObj÷cpuNum ${r('cpuObj')?.toFixed(2)}`);
}
