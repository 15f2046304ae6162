// Where a CPU-bound pipelined run's CPU goes, per thread (Linux schedstat: CPU ms, voluntary and
// involuntary switches): the user-workloads protocol (fresh runtime, 3,000 + 100 + 50 warm-up
// tasks, a forced GC), then `n` × 50 µs tasks; prints the CPU efficiency as bench/harness.ts does.
//   npx tsx --expose-gc bench/tail/u4-split.ts [reps=5] [n=2000] [row=submit|run|callback] [task=spinArr]
// The threads named only "node" besides main and the two busiest (the workers) are Node's own:
// V8's compiler and GC helpers. Diagnostics: NOGC=1 skips the forced GC; IDLE=ms waits after
// it; PRE_IDLE=ms waits before the warm-up (a worker's own warm-up runs then); AGAIN=k runs the
// measurement k times first on the same runtime (a hot runtime: its one-off compiles are over);
// MARK=1 prints "=== MEASURE START/END" around it, with the time on CLOCK_MONOTONIC in seconds (for
// --trace-opt/--trace-deopt output, and as the window of `perf script --time` under
// `perf record -k CLOCK_MONOTONIC`: switch-causes.py).
import { readdirSync, readFileSync } from 'node:fs';
import { startSluice, submitSession, callbackSession } from '../e2e/sluice.js';
import { MAX_IN_FLIGHT, SPIN_US, WORKERS, pipelined, promiseSession, sequential, type Session, type TaskName } from '../workload.js';
import { findGc } from '../steady.js';

const reps = Number(process.argv[2] ?? 5), n = Number(process.argv[3] ?? 2000);
const row = process.argv[4] ?? 'submit', task = (process.argv[5] ?? 'spinArr') as TaskName;
const gc = findGc();
/** CLOCK_MONOTONIC in seconds (process.hrtime's clock, perf's with -k CLOCK_MONOTONIC). */
const monoSeconds = (): string => (Number(process.hrtime.bigint()) / 1e9).toFixed(6);
const spin = (): number => SPIN_US;
const extract = task === 'spinArr' ? (v: unknown) => (v as number[])[1]! : task === 'spinObj' ? (v: unknown) => (v as { us: number }).us : undefined;
type T = { cpu: number; vol: number; invol: number; name: string };
const snap = (): Map<string, T> => {
  const m = new Map<string, T>();
  for (const t of readdirSync('/proc/self/task')) {
    try {
      const cpu = Number(readFileSync(`/proc/self/task/${t}/schedstat`, 'utf8').split(' ')[0]);
      const st = readFileSync(`/proc/self/task/${t}/status`, 'utf8');
      const vol = Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(st)![1]);
      const invol = Number(/nonvoluntary_ctxt_switches:\s+(\d+)/.exec(st)![1]);
      const name = readFileSync(`/proc/self/task/${t}/comm`, 'utf8').trim();
      m.set(t, { cpu, vol, invol, name });
    } catch { /* gone */ }
  }
  return m;
};
for (let rep = 0; rep < reps; rep++) {
  let s: Session;
  if (row === 'submit') s = await submitSession();
  else if (row === 'callback') { const rt = await startSluice(); s = callbackSession(rt, rt.producer('b')); }
  else { const rt = await startSluice(); s = promiseSession((t, a) => rt.run<number>(t, a), () => rt.close()); }
  if (process.env.PRE_IDLE) await new Promise((r) => setTimeout(r, Number(process.env.PRE_IDLE)));
  await pipelined(s, 'inc', 3000, (i) => i);
  await sequential(s, 100);
  await pipelined(s, 'spin50', 50, spin);
  if (!process.env.NOGC) gc?.();
  if (process.env.IDLE) await new Promise((r) => setTimeout(r, Number(process.env.IDLE)));
  if (process.env.MARK) console.log(`=== MEASURE START ${monoSeconds()}`);
  for (let again = 0; again < Number(process.env.AGAIN ?? 0); again++) await pipelined(s, task, n, spin, MAX_IN_FLIGHT, extract);
  const a = snap();
  const r = await pipelined(s, task, n, spin, MAX_IN_FLIGHT, extract);
  const b = snap();
  if (process.env.MARK) console.log(`=== MEASURE END ${monoSeconds()}`);
  const parts: string[] = [];
  let total = 0;
  for (const [t, x] of b) {
    const y = a.get(t);
    const d = (x.cpu - (y?.cpu ?? 0)) / 1e6;
    total += d;
    if (d < 0.5) continue;
    parts.push(`${t === String(process.pid) ? 'main' : x.name}:${d.toFixed(1)}ms/${x.vol - (y?.vol ?? 0)}v/${x.invol - (y?.invol ?? 0)}i`);
  }
  console.log(`eff ${(r.sum / (r.wallMs * 1000 * WORKERS)).toFixed(3)} wall ${r.wallMs.toFixed(1)} busy ${(r.sum / 1000).toFixed(1)} cpu ${total.toFixed(1)} | ${parts.join(' ')}`);
  await s.close();
}
