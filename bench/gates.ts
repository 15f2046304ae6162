// Gates on vs off, paired on one runtime (the callback rows' shape). Three producers share it:
//   off        ungateForBenchmark: submits skip admission steps 2-3, completions give nothing back
//   unlimited  no rate: the producer-slot CAS and the global CAS, and their release
//   on         GATED_LIMITS: also the token bucket at the admission tick (the rate never binds)
// Each round measures all three, in an order that rotates round to round (every producer runs
// first, second and third equally often); the ratios are per round, to off in the same round.
// Two submit paths: producer.submit with its Token (issue 3's "submit end to end"), and
// submitCallback, where the gates are the largest share of the per-task work (the worst case).
// Wall throughput on this shared 2-core VM swings by ±30% from one 0.1 s run to the next, so
// the submitting thread's own CPU time per task (Linux schedstat, ns resolution) is reported
// too: it is where the gates run, and it does not depend on how the threads were scheduled.
import { readFileSync } from 'node:fs';
import type { Producer, Runtime } from '../src/index.js';
import { CALLBACK_OPTIONS, GATED_LIMITS, callbackSession, startSluiceReady, tokenSession } from './e2e/sluice.js';
import { ungateForBenchmark } from '../src/runtime/testing/testing.js';
import { fmt } from './report.js';
import { median } from './stats.js';
import { pipelined, type Session } from './workload.js';

export interface GatesPath {
  /** Median of the per-round tasks/s ratios, gates on (rated) ÷ gates off. */
  ratio: number;
  ratios: number[];
  /** The same for the unlimited producer (slot gates only) ÷ gates off. */
  unlimited: number;
  /** Median submitting-thread CPU ns per task: off, slot gates only, on (null off Linux). */
  mainCpuNsPerTask: [number, number, number] | null;
}

export interface GatesResult {
  rounds: number;
  tasks: number;
  /** producer.submit + Token. */
  token: GatesPath;
  /** submitCallback. */
  callback: GatesPath;
}

/** This thread's CPU time in ns (Linux), or null. */
export function threadCpuNs(): number | null {
  try {
    return Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]);
  } catch {
    return null;
  }
}

type SessionOf = (rt: Runtime, p: Producer) => Session;

async function measurePath(
  rt: Runtime, label: string, sessionOf: SessionOf, rounds: number, tasks: number, log: (m: string) => void,
): Promise<GatesPath> {
  const off = rt.producer(`gates-off-${label}`);
  ungateForBenchmark(rt, off);
  const sessions = [off, rt.producer(`gates-unlimited-${label}`), rt.producer(`gates-on-${label}`, GATED_LIMITS)]
    .map((p) => sessionOf(rt, p));
  const id = (i: number): number => i;
  const cpu: number[][] = [[], [], []];
  const rate = async (which: number): Promise<number> => {
    const c0 = threadCpuNs();
    const r = await pipelined(sessions[which]!, 'inc', tasks, id);
    const c1 = threadCpuNs();
    if (r.sum !== (tasks * (tasks + 1)) / 2) throw new Error(`wrong results: sum ${r.sum}`);
    if (c0 !== null && c1 !== null) cpu[which]!.push((c1 - c0) / tasks);
    return (tasks / r.wallMs) * 1000;
  };
  for (let k = 0; k < 3; k++) await rate(k); // warm-up
  for (const c of cpu) c.length = 0;
  const ratios: number[] = [];
  const unlimitedRatios: number[] = [];
  for (let round = 0; round < rounds; round++) {
    log(`[gates ${label} ${round + 1}/${rounds}] gates off / slots only / on, same runtime`);
    const perSec = [0, 0, 0];
    for (let k = 0; k < 3; k++) {
      const which = (round + k) % 3;
      perSec[which] = await rate(which);
    }
    unlimitedRatios.push(perSec[1]! / perSec[0]!);
    ratios.push(perSec[2]! / perSec[0]!);
  }
  const mainCpuNsPerTask = cpu[0]!.length === rounds
    ? ([median(cpu[0]!), median(cpu[1]!), median(cpu[2]!)] as [number, number, number])
    : null;
  return { ratio: median(ratios), ratios, unlimited: median(unlimitedRatios), mainCpuNsPerTask };
}

export async function runGates(quick: boolean, tasks: number, log: (m: string) => void): Promise<GatesResult> {
  const rounds = quick ? 9 : 15;
  const rt = await startSluiceReady(CALLBACK_OPTIONS);
  try {
    const token = await measurePath(rt, 'token', tokenSession, rounds, tasks, log);
    const callback = await measurePath(rt, 'callback', callbackSession, rounds, tasks, log);
    return { rounds, tasks, token, callback };
  } finally {
    await rt.close();
  }
}

const pathLine = (name: string, g: GatesPath): string =>
  `  ${name}: on ÷ off ${fmt(g.ratio, 3)} (per round: ${g.ratios.map((r) => fmt(r, 2)).join(', ')}); slot gates only ÷ off ${fmt(g.unlimited, 3)}` +
  (g.mainCpuNsPerTask === null
    ? ''
    : `; submitting thread CPU per task (off / slot gates / on): ${g.mainCpuNsPerTask.map((n) => fmt(n, 0)).join(' / ')} ns`);

export const gatesLine = (g: GatesResult): string =>
  `gates on ÷ gates off, paired on one runtime (${g.rounds} rounds × ${g.tasks} tasks per path):\n` +
  `${pathLine('submit/token', g.token)}\n${pathLine('submitCallback', g.callback)}`;
