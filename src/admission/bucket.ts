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
 * Wrap: P_EARNED holds E mod 2^32 (earnedMod32), so the difference of two readings is exact
 * while fewer than 2^31 tokens accrue between them. Only an idle period long enough for 2^30
 * tokens to accrue could break that, and after it the bucket is certainly full (burst < 2^16):
 * P_LAST_MS (the last refill in ms, wrapping every ~24.8 days) detects that case, and only that
 * case, so a refill is always exactly E(now) - E(last) below it.
 */
import { TICKS_PER_SECOND } from './clock.js';

/** Tokens earned by tick t at `rate` per second; exact while the result is below 2^53. */
export function earnedBy(t: number, rate: number): number {
  const q = Math.floor(t / TICKS_PER_SECOND);
  const r = t - q * TICKS_PER_SECOND;
  return q * rate + Math.floor((r * rate) / TICKS_PER_SECOND);
}

/**
 * E(t) mod 2^32 as an int32, exact for every t < 2^53 and rate < 2^31: what P_EARNED stores.
 * (q * rate) mod 2^32 is Math.imul of the operands mod 2^32; r * rate < 2^51 is exact.
 */
export function earnedMod32(t: number, rate: number): number {
  const q = Math.floor(t / TICKS_PER_SECOND);
  const r = t - q * TICKS_PER_SECOND;
  return (Math.imul(q % 4294967296 | 0, rate) + Math.floor((r * rate) / TICKS_PER_SECOND)) | 0;
}

/** Ticks after which an empty bucket is certainly full again. */
export function fillTicks(rate: number, burst: number): number {
  return Math.ceil((burst * TICKS_PER_SECOND) / rate);
}

/** Idle ms after which P_EARNED's difference may have wrapped (2^30 tokens accrued). */
export function wrapHorizonMs(rate: number): number {
  return Math.floor((2 ** 30 / rate) * 1000);
}

/**
 * Ticks from tick `now` until E(t) first exceeds E(now): when the next token is earned (>= 1).
 * Computed within the current second (E's second part is floor(r * rate / TICKS_PER_SECOND)),
 * so every intermediate stays below 2^53 whatever `now` is.
 */
export function ticksToNextToken(now: number, rate: number): number {
  const q = Math.floor(now / TICKS_PER_SECOND);
  const r = now - q * TICKS_PER_SECOND;
  const e = Math.floor((r * rate) / TICKS_PER_SECOND);
  let at = Math.ceil(((e + 1) * TICKS_PER_SECOND) / rate);
  if (Math.floor((at * rate) / TICKS_PER_SECOND) <= e) at++; // a division that rounded down
  // Past the end of this second, the second's boundary earns all `rate` tokens of it (> e).
  return Math.min(at, TICKS_PER_SECOND) - r;
}

/** A 'rate' refusal's retryAfterMs: the ticks to the next token as whole ms, at least 1. */
export function retryAfterMs(now: number, rate: number): number {
  return Math.max(1, Math.ceil(ticksToNextToken(now, rate) / 1000));
}
