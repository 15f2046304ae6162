/**
 * The two cell writers: every submission cell and every completion cell is filled and published
 * by one of these (docs/design.md 2.3 for the words, 4.1 step 5 and 4.3 step 6 for the protocol).
 *
 * Both are called by the thread that claimed `pos` in `ring`, inside its window (4.10), after
 * codec.prepare() of the value succeeded (write() cannot fail). The descriptor words are plain
 * stores: the publish (a seq-cst store of the cell's sequence word) orders them before any
 * reader's load of it.
 */
import { C_ATT, C_DEADLINE, C_GEN, C_INLINE_BYTES, C_PRODUCER, C_TOKEN } from '../shm/layout.js';
import type { Ring } from '../shm/ring.js';
import { submissionLow } from '../shm/words/cell.js';
import type { Codec } from './codec.js';

/**
 * Submit step 5's cell (4.1): the prepared payload, task id and routing class, the submitting
 * attachment, token index and generation, producer, deadline (ms, 0 none); then publish. Used
 * by Producer.admit, Attachment.repush (a retry) and the worker warm-up (worker/warm-up.ts). The token word must be
 * PENDING with `gen` before this (markPending), so the worker's claim has something to win.
 */
export function writeSubmission(
  ring: Ring, pos: number, codec: Codec, taskId: number, weightIndex: number, att: number, t: number, gen: number,
  producer: number, deadlineMs: number,
): void {
  const i32 = ring.i32;
  const cell = ring.cellWord(pos);
  codec.write(cell, submissionLow(taskId, weightIndex), ring.id); // target: the worker slot (a value sent by message)
  i32[cell + C_ATT] = att;
  i32[cell + C_TOKEN] = t;
  i32[cell + C_GEN] = gen;
  i32[cell + C_PRODUCER] = producer;
  i32[cell + C_DEADLINE] = deadlineMs;
  ring.publish(pos);
}

/**
 * Complete step 6's cell (4.3): the prepared value with its outcome (and CF_RETRYABLE in
 * `flags` for a retryable 'abandoned'), the token it resolves (att, t, gen) and the worker that
 * ran it; then publish. Used by the worker's complete() and every completion the supervisor
 * writes (abandoned, retracted).
 */
export function writeCompletion(
  ring: Ring, pos: number, codec: Codec, outcome: number, att: number, t: number, gen: number, worker: number, flags = 0,
): void {
  const i32 = ring.i32;
  const cell = ring.cellWord(pos);
  codec.write(cell, outcome | flags);
  i32[cell + C_ATT] = att;
  i32[cell + C_TOKEN] = t;
  i32[cell + C_GEN] = gen;
  i32[cell + C_PRODUCER] = worker;
  ring.publish(pos);
}

/**
 * Longest abandon/retract reason in UTF-8 bytes: it always travels inline in a completion cell
 * (C_INLINE_BYTES, 92), with room to spare for the string's encoding. The supervisor has no arena
 * of its own (it must never spill, and never meet PREPARE_FULL).
 */
const MAX_REASON = 90;
if (MAX_REASON > C_INLINE_BYTES) throw new Error('sluice: a clipped reason must fit a cell inline');

/**
 * A reason cut to at most MAX_REASON UTF-8 bytes at a character boundary, so it always travels
 * inline in a completion cell (the supervisor never spills: it has no arena of its own).
 */
export function clipReason(reason: string): string {
  let bytes = 0;
  let end = 0;
  for (const ch of reason) {
    const cp = ch.codePointAt(0)!;
    const n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    if (bytes + n > MAX_REASON) break;
    bytes += n;
    end += ch.length;
  }
  return reason.slice(0, end).toWellFormed();
}
