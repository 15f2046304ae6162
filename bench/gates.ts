// Gates on vs off, paired: one runtime (the callback rows' shape), an unlimited producer and a
// rated one (GATED_LIMITS: every submit refills and takes a token), measured alternately
// (ABBA order) on the same runtime. A steadier figure than the two main-table rows, which are
// separate runtimes measured one after the other.
import { CALLBACK_OPTIONS, GATED_LIMITS, callbackSession, startSluice } from './e2e/sluice.js';
import { fmt } from './report.js';
import { median } from './stats.js';
import { pipelined, type Session } from './workload.js';

export interface GatesResult {
  pairs: number;
  tasks: number;
  /** Median of the per-pair tasks/s ratios, gated ÷ unlimited. */
  ratio: number;
  ratios: number[];
}

export async function runGates(quick: boolean, tasks: number, log: (m: string) => void): Promise<GatesResult> {
  const pairs = quick ? 4 : 6;
  const rt = await startSluice(CALLBACK_OPTIONS);
  try {
    const off = callbackSession(rt, rt.producer('gates-off'));
    const on = callbackSession(rt, rt.producer('gates-on', GATED_LIMITS));
    const id = (i: number): number => i;
    const rate = async (s: Session): Promise<number> => {
      const r = await pipelined(s, 'inc', tasks, id);
      if (r.sum !== (tasks * (tasks + 1)) / 2) throw new Error(`wrong results: sum ${r.sum}`);
      return (tasks / r.wallMs) * 1000;
    };
    await rate(off);
    await rate(on);
    const ratios: number[] = [];
    for (let p = 0; p < pairs; p++) {
      log(`[gates ${p + 1}/${pairs}] gates off / on, same runtime`);
      if (p % 2 === 0) {
        const a = await rate(off);
        ratios.push((await rate(on)) / a);
      } else {
        const b = await rate(on);
        ratios.push(b / (await rate(off)));
      }
    }
    return { pairs, tasks, ratio: median(ratios), ratios };
  } finally {
    await rt.close();
  }
}

export const gatesLine = (g: GatesResult): string =>
  `gates on vs off, paired on one runtime (${g.pairs} pairs × ${g.tasks} tasks, ABBA): ${fmt(g.ratio, 3)} ` +
  `(per pair: ${g.ratios.map((r) => fmt(r, 2)).join(', ')})`;
