/**
 * Weight classes -> preference chains -> worker choice.
 *
 * A chain is the set of workers a weight may use, ordered by the core each worker is pinned to
 * (unpinned workers by index). Within the chain: the least-occupied worker, ties to the earlier
 * worker in the chain. Occupancy = cells queued in its ring + 1 if it is running a task right
 * now (its run record; same cache line as the ring head). Counting the running task matters: a
 * worker that just popped a long task has an empty ring but is not free. Routing is a pure
 * function of that occupancy (deterministic).
 *
 *   heavy   every worker; ties go to the first core
 *   medium  every worker but the first core's (all of them when there is only one)
 *   light   every worker but the first two cores' (falls back to medium's set below 3 workers)
 *   (none)  every worker, like heavy: a task without a weight class is not steered
 */
import { Ring } from '../shm/ring.js';
import { ConfigError } from '../errors.js';

export const WEIGHTS = ['heavy', 'medium', 'light'] as const;
export type Weight = (typeof WEIGHTS)[number];

/** Chain index for tasks without a weight class. */
export const ANY_WEIGHT = 3;

export function weightIndex(weight: unknown): number {
  const i = WEIGHTS.indexOf(weight as Weight);
  if (i < 0) throw new ConfigError(`weight must be one of ${WEIGHTS.join(', ')}; got ${String(weight)}`);
  return i;
}

/**
 * Chains per weight (index as in WEIGHTS, then ANY_WEIGHT). `firstCpu[w]` is the lowest CPU worker w is pinned
 * to, or null when unpinned.
 */
export function preferenceChains(firstCpu: ReadonlyArray<number | null>): number[][] {
  const order = firstCpu
    .map((cpu, w) => ({ w, key: cpu ?? Number.MAX_SAFE_INTEGER, cpu }))
    .sort((a, b) => a.key - b.key || a.w - b.w)
    .map((x) => x.w);
  const n = order.length;
  const heavy = order;
  const medium = n >= 2 ? order.slice(1) : order;
  const light = n >= 3 ? order.slice(2) : medium;
  return [heavy, medium, light, order];
}

/**
 * The worker to push to: least occupied in the chain, ties to the earlier entry. `runWords[w]`
 * is the word index of worker w's run record (non-zero while a task runs).
 */
export function route(chain: Int32Array, rings: readonly Ring[], i32: Int32Array, runWords: Int32Array): number {
  let best = chain[0]!;
  if (chain.length === 1) return best;
  let bestSize = rings[best]!.size() + (Atomics.load(i32, runWords[best]!) !== 0 ? 1 : 0);
  for (let i = 1; i < chain.length; i++) {
    const w = chain[i]!;
    const s = rings[w]!.size() + (Atomics.load(i32, runWords[w]!) !== 0 ? 1 : 0);
    if (s < bestSize) { best = w; bestSize = s; }
  }
  return best;
}
