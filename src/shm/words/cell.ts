/**
 * The cell kind word (layout.ts C_KIND, word 1 of every 128-byte ring cell): what the cell
 * carries and how its value is stored.
 *
 *   31 30 29  28 27 26 25 24 23          16 15                          0
 *   +-----+---+-----+--+--+--+--------------+----------------------------+
 *   |  0  | R |  W  |B |T |S |  value tag   |  task id / outcome         |
 *   +-----+---+-----+--+--+--+--------------+----------------------------+
 *
 *   low (0..15)   submission: the task id (tasks-module.ts bounds it to 16 bits);
 *                 completion: the outcome code (admission/outcomes.ts)
 *   tag (16..23)  how the value is encoded (runtime/codec.ts TAG_*)
 *   S   CF_SPILLED    the value's bytes are in the writer's spill arena at C_SPILL
 *   T   CF_TOMBSTONE  a dead claimer's cell: skip it (its other words are stale)
 *   B   CF_BUFFER     a Uint8Array value that was a Buffer
 *   W   CF_WEIGHT     submission cells: routing class 0 heavy, 1 medium, 2 light, 3 none
 *   R   CF_RETRYABLE  completion cells: an 'abandoned' outcome that may be retried (its worker died)
 *
 * Writers: the cell's claimer, once, before it publishes the cell (C_SEQ): a submitter
 * (submission cells; writeSubmission), a worker or the supervisor (completion cells;
 * writeCompletion), or the supervisor making a dead claimer's unpublished cell a tombstone under
 * a freeze. Readers read it after seeing the cell published.
 */

export const CK_LOW_MASK = 0xffff;
export const CK_TAG_SHIFT = 16;
export const CK_TAG_MAX = 0xff;
export const CK_TAG_MASK = CK_TAG_MAX << CK_TAG_SHIFT;

export const CF_SPILLED = 1 << 24;
export const CF_TOMBSTONE = 1 << 25;
export const CF_BUFFER = 1 << 26;
export const CF_WEIGHT_SHIFT = 27;
export const CF_WEIGHT_MAX = 3;
export const CF_WEIGHT_MASK = CF_WEIGHT_MAX << CF_WEIGHT_SHIFT;
export const CF_RETRYABLE = 1 << 29;

/** The whole word: `low` (task id or outcome, with weight bits or CF_RETRYABLE already OR-ed in), tag, flags. */
export function kindWord(low: number, tag: number, flags: number): number {
  return low | (tag << CK_TAG_SHIFT) | flags;
}
/** The `low` a submission cell's writer passes: task id and routing class. */
export function submissionLow(taskId: number, weightIndex: number): number {
  return taskId | (weightIndex << CF_WEIGHT_SHIFT);
}
/** Task id (submission) or outcome (completion). */
export function lowOf(kind: number): number { return kind & CK_LOW_MASK; }
export function tagOf(kind: number): number { return (kind >>> CK_TAG_SHIFT) & CK_TAG_MAX; }
export function weightOf(kind: number): number { return (kind & CF_WEIGHT_MASK) >>> CF_WEIGHT_SHIFT; }
