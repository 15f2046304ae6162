/**
 * The token state word: one per token index, in each attachment's token table (layout.ts
 * `tokens`). The only file that builds or tests this word (docs/design.md 2.2).
 *
 *   31                       11 10        3 2     0
 *   +---------------------------+-----------+------+
 *   |        generation         |  worker   | state|
 *   +---------------------------+-----------+------+
 *
 * generation: 21 bits, advanced by the owner each time it frees the index (a stale or duplicate
 * completion carries an older one). worker: 8 bits, the worker slot that claimed the run (0
 * unless RUNNING, DONE or ABANDONED). state: FREE, PENDING, RUNNING, RETRACTED, DONE, ABANDONED.
 *
 * Writers, by transition (every one a single store or a single CAS, below):
 *   owner (the attachment's thread)   FREE -> PENDING           markPending   (submit step 5, retry, warm-up)
 *                                     PENDING -> RETRACTED      retract       (cancel, close)
 *                                     RUNNING|w -> FREE         forceFree     (forced cancel)
 *                                     any -> FREE               free          (complete step 7)
 *   worker w                          PENDING -> RUNNING|w      claimRun      (run step 2, steal)
 *                                     RUNNING|w -> DONE|w       markDone      (complete step 5)
 *   supervisor (attachment 0's thread) RUNNING|w -> ABANDONED|w abandonRunning (deadline, crash, close)
 *                                     ABANDONED|w -> DONE|w     settleAbandoned (its completion written)
 *                                     PENDING -> RETRACTED      retract       (retired ring, close)
 *                                     any -> FREE               free          (under a freeze, or for a dead owner)
 * PENDING -> RUNNING (worker) and PENDING -> RETRACTED (canceller) are CASes on the same
 * expected value: exactly one wins, which is how "never started" and "started" stay apart.
 */
import { loadAcquire, storeRelease } from '../order.js';

export const TK_FREE = 0;
export const TK_PENDING = 1;
export const TK_RUNNING = 2;
export const TK_RETRACTED = 3;
export const TK_DONE = 4;
export const TK_ABANDONED = 5;

export const TK_STATE_MASK = 0x7;
export const TK_WORKER_SHIFT = 3;
/** Largest worker slot the word can name (options.ts bounds `workers` by it). */
export const TK_WORKER_MAX = 0xff;
export const TK_WORKER_MASK = TK_WORKER_MAX << TK_WORKER_SHIFT;
export const TK_GEN_SHIFT = 11;
/** Generations wrap at 21 bits. */
export const TK_GEN_MAX = 0x1fffff;
export const TK_GEN_MASK = TK_GEN_MAX << TK_GEN_SHIFT;

// ---- encode / decode ----

export function tokenWord(gen: number, worker: number, state: number): number {
  return (gen << TK_GEN_SHIFT) | (worker << TK_WORKER_SHIFT) | state;
}
export function genOf(word: number): number { return word >>> TK_GEN_SHIFT; }
export function workerOf(word: number): number { return (word & TK_WORKER_MASK) >>> TK_WORKER_SHIFT; }
export function stateOf(word: number): number { return word & TK_STATE_MASK; }
/** The generation after `gen` (wraps at 21 bits). */
export function nextGen(gen: number): number { return (gen + 1) & TK_GEN_MAX; }

// ---- transitions: each one store or one CAS on word index `w` of `i32` ----

/**
 * FREE -> PENDING(gen). Owner only (submit step 5, a retry's re-push, the warm-up on its private
 * buffer), inside its window, before the cell naming (t, gen) is published: nobody else writes
 * a FREE word of this table, so a plain store suffices, and the worker's claimRun always finds
 * something to win or lose.
 */
export function markPending(i32: Int32Array, w: number, gen: number): void {
  storeRelease(i32, w, (gen << TK_GEN_SHIFT) | TK_PENDING);
}

/**
 * PENDING(gen) -> RUNNING|worker. Worker `worker` only (run step 2, or a steal, 4.2a), before it
 * releases the cell. Races retract on the same expected value: exactly one wins. Losing: the
 * token was retracted, or started already (by a dead predecessor or a thief): skip the cell.
 */
export function claimRun(i32: Int32Array, w: number, gen: number, worker: number): boolean {
  const pending = (gen << TK_GEN_SHIFT) | TK_PENDING;
  return Atomics.compareExchange(i32, w, pending, (gen << TK_GEN_SHIFT) | (worker << TK_WORKER_SHIFT) | TK_RUNNING) === pending;
}

