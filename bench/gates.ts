// Gates on vs off, paired on one runtime (the callback rows' shape). Three producers share it:
//   off        ungateForBenchmark: submits skip admission steps 2-3, completions give nothing back
//   unlimited  no rate: the producer-slot CAS and the global CAS, and their release
//   on         GATED_LIMITS: also the token bucket at the admission tick (the rate never binds)
// Each round measures all three, in an order that rotates round to round (every producer runs
// first, second and third equally often); the ratios are per round, to off in the same round.
// Wall throughput on this shared 2-core VM swings by ±30% from one 0.1 s run to the next, so
// the submitting thread's own CPU time per task (Linux schedstat, ns resolution) is reported
// too: it is where the gates run, and it does not depend on how the threads were scheduled.
import { readFileSync } from 'node:fs';
import { CALLBACK_OPTIONS, GATED_LIMITS, callbackSession, startSluice } from './e2e/sluice.js';
import { ungateForBenchmark } from '../src/runtime/runtime.js';
import { fmt } from './report.js';
import { median } from './stats.js';
import { pipelined, type Session } from './workload.js';

export interface GatesResult {
  rounds: number;
  tasks: number;
  /** Median of the per-round tasks/s ratios, gates on (rated) ÷ gates off. */
  ratio: number;
  ratios: number[];
  /** The same for the unlimited producer (slot gates only) ÷ gates off. */
  unlimited: number;
  unlimitedRatios: number[];
  /** Median submitting-thread CPU ns per task: off, slot gates only, on (null off Linux). */
  mainCpuNsPerTask: [number, number, number] | null;
}

/** This thread's CPU time in ns (Linux), or null. */
function threadCpuNs(): number | null {
  try {
    return Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]);
  } catch {
    return null;
  }
}

export async function runGates(quick: boolean, tasks: number, log: (m: string) => void): Promise<GatesResult> {
  const rounds = quick ? 9 : 15;
  const rt = await startSluice(CALLBACK_OPTIONS);
  try {
    const offProducer = rt.producer('gates-off');
    ungateForBenchmark(rt, offProducer);
    const sessions: Session[] = [
      callbackSession(rt, offProducer),
      callbackSession(rt, rt.producer('gates-unlimited')),
      callbackSession(rt, rt.producer('gates-on', GATED_LIMITS)),
    ];
    const id = (i: number): number => i;
    const cpu: number[][] = [[], [], []];
    const rate = async (s: Session, which: number): Promise<number> => {
      const c0 = threadCpuNs();
      const r = await pipelined(s, 'inc', tasks, id);
      const c1 = threadCpuNs();
      if (r.sum !== (tasks * (tasks + 1)) / 2) throw new Error(`wrong results: sum ${r.sum}`);
      if (c0 !== null && c1 !== null) cpu[which]!.push((c1 - c0) / tasks);
      return (tasks / r.wallMs) * 1000;
    };
    for (let k = 0; k < 3; k++) await rate(sessions[k]!, k); // warm-up
    for (const c of cpu) c.length = 0;
    const ratios: number[] = [];
    const unlimitedRatios: number[] = [];
    for (let round = 0; round < rounds; round++) {
      log(`[gates ${round + 1}/${rounds}] gates off / slots only / on, same runtime`);
      const perSec = [0, 0, 0];
      for (let k = 0; k < 3; k++) {
        const which = (round + k) % 3;
        perSec[which] = await rate(sessions[which]!, which);
      }
      unlimitedRatios.push(perSec[1]! / perSec[0]!);
      ratios.push(perSec[2]! / perSec[0]!);
    }
    const mainCpuNsPerTask = cpu[0]!.length === rounds
      ? ([median(cpu[0]!), median(cpu[1]!), median(cpu[2]!)] as [number, number, number])
      : null;
    return { rounds, tasks, ratio: median(ratios), ratios, unlimited: median(unlimitedRatios), unlimitedRatios, mainCpuNsPerTask };
  } finally {
    await rt.close();
  }
}

export const gatesLine = (g: GatesResult): string =>
  `gates on ÷ gates off, paired on one runtime (${g.rounds} rounds × ${g.tasks} tasks): ${fmt(g.ratio, 3)} ` +
  `(per round: ${g.ratios.map((r) => fmt(r, 2)).join(', ')}); slot gates only ÷ off: ${fmt(g.unlimited, 3)}` +
  (g.mainCpuNsPerTask === null
    ? ''
    : `; submitting thread CPU per task (off / slot gates / on): ${g.mainCpuNsPerTask.map((n) => fmt(n, 0)).join(' / ')} ns`);
