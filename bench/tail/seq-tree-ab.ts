// Two checkouts in one process, for the sequential tail: each tree's own bench session
// (bench/e2e/sluice.ts: a fresh runtime with default options, producer.submit + the Token), warmed
// with 3,000 pipelined and 3,000 sequential trips, then BLOCKS alternating blocks of 250
// sequential trips each (the first 20 of a block dropped: a parked worker's wake), the order
// swapped every block, so both see the same seconds of the host (its phases move one process's
// tail by several times between minutes: docs/performance.md). Prints per tree the pooled p50,
// p99, p99.9, p99 ÷ p50, the median of the blocks' p99 ÷ p50, the share of trips over 4 × p50 and
// the mean trip. Run it twice with the trees swapped: the tree loaded first had a ~3% edge in
// the sixteenth session's control (the same code on both sides).
//   npx tsx --expose-gc bench/tail/seq-tree-ab.ts TREE_A TREE_B [blocks=150]
import { pathToFileURL } from 'node:url';
import type { Session } from '../workload.js';

const trees = [process.argv[2], process.argv[3]];
if (trees[0] === undefined || trees[1] === undefined) throw new Error('usage: seq-tree-ab.ts TREE_A TREE_B [blocks]');
const blocks = Number(process.argv[4] ?? 150);
const BLOCK = 250;
const SETTLE = 20;

interface Side {
  tree: string;
  s: Session;
  sequential: (s: Session, n: number) => Promise<number[]>;
  samples: number[][];
}

async function open(tree: string): Promise<Side> {
  const e2e = await import(pathToFileURL(`${tree}/bench/e2e/sluice.ts`).href) as typeof import('../e2e/sluice.js');
  const wl = await import(pathToFileURL(`${tree}/bench/workload.ts`).href) as typeof import('../workload.js');
  const s = await e2e.submitSession({});
  await wl.pipelined(s, 'inc', 3000, (i) => i);
  await wl.sequential(s, 3000);
  return { tree, s, sequential: (x, n) => wl.sequential(x, n), samples: [] };
}

const sides = [await open(trees[0]), await open(trees[1])];
try {
  for (let b = 0; b < blocks; b++) {
    for (const side of b % 2 === 0 ? sides : [sides[1]!, sides[0]!]) side.samples.push((await side.sequential(side.s, BLOCK + SETTLE)).slice(SETTLE));
  }
} finally {
  for (const side of sides) await side.s.close();
}
const pct = (xs: readonly number[], q: number): number => {
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
};
for (const { tree, samples } of sides) {
  const all = samples.flat();
  const p50 = pct(all, 0.5);
  const perBlock = samples.map((x) => pct(x, 0.99) / pct(x, 0.5));
  const slow = all.filter((v) => v > 4 * p50).length / all.length;
  const mean = all.reduce((x, y) => x + y, 0) / all.length;
  console.log(`${tree}: p50 ${p50.toFixed(2)} p99 ${pct(all, 0.99).toFixed(1)} p99.9 ${pct(all, 0.999).toFixed(0)} µs; p99/p50 pooled ${(pct(all, 0.99) / p50).toFixed(2)}, per-block median ${pct(perBlock, 0.5).toFixed(2)}; over 4×p50 ${(100 * slow).toFixed(2)}%; mean ${mean.toFixed(2)} µs (${blocks} blocks of ${BLOCK})`);
}
