// The tail, paired: sluice's sequential round trip (producer.submit, default spin budget) and the
// bare pattern underneath it (a worker spinning on a word, the main thread polling it for up to
// 5 µs and then from setImmediate; its worker parks after 50 µs as sluice's do) measured in alternating short blocks
// on two live sessions, so that both see the same seconds of the machine.
//
// Why: on this shared VM the host slows both vCPUs in phases (50-sample blocks alternate between
// p50 ≈ 2.5 and ≈ 5.5 µs, every segment of the round trip alike; docs/performance.md), so a p99 ÷ p50
// taken over one stretch of time says as much about the host in that stretch as about the code.
// The main table's bare row and sluice's rows run at different moments; this section does not.
import { submitSession } from './e2e/sluice.js';
import { sabPollParking } from './e2e/raw-sab.js';
import { percentile, sorted, median } from './stats.js';
import { sequential, type Session } from './workload.js';

/** Round trips dropped at the start of each block: the first one may wake a parked worker. */
const SETTLE = 20;

export interface PairedSide {
  p50: number;
  p99: number;
  p999: number;
  /** p99 ÷ p50 of all blocks pooled. */
  ratio: number;
  /** The median over blocks of each block's p99 ÷ p50. */
  blockRatio: number;
}

export interface PairedResult {
  blocks: number;
  block: number;
  sluice: PairedSide;
  bare: PairedSide;
  /** Correlation of the two patterns' block p50s (adjacent blocks): how much the host drives both. */
  p50Correlation: number;
}

export async function runPaired(quick: boolean, warmup: number, log: (m: string) => void): Promise<PairedResult> {
  const nBlocks = quick ? 60 : 200;
  const block = 250;
  const sessions: Array<['sluice' | 'bare', Session]> = [];
  try {
    sessions.push(['sluice', await submitSession()]);
    sessions.push(['bare', await sabPollParking.open()]);
    for (const [, s] of sessions) await sequential(s, warmup);
    const blocks: Record<'sluice' | 'bare', number[][]> = { sluice: [], bare: [] };
    for (let b = 0; b < nBlocks; b++) {
      const order = b % 2 === 0 ? sessions : [...sessions].reverse();
      for (const [name, s] of order) blocks[name].push((await sequential(s, block + SETTLE)).slice(SETTLE));
    }
    log(`paired tail: ${nBlocks} blocks of ${block} round trips each`);
    const side = (bs: number[][]): PairedSide => {
      const all = sorted(bs.flat());
      const p50 = percentile(all, 0.5);
      const p99 = percentile(all, 0.99);
      return {
        p50, p99, p999: percentile(all, 0.999), ratio: p99 / p50,
        blockRatio: median(bs.map((b) => { const s = sorted(b); return percentile(s, 0.99) / percentile(s, 0.5); })),
      };
    };
    const blockP50 = (bs: number[][]): number[] => bs.map((b) => percentile(sorted(b), 0.5));
    return {
      blocks: nBlocks, block,
      sluice: side(blocks.sluice), bare: side(blocks.bare),
      p50Correlation: correlation(blockP50(blocks.sluice), blockP50(blocks.bare)),
    };
  } finally {
    for (const [, s] of sessions) await s.close();
  }
}

export function pairedLines(r: PairedResult): string[] {
  const f = (name: string, s: PairedSide): string =>
    `  ${name.padEnd(58)} p50 ${s.p50.toFixed(2)}  p99 ${s.p99.toFixed(2)}  p99.9 ${s.p999.toFixed(1)} µs  ` +
    `p99÷p50 ${s.ratio.toFixed(2)} (per block, median: ${s.blockRatio.toFixed(2)})`;
  return [
    `tail, paired: ${r.blocks} alternating blocks of ${r.block} sequential round trips (the same seconds of the machine for both)`,
    f('sluice submit/token', r.sluice),
    f('bare: worker spins, main polls ≤5 µs, then setImmediate', r.bare),
    `  correlation of the two block p50s: ${r.p50Correlation.toFixed(2)}`,
  ];
}

function correlation(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  if (n < 2) return Number.NaN;
  let ma = 0, mb = 0;
  for (let i = 0; i < n; i++) { ma += a[i]!; mb += b[i]!; }
  ma /= n; mb /= n;
  let sab = 0, saa = 0, sbb = 0;
  for (let i = 0; i < n; i++) {
    const da = a[i]! - ma, db = b[i]! - mb;
    sab += da * db; saa += da * da; sbb += db * db;
  }
  return sab / Math.sqrt(saa * sbb);
}
