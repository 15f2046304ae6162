/**
 * Reading a completion cell's header: the one copy of the walk both consumers of a completion
 * ring make per cell (docs/design.md 2.3 for the words; §4.3 step 7 the owner's drain,
 * §4.9 step 3 the supervisor's drain of a dead owner's ring). The writer is cells.ts
 * writeCompletion; the reader is whoever owns the ring's head (the owner, or the supervisor once
 * the owner is dead).
 *
 * Call only for a cell the caller saw readable (ring.readable: the acquire of the publish): the
 * header words are then plain loads. What follows is the caller's: decode or discard the payload
 * (in arena resultArena(...) when spilled), advance, release.
 */
import { C_GEN, C_KIND, C_PRODUCER, C_TOKEN } from '../shm/layout.js';

/** Indices into the header readCompletion fills. */
export const H_KIND = 0;
export const H_TOKEN = 1;
export const H_GEN = 2;
export const H_WORKER = 3;
/** Length of a header buffer: allocate one per consumer, once (no per-cell allocation). */
export const HEADER_WORDS = 4;

/**
 * Fill `out` with the cell's kind word (outcome in its low bits, CF_* flags), token index,
 * generation and the worker that wrote it; returns the kind word.
 */
export function readCompletion(i32: Int32Array, cell: number, out: Int32Array): number {
  const kind = i32[cell + C_KIND]!;
  out[H_KIND] = kind;
  out[H_TOKEN] = i32[cell + C_TOKEN]!;
  out[H_GEN] = i32[cell + C_GEN]!;
  out[H_WORKER] = i32[cell + C_PRODUCER]!;
  return kind;
}

/** The arena a completion's spilled payload lives in: its worker's result arena (layout: A + w). */
export function resultArena(maxAttachments: number, worker: number): number {
  return maxAttachments + worker;
}
