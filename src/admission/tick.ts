/**
 * The admission tick: the clock reading a rate-limited decision is made at (§4.11 step 2).
 *
 * Reading the monotonic clock costs more than a whole admission decision, so a thread reuses one
 * reading for up to TICK_REUSE decisions while `reusable` is set. Its owner (the attachment) sets
 * it only while its pump is scheduled, and expires the reading at every pump tick: a reading is
 * never reused across event-loop turns (like libuv's loop time), and inside one long synchronous
 * stretch it is at most TICK_REUSE - 1 decisions old. A refusal for rate is always re-decided at
 * a fresh reading (ProducerGate, gate.ts), so reuse can never refuse what the clock would admit.
 * Clocks without turnResolution (virtual clocks) are read at every decision.
 *
 * Single-threaded: one TickSource per attachment (thread), plain fields.
 */
import type { Clock } from './clock.js';

/** Decisions one reading may serve. */
export const TICK_REUSE = 64;

export class TickSource {
  /** Set by the owner while a reading may be reused (its pump is scheduled). */
  reusable = false;
  /** Whether the last advance() kept the previous reading (a later fresh() clears it). */
  reused = false;
  /** Whether the last advance() kept the previous reading (fresh() leaves it: the recorder tells a re-decision by it). */
  advanceReused = false;
  /** advance() calls (wrapping int32): the recorder sees whether a decision read the admission tick. */
  advances = 0;
  /** The current reading (ticks). */
  value = 0;
  /**
   * Counts fresh readings (wrapping int32). A gate compares it, not the reading, to see whether
   * it has refilled at this reading already: the hot path never touches the reading, a number
   * that outgrows a small integer after half an hour of ticks.
   */
  gen = 0;
  private left = 0;
  private readonly coarse: boolean;

  constructor(readonly clock: Clock) {
    this.coarse = clock.turnResolution === true;
  }

  /** Make `value` the admission tick of one more decision: the same reading, or a fresh one. */
  advance(): void {
    this.advances = (this.advances + 1) | 0;
    if (this.left > 0 && this.reusable) {
      this.left--;
      this.reused = this.advanceReused = true;
      return;
    }
    this.advanceReused = false;
    this.fresh();
  }

  /** Take a fresh reading, which later decisions of this turn may reuse. */
  fresh(): void {
    this.value = this.clock.now();
    this.gen = (this.gen + 1) | 0;
    this.left = this.coarse ? TICK_REUSE - 1 : 0;
    this.reused = false;
  }

  /** Turns begun (expire() calls, wrapping): the recorder reuses a reading within one (recording.ts). */
  turns = 0;

  /** A new turn: the next decision reads the clock. */
  expire(): void {
    this.left = 0;
    this.turns = (this.turns + 1) | 0;
  }
}
