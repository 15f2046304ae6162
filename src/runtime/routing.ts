/**
 * Weight classes -> preference chains -> worker choice.
 *
 * A chain is the set of workers a weight may use, ordered by the core each worker is pinned to
 * (unpinned workers by index). Within the chain:
 *   1. the least-occupied worker. Occupancy = cells queued in its ring + 1 if it is running a
 *      task right now (its run record). Counting the running task matters: a worker that just
 *      popped a long task has an empty ring but is not free;
 *   2. ties, when the runtime's spin budget is 0 (and the native addon is loaded): the worker
 *      pinned to the CPU the submitting thread runs on. With spin 0 the submitter parks right
 *      after submitting and the worker was parked too, so the wake is a context switch on this
 *      CPU, which the worker gets as soon as the submitter parks, instead of an interrupt to an
 *      idle CPU (a parked round trip of ~17 instead of ~85 µs on this project's VM, ~12 with
 *      the native futex: docs/performance.md). With a spin budget the submitter keeps polling and would compete
 *      with the worker it woke, so the rule is off;
 *   3. ties otherwise: the earlier worker in the chain.
 *
 * A worker slot still starting (its thread has not reported ready: the runtime's start resolves
 * on its first ready worker, §4.7; a replacement after a death, §4.8 step 6) loses ties: rule 1
 * compares 2 × occupancy + (1 if starting), so among the least occupied a ready worker goes
 * first, and a starting one still beats a busier ready one (a worker running a long task is no
 * better a bet than one ready in a few tens of ms). Rules 2 and 3 break what is left.
 *
 *   heavy   every worker; ties go to the first core
 *   medium  every worker but the first core's (all of them when there is only one)
 *   light   every worker but the first two cores' (falls back to medium's set below 3 workers)
 *   (none)  every worker, like heavy: a task without a weight class is not steered
 *
 * Routing is advisory: it reads occupancy with plain (non-atomic) loads, because a stale value
 * only makes a worse choice, never a wrong one (the ring claim's CAS decides whether the cell is
 * ours; a full ring is refused as 'ring-full'). Its inputs are the occupancy it read and, with
 * rule 2, the submitter's CPU: the decision is a pure function of those.
 */
import { ConfigError, describe } from '../errors.js';
import { slotStarting } from '../shm/layout.js';

export const WEIGHTS = ['heavy', 'medium', 'light'] as const;
export type Weight = (typeof WEIGHTS)[number];

/** Chain index for tasks without a weight class. */
export const ANY_WEIGHT = 3;

