import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ARENA_FULL, ArenaWriter, arenaDataByte, arenaFree } from '../../src/shm/arena.js';
import { Memory } from '../../src/shm/layout.js';
import { smallMemory } from '../helpers/shm.js';

const SIZE = 1024;
const HDR = 8; // chunk header bytes: [length, LIVE | FREED]
const need = (n: number): number => (n + HDR + 7) & ~7;

function arena(): { mem: Memory; a: ArenaWriter } {
  const mem = smallMemory({ spillBytes: SIZE });
  return { mem, a: new ArenaWriter(mem, 0) };
}

/** Allocate minimal chunks until the arena says full (at most one more than can fit). */
function fillWithMinimalChunks(a: ArenaWriter): number[] {
  const got: number[] = [];
  for (let pos = a.alloc(0); pos !== ARENA_FULL && got.length <= SIZE / HDR; pos = a.alloc(0)) got.push(pos);
  return got;
}

describe('Arena: unit', () => {
  it('a value of exactly maxValueBytes fits a fresh arena; one byte more never fits', () => {
    const { a } = arena();
    expect(a.maxValueBytes).toBe(SIZE - HDR);
    expect(a.alloc(SIZE - HDR + 1)).toBe(ARENA_FULL);
    expect(a.used()).toBe(0);
    const pos = a.alloc(SIZE - HDR);
    expect(pos).not.toBe(ARENA_FULL);
    expect(a.used()).toBe(SIZE);
    expect(a.alloc(0)).toBe(ARENA_FULL);
  });

  it('the reader and the writer agree on where a chunk\'s data is', () => {
    const { mem, a } = arena();
    for (const n of [0, 1, 100, 300]) {
      const pos = a.alloc(n);
      expect(arenaDataByte(mem, 0, pos)).toBe(a.dataByte(pos));
      expect(a.dataByte(pos) % 8).toBe(0);
    }
  });

  it('unalloc gives the most recent allocation back, and the next alloc reuses its bytes', () => {
    const { a } = arena();
    a.alloc(40);
    const before = a.used();
    const pos = a.alloc(100);
    expect(a.used()).toBe(before + need(100));
    a.unalloc(pos);
    expect(a.used()).toBe(before);
    expect(a.alloc(100)).toBe(pos);
  });

  it('a chunk that would straddle the end starts at the beginning, and the padding is reclaimed like a freed chunk', () => {
    const { mem, a } = arena();
    const first = a.alloc(600); // [0, 608)
    const second = a.alloc(300); // [608, 920)
    mem.u8.fill(0x5a, a.dataByte(second), a.dataByte(second) + 300);
    arenaFree(mem, 0, first);
    const third = a.alloc(200); // 208 bytes do not fit in [920, 1024): padding, then [0, 208)
    expect(third).not.toBe(ARENA_FULL);
    expect(a.dataByte(third)).toBe(mem.arenaByte(0) + HDR);
    mem.u8.fill(0xa5, a.dataByte(third), a.dataByte(third) + 200);
    expect(mem.u8.subarray(a.dataByte(second), a.dataByte(second) + 300).every((b) => b === 0x5a)).toBe(true);
    // Free everything: the whole arena, padding included, must come back.
    arenaFree(mem, 0, second);
    arenaFree(mem, 0, third);
    expect(fillWithMinimalChunks(a)).toHaveLength(SIZE / HDR);
  });

  it('reclaim is in order: a live chunk holds back reuse of the freed chunks after it, and they are reused once it is freed', () => {
    const { mem, a } = arena();
    const first = a.alloc(100); // [0, 112)
    const second = a.alloc(300); // [112, 424)
    const third = a.alloc(500); // [424, 936)
    arenaFree(mem, 0, third);
    arenaFree(mem, 0, second);
    mem.u8.fill(0x33, a.dataByte(first), a.dataByte(first) + 100);
    // 208 bytes: not in [936, 1024), and [0, 112) is still live.
    expect(a.alloc(200)).toBe(ARENA_FULL);
    expect(mem.u8.subarray(a.dataByte(first), a.dataByte(first) + 100).every((b) => b === 0x33)).toBe(true);
    arenaFree(mem, 0, first);
    expect(a.alloc(200)).not.toBe(ARENA_FULL);
  });

  it('after everything is freed, one reclaiming alloc brings used() back to that chunk alone, and unalloc to 0', () => {
    const { mem, a } = arena();
    const chunks = fillWithMinimalChunks(a);
    expect(a.used()).toBe(SIZE);
    for (const pos of chunks) arenaFree(mem, 0, pos);
    const pos = a.alloc(0);
    expect(a.used()).toBe(HDR);
    a.unalloc(pos);
    expect(a.used()).toBe(0);
  });

  it('a repeated free is a no-op while the chunk\'s bytes are not reused', () => {
    const { mem, a } = arena();
    const first = a.alloc(100); // live: nothing after it can be reclaimed
    const second = a.alloc(200);
    arenaFree(mem, 0, second);
    arenaFree(mem, 0, second);
    arenaFree(mem, 0, first);
    arenaFree(mem, 0, first);
    // Both stay freed: the whole arena comes back.
    expect(fillWithMinimalChunks(a)).toHaveLength(SIZE / HDR);
  });

  it('an arena with nothing live takes a value of maxValueBytes wherever its cursor stands', () => {
    for (let before = 0; before < SIZE - HDR; before += 8 * 13) {
      const { mem, a } = arena();
      arenaFree(mem, 0, a.alloc(before)); // move the cursor, then free: nothing is live
      expect(a.alloc(a.maxValueBytes), `after a freed chunk of ${need(before)} bytes`).not.toBe(ARENA_FULL);
    }
  });
});

