/**
 * The one table of rejection reasons. A reason's code is its index in REASONS: the gates return
 * it (R_* below), a Rejection carries its name, the stats block counts it at S_REJECTED + code,
 * and `capacity` says whether it passes with time (a retry may be admitted; rt.run waits on
 * those and fails at once on the others). Everything about a reason is stated here once.
 *
 * Also the per-attachment, per-producer stats block's word offsets (layout.ts STAT_WORDS words,
 * single writer: the attachment's thread; the supervisor for a dead one), derived from this
 * table and the outcomes table (outcomes.ts).
 */
import { STAT_WORDS } from '../shm/layout.js';
import { OUTCOMES } from './outcomes.js';

export const REASONS = [
  { name: 'rate', capacity: true, meaning: "the producer's bucket is empty" },
  { name: 'producer-slots', capacity: true, meaning: 'the producer has `slots` tasks admitted and unresolved' },
  { name: 'global-slots', capacity: true, meaning: 'the runtime has `globalSlots` tasks admitted and unresolved' },
  { name: 'ring-full', capacity: true, meaning: 'every ring the task may use is full' },
  { name: 'arena-full', capacity: true, meaning: "the submitting thread's spill arena has no room for this payload right now" },
  { name: 'no-workers', capacity: false, meaning: 'every worker slot the task may use was retired (it kept dying)' },
  { name: 'draining', capacity: false, meaning: 'drain() or close() began' },
  { name: 'closed', capacity: false, meaning: 'the runtime is closed' },
  { name: 'quarantined', capacity: false, meaning: "the task function's breaker is open, half-open with every probe taken, or isolated (the Guard House)" },
  { name: 'io-class', capacity: true, meaning: "the task's I/O class has `limit` tasks admitted and unresolved" },
] as const;

export type RejectReason = (typeof REASONS)[number]['name'];

/** Reason names by code. */
export const REJECT_REASONS: readonly RejectReason[] = Object.freeze(REASONS.map((r) => r.name));
/** Reasons that pass with time (a retry may be admitted). */
export const CAPACITY_REASONS: ReadonlySet<RejectReason> = new Set<RejectReason>(REASONS.filter((r) => r.capacity).map((r) => r.name));

/** A submit that was not admitted, and why. */
export interface Rejection {
  readonly admitted: false;
  readonly reason: RejectReason;
  /**
   * 'rate' only: in how many ms (an integer >= 1) the producer's bucket earns its next token, as
   * of the clock reading the refusal was decided at. Another submitter may take that token first.
   */
  readonly retryAfterMs?: number;
  /**
   * 'quarantined' only (the Guard House): the breaker's state ('open', 'half-open' with every
   * probe taken, or 'isolated'), since when (ms on the runtime clock, as `rt.stats().tasks[i].breaker.since`),
   * and why it is in that state ('failure-ratio', 'probe-failed', 'isolated', 'cool-down-over',
   * 'probe-round-expired'). Like retryAfterMs: the latest refusal's, read it before the next submit.
   */
  readonly breaker?: 'open' | 'half-open' | 'isolated';
  readonly since?: number;
  readonly why?: string;
  /** 'quarantined' only: the task's name. */
  readonly task?: string;
}
/**
 * One frozen Rejection per reason, by code: a rejected submit allocates nothing. A 'rate'
 * refusal returns its producer handle's own Rejection instead (rateRejection).
 */
export const REJECTIONS: readonly Rejection[] = Object.freeze(REJECT_REASONS.map((reason) => Object.freeze({ admitted: false as const, reason })));

/**
 * @internal A producer handle's 'rate' Rejection: made once per handle, frozen (its fields cannot
 * be written by anyone else), with an own enumerable `retryAfterMs` accessor over a value the
 * handle sets at each 'rate' refusal, so a rate refusal allocates nothing either. The price:
 * it is the same object for every 'rate' refusal of that handle, and its `retryAfterMs` is the
 * latest refusal's (read it before the next submit, or copy it).
 */
export function rateRejection(): { rejection: Rejection; set: (ms: number) => void } {
  let ms = 1;
  const rejection = Object.freeze(Object.defineProperties({}, {
    admitted: { value: false, enumerable: true },
    reason: { value: 'rate', enumerable: true },
    retryAfterMs: { get: () => ms, enumerable: true },
  })) as Rejection;
  return { rejection, set: (v: number): void => { ms = v; } };
}

/**
 * @internal A producer handle's 'quarantined' Rejection, made on its first such refusal, frozen, with
 * accessors over values the handle sets at each one (rateRejection's pattern: no allocation per refusal).
 */
export function guardRejection(): { rejection: Rejection; set: (task: string, breaker: 'open' | 'half-open' | 'isolated', since: number, why: string) => void } {
  let task = '';
  let breaker: 'open' | 'half-open' | 'isolated' = 'open';
  let since = 0;
  let why = '';
  const rejection = Object.freeze(Object.defineProperties({}, {
    admitted: { value: false, enumerable: true },
    reason: { value: 'quarantined', enumerable: true },
    task: { get: () => task, enumerable: true },
    breaker: { get: () => breaker, enumerable: true },
    since: { get: () => since, enumerable: true },
    why: { get: () => why, enumerable: true },
  })) as Rejection;
  return {
    rejection,
    set: (t, b, s, w): void => { task = t; breaker = b; since = s; why = w; },
  };
}

/** What the gates return when they admit (not a reason: every reason code is >= 0). */
export const ADMITTED = -1;
// The codes as literals (the hot path compares against them), checked against the table below.
export const R_RATE = 0;
export const R_PRODUCER_SLOTS = 1;
export const R_GLOBAL_SLOTS = 2;
export const R_RING_FULL = 3;
export const R_ARENA_FULL = 4;
export const R_NO_WORKERS = 5;
export const R_DRAINING = 6;
export const R_CLOSED = 7;
export const R_QUARANTINED = 8;
export const R_IO_CLASS = 9;
const CODES: Record<RejectReason, number> = {
  rate: R_RATE, 'producer-slots': R_PRODUCER_SLOTS, 'global-slots': R_GLOBAL_SLOTS, 'ring-full': R_RING_FULL,
  'arena-full': R_ARENA_FULL, 'no-workers': R_NO_WORKERS, draining: R_DRAINING, closed: R_CLOSED,
  quarantined: R_QUARANTINED, 'io-class': R_IO_CLASS,
};
for (const r of REJECT_REASONS) if (REJECT_REASONS[CODES[r]] !== r) throw new Error(`sluice: reason code of '${r}' is not its index`);

// ---- stats block offsets (words within one attachment's block for one producer) ----
export const S_ADMITTED = 0;
/** + reason code: one counter per reason. */
export const S_REJECTED = 1;
/** + outcome code: one counter per outcome, after the rejection counters. */
export const S_RESOLVED = S_REJECTED + REASONS.length;
if (S_RESOLVED + OUTCOMES.length > STAT_WORDS) throw new Error('sluice: the stats block is too small for the reasons and outcomes');
