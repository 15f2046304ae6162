// All of a runtime's rings in one region: each slot's own ring, block-aligned, readable by any
// thread, continued by a replacement thread, saved and streamed as a whole.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TraceRings } from '../../src/trace/rings.js';
import { TraceRing } from '../../src/trace/ring.js';
import { readTrace, saveFlight, TraceStream, type TraceMeta } from '../../src/trace/file.js';
import { replay } from '../../src/trace/replay.js';

const dir = mkdtempSync(join(tmpdir(), 'sluice-rings-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const META: Omit<TraceMeta, 'mode' | 'recordVersion' | 'threads'> = {
  clock: { originMicros: 0, wallMs: null }, workers: 2, ringCapacity: 4, globalSlots: 4, cpuTie: false, workerCpus: [null, null],
  chains: [[0, 1], [1], [1], [0, 1]], producers: [{ name: 'p', rate: 0, burst: 0, slots: 2 }], tasks: [{ name: 't', weight: null }],
};

describe('TraceRings', () => {
  it('A + W rings back to back, each on 128-byte blocks, inside the region and nowhere else', () => {
    const words = TraceRings.words(3, 2, 16);
    expect(words).toBe(5 * TraceRing.words(16));
    const i32 = new Int32Array(new SharedArrayBuffer((64 + words + 64) * 4)).fill(-7);
    const rings = new TraceRings(i32, 64, 3, 2, 16, true);
    const bases = [0, 1, 2].map((a) => rings.ringBase(0, a)).concat([0, 1].map((w) => rings.ringBase(1, w)));
    expect(bases).toEqual([0, 1, 2, 3, 4].map((k) => 64 + k * TraceRing.words(16)));
    for (const b of bases) expect((b * 4) % 128).toBe(0);
    expect(i32.subarray(0, 64).every((v) => v === -7)).toBe(true);
    expect(i32.subarray(64 + words).every((v) => v === -7)).toBe(true);
    expect(() => rings.ring(1, 2)).toThrow(/no trace ring for worker 2/);
    expect(() => rings.ring(0, -1)).toThrow(RangeError);
    expect(() => new TraceRings(i32, 64, 3, 3, 16, true)).toThrow(/do not fit/);
  });

  it('laid out on memory known to be zero, only the headers are written: the slots stay untouched until a thread records', () => {
    const words = TraceRings.words(2, 1, 8);
    const marked = (): Int32Array => new Int32Array(new SharedArrayBuffer(words * 4)).fill(-7);
    const lazy = marked();
    const rings = new TraceRings(lazy, 0, 2, 1, 8, true, true);
    const headers = [0, 1, 2].map((k) => k * TraceRing.words(8));
    const written = [...lazy.keys()].filter((i) => lazy[i] !== -7);
    // Each ring's CAPACITY and MAGIC words, nothing else (NEXT and WRAPS are 0 on zeroed memory).
    expect(written).toEqual(headers.flatMap((b) => [b + 1, b + 2]));
    // Without `zeroed`, every word of every ring is cleared first.
    const eager = marked();
    new TraceRings(eager, 0, 2, 1, 8, true);
    expect([...eager.keys()].filter((i) => eager[i] !== 0 && !headers.some((b) => i === b + 1 || i === b + 2))).toEqual([]);
    // On a fresh (zero) buffer both layouts read and record alike.
    const fresh = new Int32Array(new SharedArrayBuffer(words * 4));
    const r = new TraceRings(fresh, 0, 2, 1, 8, true, true);
    r.recorder(1, 0).meta(5, 'worker 0', 3);
    expect(r.ring(1, 0).snapshot().records.map((x) => x.label)).toEqual(['worker 0']);
    expect(rings.ring(0, 0).capacity).toBe(8);
  });

  it('each thread records into its own ring; a replacement continues a slot\'s positions; saved and streamed whole', () => {
    const i32 = new Int32Array(new SharedArrayBuffer(TraceRings.words(2, 2, 8) * 4));
    const rings = new TraceRings(i32, 0, 2, 2, 8, true);
    const stream = new TraceStream(join(dir, 'all.trace'), rings.threads(), META, 4);
    const main = rings.recorder(0, 0);
    const w1 = rings.recorder(1, 1);
    main.meta(0, 'main', 1);
    w1.meta(0, 'worker 1', 2);
    w1.frozen(1, 0, 0, 0);
    const replacement = rings.recorder(1, 1); // the slot's thread died; a new one takes its ring
    replacement.respawned(2, 1, 1, 3, 0);
    stream.close();
    saveFlight(join(dir, 'flight.trace'), rings.threads(), META);
    for (const f of [readTrace(join(dir, 'all.trace')), readTrace(join(dir, 'flight.trace'))]) {
      expect(f.records.map((r) => `${r.writerClass}${r.writerIndex}@${r.tick}`).sort()).toEqual(['00@0', '11@0', '11@1', '11@2']);
      expect([f.bad, f.missing, f.lost]).toEqual([0, 0, 0]);
      expect(f.meta.threads.map((t) => t.name)).toEqual(['main', 'attached 1', 'worker 0', 'worker 1']);
    }
    expect(replay(readTrace(join(dir, 'all.trace'))).identical).toBe(true);
  });
});
