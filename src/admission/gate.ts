/**
 * The dual gate: per-producer (bucket token + in-flight slot) and global (in-flight ceiling).
 *
 * Producer gate word (P_PACKED): tokens | in flight; its bit diagram, its writers and its
 * encode/decode live in shm/words/gate.ts. This file is its protocol.
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
import type { TickSource } from './tick.js';
import { GATE_INFLIGHT_MASK, GATE_TOKEN_ONE, inflightOf, pack, tokensOf } from '../shm/words/gate.js';
import { logCas, logLoad, logStore, logSub } from './read-log.js';
export { GATE_FIELD_MAX, inflightOf, pack, tokensOf } from '../shm/words/gate.js';
import { FAST_ADMITTED, FAST_PRODUCER_TAKEN, type WasmDecide } from './wasm-gate.js';

export { ADMITTED, R_ARENA_FULL, R_CLOSED, R_DRAINING, R_GLOBAL_SLOTS, R_NO_WORKERS, R_PRODUCER_SLOTS, R_RATE, R_RING_FULL } from './reasons.js';
import { ADMITTED, R_GLOBAL_SLOTS, R_PRODUCER_SLOTS, R_RATE } from './reasons.js';

const TOKEN_ONE = GATE_TOKEN_ONE;
/** More than this far behind the last refill is not clock skew between threads but a wrap. */
const CLOCK_SKEW_MS = 1000;
const INFLIGHT_MASK = GATE_INFLIGHT_MASK;


/** Read-only limits of one producer, cached by every thread that uses it. */
export interface Limits {
  /** Tokens per second; 0 = no rate limit. */
  readonly rate: number;
  readonly burst: number;
  readonly slots: number;
}


/**
 * §4.11 step 1. Guesses. Every gate word is read by the CAS that writes it: the expected value is this
 * thread's guess of the word (the value it last wrote or saw there, kept in its attachment's
 * guess table, layout.ts), and a failed CAS returns the real value to retry with. A thread that is the only
 * writer of a word, the common case, therefore decides with one atomic instruction per gate
 * instead of a load and a CAS. A guess is only ever an expected value: nothing is decided on it
 * except a CAS that succeeded, and a refusal is always re-checked against a real load.
 */

/** The guesses of callers that keep none: any guess is correct, a good one is only faster. */
const NO_GUESS = new Int32Array(2);

/**
 * Bring the producer's bucket up to tick `now`. Exactly one thread adds the tokens earned
 * between two refills: the winner of the P_EARNED CAS.
 */
export function refill(
  i32: Int32Array, mem: Memory, p: number, limits: Limits, now: number, guess: Int32Array = NO_GUESS, gi = 0,
): void {
  const earnedW = mem.producerWord(p, P_EARNED);
  const lastMsW = mem.producerWord(p, P_LAST_MS);
  const e = earnedMod32(now, limits.rate);
  const earned = logLoad(i32, earnedW);
  if (e === earned) return;
  const nowMs = Math.floor(now / 1000) | 0;
  let k = (e - earned) | 0;
  // Only when the difference may have wrapped is the bucket simply full (bucket.ts). A small
  // negative idle time is another thread's clock a few microseconds behind: k <= 0 then.
  const idleMs = (nowMs - logLoad(i32, lastMsW)) | 0;
  if (idleMs >= wrapHorizonMs(limits.rate) || idleMs < -CLOCK_SKEW_MS) k = limits.burst;
  if (k <= 0) return; // another thread's clock ran a few microseconds ahead and refilled already
  if (logCas(i32, earnedW, earned, e) !== earned) return; // someone else adds them
  logStore(i32, lastMsW, nowMs);
  const burst = limits.burst;
  casUntil(i32, mem.producerWord(p, P_PACKED), guess, gi, (old) => pack(Math.min(burst, tokensOf(old) + k), inflightOf(old)));
}

/**
 * CAS `word` from old to next(old), starting from the guess and retrying with what a failed
 * CAS saw, until it sticks; the guess then holds what was written. For the unconditional
 * updates (a refill, a rollback), which run once per tick or on a refusal: the closure is fine there.
 */
function casUntil(i32: Int32Array, word: number, guess: Int32Array, gi: number, next: (old: number) => number): void {
  let old = guess[gi]!;
  for (;;) {
    const value = next(old);
    const seen = logCas(i32, word, old, value);
    if (seen === old) {
      guess[gi] = value;
      return;
    }
    old = seen;
  }
}

