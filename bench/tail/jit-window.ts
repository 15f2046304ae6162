// What V8 compiles and deoptimizes inside a measurement, on the user-workloads protocol (fresh
// runtime per rep, 3,000 pipelined + 100 sequential + 50 CPU warm-up tasks, a forced GC): run with
//   node --trace-opt --trace-deopt --expose-gc --import tsx bench/tail/jit-window.ts [reps=4] [workload=seq|cpu|pipe] [n] [row=submit|run|callback]
// and read the lines between "=== MEASURE START" and "=== MEASURE END" (every isolate's: the
// workers' too; V8's flags are per process).
import { startSluice, submitSession, callbackSession } from '../e2e/sluice.js';
import { MAX_IN_FLIGHT, SPIN_US, pipelined, promiseSession, sequential, type Session } from '../workload.js';
import { findGc } from '../steady.js';

const reps = Number(process.argv[2] ?? 4);
const workload = process.argv[3] ?? 'seq';
const n = Number(process.argv[4] ?? (workload === 'seq' ? 5000 : workload === 'cpu' ? 2000 : 100_000));
const row = process.argv[5] ?? 'submit';
const gc = findGc();
const spin = (): number => SPIN_US;
const opts = process.env.OPTS ? JSON.parse(process.env.OPTS) : {};
for (let rep = 0; rep < reps; rep++) {
  let s: Session;
  if (row === 'submit') s = await submitSession(opts);
  else if (row === 'callback') { const rt = await startSluice(opts); s = callbackSession(rt, rt.producer('b')); }
  else { const rt = await startSluice(opts); s = promiseSession((t, a) => rt.run<number>(t, a), () => rt.close()); }
  await pipelined(s, 'inc', 3000, (i) => i);
  await sequential(s, 100);
  await pipelined(s, 'spin50', 50, spin);
  if (process.env.EXTRA_SEQ) await sequential(s, Number(process.env.EXTRA_SEQ));
  gc?.();
  console.log(`=== MEASURE START ${rep}`);
  const t0 = performance.now();
  let fig = '';
  if (workload === 'seq') {
    const xs = (await sequential(s, n)).sort((a, b) => a - b);
    fig = `p50 ${xs[Math.floor(n * 0.5)]!.toFixed(1)} p99 ${xs[Math.floor(n * 0.99)]!.toFixed(1)} p99.9 ${xs[Math.floor(n * 0.999)]!.toFixed(1)} max ${xs[n - 1]!.toFixed(1)} µs`;
  } else if (workload === 'cpu') {
    const r = await pipelined(s, 'spinArr', n, spin, MAX_IN_FLIGHT, (v) => (v as number[])[1]!);
    fig = `eff ${(r.sum / (r.wallMs * 2000)).toFixed(3)}`;
  } else {
    const r = await pipelined(s, 'inc', n, (i) => i);
    fig = `${((n / r.wallMs) * 1000).toFixed(0)} tasks/s`;
  }
  console.log(`=== MEASURE END ${rep} ${(performance.now() - t0).toFixed(1)} ms: ${fig}`);
  await s.close();
}