/**
 * PENDING(gen) -> RETRACTED. The owner (cancel 4.5, close), or the supervisor for a token whose
 * cell it takes out of a retired ring or that it resolves at shutdown. Races claimRun: a win
 * means the task never starts, and the winner writes or performs its resolution.
 */
export function retract(i32: Int32Array, w: number, gen: number): boolean {
  const pending = (gen << TK_GEN_SHIFT) | TK_PENDING;
  return Atomics.compareExchange(i32, w, pending, (gen << TK_GEN_SHIFT) | TK_RETRACTED) === pending;
}

/**
 * RUNNING|worker -> DONE|worker. Worker `worker` only (complete step 5), inside its window: a
 * win means it alone publishes the completion; losing means the task was abandoned meanwhile
 * (deadline, forced cancel, close) and its result is dropped.
 */
export function markDone(i32: Int32Array, w: number, gen: number, worker: number): boolean {
  const running = (gen << TK_GEN_SHIFT) | (worker << TK_WORKER_SHIFT) | TK_RUNNING;
  return Atomics.compareExchange(i32, w, running, running - TK_RUNNING + TK_DONE) === running;
}

/**
 * RUNNING|worker -> ABANDONED|worker. Supervisor only (watchdog deadline, crash recovery under
 * a freeze, shutdown's orphans). Races markDone: a win means the worker's result will be
 * dropped and the supervisor writes the 'abandoned' completion.
 */
export function abandonRunning(i32: Int32Array, w: number, gen: number, worker: number): boolean {
  const running = (gen << TK_GEN_SHIFT) | (worker << TK_WORKER_SHIFT) | TK_RUNNING;
  return Atomics.compareExchange(i32, w, running, running - TK_RUNNING + TK_ABANDONED) === running;
}

/**
 * ABANDONED|w (gen) -> DONE|w. Supervisor only, after it wrote the token's 'abandoned'
 * completion: DONE means "a completion exists", so a second recovery writes no other. Losing
 * (the owner freed it meanwhile) changes nothing.
 */
export function settleAbandoned(i32: Int32Array, w: number, gen: number): boolean {
  const word = loadAcquire(i32, w);
  if (word >>> TK_GEN_SHIFT !== gen || (word & TK_STATE_MASK) !== TK_ABANDONED) return false;
  return Atomics.compareExchange(i32, w, word, word - TK_ABANDONED + TK_DONE) === word;
}

/**
 * RUNNING|w (gen) -> FREE, for a forced cancel (4.5). Owner only, inside its window. Returns the
 * worker it took the token from, or -1 if the token is not RUNNING with this generation (a
 * finishing task, DONE already: let it complete) or the CAS lost to markDone/abandonRunning.
 * The load and the CAS are one decision: the CAS expects exactly the word loaded.
 */
export function forceFree(i32: Int32Array, w: number, gen: number): number {
  const running = loadAcquire(i32, w);
  if ((running & ~TK_WORKER_MASK) !== ((gen << TK_GEN_SHIFT) | TK_RUNNING)) return -1;
  if (Atomics.compareExchange(i32, w, running, TK_FREE) !== running) return -1;
  return (running & TK_WORKER_MASK) >>> TK_WORKER_SHIFT;
}

/**
 * any -> FREE. The owner at complete step 7 (inside its window, with its slots released in the
 * same window), or the supervisor for a dead owner's token (under a freeze, or while it drains
 * the dead owner's ring in its place). Nobody else writes a word after its completion is
 * consumed, and a dead owner writes nothing: a store suffices.
 */
export function free(i32: Int32Array, w: number): void {
  storeRelease(i32, w, TK_FREE);
}

// ---- reads ----

/** The state bits of word `w` now. */
export function loadState(i32: Int32Array, w: number): number {
  return loadAcquire(i32, w) & TK_STATE_MASK;
}

/** Whether word `w` is RUNNING|worker with generation `gen` (an async job still counts). */
export function isRunningOn(i32: Int32Array, w: number, gen: number, worker: number): boolean {
  return loadAcquire(i32, w) === ((gen << TK_GEN_SHIFT) | (worker << TK_WORKER_SHIFT) | TK_RUNNING);
}
