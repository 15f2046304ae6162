/**
 * Spill arena: a byte ring in shared memory for values too large for a cell's inline bytes.
 *
 * One arena per writer thread (each attachment for payloads, each worker for results).
 * Who writes what:
 *   ALLOC, RECLAIM   the writer only (plain single-writer counters, kept in its arena block)
 *   chunk header     [length, tag]. The writer stores tag = the chunk's own position (LIVE)
 *                    before publishing the cell that points at it; a reader frees it with
 *                    CAS(tag, pos, pos | 1) (FREED). Positions are 8-aligned, so bit 0 is free.
 *
 * Free each allocation once. A free names the allocation (pos), so a repeated free is a no-op
 * while the chunk's bytes are not reused; after reuse the tag word may be another chunk's data,
 * so the codec marks a cell CF_CONSUMED right after freeing its chunk, and recovery (a cell read
 * again after a crash) never frees twice.
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
const FREED_BIT = 1;

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
    let off = pos & this.mask;
    let pad = off + need > this.size ? this.size - off : 0;
    if (!this.fits(pos, pad + need)) {
      this.reclaim();
      if (i32[this.ctl + RECLAIM] === pos && pad > 0) {
        // Nothing is live: start the next lap instead of padding to it.
        pos = (pos + pad) | 0;
        i32[this.ctl + ALLOC] = pos;
        i32[this.ctl + RECLAIM] = pos;
        off = 0;
        pad = 0;
      }
      if (!this.fits(pos, pad + need)) return ARENA_FULL;
    }
    if (pad > 0) {
      const w = (this.base + off) >> 2;
      i32[w] = pad;
      Atomics.store(i32, w + 1, pos | FREED_BIT);
      pos = (pos + pad) | 0;
    }
    const w = (this.base + (pos & this.mask)) >> 2;
    i32[w] = need;
    Atomics.store(i32, w + 1, pos);
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
      if ((Atomics.load(i32, w + 1) & FREED_BIT) === 0) break;
      r = (r + i32[w]!) | 0;
    }
    i32[this.ctl + RECLAIM] = r;
  }
}

/** Reader side: byte offset of a chunk's data, and freeing it once copied out. */
export function arenaDataByte(mem: Memory, writer: number, pos: number): number {
  return mem.arenaByte(writer) + (pos & (mem.layout.spillBytes - 1)) + HDR_BYTES;
}

/** Free the allocation at pos (once: see the header). A no-op if it is already freed and not reused. */
export function arenaFree(mem: Memory, writer: number, pos: number): void {
  const tag = ((mem.arenaByte(writer) + (pos & (mem.layout.spillBytes - 1))) >> 2) + 1;
  Atomics.compareExchange(mem.i32, tag, pos, pos | FREED_BIT);
}

/** Whether the allocation at pos is still live (not freed, bytes not reused). */
export function arenaLive(mem: Memory, writer: number, pos: number): boolean {
  return Atomics.load(mem.i32, ((mem.arenaByte(writer) + (pos & (mem.layout.spillBytes - 1))) >> 2) + 1) === pos;
}

/**
 * Recovery, for a writer that is dead: free every live chunk that no published cell refers
 * to (the dead writer allocated it but never published it). `referenced` holds the positions
 * published cells still name. Call before a replacement starts writing to this arena.
 */
export function arenaScavenge(mem: Memory, writer: number, referenced: ReadonlySet<number>): number {
  const i32 = mem.i32;
  const ctl = mem.arenaCtlWord(writer);
  const base = mem.arenaByte(writer);
  const mask = mem.layout.spillBytes - 1;
  const alloc = i32[ctl + ALLOC]!;
  let freed = 0;
  for (let r = i32[ctl + RECLAIM]!; r !== alloc;) {
    const w = (base + (r & mask)) >> 2;
    const len = i32[w]!;
    if (len <= 0) break; // never written: nothing beyond either
    if (Atomics.load(i32, w + 1) === r && !referenced.has(r)) {
      Atomics.compareExchange(i32, w + 1, r, r | FREED_BIT);
      freed++;
    }
    r = (r + len) | 0;
  }
  return freed;
}