/** Submit step 2: take a token and an in-flight slot together, or change nothing. */
export function admitProducer(i32: Int32Array, word: number, limits: Limits, guess: Int32Array = NO_GUESS, gi = 0): number {
  const rated = limits.rate > 0;
  const take = rated ? TOKEN_ONE - 1 : -1; // subtracting this takes one token (if rated) and adds one in flight
  let old = guess[gi]!;
  for (;;) {
    const refusal = rated && tokensOf(old) === 0 ? R_RATE : (old & INFLIGHT_MASK) >= limits.slots ? R_PRODUCER_SLOTS : ADMITTED;
    if (refusal !== ADMITTED) {
      const seen = logLoad(i32, word);
      if (seen === old) return refusal;
      old = seen;
      continue;
    }
    const next = (old - take) | 0;
    const seen = logCas(i32, word, old, next);
    if (seen === old) {
      guess[gi] = next;
      return ADMITTED;
    }
    old = seen;
  }
}

/**
 * Step 2 for one producer, as one thread sees it: bring the bucket up to the admission tick (at
 * most once per tick), then take a token and a slot. A refusal for rate decided at a reused
 * tick is decided again at a fresh one (tick.ts), so reusing a reading never refuses a submit
 * the clock would admit.
 */
export class ProducerGate {
  readonly word: number;
  /** The TickSource generation this handle last refilled at (-1: never). */
  private refilledGen = -1;

  /** Byte addresses for the WebAssembly fast path: this producer's word and this thread's guess of it. */
  private readonly wordByte: number;
  private readonly guessByte: number;

  constructor(
    private readonly i32: Int32Array, private readonly mem: Memory, readonly p: number, readonly limits: Limits,
    private readonly guess: Int32Array, private readonly ticks: TickSource, private readonly fast: WasmDecide | null = null,
  ) {
    this.word = mem.producerWord(p, P_PACKED);
    this.wordByte = this.word << 2;
    this.guessByte = guess.byteOffset;
    if (fast !== null && guess.buffer !== mem.sab) throw new TypeError('ProducerGate: the WebAssembly path needs the guesses in the runtime memory');
  }

  /**
   * Steps 2 and 3 together (no test pause between them): the bucket brought to the admission
   * tick, then the common case — both guesses right, room in both gates — as one WebAssembly
   * call when there is one (wasm-gate.ts); anything else, or no WebAssembly, the general
   * steps. Returns ADMITTED, or the refusal with nothing taken.
   */
  admitWithGlobal(globalW: number, globalLimit: number, gg: number): number {
    // The common case, an unrated producer with WebAssembly, in a body small enough for the
    // caller's optimized code to inline it (docs/performance.md, eighth session: inlining);
    // everything else out of line.
    const fast = this.fast;
    if (fast === null || this.limits.rate !== 0) return this.admitOther(globalW, globalLimit, gg);
    const code = fast(this.wordByte, globalW << 2, this.guessByte + (this.p << 2), this.guessByte + (gg << 2), -1, this.limits.slots, 0, globalLimit);
    return code === FAST_ADMITTED ? ADMITTED : this.afterFast(code, globalW, globalLimit, gg);
  }

  /** admitWithGlobal for a rated producer, or without WebAssembly. */
  private admitOther(globalW: number, globalLimit: number, gg: number): number {
    const fast = this.fast;
    if (fast === null) {
      const r = this.admit();
      return r === ADMITTED ? this.globalStep(globalW, globalLimit, gg) : r;
    }
    const limits = this.limits;
    this.toTick();
    const code = fast(this.wordByte, globalW << 2, this.guessByte + (this.p << 2), this.guessByte + (gg << 2), TOKEN_ONE - 1, limits.slots, 1, globalLimit);
    return code === FAST_ADMITTED ? ADMITTED : this.afterFast(code, globalW, globalLimit, gg);
  }

  /** The fast path did not admit: its producer step taken (then the global step), or the general steps. */
  private afterFast(code: number, globalW: number, globalLimit: number, gg: number): number {
    if (code === FAST_PRODUCER_TAKEN) return this.globalStep(globalW, globalLimit, gg);
    const r = this.admitAtTick();
    return r === ADMITTED ? this.globalStep(globalW, globalLimit, gg) : r;
  }

