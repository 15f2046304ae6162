/**
 * The I/O class gate (docs/design.md §4.1 step 3a, §2.4): one in-flight count per class in
 * shared memory (layout.ts io region; its words: shm/words/io.ts). A task whose TaskRef has a
 * class is admitted only while the class's count is below its limit; a task without one never
 * touches these words (its submit reads one TaskRef field and stores 0 in its token's class word).
 *
 * Order (§4.1): producer gate (step 2), global gate (step 3), class gate (step 3a), ring (step 4).
 * A refusal here rolls back steps 3 and 2 exactly; a refusal by the ring rolls back 3a, 3, 2.
 * Release is the mirror order (§4.3 step 7): class first, then global, then the producer. No
 * class count is ever observable above its limit: the CAS tests before it writes.
 */
import { IO_CLASS, IO_COUNT, IO_NAMED, IO_SLOTS, type Memory } from '../shm/layout.js';
import { TK_FREE } from '../shm/words/token.js';
import { classWord, limitOf } from '../shm/words/io.js';

import { DEFAULT_IO_LIMITS, IO_CLASS_NAMES, type IoClassName } from './io-names.js';

export { DEFAULT_IO_LIMITS, IO_CLASS_NAMES, type IoClassName };
if (IO_CLASS_NAMES.length !== IO_NAMED) throw new Error('sluice: layout.ts IO_NAMED is not the number of named I/O classes');

/**
 * §4.1 step 3a. Take one slot of the class whose count is at `word`, below `limit`, or change
 * nothing. One CAS when `guess[gi]` is right (this thread's last view of the word, a hint only:
 * a refusal is re-checked against a real load, as the other gates do, §4.11 step 1).
 */
export function admitIo(i32: Int32Array, word: number, limit: number, guess: Int32Array, gi: number): boolean {
  let g = guess[gi]!;
  for (;;) {
    if (g >= limit) {
      const seen = Atomics.load(i32, word);
      if (seen === g) return false;
      g = seen;
      continue;
    }
    const next = (g + 1) | 0;
    const seen = Atomics.compareExchange(i32, word, g, next);
    if (seen === g) {
      guess[gi] = next;
      return true;
    }
    g = seen;
  }
}

/** Give `n` slots of class slot `k` back (a resolve, a rollback, a drain chunk's bulk release). */
export function releaseIo(mem: Memory, k: number, n: number, guess: Int32Array | null): void {
  const v = Atomics.sub(mem.i32, mem.ioWord(k, IO_COUNT), n) - n;
  if (guess !== null) guess[k] = v;
}

/**
 * Written once by the starting thread before any other thread exists: the named classes' class
 * words (key 0, their limits) and zero counts. Custom slots stay 0 (unclaimed).
 */
export function initIoClasses(mem: Memory, limits: Readonly<Record<IoClassName, number>>): void {
  for (let k = 0; k < IO_NAMED; k++) {
    Atomics.store(mem.i32, mem.ioWord(k, IO_CLASS), classWord(0, limits[IO_CLASS_NAMES[k]!]));
    Atomics.store(mem.i32, mem.ioWord(k, IO_COUNT), 0);
  }
}

/** The limit of class slot k (0: an unclaimed custom slot). */
export function ioLimit(mem: Memory, k: number): number {
  return limitOf(Atomics.load(mem.i32, mem.ioWord(k, IO_CLASS)));
}

/**
 * §4.10 step 4, for the class counts: under a freeze (no live thread inside a window), a token
 * word that is not FREE holds exactly one slot of the class its class word names, so each
 * class's count := the number of such tokens. Called by the supervisor only.
 */
export function recountIo(mem: Memory): void {
  const i32 = mem.i32;
  const L = mem.layout;
  const counts = new Int32Array(IO_SLOTS + 1);
  for (let a = 0; a < L.maxAttachments; a++) {
    for (let t = 0; t < L.tokenCapacity; t++) {
      if (Atomics.load(i32, mem.tokenWord(a, t)) === TK_FREE) continue;
      const c = i32[mem.tokenIoWord(a, t)]!;
      if (c > 0 && c <= IO_SLOTS) counts[c]!++;
    }
  }
  for (let k = 0; k < IO_SLOTS; k++) Atomics.store(i32, mem.ioWord(k, IO_COUNT), counts[k + 1]!);
}
