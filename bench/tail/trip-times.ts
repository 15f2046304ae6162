// Sequential trips on the user-workloads protocol (bench/harness.ts: a fresh runtime per rep,
// 3,000 pipelined + 100 sequential + 50 CPU tasks of warm-up, a forced GC), with each slow
// trip's start on CLOCK_MONOTONIC, for joining with the kernel's scheduler trace
// (bench/tail/stall-classes.py). Prints per rep p50/p99/p99.9, how many trips took over 100 µs and
// 1 ms, and how often each worker parked during the trips (rt.stats()); writes OUT (default
// /tmp/trip-times.txt): per rep a line with the threads (main, "boot": Node's and V8's threads
// from before any pool, "new": the pool's), then "slow <index> <start ns> <µs>" per trip over LIM µs.
//   npx tsx --expose-gc bench/tail/trip-times.ts [reps=3] [trips=5000] [limit µs=200]   (OPTS='{"spinUs":300}')
//   perf record -e sched:sched_switch -e sched:sched_wakeup -a -k CLOCK_MONOTONIC -o s.data -- npx tsx --expose-gc bench/tail/trip-times.ts 1 50000 100
//   perf script -i s.data -F cpu,time,tid,event,trace > s.txt && python3 bench/tail/stall-classes.py /tmp/trip-times.txt s.txt
import { readdirSync, writeFileSync } from 'node:fs';
import { startSluice, tokenSession } from '../e2e/sluice.js';
import { pipelined, sequential } from '../workload.js';
import { findGc } from '../steady.js';

const reps = Number(process.argv[2] ?? 3);
const n = Number(process.argv[3] ?? 5000);
const limit = Number(process.argv[4] ?? 200);
const out = process.env.OUT ?? '/tmp/trip-times.txt';
const opts = process.env.OPTS ? (JSON.parse(process.env.OPTS) as object) : {};
const gc = findGc();
const boot = new Set(readdirSync('/proc/self/task'));
const lines: string[] = [];
// Touched before any trip: a first write to a fresh page would be a page fault inside a sample.
const starts = new BigInt64Array(n);
const micros = new Float64Array(n);
for (let rep = 0; rep < reps; rep++) {
  const rt = await startSluice(opts);
  const s = tokenSession(rt, rt.producer('trips'));
  await pipelined(s, 'inc', 3000, (v) => v as number);
  await sequential(s, 100);
  await pipelined(s, 'spin50', 50, () => 50);
  gc?.();
  const threads = readdirSync('/proc/self/task').map((t) => `${t}:${t === String(process.pid) ? 'main' : boot.has(t) ? 'boot' : 'new'}`);
  const parks0 = rt.stats().workers.map((w) => w.parks);
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    await new Promise((resolve, reject) => { if (!s.start('inc', i, resolve, reject)) reject(new Error('refused')); });
    starts[i] = t0;
    micros[i] = Number(process.hrtime.bigint() - t0) / 1000;
  }
  const parks = rt.stats().workers.map((w, k) => w.parks - parks0[k]!);
  const sorted = Array.from(micros).sort((a, b) => a - b);
  const q = (f: number): string => sorted[Math.min(n - 1, Math.floor(n * f))]!.toFixed(1);
  const over = (us: number): number => micros.reduce((c, v) => c + (v > us ? 1 : 0), 0);
  console.log(`rep ${rep}: p50 ${q(0.5)} p99 ${q(0.99)} p99.9 ${q(0.999)} µs; over 100 µs ${over(100)}, over 1 ms ${over(1000)}; parks ${parks.join('/')}`);
  lines.push(`rep ${rep} threads ${threads.join(' ')}`);
  for (let i = 0; i < n; i++) if (micros[i]! > limit) lines.push(`slow ${i} ${starts[i]} ${micros[i]!.toFixed(1)}`);
  await s.close();
}
writeFileSync(out, `${lines.join('\n')}\n`);