  /** Step 3 once step 2 is taken: a global slot, or step 2 undone and 'global-slots'. */
  private globalStep(globalW: number, globalLimit: number, gg: number): number {
    if (admitGlobal(this.i32, globalW, globalLimit, this.guess, gg)) return ADMITTED;
    this.rollback();
    return R_GLOBAL_SLOTS;
  }

  /** Step 2 alone (Producer.admit with test hooks pauses between steps 2 and 3). */
  admit(): number {
    if (this.limits.rate !== 0) this.toTick();
    return this.admitAtTick();
  }

  /** A rated producer's bucket at this decision's admission tick (refilled at most once per reading). */
  private toTick(): void {
    const ticks = this.ticks;
    ticks.advance();
    if (ticks.gen !== this.refilledGen) this.refill();
  }

  /** Step 2 with the bucket at the current tick: a rate refusal at a reused tick is decided again at a fresh one. */
  private admitAtTick(): number {
    const limits = this.limits;
    const ticks = this.ticks;
    const r = admitProducer(this.i32, this.word, limits, this.guess, this.p);
    if (r !== R_RATE || !ticks.reused) return r;
    ticks.fresh();
    this.refill();
    return admitProducer(this.i32, this.word, limits, this.guess, this.p);
  }

  rollback(): void {
    rollbackProducer(this.i32, this.word, this.limits, this.guess, this.p);
  }

  /**
   * Bring the bucket up to a fresh clock reading without admitting anything (the producer's
   * 'clear' timer, producer.ts). Moves the gate word: call inside the thread's window (§4.10).
   */
  refillNow(): void {
    this.ticks.fresh();
    this.refill();
  }

  /** The admission tick of this handle's last decision (a 'rate' refusal is always at a fresh one). */
  get tick(): number { return this.ticks.value; }

  /** Bring the bucket up to the tick source's current reading. */
  private refill(): void {
    refill(this.i32, this.mem, this.p, this.limits, this.ticks.value, this.guess, this.p);
    this.refilledGen = this.ticks.gen;
  }
}

/** Undo admitProducer exactly: the slot back, and the token back unless the bucket refilled to burst meanwhile. */
export function rollbackProducer(i32: Int32Array, word: number, limits: Limits, guess: Int32Array = NO_GUESS, gi = 0): void {
  const rated = limits.rate > 0;
  const burst = limits.burst;
  casUntil(i32, word, guess, gi, (old) => pack(rated ? Math.min(burst, tokensOf(old) + 1) : 0, inflightOf(old) - 1));
}

/** Submit step 3: take one global slot below the ceiling, or change nothing. */
export function admitGlobal(i32: Int32Array, word: number, limit: number, guess: Int32Array = NO_GUESS, gi = 0): boolean {
  let g = guess[gi]!;
  for (;;) {
    if (g >= limit) {
      const seen = logLoad(i32, word);
      if (seen === g) return false;
      g = seen;
      continue;
    }
    const next = (g + 1) | 0; // an int32 operand keeps the CAS on its fast path
    const seen = logCas(i32, word, g, next);
    if (seen === g) {
      guess[gi] = next;
      return true;
    }
    g = seen;
  }
}

/**
 * Complete: give back what submit took, in the mirror order of steps 2-3: global first, then
 * the producer. The other order would let this producer be re-admitted (its slot free) while its
 * old global slot still counts, and a third producer could then be refused 'global-slots' even
 * though the producers' slots partition the global ceiling (invariant 6).
 */
export function releaseSlots(
  i32: Int32Array, producerWord: number, globalWord: number, guess: Int32Array = NO_GUESS, pi = 0, gi = 1,
): void {
  guess[gi] = logSub(i32, globalWord, 1) - 1;
  guess[pi] = logSub(i32, producerWord, 1) - 1;
}

/**
 * A producer's gate words at registration (design §2.1): the bucket full (`burst` tokens), no
 * slot in flight, its refill function anchored at tick `now`. Written by the registering thread
 * before it publishes the entry (registry.ts), and by replay and its tests on a fresh memory.
 */
export function initProducerGate(mem: Memory, p: number, limits: Limits, now: number): void {
  const i32 = mem.i32;
  i32[mem.producerWord(p, P_EARNED)] = limits.rate > 0 ? earnedMod32(now, limits.rate) : 0;
  i32[mem.producerWord(p, P_LAST_MS)] = Math.floor(now / 1000) | 0;
  Atomics.store(i32, mem.producerWord(p, P_PACKED), pack(limits.burst, 0));
}

