/**
 * Nested tasks, the worker's side (docs/design.md §4.14): what a running task needs to submit
 * tasks of its own through `sluice/task` (src/task.ts), and what the loop needs back.
 *
 * main.ts publishes one NestContext per worker thread on `globalThis[NEST]` before it loads the
 * task module; src/task.ts finds it there (so a task module that resolves `sluice/task` to
 * another copy of sluice still meets this worker's context) and, on its first import, sets
 * `als`. Until then the loop calls tasks directly (one load and a branch per task: nothing else
 * changes for a module that never nests); from then on it enters `als` around every task call
 * with the task's key, so the running task is known across its awaits (§4.14 step 2).
 *
 * Owner: the worker thread alone; nothing here is shared memory.
 */
import type { AsyncLocalStorage } from 'node:async_hooks';
import type { RuntimeHandle } from '../runtime.js';
import type { Memory } from '../../shm/layout.js';

/** The globalThis slot of this thread's NestContext (a registered symbol: any copy of sluice finds it). */
export const NEST = Symbol.for('sluice.nest.v1');

/** Generations are 21 bits (src/shm/words/token.ts): a key is (att << 16 | index) * 2^21 + gen, exact below 2^53. */
export const GEN_SPAN = 2 ** 21;

/** A running task's key: its token's attachment, index and generation in one number. */
export function taskKey(att: number, t: number, gen: number): number {
  return ((att << 16) | t) * GEN_SPAN + gen;
}

/** What the loop does when a parent's outstanding children go 0 -> 1 (waiting) or 1 -> 0 (AsyncJobs, §4.14 step 5). */
export interface ParentPlaces {
  parentWaiting(key: number, waiting: boolean): void;
}

export class NestContext {
  /** Entered around each task call once src/task.ts was imported; null before (the loop's fast path). */
  als: AsyncLocalStorage<number> | null = null;
  /** Set by the loop (the real one, not the warm-up's). */
  places: ParentPlaces | null = null;
  /** Children outstanding per running parent on this worker (by key). */
  private readonly children = new Map<number, number>();

  constructor(
    /** This worker's slot. */ readonly worker: number,
    /** What Runtime.attach needs: built from workerData (the digest's names are the module's own). */ readonly handle: RuntimeHandle,
    /** The runtime's memory: the run record (W_RUN_*), token words and tokenMeta (src/task.ts reads them). */ readonly mem: Memory,
  ) {}

  /** Whether the running task `key` has children outstanding (AsyncJobs.start: it then takes no place). */
  waiting(key: number): boolean {
    return this.children.has(key);
  }

  /** §4.14 step 5: a child of `key` was admitted. */
  childAdmitted(key: number): void {
    const n = this.children.get(key) ?? 0;
    this.children.set(key, n + 1);
    if (n === 0 && this.places !== null) this.places.parentWaiting(key, true);
  }

  /** §4.14 step 5: a child of `key` resolved. */
  childResolved(key: number): void {
    const n = this.children.get(key);
    if (n === undefined) return;
    if (n > 1) {
      this.children.set(key, n - 1);
      return;
    }
    this.children.delete(key);
    if (this.places !== null) this.places.parentWaiting(key, false);
  }
}
