/**
 * The breaker word and its since word (layout.ts guard region: one 128-byte block per task, the
 * Guard House; docs/design.md §4.16). The only file that builds or tests these two words.
 *
 * Breaker word (G_BREAKER):
 *
 *   31        24 23        16 15     10 9      6 5      2 1   0
 *   +-----------+-----------+---------+--------+--------+-----+
 *   |   total   |   fails   |  epoch  |   ok   | probes |state|
 *   +-----------+-----------+---------+--------+--------+-----+
 *
 *   state   CLOSED 0 / OPEN 1 / HALF_OPEN 2 / ISOLATED 3 (a word of 0 is a closed breaker with an
 *           empty window: the word of every task that has no guard)
 *   probes  half-open: probes admitted and not yet resolved (<= 15)
 *   ok      half-open: probes of this round that succeeded (ok + probes <= the task's `probes`)
 *   epoch   advanced (mod 64) by every transition, window roll included: a probe remembers the
 *           epoch it was admitted in, and a result of an older round is ignored; the since word
 *           is valid only while its epoch equals this one
 *   fails   closed: failed outcomes in the current window
 *   total   closed: outcomes in the current window (at 255 both are halved before counting)
 *
 * Since word (G_SINCE): epoch (26..31) | why (23..25) | ms mod 2^23 (0..22): when the state of
 * that epoch began (closed: when its window began), in ms of the runtime clock, and why.
 *
 * Writers: any thread, by CAS only (the transitions below, each one CAS from the word the caller
 * read); the since word by stampSince's CAS loop (the transition's winner, or any thread that
 * finds it stale: "helping", so a winner that dies between its CAS and its stamp leaves nothing
 * stuck). Readers: the submit path (one Atomics.load), the resolve path, stats.
 */

export const BR_CLOSED = 0;
export const BR_OPEN = 1;
export const BR_HALF_OPEN = 2;
export const BR_ISOLATED = 3;

export const BR_STATE_MASK = 0x3;
export const BR_PROBES_SHIFT = 2;
export const BR_PROBES_MAX = 0xf;
export const BR_PROBES_MASK = BR_PROBES_MAX << BR_PROBES_SHIFT;
export const BR_OK_SHIFT = 6;
export const BR_OK_MASK = 0xf << BR_OK_SHIFT;
export const BR_EPOCH_SHIFT = 10;
export const BR_EPOCH_MAX = 0x3f;
export const BR_EPOCH_MASK = BR_EPOCH_MAX << BR_EPOCH_SHIFT;
export const BR_FAILS_SHIFT = 16;
export const BR_FAILS_MASK = 0xff << BR_FAILS_SHIFT;
export const BR_TOTAL_SHIFT = 24;
export const BR_COUNT_MAX = 0xff;
export const BR_TOTAL_MASK = BR_COUNT_MAX << BR_TOTAL_SHIFT;

export const SN_MS_BITS = 23;
export const SN_MS_MASK = (1 << SN_MS_BITS) - 1;
export const SN_WHY_SHIFT = 23;
export const SN_WHY_MASK = 0x7 << SN_WHY_SHIFT;
export const SN_EPOCH_SHIFT = 26;
export const SN_EPOCH_MASK = BR_EPOCH_MAX << SN_EPOCH_SHIFT;
/** Longest windowMs / coolDownMs: elapsed times are computed mod 2^23 ms, so they stay far below it. */
export const BR_MAX_MS = 1 << 22;

/** Why a state began (the since word's `why`): WHY_NAMES[code]. */
export const WHY_NONE = 0;
export const WHY_FAILURE_RATIO = 1;
export const WHY_PROBE_FAILED = 2;
export const WHY_ISOLATED = 3;
export const WHY_COOL_DOWN = 4;
export const WHY_PROBES_SUCCEEDED = 5;
export const WHY_RELEASED = 6;
export const WHY_ROUND_EXPIRED = 7;
export const WHY_NAMES = ['window', 'failure-ratio', 'probe-failed', 'isolated', 'cool-down-over', 'probes-succeeded', 'released', 'probe-round-expired'] as const;
export type BreakerWhy = (typeof WHY_NAMES)[number];
export const STATE_NAMES = ['closed', 'open', 'half-open', 'isolated'] as const;
export type BreakerState = (typeof STATE_NAMES)[number];

