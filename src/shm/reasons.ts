/**
 * Rejection reasons and outcomes: public names (RejectReason, Outcome) whose order is also the
 * order of their counters in the stats block (layout.ts S_REJECTED, S_RESOLVED). A leaf module:
 * the published declarations name these types without pulling in the memory map.
 */

/**
 * Why a submit was rejected, by index (the R_* codes of admission/gate.ts are these indices).
 * Capacity reasons (the first five) pass with time: retry, or rt.run waits. The others do not:
 *   rate            the producer's bucket is empty
 *   producer-slots  the producer has `slots` tasks admitted and unresolved
 *   global-slots    the runtime has `globalSlots` tasks admitted and unresolved
 *   ring-full       every ring the task may use is full
 *   arena-full      the submitting thread's spill arena has no room for this payload right now
 *   no-workers      every worker slot the task may use was retired (it kept dying)
 *   draining        drain() or close() began
 *   closed          the runtime is closed
 */
export const REJECT_REASONS = [
  'rate', 'producer-slots', 'global-slots', 'ring-full', 'arena-full', 'no-workers', 'draining', 'closed',
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];
/** Reasons that pass with time (a retry may be admitted). */
export const CAPACITY_REASONS: ReadonlySet<RejectReason> = new Set<RejectReason>(['rate', 'producer-slots', 'global-slots', 'ring-full', 'arena-full']);
export const OUTCOMES = ['fulfilled', 'rejected', 'retracted', 'abandoned'] as const;
export type Outcome = (typeof OUTCOMES)[number];