describe('Arena: random alloc / out-of-order free / unalloc (property, vs a model of live chunks)', () => {
  interface Chunk { id: number; pos: number; n: number; need: number; live: boolean }
  type Op = { alloc: number } | { free: number } | { staleFree: number } | 'unalloc';
  const op: fc.Arbitrary<Op> = fc.oneof(
    { weight: 4, arbitrary: fc.integer({ min: 0, max: SIZE / 2 - HDR }).map((n) => ({ alloc: n })) },
    { weight: 1, arbitrary: fc.integer({ min: SIZE / 2, max: SIZE - HDR }).map((n) => ({ alloc: n })) },
    { weight: 4, arbitrary: fc.nat().map((i) => ({ free: i })) },
    { weight: 1, arbitrary: fc.nat().map((i) => ({ staleFree: i })) },
    { weight: 1, arbitrary: fc.constant('unalloc' as const) },
  );

  it('live chunks never overlap, keep their bytes, and ARENA_FULL means the space really is not there', () => {
    fc.assert(fc.property(fc.array(op, { maxLength: 150, size: 'max' }), (ops) => {
      const { mem, a } = arena();
      const base = mem.arenaByte(0);
      const chunks: Chunk[] = []; // allocation order, freed ones kept until reclaimable
      let cursor = 0; // end of the most recent allocation (or where an unalloc put it back)
      let nextId = 1;
      const live = (): Chunk[] => chunks.filter((c) => c.live);
      const fill = (c: Chunk): number => (c.id % 255) + 1;
      const start = (c: Chunk): number => a.dataByte(c.pos) - HDR;

      for (const o of ops) {
        if (o === 'unalloc') {
          const last = chunks[chunks.length - 1];
          if (last === undefined || !last.live) continue;
          chunks.pop();
          a.unalloc(last.pos);
          cursor = last.pos;
        } else if ('free' in o) {
          const ls = live();
          if (ls.length === 0) continue;
          const c = ls[o.free % ls.length]!;
          c.live = false;
          arenaFree(mem, 0, c.pos);
        } else if ('staleFree' in o) {
          // Free again a chunk whose bytes cannot have been reused yet (a live chunk precedes it):
          // a no-op by contract. (After reuse a repeated free is not allowed: see arena.ts.)
          const held = chunks.filter((c) => !c.live);
          if (held.length === 0) continue;
          arenaFree(mem, 0, held[o.staleFree % held.length]!.pos);
        } else {
          const n = o.alloc;
          const pos = a.alloc(n);
          if (pos === ARENA_FULL) {
            // In-order reclaim frees up to the oldest live chunk; the request needs padding to
            // the end first if it would straddle it. It must not have fitted in that space.
            const oldest = live()[0];
            const frontier = oldest ? oldest.pos : cursor;
            const off = ((cursor % SIZE) + SIZE) % SIZE;
            const pad = off + need(n) > SIZE ? SIZE - off : 0;
            expect((cursor + pad + need(n) - frontier) | 0).toBeGreaterThan(SIZE);
            // And never while nothing is live: an idle arena takes anything up to maxValueBytes.
            expect(live().length).toBeGreaterThan(0);
            continue;
          }
          const c: Chunk = { id: nextId++, pos, n, need: need(n), live: true };
          expect(pos % 8).toBe(0);
          expect(start(c)).toBeGreaterThanOrEqual(base);
          expect(start(c) + c.need).toBeLessThanOrEqual(base + SIZE);
          for (const other of live()) {
            const disjoint = start(c) + c.need <= start(other) || start(other) + other.need <= start(c);
            expect(disjoint, `chunk ${c.id} overlaps live chunk ${other.id}`).toBe(true);
          }
          mem.u8.fill(fill(c), a.dataByte(pos), a.dataByte(pos) + n);
          chunks.push(c);
          cursor = (pos + c.need) | 0;
        }
        // Drop fully reclaimable chunks at the front of the model (freed, before any live one).
        while (chunks.length > 0 && !chunks[0]!.live) chunks.shift();
        // Every live chunk still holds what was written into it.
        for (const c of live()) {
          const bytes = mem.u8.subarray(a.dataByte(c.pos), a.dataByte(c.pos) + c.n);
          expect(bytes.every((b) => b === fill(c)), `chunk ${c.id} was overwritten`).toBe(true);
        }
        const liveBytes = live().reduce((s, c) => s + c.need, 0);
        expect(a.used()).toBeGreaterThanOrEqual(liveBytes);
        expect(a.used()).toBeLessThanOrEqual(SIZE);
      }

      // Free the rest: the whole arena is usable again, exactly SIZE / 8 minimal chunks.
      for (const c of live()) arenaFree(mem, 0, c.pos);
      const minimal = fillWithMinimalChunks(a);
      expect(minimal).toHaveLength(SIZE / HDR);
      expect(a.used()).toBe(SIZE);
      for (const pos of minimal) arenaFree(mem, 0, pos);
      a.unalloc(a.alloc(0));
      expect(a.used()).toBe(0);
    }));
  });
});
