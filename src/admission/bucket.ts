/**
 * Token bucket with integer-quantized refill: no timers, no floating-point drift.
 *
 * A producer with rate r earns E(t) = floor(t * r / TICKS_PER_SECOND) tokens by tick t, a pure
 * function of t: the same ticks give the same tokens, always. The producer block keeps E at the
 * last refill (P_EARNED, wrapping int32); a refill at tick t adds E(t) - earned tokens, capped
 * at burst. Whoever wins the CAS that advances P_EARNED owns adding exactly those tokens to the
 * gate word; the gap between the two CASes is harmless (a concurrent admission sees the bucket
 * as it was a moment earlier, as if it had arrived a moment earlier).
 *
 * Wrap: P_EARNED wraps at 2^32 tokens. After an idle period long enough for the difference to
 * look negative, the difference is meaningless; the bucket is then simply full. P_LAST_MS (the
 * last refill in ms, wrapping every ~24.8 days) detects that case.
 */
import { TICKS_PER_SECOND } from './clock.js';

/** Tokens earned by tick t at `rate` per second, exactly (t < 2^53, rate < 2^31). */
export function earnedBy(t: number, rate: number): number {
  const q = Math.floor(t / TICKS_PER_SECOND);
  const r = t - q * TICKS_PER_SECOND;
  return q * rate + Math.floor((r * rate) / TICKS_PER_SECOND);
}

/** Ticks after which an empty bucket is certainly full again. */
export function fillTicks(rate: number, burst: number): number {
  return Math.ceil((burst * TICKS_PER_SECOND) / rate);
}
