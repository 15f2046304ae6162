import { afterEach, describe, expect, it } from 'vitest';
import { Worker } from 'node:worker_threads';
import { once } from 'node:events';
import { RECORD_WORDS, R_CHECK, R_SEQ, decodeFrames, emptyRecord, type TraceRecord } from '../../src/trace/records.js';
import { TraceRing, T_HEADER_WORDS, T_NEXT } from '../../src/trace/ring.js';
import { fillSeeded, isSeeded } from './seeded.js';

function ringOf(capacity: number, extraWords = 0): { i32: Int32Array; ring: TraceRing } {
  const i32 = new Int32Array(new SharedArrayBuffer((TraceRing.words(capacity) + extraWords) * 4));
  return { i32, ring: new TraceRing(i32, 0, capacity, true) };
}

function appendSeeded(ring: TraceRing, w: number, from: number, to: number): void {
  const r = emptyRecord();
  for (let p = from; p < to; p++) { fillSeeded(r, w, p); ring.append(r); }
}

const ticks = (rs: TraceRecord[]): number[] => rs.map((r) => r.tick);
const range = (a: number, b: number): number[] => Array.from({ length: b - a }, (_, i) => a + i);

describe('TraceRing: single thread', () => {
  it('a capacity that is not a power of two, or a region that does not fit, is a RangeError', () => {
    const i32 = new Int32Array(new SharedArrayBuffer(TraceRing.words(8) * 4));
    for (const bad of [0, 1, 3, 6, 12]) expect(() => new TraceRing(i32, 0, bad, true)).toThrow(RangeError);
    expect(() => new TraceRing(i32, 0, 16, true)).toThrow(RangeError);
    expect(() => new TraceRing(i32, 1, 8, true)).toThrow(RangeError);
    expect(new TraceRing(i32, 0, 8, true).capacity).toBe(8);
  });

  it('a view of a region that was never laid out, or laid out with another capacity, is refused', () => {
    const { i32 } = ringOf(8);
    expect(() => new TraceRing(i32, 0, 4)).toThrow(RangeError);
    expect(new TraceRing(i32, 0, 8).capacity).toBe(8);
    expect(() => new TraceRing(new Int32Array(new SharedArrayBuffer(TraceRing.words(8) * 4)), 0, 8)).toThrow(RangeError);
  });

  it('slots start on a 128-byte block and a region is whole blocks', () => {
    expect(T_HEADER_WORDS * 4).toBe(128);
    for (const c of [2, 8, 1024]) expect((TraceRing.words(c) * 4) % 128).toBe(0);
  });

  it('an empty ring snapshots to nothing, nothing lost', () => {
    const { ring } = ringOf(8);
    expect(ring.snapshot()).toEqual({ records: [], first: 0, lost: 0, refused: 0 });
  });

  it('below capacity the snapshot is every record, oldest first', () => {
    const { ring } = ringOf(8);
    appendSeeded(ring, 3, 0, 5);
    const s = ring.snapshot();
    expect(ticks(s.records)).toEqual(range(0, 5));
    expect(s.records.every((r) => isSeeded(r, 3))).toBe(true);
    expect([s.first, s.lost, s.refused]).toEqual([0, 0, 0]);
  });

  it('a flight recorder keeps the latest `capacity` records and counts the overwritten ones as lost', () => {
    const { ring } = ringOf(8);
    appendSeeded(ring, 1, 0, 29);
    const s = ring.snapshot();
    expect(ticks(s.records)).toEqual(range(21, 29));
    expect([s.first, s.lost, s.refused]).toEqual([21, 21, 0]);
    expect(ticks(ring.snapshot(3).records)).toEqual([26, 27, 28]);
  });

  it('appending allocates nothing per record and leaves the words outside the region alone', () => {
    const { i32, ring } = ringOf(4, 32);
    i32.fill(0x5a5a5a5a, TraceRing.words(4));
    appendSeeded(ring, 0, 0, 100);
    expect(i32.subarray(TraceRing.words(4)).every((v) => v === 0x5a5a5a5a)).toBe(true);
  });

  it('a writer that died mid-record (slot odd, body half written) loses that slot\'s old record, and nothing else', () => {
    const { i32, ring } = ringOf(8);
    appendSeeded(ring, 2, 0, 12);
    // Position 12 reuses the slot of position 4: step 1 done, half the body written, then death.
    const slot = ring.slotWord(12);
    Atomics.store(i32, slot + R_SEQ, 2 * 12 + 1);
    for (let w = 1; w < 8; w++) i32[slot + w] = -7;
    const s = new TraceRing(i32, 0, 8).snapshot();
    expect(ticks(s.records)).toEqual(range(5, 12));
    expect([s.first, s.lost, s.refused]).toEqual([5, 5, 1]);
  });

  it('a writer that died between its commit and its NEXT store: the committed record is still found', () => {
    const { i32, ring } = ringOf(8);
    appendSeeded(ring, 2, 0, 10);
    i32[T_NEXT] = 9; // as if the last append stopped before step 4
    const s = new TraceRing(i32, 0, 8).snapshot();
    expect(ticks(s.records)).toEqual(range(2, 10));
    expect(s.lost).toBe(2);
  });

  it('a replacement writer adopts a dead writer\'s ring and continues after its last committed record', () => {
    const { i32, ring } = ringOf(8);
    appendSeeded(ring, 4, 0, 6);
    Atomics.store(i32, ring.slotWord(6) + R_SEQ, 2 * 6 + 1); // died opening position 6
    const next = new TraceRing(i32, 0, 8);
    next.adopt();
    expect(next.position()).toBe(6);
    appendSeeded(next, 4, 6, 9);
    expect(ticks(next.snapshot().records)).toEqual(range(1, 9));
  });

  it('a record whose words do not match its check word is refused (and accepted when told not to verify)', () => {
    const { i32, ring } = ringOf(4);
    appendSeeded(ring, 0, 0, 3);
    i32[ring.slotWord(1) + R_CHECK] ^= 1;
    const s = ring.snapshot();
    expect(ticks(s.records)).toEqual([2]);
    expect(s.refused).toBe(1);
    expect(ticks(ring.snapshot(4, false).records)).toEqual([0, 1, 2]);
  });

  it('positions wrap at 2^32: a ring fast-forwarded near the wrap reads in order', () => {
    const { i32, ring } = ringOf(4);
    // As if 2^32 - 2 records had been appended: NEXT and the last lap's commit words.
    const start = -2;
    for (let k = 1; k <= 4; k++) {
      const p = (start - k) | 0;
      const r = emptyRecord();
      fillSeeded(r, 0, 100 + k);
      ring.append(r); // fill the body
      Atomics.store(i32, ring.slotWord(p) + R_SEQ, (2 * p + 2) | 0);
    }
    i32[T_NEXT] = start;
    const w = new TraceRing(i32, 0, 4);
    w.adopt();
    const r = emptyRecord();
    for (let k = 0; k < 5; k++) { fillSeeded(r, 0, k); w.append(r); }
    expect(w.position()).toBe(3);
    const s = w.snapshot();
    expect(ticks(s.records)).toEqual([1, 2, 3, 4]);
    expect(s.first).toBe(-1);
    expect(s.lost).toBe(2 ** 32 - 1);
  });
});

