// Sequential tail and per-thread scheduling (issue 20 (c)): for each configuration in rotation, a
// fresh runtime (2 workers), 3,000 warm-up round trips, a forced GC, then N sequential submit/token
// round trips, with /proc/self/task/*/schedstat (CPU time, run-queue wait, slices) and
// /proc/self/task/*/status (context switches) read around the measurement for the main thread,
// each worker (by its tid from rt.stats()) and every other thread of the process together.
//   npx tsx bench/tail/sched.ts [rounds=3] [n=50000] 'name={"steal":false}' ...   (default: dflt={})
import { readFileSync, readdirSync } from 'node:fs';
import { Runtime } from '../../src/index.js';
import { fixture, sequential, tokenSessionOf } from './sched-helpers.js';
import { summarize } from '../stats.js';
import { findGc } from '../steady.js';

const rounds = Number(process.argv[2] ?? 3);
const n = Number(process.argv[3] ?? 50_000);
const cfgs = (process.argv.slice(4).length ? process.argv.slice(4) : ['dflt={}']).map((s) => { const i = s.indexOf('='); return { name: s.slice(0, i), opts: JSON.parse(s.slice(i + 1)) as object }; });
const gc = findGc();

interface T { run: number; wait: number; slices: number; vol: number; invol: number }
function snap(): Map<number, T> {
  const m = new Map<number, T>();
  for (const d of readdirSync('/proc/self/task')) {
    try {
      const [run, wait, slices] = readFileSync(`/proc/self/task/${d}/schedstat`, 'utf8').trim().split(/\s+/).map(Number);
      const st = readFileSync(`/proc/self/task/${d}/status`, 'utf8');
      const vol = Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(st)![1]);
      const invol = Number(/nonvoluntary_ctxt_switches:\s+(\d+)/.exec(st)![1]);
      m.set(Number(d), { run: run!, wait: wait!, slices: slices!, vol, invol });
    } catch { /* the thread ended */ }
  }
  return m;
}
const diff = (a: T | undefined, b: T | undefined): T => ({
  run: (b?.run ?? 0) - (a?.run ?? 0), wait: (b?.wait ?? 0) - (a?.wait ?? 0), slices: (b?.slices ?? 0) - (a?.slices ?? 0),
  vol: (b?.vol ?? 0) - (a?.vol ?? 0), invol: (b?.invol ?? 0) - (a?.invol ?? 0),
});
const rows: Record<string, string[]> = Object.fromEntries(cfgs.map((c) => [c.name, []]));
const figs: Record<string, number[][]> = Object.fromEntries(cfgs.map((c) => [c.name, []]));
for (let r = 0; r < rounds; r++) {
  for (let i = 0; i < cfgs.length; i++) {
    const c = cfgs[(i + r) % cfgs.length]!;
    const rt = await Runtime.start({ tasks: fixture('tasks.mjs'), workers: 2, ...c.opts });
    const s = tokenSessionOf(rt);
    await sequential(s, 3000);
    gc?.();
    const tids = rt.stats().workers.map((w) => w.tid);
    const a = snap();
    const t0 = performance.now();
    const l = summarize(await sequential(s, n));
    const wall = performance.now() - t0;
    const b = snap();
    await rt.close();
    const main = diff(a.get(process.pid), b.get(process.pid));
    const ws = tids.map((t) => diff(a.get(t), b.get(t)));
    const other: T = { run: 0, wait: 0, slices: 0, vol: 0, invol: 0 };
    for (const [tid, tb] of b) {
      if (tid === process.pid || tids.includes(tid)) continue;
      const d = diff(a.get(tid), tb);
      other.run += d.run; other.wait += d.wait; other.slices += d.slices; other.vol += d.vol; other.invol += d.invol;
    }
    const f = (x: T): string => `cpu ${(x.run / 1e6 / wall * 100).toFixed(0)}% rq-wait ${(x.wait / 1e6).toFixed(1)}ms invol ${x.invol} vol ${x.vol}`;
    figs[c.name]!.push([l.p50, l.p99, l.p999, ...ws.map((w) => w.run / 1e6 / wall), main.wait / 1e6, ws[0]!.invol + ws[1]!.invol + main.invol]);
    rows[c.name]!.push(`p50 ${l.p50.toFixed(2)} p99 ${l.p99.toFixed(2)} p99.9 ${l.p999.toFixed(1)} µs, wall ${wall.toFixed(0)} ms | main ${f(main)} | w0 ${f(ws[0]!)} | w1 ${f(ws[1]!)} | others ${f(other)}`);
  }
}
const med = (xs: number[]): number => { const a = [...xs].sort((x, y) => x - y); const k = a.length; return k % 2 ? a[(k - 1) / 2]! : (a[k / 2 - 1]! + a[k / 2]!) / 2; };
for (const c of cfgs) {
  for (const line of rows[c.name]!) console.log(`${c.name.padEnd(10)} ${line}`);
  const F = figs[c.name]!;
  console.log(`${c.name.padEnd(10)} MEDIAN p50 ${med(F.map((x) => x[0]!)).toFixed(2)} p99 ${med(F.map((x) => x[1]!)).toFixed(2)} p99.9 ${med(F.map((x) => x[2]!)).toFixed(1)} µs; p99÷p50 ${med(F.map((x) => x[1]! / x[0]!)).toFixed(2)}; w0 cpu ${(med(F.map((x) => x[3]!)) * 100).toFixed(0)}% w1 cpu ${(med(F.map((x) => x[4]!)) * 100).toFixed(0)}%; main rq-wait ${med(F.map((x) => x[5]!)).toFixed(1)} ms; invol (main+workers) ${med(F.map((x) => x[6]!)).toFixed(0)}`);
}
