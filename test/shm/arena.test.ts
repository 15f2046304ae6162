import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ARENA_FULL, ArenaWriter, arenaDataByte, arenaFree, arenaLive } from '../../src/shm/arena.js';
import { ARENA_GRANULE, Memory } from '../../src/shm/layout.js';
import { smallMemory } from '../helpers/shm.js';

const SIZE = 1024;
const HDR = 8; // chunk header bytes (the length); the data starts HDR bytes into the chunk
const G = ARENA_GRANULE; // chunks start on granules; tags live in a side table, one per granule
/** Bytes a chunk for an n-byte value takes: header plus data, rounded up to whole granules. */
const need = (n: number): number => Math.ceil((n + HDR) / G) * G;
const MINIMAL = SIZE / G; // minimal chunks (one granule each) an empty arena holds

function arena(): { mem: Memory; a: ArenaWriter } {
  const mem = smallMemory({ spillBytes: SIZE });
  return { mem, a: new ArenaWriter(mem, 0) };
}

/** Allocate minimal chunks until the arena says full (at most one more than can fit). */
function fillWithMinimalChunks(a: ArenaWriter): number[] {
  const got: number[] = [];
  for (let pos = a.alloc(0); pos !== ARENA_FULL && got.length <= MINIMAL; pos = a.alloc(0)) got.push(pos);
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
    let expected = 0;
    for (const n of [0, 1, 56, 57, 100, 300]) {
      const pos = a.alloc(n);
      expect(pos).toBe(expected); // granule-aligned, header + data rounded up to granules
      expect(arenaDataByte(mem, 0, pos)).toBe(a.dataByte(pos));
      expect(a.dataByte(pos)).toBe(mem.arenaByte(0) + pos + HDR);
      expect((a.dataByte(pos) - HDR) % G).toBe(0);
      expected += need(n);
    }
    expect(a.used()).toBe(expected);
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
    const first = a.alloc(600); // [0, 640)
    const second = a.alloc(300); // [640, 960)
    expect([first, second]).toEqual([0, 640]);
    mem.u8.fill(0x5a, a.dataByte(second), a.dataByte(second) + 300);
    arenaFree(mem, 0, first);
    const third = a.alloc(200); // 256 bytes do not fit in [960, 1024): padding, then [0, 256)
    expect(third).toBe(SIZE);
    expect(a.dataByte(third)).toBe(mem.arenaByte(0) + HDR);
    mem.u8.fill(0xa5, a.dataByte(third), a.dataByte(third) + 200);
    expect(mem.u8.subarray(a.dataByte(second), a.dataByte(second) + 300).every((b) => b === 0x5a)).toBe(true);
    // Free everything: the whole arena, padding included, must come back.
    arenaFree(mem, 0, second);
    arenaFree(mem, 0, third);
    expect(fillWithMinimalChunks(a)).toHaveLength(MINIMAL);
  });

  it('reclaim is in order: a live chunk holds back reuse of the freed chunks after it, and they are reused once it is freed', () => {
    const { mem, a } = arena();
    const first = a.alloc(100); // [0, 128)
    const second = a.alloc(300); // [128, 448)
    const third = a.alloc(500); // [448, 960)
    expect([first, second, third]).toEqual([0, 128, 448]);
    arenaFree(mem, 0, third);
    arenaFree(mem, 0, second);
    mem.u8.fill(0x33, a.dataByte(first), a.dataByte(first) + 100);
    // 256 bytes: not in [960, 1024), and [0, 128) is still live.
    expect(a.alloc(200)).toBe(ARENA_FULL);
    expect(mem.u8.subarray(a.dataByte(first), a.dataByte(first) + 100).every((b) => b === 0x33)).toBe(true);
    arenaFree(mem, 0, first);
    expect(a.alloc(200)).toBe(SIZE); // padding [960, 1024), then [0, 256) of the next lap
  });

  it('after everything is freed, one reclaiming alloc brings used() back to that chunk alone, and unalloc to 0', () => {
    const { mem, a } = arena();
    const chunks = fillWithMinimalChunks(a);
    expect(a.used()).toBe(SIZE);
    for (const pos of chunks) arenaFree(mem, 0, pos);
    expect(chunks).toHaveLength(MINIMAL);
    const pos = a.alloc(0);
    expect(a.used()).toBe(G);
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
    expect(fillWithMinimalChunks(a)).toHaveLength(MINIMAL);
  });

  it('a repeated free is a no-op even after the chunk\'s bytes were reused, whatever the data', () => {
    const { mem, a } = arena();
    // Lap 0: [0, 64) lead, [64, 128) x, [128, 192) w, [192, 256) y, [256, 1024) z. Every one
    // is freed, twice (a reader that died after freeing, and the cell read again).
    const lead = a.alloc(G - HDR);
    const x = a.alloc(G - HDR);
    const w = a.alloc(G - HDR);
    const y = a.alloc(G - HDR);
    const z = a.alloc(SIZE - 4 * G - HDR);
    expect([lead, x, w, y, z]).toEqual([0, G, 2 * G, 3 * G, 4 * G]);
    const old = [lead, x, w, y, z];
    for (const pos of [...old, ...old]) arenaFree(mem, 0, pos);
    // Lap 1 reuses the bytes: n0 [0, 64) and n1 [64, 128) start exactly at lead's and x's
    // offsets, n2 [128, 256) starts at w's and covers y's in its middle, n3 [256, 448) starts
    // exactly at z's. The data of each is, as int32 everywhere, x's, y's or z's old position.
    const n0 = a.alloc(G - HDR);
    const n1 = a.alloc(G - HDR);
    const n2 = a.alloc(2 * G - HDR);
    const n3 = a.alloc(3 * G - HDR);
    expect([n0, n1, n2, n3]).toEqual([SIZE, SIZE + G, SIZE + 2 * G, SIZE + 4 * G]);
    const fills: [number, number, number][] = [[n0, x, G - HDR], [n1, x, G - HDR], [n2, y, 2 * G - HDR], [n3, z, 3 * G - HDR]];
    const word = (pos: number, v: number, n: number): void => {
      mem.i32.fill(v, a.dataByte(pos) >> 2, (a.dataByte(pos) + n) >> 2);
    };
    for (const [pos, v, n] of fills) word(pos, v, n);
    const intact = (): boolean => fills.every(([pos, v, n]) => mem.i32.subarray(a.dataByte(pos) >> 2, (a.dataByte(pos) + n) >> 2).every((d) => d === v));
    expect(intact()).toBe(true);

    // Every old position freed again (and again): all new chunks stay live, their data intact.
    for (const pos of [...old, ...old]) arenaFree(mem, 0, pos);
    for (const n of [n0, n1, n2, n3]) expect(arenaLive(mem, 0, n), `chunk at ${n}`).toBe(true);
    expect(intact()).toBe(true);

    // And the writer agrees: only [448, 1024) is free (nine granules), and a value that would
    // need n1's bytes is refused until n1 really is freed.
    expect(a.alloc(a.maxValueBytes)).toBe(ARENA_FULL);
    const rest = fillWithMinimalChunks(a);
    expect(rest).toHaveLength(9);
    expect(intact()).toBe(true);
    arenaFree(mem, 0, n0);
    expect(a.alloc(G - HDR)).toBe(2 * SIZE); // n0's granule, the first of lap 2
    expect(a.alloc(G - HDR)).toBe(ARENA_FULL); // n1 is live
    for (const pos of old) arenaFree(mem, 0, pos);
    expect(a.alloc(G - HDR)).toBe(ARENA_FULL);
    expect(intact()).toBe(true);
    arenaFree(mem, 0, n1);
    expect(a.alloc(G - HDR)).toBe(2 * SIZE + G);
  });

  it('an arena with nothing live takes a value of maxValueBytes wherever its cursor stands', () => {
    for (let k = 1; k <= MINIMAL; k++) {
      const { mem, a } = arena();
      arenaFree(mem, 0, a.alloc(k * G - HDR)); // move the cursor to granule k (mod MINIMAL), then free
      expect(a.alloc(a.maxValueBytes), `after a freed chunk of ${k} granules`).not.toBe(ARENA_FULL);
      expect(a.used()).toBe(SIZE);
    }
  });
});