describe('TraceRing.drain: a full recording copies every record once, in order, or counts it lost', () => {
  it('a drainer that keeps up loses nothing, and its frames decode to every record in order', () => {
    const { ring } = ringOf(16);
    const file: Int32Array[] = [];
    const frames = new Int32Array(RECORD_WORDS * 8); // smaller than the ring: drained in pieces
    let from = 0;
    for (let p = 0; p < 200; p += 10) {
      appendSeeded(ring, 6, p, p + 10);
      for (;;) {
        const d = ring.drain(from, frames);
        expect(d.lost).toBe(0);
        file.push(frames.slice(0, d.copied * RECORD_WORDS));
        from = d.next;
        if (d.copied === 0) break;
      }
    }
    const all = new Int32Array(file.reduce((n, f) => n + f.length, 0));
    file.reduce((at, f) => { all.set(f, at); return at + f.length; }, 0);
    const { records, positions, bad } = decodeFrames(all);
    expect(bad).toBe(0);
    expect(ticks(records)).toEqual(range(0, 200));
    expect(positions).toEqual(range(0, 200));
    expect(records.every((r) => isSeeded(r, 6))).toBe(true);
  });

  it('a drainer that fell behind counts what the writer overwrote and resumes at the oldest record left', () => {
    const { ring } = ringOf(16);
    appendSeeded(ring, 1, 0, 50);
    const frames = new Int32Array(RECORD_WORDS * 64);
    const d = ring.drain(0, frames);
    expect([d.next, d.copied, d.lost]).toEqual([50, 16, 34]);
    expect(ticks(decodeFrames(frames.subarray(0, d.copied * RECORD_WORDS)).records)).toEqual(range(34, 50));
  });

  it('drains from a frame of the buffer on (several rings share one buffer): the frames before it stay, the rest fills up', () => {
    const a = ringOf(8).ring;
    const b = ringOf(8).ring;
    appendSeeded(a, 0, 0, 3);
    appendSeeded(b, 1, 10, 16);
    const frames = new Int32Array(RECORD_WORDS * 8);
    const da = a.drain(0, frames, 0);
    const db = b.drain(0, frames, da.copied);
    expect([da.copied, db.copied, db.next]).toEqual([3, 5, 5]); // b's 6th record waits for the next buffer
    expect(ticks(decodeFrames(frames).records)).toEqual([0, 1, 2, 10, 11, 12, 13, 14]);
    expect(b.drain(db.next, frames, 8)).toEqual({ next: 5, copied: 0, lost: 0 }); // a full buffer takes nothing
  });

  it('a frame cut short (a crash mid-write to the file) is counted bad, the others decode', () => {
    const { ring } = ringOf(8);
    appendSeeded(ring, 0, 0, 4);
    const frames = new Int32Array(RECORD_WORDS * 4);
    ring.drain(0, frames);
    frames.fill(0, 2 * RECORD_WORDS + 9, 3 * RECORD_WORDS); // frame 2: only its first 9 words hit the disk
    const out = decodeFrames(frames);
    expect([ticks(out.records), out.bad]).toEqual([[0, 1, 3], 1]);
  });
});

