/**
 * The dual gate: per-producer (bucket token + in-flight slot) and global (in-flight ceiling).
 *
 * Producer gate word (P_PACKED, one per producer, written only by CAS or by atomic add/sub):
 *
 *   31            16 15             0
 *   +---------------+---------------+
 *   |    tokens     |   in flight   |
 *   +---------------+---------------+
 *     bucket tokens    admitted and not yet resolved
 *
 * Writers: every thread that submits for the producer (CAS: take a token and a slot together)
 * and every thread that resolves one of its tokens (atomic sub 1: give the slot back), plus the
 * refill winner (CAS: add earned tokens, capped at burst).
 *
 * Global word (global block): admitted-and-unresolved count, CAS below the limit to take,
 * atomic sub to give back.
 *
 * Steps (docs/design.md, Submit 2-3): the producer CAS either takes both or changes nothing;
 * the global CAS either takes one or the producer step is rolled back exactly. No counter is
 * ever observable above its limit: both are CAS loops that test before they write.
 */
import { earnedMod32, wrapHorizonMs } from './bucket.js';
import { Memory, P_EARNED, P_LAST_MS, P_PACKED } from '../shm/layout.js';

export const ADMITTED = -1;
export const R_RATE = 0;
export const R_PRODUCER_SLOTS = 1;
export const R_GLOBAL_SLOTS = 2;
export const R_RING_FULL = 3;
export const R_DRAINING = 4;
export const R_CLOSED = 5;

const TOKEN_ONE = 0x10000;
/** More than this far behind the last refill is not clock skew between threads but a wrap. */
const CLOCK_SKEW_MS = 1000;
const INFLIGHT_MASK = 0xffff;

/** Maximum burst and slots: each has 16 bits of the gate word. */
export const GATE_FIELD_MAX = 0xffff;

/** Read-only limits of one producer, cached by every thread that uses it. */
export interface Limits {
  /** Tokens per second; 0 = no rate limit. */
  readonly rate: number;
  readonly burst: number;
  readonly slots: number;
}

export function tokensOf(packed: number): number { return packed >>> 16; }
export function inflightOf(packed: number): number { return packed & INFLIGHT_MASK; }
export function pack(tokens: number, inflight: number): number { return ((tokens << 16) | inflight) | 0; }

/**
 * Bring the producer's bucket up to tick `now`. Exactly one thread adds the tokens earned
 * between two refills: the winner of the P_EARNED CAS.
 */
export function refill(i32: Int32Array, mem: Memory, p: number, limits: Limits, now: number): void {
  const earnedW = mem.producerWord(p, P_EARNED);
  const lastMsW = mem.producerWord(p, P_LAST_MS);
  const e = earnedMod32(now, limits.rate);
  const earned = Atomics.load(i32, earnedW);
  if (e === earned) return;
  const nowMs = Math.floor(now / 1000) | 0;
  let k = (e - earned) | 0;
  // Only when the difference may have wrapped is the bucket simply full (bucket.ts). A small
  // negative idle time is another thread's clock a few microseconds behind: k <= 0 then.
  const idleMs = (nowMs - Atomics.load(i32, lastMsW)) | 0;
  if (idleMs >= wrapHorizonMs(limits.rate) || idleMs < -CLOCK_SKEW_MS) k = limits.burst;
  if (k <= 0) return; // another thread's clock ran a few microseconds ahead and refilled already
  if (Atomics.compareExchange(i32, earnedW, earned, e) !== earned) return; // someone else adds them
  Atomics.store(i32, lastMsW, nowMs);
  const w = mem.producerWord(p, P_PACKED);
  for (;;) {
    const old = Atomics.load(i32, w);
    const tokens = Math.min(limits.burst, tokensOf(old) + k);
    if (Atomics.compareExchange(i32, w, old, pack(tokens, inflightOf(old))) === old) return;
  }
}

/** Submit step 2: take a token and an in-flight slot together, or change nothing. */
export function admitProducer(i32: Int32Array, word: number, limits: Limits): number {
  const take = limits.rate > 0 ? TOKEN_ONE - 1 : -1; // subtracting this takes one token (if rated) and adds one in flight
  for (;;) {
    const old = Atomics.load(i32, word);
    if (limits.rate > 0 && old >>> 16 === 0) return R_RATE;
    if ((old & INFLIGHT_MASK) >= limits.slots) return R_PRODUCER_SLOTS;
    if (Atomics.compareExchange(i32, word, old, (old - take) | 0) === old) return ADMITTED;
  }
}

/** Undo admitProducer exactly: the slot back, and the token back unless the bucket refilled to burst meanwhile. */
export function rollbackProducer(i32: Int32Array, word: number, limits: Limits): void {
  for (;;) {
    const old = Atomics.load(i32, word);
    const tokens = limits.rate > 0 ? Math.min(limits.burst, tokensOf(old) + 1) : 0;
    if (Atomics.compareExchange(i32, word, old, pack(tokens, inflightOf(old) - 1)) === old) return;
  }
}

/** Submit step 3: take one global slot below the ceiling, or change nothing. */
export function admitGlobal(i32: Int32Array, word: number, limit: number): boolean {
  for (;;) {
    const g = Atomics.load(i32, word);
    if (g >= limit) return false;
    if (Atomics.compareExchange(i32, word, g, g + 1) === g) return true;
  }
}

/**
 * Complete: give back what submit took, in the mirror order of steps 2-3: global first, then
 * the producer. The other order would let this producer be re-admitted (its slot free) while its
 * old global slot still counts, and a third producer could then be refused 'global-slots' even
 * though the producers' slots partition the global ceiling (invariant 6).
 */
export function releaseSlots(i32: Int32Array, producerWord: number, globalWord: number): void {
  Atomics.sub(i32, globalWord, 1);
  Atomics.sub(i32, producerWord, 1);
}
