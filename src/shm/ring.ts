/**
 * Bounded multi-producer, single-consumer ring of fixed-size cells in shared memory, with a
 * sequence word per cell (after Vyukov's bounded queue).
 *
 * Who writes what:
 *   tail       any producer, by CAS only (claims one position)
 *   head       the consumer only (plain Atomics.store after it has copied a cell out)
 *   cell.seq   the producer that claimed the position: pos + 1 publishes the cell
 *   intent     each writer's own (ring, pos) record, stored before its claim CAS
 *
 * Capacity is decided on tail - head, not on the cell's sequence word: a producer may claim
 * position p only while p - head < capacity, so the cell p & mask was last used by position
 * p - capacity, which the consumer has already copied out (it stores head after copying). The
 * sequence word therefore only has to answer "is position p published?", and it does so without
 * ambiguity across laps: lap k publishes p + 1, lap k + 1 publishes p + capacity + 1. The consumer
 * never writes it.
 *
 * Positions are int32 and wrap; every comparison is on a wrapped difference `(a - b) | 0`.
 *
 * Claim intent: before its claim CAS, a writer stores (ring, pos) in its own block, and clears
 * the ring word after publishing. If a writer dies between claim and publish, the cell stays
 * unpublished and the consumer would stall at it; the reconciler finds the dead writer's intent
 * and, once no live writer holds the same intent, publishes a tombstone there. See
 * docs/design.md, "Producer death".
 */
import { C_SEQ, CELL_BYTES, CELL_WORDS } from './layout.js';

/** Returned by claim() when the ring is full. Not an int32, so never a position. */
export const RING_FULL = 2 ** 31;

export class Ring {
  readonly mask: number;
  /** Word index of cell 0. */
  readonly cells: number;

  constructor(
    readonly i32: Int32Array,
    /** Ring id recorded in claim intents. */
    readonly id: number,
    /** Word index of the tail (claim) counter. */
    readonly tailWord: number,
    /** Word index of the head (consume) counter. */
    readonly headWord: number,
    /** Byte offset of the first cell (128-byte aligned). */
    cellsByte: number,
    readonly capacity: number,
  ) {
    if (capacity < 1 || (capacity & (capacity - 1)) !== 0) {
      throw new RangeError(`ring capacity must be a power of two, got ${capacity}`);
    }
    this.mask = capacity - 1;
    this.cells = cellsByte >> 2;
  }

  static cellBytes(capacity: number): number { return capacity * CELL_BYTES; }

  /** Word index of the cell that holds position pos. */
  cellWord(pos: number): number { return this.cells + (pos & this.mask) * CELL_WORDS; }

  /** Items claimed and not yet consumed (includes claimed-but-unpublished cells). */
  size(): number { return (Atomics.load(this.i32, this.tailWord) - Atomics.load(this.i32, this.headWord)) | 0; }

  /**
   * Producer: claim the next position, or RING_FULL. Records the intent in
   * (intentRingWord, intentPosWord) first, so a death between claim and publish can be repaired.
   */
  claim(intentRingWord: number, intentPosWord: number): number {
    const i32 = this.i32;
    for (;;) {
      const tail = Atomics.load(i32, this.tailWord);
      if (((tail - Atomics.load(i32, this.headWord)) | 0) >= this.capacity) return RING_FULL;
      Atomics.store(i32, intentPosWord, tail);
      Atomics.store(i32, intentRingWord, this.id);
      if (Atomics.compareExchange(i32, this.tailWord, tail, (tail + 1) | 0) === tail) return tail;
    }
  }

  /** Producer: make position pos readable. The cell's contents must be written before this. */
  publish(pos: number, intentRingWord: number): void {
    Atomics.store(this.i32, this.cellWord(pos) + C_SEQ, (pos + 1) | 0);
    Atomics.store(this.i32, intentRingWord, -1);
  }

  /** Consumer: is position pos published? */
  readable(pos: number): boolean {
    return Atomics.load(this.i32, this.cellWord(pos) + C_SEQ) === ((pos + 1) | 0);
  }

  /** Consumer: the head as stored (the position to read next). */
  head(): number { return Atomics.load(this.i32, this.headWord); }

  /** Consumer: give back every cell before pos. Call only after copying those cells out. */
  release(pos: number): void { Atomics.store(this.i32, this.headWord, pos); }
}