describe('Arena: random alloc / out-of-order free / repeated free / unalloc (property, vs a model of live chunks)', () => {
  interface Chunk { id: number; pos: number; n: number; need: number; live: boolean; data: Buffer }
  type Op = { alloc: number; pick: number } | { free: number } | { staleFree: number } | 'unalloc';
  const op: fc.Arbitrary<Op> = fc.oneof(
    { weight: 4, arbitrary: fc.record({ alloc: fc.integer({ min: 0, max: SIZE / 2 - HDR }), pick: fc.nat() }) },
    { weight: 1, arbitrary: fc.record({ alloc: fc.integer({ min: SIZE / 2, max: SIZE - HDR }), pick: fc.nat() }) },
    { weight: 4, arbitrary: fc.nat().map((i) => ({ free: i })) },
    { weight: 2, arbitrary: fc.nat().map((i) => ({ staleFree: i })) },
    { weight: 1, arbitrary: fc.constant('unalloc' as const) },
  );

  /** n bytes holding the int32 v (little-endian) over and over: v "as int32 everywhere". */
  const int32Pattern = (v: number, n: number): Buffer => {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = (v >>> (8 * (i & 3))) & 0xff;
    return b;
  };

  it('live chunks never overlap and keep their bytes, a repeated free never touches them, and ARENA_FULL means the space really is not there', () => {
    fc.assert(fc.property(fc.array(op, { maxLength: 150, size: 'max' }), (ops) => {
      const { mem, a } = arena();
      const base = mem.arenaByte(0);
      const chunks: Chunk[] = []; // allocation order, freed ones kept until reclaimable
      const freed: number[] = []; // every position ever freed (each may be freed again, any time)
      let cursor = 0; // end of the most recent allocation (or where an unalloc put it back)
      let nextId = 1;
      const live = (): Chunk[] => chunks.filter((c) => c.live);
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
          freed.push(c.pos);
        } else if ('staleFree' in o) {
          // Free again a chunk freed before, whether or not its bytes were reclaimed and reused
          // since (a cell read again after a crash): a no-op by contract.
          if (freed.length === 0) continue;
          arenaFree(mem, 0, freed[o.staleFree % freed.length]!);
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
          // The data: mostly a position freed before, as int32 everywhere (what a chunk tag
          // kept in the arena bytes would have been mistaken for), else a byte per chunk.
          const id = nextId++;
          const data = freed.length > 0 && o.pick % 4 !== 0
            ? int32Pattern(freed[o.pick % freed.length]!, n)
            : Buffer.alloc(n, (id % 255) + 1);
          const c: Chunk = { id, pos, n, need: need(n), live: true, data };
          expect(pos % G).toBe(0);
          expect(start(c) % G).toBe(base % G);
          expect(start(c)).toBeGreaterThanOrEqual(base);
          expect(start(c) + c.need).toBeLessThanOrEqual(base + SIZE);
          for (const other of live()) {
            const disjoint = start(c) + c.need <= start(other) || start(other) + other.need <= start(c);
            expect(disjoint, `chunk ${c.id} overlaps live chunk ${other.id}`).toBe(true);
          }
          mem.u8.set(data, a.dataByte(pos));
          chunks.push(c);
          cursor = (pos + c.need) | 0;
        }
        // Drop fully reclaimable chunks at the front of the model (freed, before any live one).
        while (chunks.length > 0 && !chunks[0]!.live) chunks.shift();
        // Every live chunk is live for its readers and still holds what was written into it;
        // no freed position is live again.
        for (const c of live()) {
          expect(arenaLive(mem, 0, c.pos), `chunk ${c.id} at ${c.pos} is not live`).toBe(true);
          expect(mem.buf.subarray(a.dataByte(c.pos), a.dataByte(c.pos) + c.n).equals(c.data), `chunk ${c.id} was overwritten`).toBe(true);
        }
        for (const pos of freed) expect(arenaLive(mem, 0, pos), `freed position ${pos} is live`).toBe(false);
        const liveBytes = live().reduce((s, c) => s + c.need, 0);
        expect(a.used()).toBeGreaterThanOrEqual(liveBytes);
        expect(a.used()).toBeLessThanOrEqual(SIZE);
      }

      // Free the rest (and everything again): the whole arena is usable again, exactly
      // SIZE / 64 minimal chunks.
      for (const c of live()) arenaFree(mem, 0, c.pos);
      for (const pos of freed) arenaFree(mem, 0, pos);
      const minimal = fillWithMinimalChunks(a);
      expect(minimal).toHaveLength(MINIMAL);
      expect(a.used()).toBe(SIZE);
      for (const pos of minimal) arenaFree(mem, 0, pos);
      a.unalloc(a.alloc(0));
      expect(a.used()).toBe(0);
    }));
  });
});