// ---- fields ----
export function stateOf(b: number): number { return b & BR_STATE_MASK; }
export function probesOf(b: number): number { return (b & BR_PROBES_MASK) >>> BR_PROBES_SHIFT; }
export function okOf(b: number): number { return (b & BR_OK_MASK) >>> BR_OK_SHIFT; }
export function epochOf(b: number): number { return (b & BR_EPOCH_MASK) >>> BR_EPOCH_SHIFT; }
export function failsOf(b: number): number { return (b & BR_FAILS_MASK) >>> BR_FAILS_SHIFT; }
export function totalOf(b: number): number { return b >>> BR_TOTAL_SHIFT; }
/** A fresh word of `state` in the epoch after `b`'s: no probes, no counts. */
export function fresh(b: number, state: number): number {
  return (((epochOf(b) + 1) & BR_EPOCH_MAX) << BR_EPOCH_SHIFT) | state;
}
/** The closed word `b` with one more outcome counted (both counts halved first at 255). */
export function counted(b: number, failed: boolean): number {
  let fails = failsOf(b);
  let total = totalOf(b);
  if (total === BR_COUNT_MAX) { fails >>>= 1; total >>>= 1; }
  total++;
  if (failed) fails++;
  return ((b & (BR_STATE_MASK | BR_EPOCH_MASK)) | (fails << BR_FAILS_SHIFT) | (total << BR_TOTAL_SHIFT)) | 0;
}

export function sinceWord(epoch: number, why: number, ms: number): number {
  return ((epoch << SN_EPOCH_SHIFT) | (why << SN_WHY_SHIFT) | (ms & SN_MS_MASK)) | 0;
}
export function sinceEpochOf(s: number): number { return (s & SN_EPOCH_MASK) >>> SN_EPOCH_SHIFT; }
export function whyOf(s: number): number { return (s & SN_WHY_MASK) >>> SN_WHY_SHIFT; }
export function sinceMsOf(s: number): number { return s & SN_MS_MASK; }
/** ms from the since word's ms to `nowMs` (mod 2^23: a state untouched for 2.3 h reads young again). */
export function elapsedMs(s: number, nowMs: number): number { return (nowMs - s) & SN_MS_MASK; }

// ---- transitions: each one CAS on word index `w`, from the word `b` the caller loaded ----

function cas(i32: Int32Array, w: number, b: number, next: number): boolean {
  return Atomics.compareExchange(i32, w, b, next) === b;
}

/** CLOSED -> CLOSED: one more outcome in the current window (`roll`: a new window, epoch + 1, starting with it). */
export function count(i32: Int32Array, w: number, b: number, failed: boolean, roll: boolean): boolean {
  return cas(i32, w, b, counted(roll ? fresh(b, BR_CLOSED) : b, failed));
}
/** CLOSED -> OPEN: the window's failure ratio reached the threshold. */
export function trip(i32: Int32Array, w: number, b: number): boolean { return cas(i32, w, b, fresh(b, BR_OPEN)); }
/** OPEN -> HALF_OPEN: the cool-down is over. */
export function halfOpen(i32: Int32Array, w: number, b: number): boolean { return cas(i32, w, b, fresh(b, BR_HALF_OPEN)); }
/** HALF_OPEN -> HALF_OPEN, a new round (epoch + 1, nothing in flight): the round outlived a cool-down (a probe lost or hung). */
export function expireRound(i32: Int32Array, w: number, b: number): boolean { return cas(i32, w, b, fresh(b, BR_HALF_OPEN)); }
/** HALF_OPEN: one more probe in flight. The caller checked probes + ok < the bound. */
export function takeProbe(i32: Int32Array, w: number, b: number): boolean { return cas(i32, w, b, b + (1 << BR_PROBES_SHIFT)); }
/** HALF_OPEN, same epoch: a probe that was not admitted after all (a later gate refused) or never ran (retracted). */
export function returnProbe(i32: Int32Array, w: number, b: number): boolean { return cas(i32, w, b, b - (1 << BR_PROBES_SHIFT)); }
/** HALF_OPEN: a probe succeeded (probes - 1, ok + 1), or, if it was the last one needed, -> CLOSED. */
export function probeSucceeded(i32: Int32Array, w: number, b: number, closes: boolean): boolean {
  return cas(i32, w, b, closes ? fresh(b, BR_CLOSED) : b - (1 << BR_PROBES_SHIFT) + (1 << BR_OK_SHIFT));
}
/** HALF_OPEN -> OPEN: a probe failed. */
export function probeFailed(i32: Int32Array, w: number, b: number): boolean { return cas(i32, w, b, fresh(b, BR_OPEN)); }
/** any -> ISOLATED: an operator (rt.guard.isolate). */
export function isolate(i32: Int32Array, w: number, b: number): boolean { return cas(i32, w, b, fresh(b, BR_ISOLATED)); }
/** ISOLATED -> CLOSED: an operator (rt.guard.release). */
export function release(i32: Int32Array, w: number, b: number): boolean { return cas(i32, w, b, fresh(b, BR_CLOSED)); }

/**
 * Make the since word say (epoch, why, nowMs) unless it already belongs to `epoch`. Called by a
 * transition's winner, and by any thread that reads a since word of another epoch than the
 * breaker's (the winner has not stamped yet, or died before it did): the first stamp wins.
 */
export function stampSince(i32: Int32Array, sw: number, epoch: number, why: number, nowMs: number): number {
  for (;;) {
    const s = Atomics.load(i32, sw);
    if (sinceEpochOf(s) === epoch) return s;
    const next = sinceWord(epoch, why, nowMs);
    if (Atomics.compareExchange(i32, sw, s, next) === s) return next;
  }
}
