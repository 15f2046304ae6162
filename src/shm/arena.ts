/**
 * Spill arena: a byte ring in shared memory for values too large for a cell's inline bytes.
 *
 * One arena per writer thread (each attachment for payloads, each worker for results). Chunks
 * start on 64-byte granules. Who writes what:
 *   ALLOC, RECLAIM   the writer thread only (single-writer counters, kept in its arena block).
 *                    One thread, not one ArenaWriter: attachment 0's thread holds two writers on
 *                    arena 0, its attachment's codec and the supervisor's (supervisor/context.ts), and
 *                    only the first ever allocates (the supervisor encodes nothing but reasons
 *                    clipped to travel inline, runtime/cells.ts clipReason). Both run on that one
 *                    thread, never interleaved within a call, so the counters still have one
 *                    writer. arenaScavenge below writes tags (CAS) of a *dead* writer's arena,
 *                    before any replacement writes to it.
 *   chunk length     the writer, in the chunk's first word; only the writer reads it (reclaim)
 *   chunk tag        one word per granule, in a side table outside the arena bytes. The writer
 *                    stores tag = the chunk's position (LIVE) before publishing the cell that
 *                    names it; a reader frees it with CAS(tag, pos, pos | 1) (FREED).
 *
 * Readers free out of order; the writer reclaims in order, from RECLAIM forward over FREED
 * chunks, so a slow reader holds back reuse of everything after its chunk, never corrupts it.
 * A chunk never straddles the end: the tail gap is filled with a pre-freed padding chunk.
 *
 * Freeing is idempotent and safe against reuse, because tags live outside the data: a free names
 * the allocation (pos), and the tag of that granule holds pos only while that very allocation is
 * live. After the chunk is freed, reclaimed and its bytes reused, the granule's tag is either
 * pos | 1 (no chunk starts there now) or a later position (one does): the CAS fails either way.
 * Crash recovery relies on it: a cell read again after its reader died may be freed twice.
 * Positions are wrapping int32 byte counters; the arena size is a power of two.
 */
import { ARENA_GRANULE, Memory } from './layout.js';
import { loadAcquire } from './order.js';

const ALLOC = 0;
const RECLAIM = 1;
const HDR_BYTES = 8;
const FREED_BIT = 1;
const GRANULE_MASK = ARENA_GRANULE - 1;

/** Returned by alloc() when the arena has no room right now. */
export const ARENA_FULL = -1;

const alignGranule = (n: number): number => (n + GRANULE_MASK) & ~GRANULE_MASK;

/** Writer side. One per writer thread. */
export class ArenaWriter {
  private readonly i32: Int32Array;
  private readonly ctl: number;
  private readonly base: number;
  private readonly size: number;
  private readonly mask: number;

  constructor(private readonly mem: Memory, readonly writer: number) {
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
    const need = alignGranule(n + HDR_BYTES);
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
      i32[(this.base + off) >> 2] = pad;
      Atomics.store(i32, this.tagWord(pos), pos | FREED_BIT);
      pos = (pos + pad) | 0;
    }
    i32[(this.base + (pos & this.mask)) >> 2] = need;
    Atomics.store(i32, this.tagWord(pos), pos);
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
    const need = alignGranule(n + HDR_BYTES);
    this.i32[(this.base + (pos & this.mask)) >> 2] = need;
    this.i32[this.ctl + ALLOC] = (pos + need) | 0;
  }

  /** Bytes currently held by live or not-yet-reclaimed chunks. */
  used(): number {
    return (this.i32[this.ctl + ALLOC]! - this.i32[this.ctl + RECLAIM]!) | 0;
  }

  private tagWord(pos: number): number { return this.mem.arenaTagWord(this.writer, pos & this.mask); }

  private fits(pos: number, bytes: number): boolean {
    return ((pos + bytes - this.i32[this.ctl + RECLAIM]!) | 0) <= this.size;
  }

  private reclaim(): void {
    const i32 = this.i32;
    const alloc = i32[this.ctl + ALLOC]!;
    let r = i32[this.ctl + RECLAIM]!;
    while (r !== alloc) {
      if ((loadAcquire(i32, this.tagWord(r)) & FREED_BIT) === 0) break;
      r = (r + i32[(this.base + (r & this.mask)) >> 2]!) | 0;
    }
    i32[this.ctl + RECLAIM] = r;
  }
}

/** Reader side: byte offset of a chunk's data, and freeing it once copied out. */
export function arenaDataByte(mem: Memory, writer: number, pos: number): number {
  return mem.arenaByte(writer) + (pos & (mem.layout.spillBytes - 1)) + HDR_BYTES;
}

/** Free the allocation at pos: idempotent, and a no-op once its bytes were reused (see the header). */
export function arenaFree(mem: Memory, writer: number, pos: number): void {
  Atomics.compareExchange(mem.i32, mem.arenaTagWord(writer, pos & (mem.layout.spillBytes - 1)), pos, pos | FREED_BIT);
}

/** Whether the allocation at pos is still live (not freed, bytes not reused). */
export function arenaLive(mem: Memory, writer: number, pos: number): boolean {
  return loadAcquire(mem.i32, mem.arenaTagWord(writer, pos & (mem.layout.spillBytes - 1))) === pos;
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
    const len = i32[(base + (r & mask)) >> 2]!;
    if (len <= 0) break; // never written: nothing beyond either
    const tag = mem.arenaTagWord(writer, r & mask);
    if (Atomics.load(i32, tag) === r && !referenced.has(r)) {
      Atomics.compareExchange(i32, tag, r, r | FREED_BIT);
      freed++;
    }
    r = (r + len) | 0;
  }
  return freed;
}
