// The I/O class gate's cost (issue 21 item 7), short: `npx tsx bench/io-class.ts`.
//  1. micro: admitIo + releaseIo (one CAS, one atomic sub) on a SharedArrayBuffer word, ns per pair;
//  2. paired on one runtime, submitCallback of 'inc': a producer whose TaskRef has no class vs one
//     whose TaskRef has class 'insane' (limit 65535: never binding). Each round runs both, in an
//     order that alternates; the ratio is per round (class / none), and the submitting thread's CPU
//     time per task (Linux schedstat) is reported too (wall throughput here swings by ±30%).
import { readFileSync } from 'node:fs';
import { admitIo, releaseIo } from '../src/admission/io-class.js';
import type { Memory } from '../src/shm/layout.js';
import { CALLBACK_OPTIONS, callbackSession, startSluiceReady } from './e2e/sluice.js';
import { median } from './stats.js';
import { pipelined } from './workload.js';

function threadCpuNs(): number | null {
  try { return Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]); } catch { return null; }
}

// 1.
{
  const i32 = new Int32Array(new SharedArrayBuffer(64));
  const mem = { i32, ioWord: () => 0 } as unknown as Memory;
  const guess = new Int32Array(1);
  const N = 5_000_000;
  const runs: number[] = [];
  for (let r = 0; r < 7; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < N; i++) {
      admitIo(i32, 0, 70, guess, 0);
      releaseIo(mem, 0, 1, guess);
    }
    runs.push(Number(process.hrtime.bigint() - t0) / N);
  }
  console.log(`micro: admitIo + releaseIo ${median(runs.slice(2)).toFixed(1)} ns per pair (median of 5 runs of ${N})`);
}

// 2.
const rounds = Number(process.env.ROUNDS ?? 9);
const tasks = Number(process.env.TASKS ?? 20_000);
const rt = await startSluiceReady({ ...CALLBACK_OPTIONS, ioLimits: { insane: 65535 } });
try {
  const plain = rt.task('inc');
  const classed = rt.task('inc', { io: 'insane' });
  const sessions = [
    callbackSession(rt, rt.producer('io-none'), { ref: () => plain }),
    callbackSession(rt, rt.producer('io-class'), { ref: () => classed }),
  ];
  const cpu: number[][] = [[], []];
  const rate = async (k: number): Promise<number> => {
    const c0 = threadCpuNs();
    const r = await pipelined(sessions[k]!, 'inc', tasks, (i) => i);
    const c1 = threadCpuNs();
    if (c0 !== null && c1 !== null) cpu[k]!.push((c1 - c0) / tasks);
    return (tasks / r.wallMs) * 1000;
  };
  await rate(0); await rate(1);
  cpu[0]!.length = 0; cpu[1]!.length = 0;
  const ratios: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const per = [0, 0];
    for (const k of round % 2 === 0 ? [0, 1] : [1, 0]) per[k] = await rate(k);
    ratios.push(per[1]! / per[0]!);
  }
  console.log(`submitCallback, ${rounds} rounds x ${tasks} tasks: class / none throughput ${median(ratios).toFixed(3)} (per round: ${ratios.map((r) => r.toFixed(2)).join(', ')})`);
  if (cpu[0]!.length > 0) console.log(`submitting thread CPU per task: none ${median(cpu[0]!).toFixed(0)} ns, class ${median(cpu[1]!).toFixed(0)} ns`);
  console.log(`io stats after: ${JSON.stringify(rt.stats().io[3])}`);
} finally {
  await rt.close();
}