export function weightIndex(weight: unknown): number {
  const i = WEIGHTS.indexOf(weight as Weight);
  if (i < 0) throw new ConfigError(`weight must be one of ${WEIGHTS.join(', ')}; got ${describe(weight)}`);
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
 * What worker w may take from a sibling's ring (docs/design.md 4.2a): bit i is set when w is in
 * chains[i], so stealing never moves a task outside its weight class's chain.
 */
export function stealMask(chains: readonly (readonly number[])[], w: number): number {
  let m = 0;
  for (let i = 0; i < chains.length; i++) if (chains[i]!.includes(w)) m |= 1 << i;
  return m;
}

/**
 * The words one thread's routing reads, by worker index (word indices into `i32`), and how it
 * learns its own CPU. One per attachment.
 */
export interface RouteView {
  readonly i32: Int32Array;
  /** Submission ring tail and head words. */
  readonly tailW: Int32Array;
  readonly headW: Int32Array;
  /** Run record token word: non-zero while the worker runs a task. */
  readonly runW: Int32Array;
  /** CPU mask word (one bit set when pinned to one CPU of 0..31; 0 when unknown). */
  readonly cpuMaskW: Int32Array;
  /** The word whose bit w says slot w is starting (layout H_STARTING); a word that stays 0 in a copy. */
  readonly startingW: number;
  /** The CPU the calling thread runs on, or -1 when rule 2 is off (a spin budget, no addon). */
  readonly currentCpu: () => number;
}

/** The worker to push to (the rules above): three plain loads per worker and one for all, a getcpu at spin 0. */
export function route(chain: Int32Array, v: RouteView): number {
  const i32 = v.i32;
  let best = chain[0]!;
  const n = chain.length;
  if (n === 1) return best;
  const starting = i32[v.startingW]!;
  let least = rank(i32, v, best, starting);
  for (let i = 1; i < n; i++) {
    const w = chain[i]!;
    const o = rank(i32, v, w, starting);
    if (o < least) { best = w; least = o; }
  }
  const cpu = v.currentCpu();
  if (cpu < 0 || cpu >= 32) return best;
  const bit = 1 << cpu;
  if (i32[v.cpuMaskW[best]!] === bit) return best;
  for (let i = 0; i < n; i++) {
    const w = chain[i]!;
    if (i32[v.cpuMaskW[w]!] === bit && rank(i32, v, w, starting) === least) return w;
  }
  return best;
}

/** Cells queued, + 1 while running a task. */
function occupancy(i32: Int32Array, v: RouteView, w: number): number {
  return ((i32[v.tailW[w]!]! - i32[v.headW[w]!]!) | 0) + (i32[v.runW[w]!] !== 0 ? 1 : 0);
}

/** Rule 1's key: 2 × occupancy, + 1 while the slot is starting (it loses ties). */
function rank(i32: Int32Array, v: RouteView, w: number, starting: number): number {
  return 2 * occupancy(i32, v, w) + (slotStarting(starting, w) ? 1 : 0);
}

/**
 * What a recording keeps as a starting slot's occupancy: over 254, so its ROUTE is recorded as an
 * input (records.ts packRoute's ROUTE_INPUT_CUT): the copy replay routes on has no starting word.
 */
export const STARTING_MARK = 0x10000;

/**
 * §4.15 step 6: what a recording routes on. The router reads live words that workers and other
 * submitters move meanwhile; a recording must carry exactly what the decision read, so that
 * replay re-makes it from the record with the same route(). A recording's router therefore reads
 * each word it needs once (plain loads, as route() makes), keeps what it read (the occupancies by
 * worker, the CPU, the chain's CPU masks when rule 2 is on), and decides on those values with
 * route()'s rules: the choice is the function route() computes of the same inputs (replay runs
 * route() on a copy `set` from the record; test/trace/runtime-replay.test.ts compares the two).
 * One pass over the chain: the seam reads the occupancies, the chosen index and the plain pick
 * (rule 1 alone) from here instead of walking the chain again.
 */
export class RouteSnapshot implements RouteView {
  readonly i32: Int32Array;
  readonly tailW: Int32Array;
  readonly headW: Int32Array;
  readonly runW: Int32Array;
  readonly cpuMaskW: Int32Array;
  /** A word of the copy that stays 0 (replay routes on recorded occupancies; a starting slot's carry STARTING_MARK). */
  readonly startingW: number;
  /** The CPU the last route() read (-1: rule 2 off). */
  cpu = -1;
  /** The chain the last route() walked, and its weight class (the chain's index, ANY_WEIGHT for none). */
  chain: Int32Array = new Int32Array(0);
  chainClass = ANY_WEIGHT;
  /** The last route(): the chain index it chose, and the worker rule 1 alone picks (the first least occupied). */
  chosen = 0;
  plain = 0;
  /**
   * The last route()'s occupancies packed 8 bits each, chain[0] lowest, when the chain has at
   * most 3 workers and each is in 0..254 (what a folded record carries, trace/records.ts
   * foldRoute); -1 otherwise.
   */
  packed = -1;
  readonly currentCpu = (): number => this.cpu;
  /** The last route()'s rule-1 keys by worker (rank()), read once each. */
  private readonly ranks: Int32Array;

  constructor(readonly workers: number) {
    this.i32 = new Int32Array(4 * workers + 1);
    const at = (k: number): Int32Array => Int32Array.from({ length: workers }, (_, w) => k * workers + w);
    this.tailW = at(0);
    this.headW = at(1);
    this.runW = at(2);
    this.cpuMaskW = at(3);
    this.startingW = 4 * workers;
    this.ranks = new Int32Array(workers);
  }

  /**
   * Route on `src`'s live words, reading each once, and keep what was read: the chain's
   * occupancies (by worker, in the copy's first W words: occupancy() reads them), its CPU masks
   * when rule 2 applies, the CPU. Other workers' words are left as they were: nothing reads them.
   */
  route(chain: Int32Array, chainClass: number, src: RouteView): number {
    const s = src.i32;
    const d = this.i32;
    const W = this.workers;
    const n = chain.length;
    let best = chain[0]!;
    let bestI = 0;
    let least = 0;
    let packed = n >= 1 && n <= 3 ? 0 : -1; // foldRoute's chain lengths
    const starting = s[src.startingW]!;
    const ranks = this.ranks;
    for (let i = 0; i < n; i++) {
      const w = chain[i]!;
      const occ = occupancy(s, src, w);
      const st = slotStarting(starting, w);
      const r = 2 * occ + (st ? 1 : 0);
      ranks[w] = r;
      // The copy's tail word (its head and run words stay 0, so occupancy() of it is this): the
      // occupancy, + STARTING_MARK for a starting slot (the record is then cut, an input).
      const o = st ? occ + STARTING_MARK : occ;
      d[w] = o;
      if (i === 0 || r < least) { best = w; bestI = i; least = r; }
      if (packed >= 0) packed = o >= 0 && o <= 254 ? packed | (o << (8 * i)) : -1;
    }
    this.packed = packed;
    this.plain = best;
    this.chain = chain;
    this.chainClass = chainClass;
    const cpu = (this.cpu = src.currentCpu());
    // route()'s rule 2 on the values read: ties go to the worker pinned to this CPU.
    if (n > 1 && cpu >= 0 && cpu < 32) {
      const bit = 1 << cpu;
      for (let i = 0; i < n; i++) { const w = chain[i]!; d[3 * W + w] = s[src.cpuMaskW[w]!]!; }
      if (d[3 * W + best] !== bit) {
        for (let i = 0; i < n; i++) {
          const w = chain[i]!;
          if (d[3 * W + w] === bit && ranks[w] === least) { best = w; bestI = i; break; }
        }
      }
    }
    this.chosen = bestI;
    return best;
  }

  /** Occupancy of worker w as the last route() read it (replay: as `set`). */
  occupancy(w: number): number { return occupancy(this.i32, this, w); }

  /** Set the copy from recorded occupancies and CPU masks (replay). */
  set(occupancies: ArrayLike<number>, cpuMasks: ArrayLike<number>, cpu: number): void {
    const W = this.workers;
    this.i32.fill(0);
    for (let w = 0; w < W; w++) {
      this.i32[w] = occupancies[w] ?? 0;
      this.i32[3 * W + w] = cpuMasks[w] ?? 0;
    }
    this.cpu = cpu;
  }
}
