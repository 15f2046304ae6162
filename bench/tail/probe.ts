// Tail probe: sequential submit/token round trips with a per-sample breakdown.
// npx tsx bench/tail/probe.ts [n] [out.json]
import { Runtime } from '../../src/index.js';
import { PerformanceObserver } from 'node:perf_hooks';
import { createRequire } from 'node:module';
import { writeFileSync, readdirSync, readFileSync } from 'node:fs';
import { W_TID } from '../../src/shm/layout.js';

const require = createRequire(import.meta.url);
const addon = require('../../native/sluice-native.node');
const N = Number(process.argv[2] ?? 20000);
const WARM = Number(process.env.WARM ?? 2000);
const out = process.argv[3] ?? '/tmp/probe.json';
const spin = Number(process.env.SPIN ?? 50);
const sab = new SharedArrayBuffer((N + WARM) * 4 * 8);
const rec = new Float64Array(sab);
const now = (): number => Number(process.hrtime.bigint());

const gcs: Array<[number, number, number]> = [];
const origin = now() - performance.now() * 1e6; // map performance.now() to hrtime ns
new PerformanceObserver((l) => {
  for (const e of l.getEntries()) gcs.push([origin + e.startTime * 1e6, e.duration * 1e6, (e as any).detail?.kind ?? 0]);
}).observe({ entryTypes: ['gc'] });

if (process.env.PRE === '1') {
  // Warm this process's JIT the way a bench rep does (a throughput run and round trips on another runtime).
  const { sluiceSubmit } = await import('../e2e/sluice.js');
  const { measure } = await import('../workload.js');
  const s = await sluiceSubmit.open();
  await measure(s, 'throughput', { throughput: 20000, latency: 2000, cpu: 0, warmup: 300, latencyWarmup: 300 });
  await measure(s, 'latency', { throughput: 20000, latency: 2000, cpu: 0, warmup: 300, latencyWarmup: 300 });
  await s.close();
}
const rt = await Runtime.start({ tasks: new URL('./probe-tasks.mjs', import.meta.url), workers: 2, spinUs: spin, taskData: { sab } });
const att = (rt as any).att;
const mem = (rt as any).mem;
const tids: number[] = [0, 1].map((w) => Number(Atomics.load(mem.i32 as Int32Array, mem.workerWord(w, W_TID))));
const task = rt.task('probe');
const producer = rt.producer('probe');

const S = N + WARM;
const t0 = new Float64Array(S), tSeen = new Float64Array(S), tCont = new Float64Array(S);
const ticks = new Int32Array(S), pauses = new Int32Array(S), cpu0 = new Int32Array(S), cpu1 = new Int32Array(S), parked = new Int32Array(S);
// Touch every page now: a first write to a fresh page is a page fault (µs) inside a sample.
for (const a of [rec, t0, tSeen, tCont, ticks, pauses, cpu0, cpu1, parked]) { a.fill(1); a.fill(0); }
let cur = 0;
const origDrain = att.drain.drain.bind(att.drain);
att.drain.drain = (): number => {
  ticks[cur]++;
  const n = origDrain();
  if (n > 0 && tSeen[cur] === 0) tSeen[cur] = now();
  return n;
};
const origPause = att.pump.pause;
if (origPause) att.pump.pause = () => { pauses[cur]++; origPause(); };
const origWake = att.pump.onWake;
// onWake is a readonly arrow field read when parking: wrap it
att.pump.onWake = () => { parked[cur]++; origWake(); };

const ru0 = process.resourceUsage();
const minflt = (): Record<string, number> => Object.fromEntries(readdirSync('/proc/self/task').map((t) => [t, Number(readFileSync(`/proc/self/task/${t}/stat`, 'utf8').split(') ')[1]!.split(' ')[7])]));
const mf0 = minflt();
await new Promise<void>((resolve, reject) => {
  const done = (): void => {
    tCont[cur] = now();
    cpu1[cur] = addon.currentCpu();
    if (++cur === S) resolve(); else next();
  };
  const next = (): void => {
    cpu0[cur] = addon.currentCpu();
    t0[cur] = now();
    const a = producer.submit<number>(task, cur);
    if (!a.admitted) return reject(new Error(a.reason));
    a.token.then(done, reject);
  };
  next();
});
const ru1 = process.resourceUsage();
const mf1 = minflt();
console.log('minor faults by thread', Object.entries(mf1).map(([t, v]) => [t === String(addon.threadId()) ? 'main' : tids.includes(Number(t)) ? `w${tids.indexOf(Number(t))}` : t, v - (mf0[t] ?? 0)]).filter(([, v]) => (v as number) > 0));
console.log(`minor faults (process) during run: ${ru1.minorPageFault - ru0.minorPageFault} for ${S} round trips`);
const threads: Record<string, string> = {};
for (const t of readdirSync('/proc/self/task')) threads[t] = readFileSync(`/proc/self/task/${t}/comm`, 'utf8').trim();
await rt.close();
const samples = [];
for (let i = WARM; i < S; i++) {
  samples.push({ t0: t0[i], run: rec[i * 4], seen: tSeen[i], cont: tCont[i], wcpu: rec[i * 4 + 1], w: rec[i * 4 + 2], mcpu0: cpu0[i], mcpu1: cpu1[i], ticks: ticks[i], pauses: pauses[i], parked: parked[i] });
}
writeFileSync(out, JSON.stringify({ threads, mainTid: addon.threadId(), pid: process.pid, tids, gcs, samples }));
const rts = samples.map((s) => (s.cont - s.t0) / 1000).sort((a, b) => a - b);
const q = (p: number): number => rts[Math.floor(p * (rts.length - 1))]!;
console.log(`moves=${att.pump.cores.moves} n=${rts.length} p50=${q(0.5).toFixed(1)} p90=${q(0.9).toFixed(1)} p99=${q(0.99).toFixed(1)} p99.9=${q(0.999).toFixed(1)} µs; p99/p50=${(q(0.99) / q(0.5)).toFixed(1)} gcs=${gcs.length}`);
