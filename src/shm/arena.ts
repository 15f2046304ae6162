/**
 * Spill arena: a byte ring in shared memory for values too large for a cell's inline bytes.
 *
 * One arena per writer thread (each attachment for payloads, each worker for results).
 * Who writes what:
 *   ALLOC, RECLAIM   the writer only (plain single-writer counters, kept in its arena block)
 *   chunk header     the writer writes [length, LIVE] before publishing the cell that points at
 *                    the chunk; the reader that copies the value out stores FREED (the only
 *                    cross-thread write), after which the writer may reuse the bytes.
 *
 * Readers free out of order; the writer reclaims in order, from RECLAIM forward over FREED chunks,
 * so a slow reader holds back reuse of everything after its chunk, never corrupts it. A chunk
 * never straddles the end: the tail gap is filled with a pre-freed padding chunk. Positions are
 * wrapping int32 byte counters; the arena size is a power of two.
 */
import { Memory } from './layout.js';

const ALLOC = 0;
const RECLAIM = 1;
const HDR_BYTES = 8;
const LIVE = 0;
const FREED = 1;

/** Returned by alloc() when the arena has no room right now. */
export const ARENA_FULL = -1;

const align8 = (n: number): number => (n + 7) & ~7;

/** Writer side. One per writer thread. */
export class ArenaWriter {
  private readonly i32: Int32Array;
  private readonly ctl: number;
  private readonly base: number;
  private readonly size: number;
  private readonly mask: number;

  constructor(mem: Memory, readonly writer: number) {
    this.i32 = mem.i32;
    this.ctl = mem.arenaCtlWord(writer);
    this.base = mem.arenaByte(writer);
    this.size = mem.layout.spillBytes;
    this.mask = this.size - 1;
  }

  /** Largest value (bytes) that can ever be spilled here. */
  get maxValueBytes(): number { return this.size - HDR_BYTES; }

  /**
   * Reserve n bytes; returns the chunk position (pass it to dataByte / commit / unalloc), or
   * ARENA_FULL. Nothing is visible to readers until a published cell names the chunk.
   */
  alloc(n: number): number {
    const need = align8(n + HDR_BYTES);
    if (need > this.size) return ARENA_FULL;
    const i32 = this.i32;
    let pos = i32[this.ctl + ALLOC]!;
    const off = pos & this.mask;
    const pad = off + need > this.size ? this.size - off : 0;
    if (!this.fits(pos, pad + need)) {
      this.reclaim();
      if (!this.fits(pos, pad + need)) return ARENA_FULL;
    }
    if (pad > 0) {
      const w = (this.base + off) >> 2;
      i32[w] = pad;
      i32[w + 1] = FREED;
      pos = (pos + pad) | 0;
    }
    const w = (this.base + (pos & this.mask)) >> 2;
    i32[w] = need;
    Atomics.store(i32, w + 1, LIVE);
    i32[this.ctl + ALLOC] = (pos + need) | 0;
    return pos;
  }

  /** Give back the most recent allocation (it was never published). */
  unalloc(pos: number): void {
    this.i32[this.ctl + ALLOC] = pos;
  }

  /** Byte offset (in the whole buffer) of the chunk's data. */
  dataByte(pos: number): number { return this.base + (pos & this.mask) + HDR_BYTES; }

  /** Shrink the most recent allocation to n bytes (the caller wrote less than it reserved). */
  shrink(pos: number, n: number): void {
    const need = align8(n + HDR_BYTES);
    this.i32[(this.base + (pos & this.mask)) >> 2] = need;
    this.i32[this.ctl + ALLOC] = (pos + need) | 0;
  }

  /** Bytes currently held by live or not-yet-reclaimed chunks. */
  used(): number {
    return (this.i32[this.ctl + ALLOC]! - this.i32[this.ctl + RECLAIM]!) | 0;
  }

  private fits(pos: number, bytes: number): boolean {
    return ((pos + bytes - this.i32[this.ctl + RECLAIM]!) | 0) <= this.size;
  }

  private reclaim(): void {
    const i32 = this.i32;
    const alloc = i32[this.ctl + ALLOC]!;
    let r = i32[this.ctl + RECLAIM]!;
    while (r !== alloc) {
      const w = (this.base + (r & this.mask)) >> 2;
      if (Atomics.load(i32, w + 1) !== FREED) break;
      r = (r + i32[w]!) | 0;
    }
    i32[this.ctl + RECLAIM] = r;
  }
}

/** Reader side: byte offset of a chunk's data, and freeing it once copied out. */
export function arenaDataByte(mem: Memory, writer: number, pos: number): number {
  return mem.arenaByte(writer) + (pos & (mem.layout.spillBytes - 1)) + HDR_BYTES;
}

export function arenaFree(mem: Memory, writer: number, pos: number): void {
  Atomics.store(mem.i32, ((mem.arenaByte(writer) + (pos & (mem.layout.spillBytes - 1))) >> 2) + 1, FREED);
}
