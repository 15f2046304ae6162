/**
 * The one table of outcomes: how an admitted task ended. Its code is its index, which is what a
 * completion cell's kind word carries (shm/words/cell.ts), what the token's `_outcome` holds,
 * and the offset of its counter after S_RESOLVED in the stats block (reasons.ts).
 *
 *   fulfilled   the task returned (or its promise resolved)
 *   rejected    the task threw (or its promise rejected), or its payload/result could not travel
 *   retracted   cancelled (or closed) before it started: it never ran
 *   abandoned   its deadline passed, it was cancelled with force, or its worker died while it ran
 */
export const OUTCOMES = ['fulfilled', 'rejected', 'retracted', 'abandoned'] as const;
export type Outcome = (typeof OUTCOMES)[number];

export const O_FULFILLED = 0;
export const O_REJECTED = 1;
export const O_RETRACTED = 2;
export const O_ABANDONED = 3;

const CODES: Record<Outcome, number> = { fulfilled: O_FULFILLED, rejected: O_REJECTED, retracted: O_RETRACTED, abandoned: O_ABANDONED };
for (const o of OUTCOMES) if (OUTCOMES[CODES[o]] !== o) throw new Error(`sluice: outcome code of '${o}' is not its index`);