// ---- real threads ----

const STOP = 0;
const PROGRESS = 32; // one word per writer, on its own block
const workers: Worker[] = [];
afterEach(async () => { await Promise.all(workers.splice(0).map((w) => w.terminate())); });

function start(name: string, workerData: unknown): Worker {
  const w = new Worker(new URL(`../fixtures/${name}`, import.meta.url), { workerData });
  workers.push(w);
  return w;
}

function regions(writers: number, capacity: number): { sab: SharedArrayBuffer; i32: Int32Array; bases: number[] } {
  const ctl = 64;
  const sab = new SharedArrayBuffer((ctl + writers * TraceRing.words(capacity)) * 4);
  const i32 = new Int32Array(sab);
  const bases = range(0, writers).map((w) => ctl + w * TraceRing.words(capacity));
  for (const b of bases) new TraceRing(i32, b, capacity, true);
  return { sab, i32, bases };
}

interface ReaderStats { snapshots: number; decoded: number; torn: number; refused: number; gaps: number; advances: number; lastSeen: number[]; firstTorn: unknown }

async function race(writers: number, capacity: number, verify: boolean, ms: number, naive = false, hot = false): Promise<{ stats: ReaderStats; appended: number[] }> {
  const { sab, i32, bases } = regions(writers, capacity);
  const ws = bases.map((base, w) => start('trace-writer.mjs', { sab, base, capacity, w, stopW: STOP, progressW: PROGRESS, hot }));
  const reader = start('trace-reader.mjs', { sab, bases, capacity, stopW: STOP, verify, naive });
  await Promise.all([...ws, reader].map((w) => once(w, 'message')));
  await new Promise((r) => setTimeout(r, ms));
  const done = [...ws, reader].map((w) => once(w, 'message'));
  Atomics.store(i32, STOP, 1);
  const results = await Promise.all(done);
  return { stats: results[writers]![0] as ReaderStats, appended: results.slice(0, writers).map((m) => (m[0] as { appended: number }).appended) };
}

describe('TraceRing: a reader racing writers on other threads never decodes a torn record', () => {
  for (const [capacity, verify, hot] of [[8, false, false], [8, true, false], [256, false, false], [8, false, true], [8, true, true]] as const) {
    it(`3 writers${hot ? ' on the hot path (appendWords: plain SEQ stores)' : ''}, 1 reader, ${capacity} slots, check word ${verify ? 'on' : 'off (the seqlock alone)'}`, async () => {
      const { stats, appended } = await race(3, capacity, verify, 2500, false, hot);
      console.log(`capacity ${capacity} verify ${verify}: appended ${appended.join('/')}, ${stats.snapshots} snapshots, ${stats.decoded} records decoded, ${stats.refused} slots refused mid-write, ${stats.advances} advances`);
      expect(stats.firstTorn).toBeNull();
      expect(stats.torn).toBe(0);
      expect(stats.gaps).toBe(0);
      expect(stats.decoded).toBeGreaterThan(100_000);
      expect(stats.advances).toBeGreaterThan(100); // the reader saw the writers move, many times
      for (let w = 0; w < 3; w++) {
        expect(appended[w]).toBeGreaterThan(100_000);
        expect(stats.lastSeen[w]).toBeLessThan(appended[w]!);
      }
    });
  }

  it('control: a reader without the second load and the check word does decode torn records (the race is real)', async () => {
    const { stats } = await race(3, 8, false, 2500, true);
    console.log(`naive reader: ${stats.decoded} records decoded, ${stats.torn} torn`);
    expect(stats.torn).toBeGreaterThan(0);
  });
});

