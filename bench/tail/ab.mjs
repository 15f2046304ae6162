// Interleaved A/B of sequential latency across env configurations (child processes).
// node bench/tail/ab.mjs <reps> 'NAME=ENV=VAL,ENV=VAL' 'NAME2=...'
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
const cpuTimes = () => { const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number); return { idle: f[3] + f[4], total: f.reduce((a, b) => a + b, 0) }; };
const sleep = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
/** Waits (up to 60 s) until the machine was >= 90% idle for 1 s: other users' load makes tails meaningless. */
function quiet() {
  for (let i = 0; i < 60; i++) { const a = cpuTimes(); sleep(1000); const b = cpuTimes(); const idle = (b.idle - a.idle) / (b.total - a.total); if (idle >= 0.9) return idle; }
  return -1;
}
const reps = Number(process.argv[2]);
const cfgs = process.argv.slice(3).map((s) => { const [nameDir, ...rest] = s.split(':'); const [name, cwd] = nameDir.split('@'); const env = {}; for (const kv of rest.join(':').split(/,(?=[A-Z_]+=)/).filter(Boolean)) { const i = kv.indexOf('='); const k = kv.slice(0, i), v = kv.slice(i + 1); env[k] = v; } return { name, env, cwd: cwd ?? process.cwd() }; });
const res = Object.fromEntries(cfgs.map((c) => [c.name, []]));
for (let r = 0; r < reps; r++) for (const c of (r % 2 ? [...cfgs].reverse() : cfgs)) {
  const q = quiet();
  const o = execFileSync('npx', ['tsx', 'bench/tail/seq.ts', '5000', '3'], { cwd: c.cwd, env: { ...process.env, ...c.env }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  for (const m of JSON.parse(o.trim().split('\n').pop())) {
  res[c.name].push(m);
  process.stderr.write(`${r} ${c.name} p50 ${m.p50.toFixed(1)} p99 ${m.p99.toFixed(1)} p99.9 ${m.p999.toFixed(0)} ratio ${(m.p99 / m.p50).toFixed(1)} idle-before ${q.toFixed(2)}\n`);
  }
}
const med = (xs) => { const a = [...xs].sort((x, y) => x - y); const n = a.length; return n % 2 ? a[(n - 1) / 2] : (a[n / 2 - 1] + a[n / 2]) / 2; };
for (const c of cfgs) { const ms = res[c.name]; console.log(`${c.name.padEnd(14)} p50 ${med(ms.map((m) => m.p50)).toFixed(1)}  p99 ${med(ms.map((m) => m.p99)).toFixed(1)}  p99/p50 ${med(ms.map((m) => m.p99 / m.p50)).toFixed(2)}  p99.9 ${med(ms.map((m) => m.p999)).toFixed(0)}  (medians of ${ms.length}; per-rep ratio median)`); }
