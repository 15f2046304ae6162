/**
 * Bounded multi-producer, single-consumer ring of fixed-size cells in shared memory, with a
 * sequence word per cell (after Vyukov's bounded queue).
 *
 * Who writes what:
 *   tail       any producer, by CAS only (claims one position)
 *   head       the consumer (a release store after it has copied a cell out: release()), and, while
 *              the consumer cannot run, the supervisor: it consumes a dead attachment's completion
 *              ring in its place (docs/design.md 4.9) and, retiring a worker slot, stores
 *              head = tail - capacity so the ring reads full (4.8 step 7). A stealing sibling
 *              (4.2a) reads head with Atomics.add(head, 0): a read-modify-write that writes the
 *              value it read back, used for its full barrier; being atomic, it never undoes a
 *              concurrent store of the consumer's.
 *   cell.seq   the producer that claimed the position: pos + 1 publishes the cell (or the
 *              supervisor, publishing a dead claimer's cell as a tombstone under a freeze)
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
 * A producer that dies between claim and publish leaves a cell the consumer would stall at.
 * Every claim-to-publish span runs inside its thread's window (docs/design.md 4.10), so during
 * a freeze every claimed, unpublished cell belongs to a dead thread, and recovery publishes a
 * tombstone there.
 */
import { C_SEQ, CELL_BYTES, CELL_WORDS } from './layout.js';
import { loadAcquire, storeRelease } from './order.js';

/** Returned by claim() when the ring is full. Not an int32, so never a position. */
export const RING_FULL = 2 ** 31;

export class Ring {
  readonly mask: number;
  /** Word index of cell 0. */
  readonly cells: number;

  constructor(
    readonly i32: Int32Array,
    /** Ring id: 0..W-1 submission rings, W.. completion rings. */
    readonly id: number,
    /** Word index of the tail (claim) counter. */
    readonly tailWord: number,
    /** Word index of the head (consume) counter. */
    readonly headWord: number,
    /** Byte offset of the first cell (128-byte aligned). */
    cellsByte: number,
    readonly capacity: number,
    /**
     * Producers' side of a submission ring in the asymmetric waker protocol (layout.ts
     * plainPublish): publish() is a plain store, and the consumer runs the process barrier
     * before its re-check. False: publish() is an Atomics.store.
     */
    readonly plain = false,
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
  size(): number { return (loadAcquire(this.i32, this.tailWord) - loadAcquire(this.i32, this.headWord)) | 0; }

  /** §3.1 step 1. Producer: claim the next position, or RING_FULL. */
  claim(): number {
    const i32 = this.i32;
    for (;;) {
      const tail = loadAcquire(i32, this.tailWord);
      if (((tail - loadAcquire(i32, this.headWord)) | 0) >= this.capacity) return RING_FULL;
      if (Atomics.compareExchange(i32, this.tailWord, tail, (tail + 1) | 0) === tail) return tail;
    }
  }

  /**
   * §3.1 step 3. Producer: make position pos readable. The cell's contents (§3.1 step 2) must be
   * written before this. The producer's next step loads the consumer's waker word (§3.2 step 4),
   * and the consumer stores PARKED and then re-checks the ring (§3.2 step 2): a Dekker pair.
   * Symmetric: this store is sequentially consistent (Atomics.store: an xchg on x86, which waits
   * for the cell's line). Asymmetric (`plain`, x86-64 only): a plain store, which a later load of
   * this thread may pass; the consumer's process barrier after its PARKED store makes it visible
   * before the re-check (waker.ts, test/explore/models/waker.ts).
   */
  publish(pos: number): void {
    if (this.plain) this.i32[this.cellWord(pos) + C_SEQ] = (pos + 1) | 0;
    else Atomics.store(this.i32, this.cellWord(pos) + C_SEQ, (pos + 1) | 0);
  }

  /** Recovery (during a freeze): publish a cell its dead claimer never published as a tombstone. */
  tombstone(pos: number, kindWord: number, tombstoneFlag: number, keepFlags: number): void {
    const cell = this.cellWord(pos);
    this.i32[cell + kindWord] = tombstoneFlag | (this.i32[cell + kindWord]! & keepFlags);
    Atomics.store(this.i32, cell + C_SEQ, (pos + 1) | 0);
  }

  /** §3.1 step 4. Consumer: is position pos published? */
  readable(pos: number): boolean {
    return loadAcquire(this.i32, this.cellWord(pos) + C_SEQ) === ((pos + 1) | 0);
  }

  /** Consumer: the head as stored (the position to read next). */
  head(): number { return loadAcquire(this.i32, this.headWord); }

  /** §3.1 step 4. Consumer: give back every cell before pos. Call only after copying those cells out. */
  release(pos: number): void { storeRelease(this.i32, this.headWord, pos); }
}