describe('TraceRing.drain racing a writer thread', () => {
  it('every record is drained exactly once or counted lost: copied + lost = appended, positions strictly increase', async () => {
    const capacity = 64;
    const { sab, i32, bases } = regions(1, capacity);
    const w = start('trace-writer.mjs', { sab, base: bases[0], capacity, w: 2, stopW: STOP, progressW: PROGRESS });
    await once(w, 'message');
    const ring = new TraceRing(i32, bases[0]!, capacity);
    const frames = new Int32Array(RECORD_WORDS * 32);
    let from = 0;
    let copied = 0;
    let lost = 0;
    let last = -1;
    let torn = 0;
    const drainOnce = (): number => {
      const d = ring.drain(from, frames);
      const { records, positions, bad } = decodeFrames(frames.subarray(0, d.copied * RECORD_WORDS));
      torn += bad;
      records.forEach((r, k) => {
        if (!isSeeded(r, 2) || r.tick !== positions[k] || r.tick <= last) torn++;
        last = r.tick;
      });
      copied += d.copied;
      lost += d.lost;
      from = d.next;
      return d.copied;
    };
    // Drain while the writer runs until 10 000 records came through (not for a wall-clock time:
    // how many a drainer gets in a given time depends on the machine's load).
    while (copied < 10_000) drainOnce();
    const done = once(w, 'message');
    Atomics.store(i32, STOP, 1);
    const appended = ((await done)[0] as { appended: number }).appended;
    while (drainOnce() > 0);
    console.log(`drain: ${appended} appended, ${copied} drained, ${lost} lost`);
    expect(torn).toBe(0);
    expect(copied + lost).toBe(appended);
    expect(copied).toBeGreaterThan(10_000);
    expect(last).toBe(appended - 1);
  });
});

describe('TraceRing: a writer thread terminated mid-stream', () => {
  it('its ring still snapshots to exactly its committed records, consecutive and whole', async () => {
    for (const [capacity, laps] of [[64, 3], [1024, 5], [8, 2]] as const) {
      const { sab, i32, bases } = regions(1, capacity);
      const w = start('trace-writer.mjs', { sab, base: bases[0], capacity, w: 5, stopW: STOP, progressW: PROGRESS });
      await once(w, 'message');
      // Let it lap the ring a few times (a condition, not a duration), then stop it wherever it is.
      while (Atomics.load(i32, PROGRESS + 5) <= laps * capacity) await new Promise((r) => setImmediate(r));
      await w.terminate(); // V8 stops the thread between any two operations of append
      const progress = Atomics.load(i32, PROGRESS + 5);
      expect(progress).toBeGreaterThan(capacity);
      const s = new TraceRing(i32, bases[0]!, capacity).snapshot();
      const last = s.records.at(-1)!.tick;
      // The progress word lags the commit by at most one append.
      expect([progress - 1, progress]).toContain(last);
      expect(s.records.every((r) => isSeeded(r, 5))).toBe(true);
      expect(ticks(s.records)).toEqual(range(s.first, last + 1));
      // Everything the ring can hold is there, except the slot being rewritten when it died.
      expect(s.records.length).toBeGreaterThanOrEqual(capacity - 1);
      expect(s.lost).toBe(s.first);
      expect(s.refused).toBe(capacity - s.records.length);
      // The words themselves: every slot but at most one is committed.
      let odd = 0;
      for (let k = 0; k < capacity; k++) odd += i32[bases[0]! + T_HEADER_WORDS + k * RECORD_WORDS + R_SEQ]! & 1;
      expect(odd).toBeLessThanOrEqual(1);
      expect(s.records.length).toBe(capacity - odd);
    }
  });
});
