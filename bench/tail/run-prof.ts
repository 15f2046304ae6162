// The user-workloads protocol (bench/harness.ts) through one row, for a profiler and for the
// main thread's CPU per task:
//   node --import tsx bench/tail/run-prof.ts [row=run] [task=inc] [n=200000] [reps=1]
// Fresh runtime per rep, 2 workers, default options, the harness's warm-up and a forced GC, then
// n tasks pipelined with ≤ 1024 in flight. Prints one JSON line per rep: tasks/s and the main
// thread's on-CPU ns per task (/proc/self/task/<tid>/schedstat: robust to other processes
// taking the CPUs, unlike wall time). BENCH=<dir> takes the bench (and so the runtime) from
// another checkout's bench/ directory. PROF=<prefix>: the main thread's profile of each
// measurement alone goes to <prefix>.<rep>.cpuprofile.
import { readFileSync, writeFileSync } from 'node:fs';
import { Session as Inspector } from 'node:inspector/promises';
import { pathToFileURL } from 'node:url';
import type { Session, TaskName } from '../workload.js';

const row = process.argv[2] ?? 'run';
const task = (process.argv[3] ?? 'inc') as TaskName;
const n = Number(process.argv[4] ?? 200_000);
const reps = Number(process.argv[5] ?? 1);
const base = process.env.BENCH === undefined ? new URL('../', import.meta.url) : pathToFileURL(`${process.env.BENCH}/`);
const e2e = await import(new URL('e2e/sluice.ts', base).href) as typeof import('../e2e/sluice.js');
const wl = await import(new URL('workload.ts', base).href) as typeof import('../workload.js');
const gc = (await import(new URL('steady.ts', base).href) as typeof import('../steady.js')).findGc();
// COUNT=1: drained batches (pump ticks that found completions) and their sizes, on stderr.
const batches = { drains: 0, drained: 0, sizes: new Map<number, number>(), wakes: 0 };
if (process.env.COUNT) {
  const { Drain } = await import(new URL('../src/runtime/submit/drain.ts', base).href) as typeof import('../../src/runtime/submit/drain.js');
  const orig = Drain.prototype.drain;
  Drain.prototype.drain = function (this: InstanceType<typeof Drain>): number {
    const k = orig.call(this);
    if (k > 0) { batches.drains++; batches.drained += k; const b = 2 ** Math.ceil(Math.log2(k)); batches.sizes.set(b, (batches.sizes.get(b) ?? 0) + k); }
    return k;
  };
  // Submits that found their worker parked (each costs the waker a futex wake).
  const { Attachment } = await import(new URL('../src/runtime/submit/attachment.ts', base).href) as typeof import('../../src/runtime/submit/attachment.js');
  const wakeWorker = Attachment.prototype.wakeWorker;
  Attachment.prototype.wakeWorker = function (this: InstanceType<typeof Attachment>, w: number): void {
    if (Atomics.load(this.i32, this.workerWakerW[w]!) === 2) batches.wakes++;
    wakeWorker.call(this, w);
  };
}
const extract = task === 'incArr' ? (v: unknown) => (v as number[])[0]! : task === 'incObj' ? (v: unknown) => (v as { v: number }).v : undefined;
const mainCpuNs = (): number => Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]);
const open = async (): Promise<Session> => {
  if (row === 'submit') return e2e.submitSession();
  const rt = await e2e.startSluice();
  if (row === 'callback') return e2e.callbackSession(rt, rt.producer('bench'));
  return wl.promiseSession((t, arg) => rt.run<number>(t, arg), () => rt.close());
};
for (let r = 0; r < reps; r++) {
  const s = await open();
  await wl.pipelined(s, 'inc', 3_000, (i) => i);
  await wl.sequential(s, 100);
  await wl.pipelined(s, 'spin50', 50, () => wl.SPIN_US);
  gc?.();
  const ins = process.env.PROF ? new Inspector() : null;
  if (ins) { ins.connect(); await ins.post('Profiler.enable'); await ins.post('Profiler.setSamplingInterval', { interval: 50 }); await ins.post('Profiler.start'); }
  batches.drains = batches.drained = batches.wakes = 0; batches.sizes.clear();
  const c0 = mainCpuNs();
  const res = await wl.pipelined(s, task, n, (i) => i, wl.MAX_IN_FLIGHT, extract);
  const c1 = mainCpuNs();
  if (ins) { const { profile } = await ins.post('Profiler.stop'); writeFileSync(`${process.env.PROF}.${r}.cpuprofile`, JSON.stringify(profile)); ins.disconnect(); }
  if (res.sum !== (n * (n + 1)) / 2) throw new Error(`wrong results: sum ${res.sum}`);
  if (process.env.COUNT) console.error(JSON.stringify({ wakes: batches.wakes, drains: batches.drains, perDrain: +(batches.drained / batches.drains).toFixed(1), tasksByBatchSize: Object.fromEntries([...batches.sizes].sort((a, b) => a[0] - b[0])) }));
  console.log(JSON.stringify({ row, task, perSec: Math.round((n / res.wallMs) * 1000), mainNsPerTask: Math.round((c1 - c0) / n) }));
  await s.close();
}
