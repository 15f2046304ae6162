/**
 * Complete step 7's books (docs/design.md §4.3 step 7): a resolved index's token word goes FREE
 * and its two slots go back, inside the thread's window (§4.10), so a freeze sees both or
 * neither. Owner: the attachment's thread.
 *
 * While a drain chunk is open (`deferring`), slots are counted here and given back in bulk by
 * flush() before the chunk's window closes: the I/O classes' first, then the global count, then
 * each producer's (the mirror order of §4.1 steps 2, 3 and 3a).
 */
import { IO_SLOTS, P_PACKED, type Memory } from '../../shm/layout.js';
import { releaseIo } from '../../admission/io-class.js';
import type { ThreadWindow } from '../../shm/window.js';
import { free } from '../../shm/words/token.js';
import { releaseSlots } from '../../admission/gate.js';
import { S_RESOLVED } from '../../admission/reasons.js';

export class SlotReturn {
  /** Inside a drain chunk: releases are counted, not yet given back. */
  deferring = false;
  /**
   * Benchmark-only (ungateForBenchmark, the "gates off" row): 1 = producer p's submits skipped
   * §4.1 steps 2-3, so its completions give back no slots. Never set in production.
   */
  readonly ungated: Uint8Array;
  private readonly released: Int32Array;
  private readonly producers: Int32Array;
  private count = 0;
  private total = 0;
  private readonly i32: Int32Array;
  /**
   * This thread's guesses of the I/O class counts (admission/io-class.ts admitIo), by class slot:
   * hints for the class gate's CAS, local to the thread (never trusted, so never shared).
   */
  readonly ioGuess = new Int32Array(IO_SLOTS);
  /** Inside a drain chunk: class slots released per class slot + 1 (index 0 unused), and whether any. */
  private readonly ioReleased = new Int32Array(IO_SLOTS + 1);
  private ioAny = false;

  constructor(
    private readonly mem: Memory,
    private readonly index: number,
    private readonly window: ThreadWindow,
    /** This thread's guesses of the gate words (gate.ts): only ever a CAS's expected value. */
    private readonly guess: Int32Array,
    private readonly globalGuess: number,
  ) {
    this.i32 = mem.i32;
    const P = mem.layout.maxProducers;
    this.ungated = new Uint8Array(P);
    this.released = new Int32Array(P);
    this.producers = new Int32Array(P);
  }

  /** The token word FREE, its slots released (or counted), the outcome counted: one window. */
  release(t: number, producer: number, outcome: number): void {
    const i32 = this.i32;
    this.window.enter();
    free(i32, this.mem.tokenWord(this.index, t));
    // §4.1 step 3a's slot first (the mirror order): the token's class, as its submit wrote it (plain: this thread wrote it).
    const io = i32[this.mem.tokenIoWord(this.index, t)]!;
    if (io !== 0) {
      if (this.deferring) {
        this.ioReleased[io]!++;
        this.ioAny = true;
      } else {
        releaseIo(this.mem, io - 1, 1, this.ioGuess);
      }
    }
    if (this.ungated[producer] !== 0) {
      // gates off (benchmark): nothing was taken
    } else if (this.deferring) {
      if (this.released[producer]++ === 0) this.producers[this.count++] = producer;
      this.total++;
    } else {
      releaseSlots(i32, this.mem.producerWord(producer, P_PACKED), this.mem.globalWord, this.guess, producer, this.globalGuess);
    }
    i32[this.mem.statWord(this.index, producer, S_RESOLVED + outcome)]!++;
    this.window.leave();
  }

  /** Give back what was counted while deferring: the classes, then global, then each producer. In the chunk's window. */
  flush(): void {
    if (this.ioAny) {
      this.ioAny = false;
      for (let k = 1; k <= IO_SLOTS; k++) {
        const n = this.ioReleased[k]!;
        if (n === 0) continue;
        this.ioReleased[k] = 0;
        releaseIo(this.mem, k - 1, n, this.ioGuess);
      }
    }
    const total = this.total;
    if (total === 0) return;
    const i32 = this.i32;
    const guess = this.guess;
    guess[this.globalGuess] = Atomics.sub(i32, this.mem.globalWord, total) - total;
    for (let k = 0; k < this.count; k++) {
      const p = this.producers[k]!;
      const c = this.released[p]!;
      guess[p] = Atomics.sub(i32, this.mem.producerWord(p, P_PACKED), c) - c;
      this.released[p] = 0;
    }
    this.count = 0;
    this.total = 0;
  }
}
