// What a fresh runtime's sequential trips are made of, block by block (docs/performance.md,
// twentieth session: u1 is set by the first ~10,000 trips). The user-workloads protocol: a fresh
// runtime (default options), 3,000 pipelined + 100 sequential + 50 CPU tasks of warm-up, a forced
// GC, then N sequential round trips. Per block of 5,000 trips: its wall time, the trips over
// 4 µs, and every thread's CPU (from /proc/self/task/*/schedstat; the main thread as MAIN, the
// others by tid: V8's helper threads are the ones that exist before the first runtime). Then
// p99 ÷ p50 over all trips and over those after the first 10,000. Linux; needs `npm run build`.
//   node --expose-gc bench/tail/trip-blocks.mjs [path=token|run|callback] [reps=3] [N=50000]
import { readdirSync, readFileSync } from 'node:fs';

const { Runtime } = await import(new URL('../../dist/index.js', import.meta.url).href);
const path = process.argv[2] ?? 'token';
const reps = Number(process.argv[3] ?? 3);
const N = Number(process.argv[4] ?? 50_000);
const BLOCK = 5000;
const tasks = new URL('../fixtures/tasks.mjs', import.meta.url);
const boot = new Set(readdirSync('/proc/self/task'));

function cpu() {
  const m = new Map();
  for (const t of readdirSync('/proc/self/task')) {
    try { m.set(t, Number(readFileSync(`/proc/self/task/${t}/schedstat`, 'utf8').split(' ')[0])); } catch { /* ended */ }
  }
  return { at: performance.now(), m };
}

function sequential(rt, p, ref, n, snaps) {
  const xs = new Float64Array(n);
  let i = 0;
  let t0 = 0;
  return new Promise((resolve) => {
    const done = () => {
      xs[i] = (performance.now() - t0) * 1000;
      if (++i === n) return resolve(xs);
      if (snaps !== null && i % BLOCK === 0) snaps.push(cpu());
      next();
    };
    const cb = () => done();
    const next = () => {
      t0 = performance.now();
      if (path === 'token') p.submit(ref, i).token.then(done);
      else if (path === 'run') rt.run(ref, i).then(done);
      else p.submitCallback(ref, i, cb, 0);
    };
    next();
  });
}

const ratio = (xs) => {
  const s = Float64Array.from(xs).sort();
  return { p50: s[Math.floor(s.length * 0.5)], p99: s[Math.floor(s.length * 0.99)] };
};

for (let rep = 0; rep < reps; rep++) {
  const rt = await Runtime.start({ tasks, workers: 2, execArgv: [] });
  const p = rt.producer('trip-blocks');
  const inc = rt.task('inc');
  const ps = [];
  for (let k = 0; k < 3000; k++) ps.push(rt.run(inc, k));
  await Promise.all(ps);
  await sequential(rt, p, inc, 100, null);
  await Promise.all(Array.from({ length: 50 }, () => rt.run('spin50', 50)));
  globalThis.gc?.();
  const snaps = [cpu()];
  const xs = await sequential(rt, p, inc, N, snaps);
  snaps.push(cpu());
  const all = ratio(xs);
  const late = N > 2 * BLOCK ? ratio(xs.subarray(2 * BLOCK)) : null;
  console.log(`rep ${rep}: p50 ${all.p50.toFixed(2)} µs, p99 ${all.p99.toFixed(2)} µs, p99 ÷ p50 ${(all.p99 / all.p50).toFixed(2)}` +
    (late ? `; after the first ${2 * BLOCK} trips ${(late.p99 / late.p50).toFixed(2)}` : ''));
  for (let b = 1; b < snaps.length; b++) {
    const slow = xs.subarray((b - 1) * BLOCK, b * BLOCK).reduce((k, x) => k + (x > 4 ? 1 : 0), 0);
    const parts = [];
    let helpers = 0;
    for (const [t, ns] of snaps[b].m) {
      const ms = (ns - (snaps[b - 1].m.get(t) ?? 0)) / 1e6;
      if (t === String(process.pid)) parts.unshift(`MAIN ${ms.toFixed(1)}`);
      else if (boot.has(t)) helpers += ms;
      else if (ms >= 0.5) parts.push(`${t} ${ms.toFixed(1)}`);
    }
    console.log(`  block ${b}: ${(snaps[b].at - snaps[b - 1].at).toFixed(1)} ms, ${slow} trips > 4 µs; CPU ms: ${parts.join(', ')}, boot threads ${helpers.toFixed(1)}`);
  }
  await rt.close();
}
