// Gates on vs off, paired on one runtime (the callback rows' shape). Three producers share it:
//   off        Testing.ungate: submits skip admission steps 2-3, completions give nothing back
//   unlimited  no rate: the producer-slot CAS and the global CAS, and their release
//   on         GATED_LIMITS: also the token bucket at the admission tick (the rate never binds)
// Each round measures all three, in an order that rotates round to round (every producer runs
// first, second and third equally often); the ratios are per round, to off in the same round.
import { CALLBACK_OPTIONS, GATED_LIMITS, callbackSession, startSluice } from './e2e/sluice.js';
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
}

export async function runGates(quick: boolean, tasks: number, log: (m: string) => void): Promise<GatesResult> {
  const rounds = quick ? 6 : 9;
  const rt = await startSluice({ ...CALLBACK_OPTIONS, testHooks: true });
  try {
    const offProducer = rt.producer('gates-off');
    rt.testing!.ungate(offProducer);
    const sessions: Session[] = [
      callbackSession(rt, offProducer),
      callbackSession(rt, rt.producer('gates-unlimited')),
      callbackSession(rt, rt.producer('gates-on', GATED_LIMITS)),
    ];
    const id = (i: number): number => i;
    const rate = async (s: Session): Promise<number> => {
      const r = await pipelined(s, 'inc', tasks, id);
      if (r.sum !== (tasks * (tasks + 1)) / 2) throw new Error(`wrong results: sum ${r.sum}`);
      return (tasks / r.wallMs) * 1000;
    };
    for (const s of sessions) await rate(s); // warm-up
    const ratios: number[] = [];
    const unlimitedRatios: number[] = [];
    for (let round = 0; round < rounds; round++) {
      log(`[gates ${round + 1}/${rounds}] gates off / slots only / on, same runtime`);
      const perSec = [0, 0, 0];
      for (let k = 0; k < 3; k++) {
        const which = (round + k) % 3;
        perSec[which] = await rate(sessions[which]!);
      }
      unlimitedRatios.push(perSec[1]! / perSec[0]!);
      ratios.push(perSec[2]! / perSec[0]!);
    }
    return { rounds, tasks, ratio: median(ratios), ratios, unlimited: median(unlimitedRatios), unlimitedRatios };
  } finally {
    await rt.close();
  }
}

export const gatesLine = (g: GatesResult): string =>
  `gates on ÷ gates off, paired on one runtime (${g.rounds} rounds × ${g.tasks} tasks): ${fmt(g.ratio, 3)} ` +
  `(per round: ${g.ratios.map((r) => fmt(r, 2)).join(', ')}); slot gates only ÷ off: ${fmt(g.unlimited, 3)}`;
