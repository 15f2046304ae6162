// Trace files: the flight snapshot (also of a dead thread's ring), the streamed full recording
// with bounded memory and honest loss counts, and a reader that survives any cut.
import { closeSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { FILE_MAGIC, TraceFileError, TraceStream, readTrace, saveFlight, type ThreadRing, type TraceMeta } from '../../src/trace/file.js';
import { RECORD_BYTES, RECORD_VERSION, WRITER_WORKER, emptyRecord, type TraceRecord } from '../../src/trace/records.js';
import { notReplayable } from '../../src/trace/replay.js';
import { TraceRing } from '../../src/trace/ring.js';
import { fillSeeded, isSeeded } from './seeded.js';

const dir = mkdtempSync(join(tmpdir(), 'sluice-trace-file-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const at = (name: string): string => join(dir, name);

const META: Omit<TraceMeta, 'mode' | 'recordVersion' | 'threads'> = {
  clock: { originMicros: 123, wallMs: 1_700_000_000_000 }, workers: 2, ringCapacity: 8, globalSlots: 4, cpuTie: false,
  workerCpus: [0, 1], chains: [[0, 1], [1], [1], [0, 1]],
  producers: [{ name: 'ingest', rate: 10, burst: 2, slots: 2, registeredAt: 0 }], tasks: [{ name: 'resize', weight: 'heavy' }],
};

function ringOf(capacity: number, w: number): ThreadRing {
  const ring = new TraceRing(new Int32Array(new SharedArrayBuffer(TraceRing.words(capacity) * 4)), 0, capacity, true);
  return { ring, writerClass: WRITER_WORKER, writerIndex: w, kind: 'worker', name: `worker ${w}` };
}
function appendSeeded(t: ThreadRing, from: number, to: number): void {
  const r = emptyRecord();
  for (let p = from; p < to; p++) { fillSeeded(r, t.writerIndex, p); t.ring.append(r); }
}
const ticksOf = (rs: TraceRecord[], w: number): number[] => rs.filter((r) => r.writerIndex === w).map((r) => r.tick);
const range = (a: number, b: number): number[] => Array.from({ length: b - a }, (_, i) => a + i);

describe('saveFlight: a snapshot of every ring', () => {
  it('round trip: the header as given, every ring\'s window, the lost counts', () => {
    const a = ringOf(8, 0);
    const b = ringOf(16, 1);
    appendSeeded(a, 0, 20); // 12 overwritten
    appendSeeded(b, 0, 5);
    const trailer = saveFlight(at('flight.trace'), [a, b], META);
    expect(trailer).toEqual({ frames: 13, records: 13, threads: [{ writerClass: 1, writerIndex: 0, written: 8, lost: 12 }, { writerClass: 1, writerIndex: 1, written: 5, lost: 0 }] });
    const f = readTrace(at('flight.trace'));
    expect(f.meta).toMatchObject({ ...META, mode: 'flight', recordVersion: RECORD_VERSION });
    expect(f.meta.threads.map((t) => [t.name, t.capacity, t.first, t.lost, t.records])).toEqual([['worker 0', 8, 12, 12, 8], ['worker 1', 16, 0, 0, 5]]);
    expect(ticksOf(f.records, 0)).toEqual(range(12, 20));
    expect(ticksOf(f.records, 1)).toEqual(range(0, 5));
    expect(f.records.every((r) => isSeeded(r, r.writerIndex))).toBe(true);
    expect([f.complete, f.bad, f.missing, f.lost]).toEqual([true, 0, 0, 12]);
    expect(notReplayable(f)).toMatch(/a flight-recorder window cannot be replayed/);
  });

  it('a dead thread\'s ring: terminated mid-stream, its records are still there to save', async () => {
    const capacity = 64;
    const sab = new SharedArrayBuffer((64 + TraceRing.words(capacity)) * 4);
    const i32 = new Int32Array(sab);
    new TraceRing(i32, 64, capacity, true);
    const w = new Worker(new URL('../fixtures/trace-writer.mjs', import.meta.url), { workerData: { sab, base: 64, capacity, w: 3, stopW: 0, progressW: 32 } });
    await once(w, 'message');
    while (Atomics.load(i32, 32 + 3) < 10 * capacity) await new Promise((r) => setImmediate(r)); // it wrapped the ring ten times
    await w.terminate(); // dead: between any two of its operations
    const progress = Atomics.load(i32, 32 + 3);
    saveFlight(at('dead.trace'), [{ ring: new TraceRing(i32, 64, capacity), writerClass: 1, writerIndex: 3, kind: 'worker', name: 'worker 3' }], META);
    const f = readTrace(at('dead.trace'));
    const ticks = ticksOf(f.records, 3);
    expect(f.records.every((r) => isSeeded(r, 3))).toBe(true);
    expect(ticks).toEqual(range(ticks[0]!, ticks[0]! + ticks.length)); // consecutive
    expect([progress - 1, progress]).toContain(ticks.at(-1)); // its newest records (the counter lags by one)
    expect(ticks.length).toBeGreaterThanOrEqual(capacity - 1);
    expect(f.bad).toBe(0);
  });
});

describe('TraceStream: a full recording, drained as it goes', () => {
  it('bounded memory: a 4-frame buffer drains 3 rings completely; the file has every record, in order', () => {
    const rings = [ringOf(8, 0), ringOf(8, 1), ringOf(32, 2)];
    const s = new TraceStream(at('stream.trace'), rings, META, 4);
    for (let k = 0; k < 10; k++) {
      rings.forEach((t, i) => appendSeeded(t, k * (i + 3), (k + 1) * (i + 3))); // 3, 4, 5 records per round: never more than a ring holds
      s.poll();
    }
    const trailer = s.close();
    expect(s.close()).toEqual(trailer); // idempotent
    expect(trailer.threads.map((t) => [t.written, t.lost])).toEqual([[30, 0], [40, 0], [50, 0]]);
    const f = readTrace(at('stream.trace'));
    expect([f.meta.mode, f.complete, f.bad, f.missing, f.lost, f.records.length]).toEqual(['stream', true, 0, 0, 0, 120]);
    for (let w = 0; w < 3; w++) expect(ticksOf(f.records, w)).toEqual(range(0, 30 + 10 * w));
  });

  it('write-behind: pooled buffers written asynchronously at their offsets, the rest synchronously; finish() waits for them; the file is the same', async () => {
    const rings = [ringOf(8, 0), ringOf(8, 1), ringOf(32, 2)];
    const s = new TraceStream(at('behind.trace'), rings, META, 4, 2); // 2 pooled buffers: polls in a row find them all in flight
    for (let k = 0; k < 10; k++) {
      rings.forEach((t, i) => appendSeeded(t, k * (i + 3), (k + 1) * (i + 3)));
      s.poll();
      if (k % 3 === 1) await s.settled(); // the pool refilled: the next poll writes asynchronously again, further into the file
    }
    expect(() => s.close()).toThrow(/in flight/); // close() may not race its own writes
    const trailer = await s.finish();
    expect(trailer.threads.map((t) => [t.written, t.lost])).toEqual([[30, 0], [40, 0], [50, 0]]);
    const f = readTrace(at('behind.trace'));
    expect([f.meta.mode, f.complete, f.bad, f.missing, f.lost, f.records.length]).toEqual(['stream', true, 0, 0, 0, 120]);
    for (let w = 0; w < 3; w++) expect(ticksOf(f.records, w)).toEqual(range(0, 30 + 10 * w));
    expect(await s.finish()).toEqual(trailer); // idempotent
  });

  it('write-behind: a failed asynchronous write ends the stream, warns once, and finish() still settles', async () => {
    const t = ringOf(8, 0);
    const s = new TraceStream(at('behind-fail.trace'), [t], META, 4, 2);
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => { warnings.push(w); };
    process.on('warning', onWarning);
    try {
      appendSeeded(t, 0, 3);
      s.poll(); // in flight
      await s.finish(); // written: the file is whole here
      const u = ringOf(8, 1);
      const s2 = new TraceStream(at('behind-fail2.trace'), [u], META, 4, 2);
      closeSync((s2 as unknown as { fd: number }).fd);
      appendSeeded(u, 0, 3);
      expect(() => s2.poll()).not.toThrow(); // the write fails later, in its callback
      await expect(s2.finish()).resolves.toBeDefined();
      expect((s2.error as NodeJS.ErrnoException).code).toBe('EBADF');
      // A request refused at once (here: a descriptor fs.write will not take) is never in flight: finish() does not wait for it.
      const v = ringOf(8, 2);
      const s3 = new TraceStream(at('behind-fail3.trace'), [v], META, 4, 2);
      const fd3 = (s3 as unknown as { fd: number }).fd;
      (s3 as unknown as { fd: number }).fd = -1;
      appendSeeded(v, 0, 3);
      expect(() => s3.poll()).not.toThrow();
      expect((s3.error as NodeJS.ErrnoException).code).toBe('ERR_OUT_OF_RANGE');
      await expect(s3.finish()).resolves.toBeDefined();
      closeSync(fd3);
      await new Promise<void>((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.filter((w) => (w as NodeJS.ErrnoException).code === 'SLUICE_TRACE_WRITE')).toHaveLength(2); // one per stream
    expect(readTrace(at('behind-fail.trace')).records.length).toBe(3);
  });

  it('every(ms) drains on a timer, and close() stops it', () => {
    vi.useFakeTimers();
    try {
      const t = ringOf(8, 0);
      const s = new TraceStream(at('timer.trace'), [t], META, 4).every(10);
      appendSeeded(t, 0, 6);
      vi.advanceTimersByTime(10);
      appendSeeded(t, 6, 12); // 12 in all: the ring (8) alone could not hold them; the timer drained the first 6
      vi.advanceTimersByTime(10);
      expect(s.close().threads[0]).toEqual({ writerClass: 1, writerIndex: 0, written: 12, lost: 0 });
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it('every(ms, busyMs): the next poll comes when the fullest ring would be a quarter full again at the rate it filled, between busyMs and ms', () => {
    vi.useFakeTimers();
    try {
      const t = ringOf(8, 0);
      const s = new TraceStream(at('busy.trace'), [t], META, 4).every(10, 1);
      const polls = vi.spyOn(s, 'poll');
      const step = (ms: number, calls: number): void => { vi.advanceTimersByTime(ms); expect(polls).toHaveBeenCalledTimes(calls); };
      appendSeeded(t, 0, 4); // half the ring in the first 10 ms
      step(9, 0);
      step(1, 1); // t = 10: drains 4 (0.5 in 10 ms): next in 5
      appendSeeded(t, 4, 12); // the whole ring in the next 5 ms
      step(4, 1);
      step(1, 2); // t = 15: drains 8 (1.0 in 5 ms): next in ceil(1.25) = 2
      appendSeeded(t, 12, 13);
      step(1, 2);
      step(1, 3); // t = 17: drains 1 (0.125 in 2 ms): next in 4
      step(3, 3);
      step(1, 4); // t = 21: drains nothing: back to every 10
      step(9, 4);
      step(1, 5);
      expect(s.close().threads[0]).toEqual({ writerClass: 1, writerIndex: 0, written: 13, lost: 0 });
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it('a drainer that falls behind counts what it lost, says so in the file, and the reader sees the gap', () => {
    const t = ringOf(8, 0);
    const s = new TraceStream(at('lossy.trace'), [t], META, 4);
    appendSeeded(t, 0, 5);
    expect(s.poll()).toBe(5);
    appendSeeded(t, 5, 20); // 15 appended, the ring holds 8: 7 overwritten before the next poll
    s.poll();
    expect(s.lost).toBe(7);
    const trailer = s.close();
    expect(trailer.threads[0]).toEqual({ writerClass: 1, writerIndex: 0, written: 13, lost: 7 });
    const f = readTrace(at('lossy.trace'));
    expect(ticksOf(f.records, 0)).toEqual([...range(0, 5), ...range(12, 20)]);
    expect([f.lost, f.missing]).toEqual([7, 7]);
    expect(notReplayable(f)).toMatch(/lost 7 records/);
  });
});

describe('TraceStream: a write that fails', () => {
  it('ends the stream where it stands, keeps the cause, warns once, and never throws into the caller (a timer, a release)', async () => {
    const t = ringOf(8, 0);
    const s = new TraceStream(at('failing.trace'), [t], META, 4);
    appendSeeded(t, 0, 3);
    expect(s.poll()).toBe(3);
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => { warnings.push(w); };
    process.on('warning', onWarning);
    try {
      closeSync((s as unknown as { fd: number }).fd); // the file's descriptor goes away under it: every write now fails (EBADF)
      appendSeeded(t, 3, 6);
      expect(() => s.poll()).not.toThrow();
      expect((s.error as NodeJS.ErrnoException).code).toBe('EBADF');
      appendSeeded(t, 6, 9);
      expect(s.poll()).toBe(0); // stopped: nothing more is drained or written
      expect(() => s.close()).not.toThrow();
      await new Promise<void>((resolve) => setImmediate(resolve)); // process.emitWarning delivers on a later tick
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.filter((w) => (w as NodeJS.ErrnoException).code === 'SLUICE_TRACE_WRITE')).toHaveLength(1);
    const f = readTrace(at('failing.trace'));
    expect([f.complete, f.records.length]).toEqual([false, 3]); // what was written before, and no trailer
  });
});

describe('readTrace: a file cut short or damaged is read as far as it goes, never a crash', () => {
  const whole = (): Buffer => {
    const t = ringOf(16, 0);
    const s = new TraceStream(at('cut.trace'), [t], META, 4);
    appendSeeded(t, 0, 10);
    s.close();
    return readFileSync(at('cut.trace'));
  };

  it('cut at every byte: whole frames read, a partial frame counted bad, no trailer = incomplete', () => {
    const buf = whole();
    const framesAt = buf.length - 10 * RECORD_BYTES - (buf.length - buf.lastIndexOf('SLTRAILR') + buf.readUInt32LE(buf.lastIndexOf('SLTRAILR') - 4) + 4);
    expect(framesAt % RECORD_BYTES).toBe(0);
    for (let cut = framesAt; cut < buf.length; cut++) {
      const f = readTrace(buf.subarray(0, cut));
      const frames = Math.min(10, Math.floor((cut - framesAt) / RECORD_BYTES));
      expect(f.records.length).toBe(frames);
      expect(ticksOf(f.records, 0)).toEqual(range(0, frames));
      if (cut < framesAt + 10 * RECORD_BYTES) {
        expect(f.complete).toBe(false);
        expect(f.bad).toBe((cut - framesAt) % RECORD_BYTES === 0 ? 0 : 1);
        expect(f.lost).toBeNull();
      }
    }
  });

  it('a damaged frame in the middle: counted bad and missing, the rest read', () => {
    const buf = Buffer.from(whole());
    const framesAt = buf.indexOf(Buffer.from('SLTRAILR')) - buf.readUInt32LE(buf.indexOf(Buffer.from('SLTRAILR')) - 4) - 4 - 10 * RECORD_BYTES;
    buf[framesAt + 3 * RECORD_BYTES + 20] ^= 0x40; // one bit of frame 3
    const f = readTrace(buf);
    expect(ticksOf(f.records, 0)).toEqual([0, 1, 2, 4, 5, 6, 7, 8, 9]);
    expect([f.bad, f.missing, f.complete]).toEqual([1, 1, true]);
    expect(notReplayable(f)).toMatch(/missing/);
  });

  it('not a trace, a cut header, a foreign version: a TraceFileError that says which', () => {
    const buf = whole();
    expect(() => readTrace(Buffer.from('hello world, not a trace at all'))).toThrow(/not a sluice trace file \(bad magic\)/);
    expect(() => readTrace(buf.subarray(0, 40))).toThrow(/header cut short/);
    const v = Buffer.from(buf);
    v.writeUInt32LE(99, 8);
    expect(() => readTrace(v)).toThrow(TraceFileError);
    expect(() => readTrace(v)).toThrow(/version 99/);
    const h = Buffer.from(buf);
    h.write('!', 16);
    expect(() => readTrace(h)).toThrow(/header is not valid JSON/);
    expect(buf.toString('latin1', 0, 8)).toBe(FILE_MAGIC);
    // A header that does not describe a runtime replay could rebuild is refused, saying what.
    saveFlight(at('bad-chains.trace'), [], { ...META, chains: [[0, 1], [2]] });
    expect(() => readTrace(at('bad-chains.trace'))).toThrow(/chains must be 4 non-empty lists of worker indices/);
    saveFlight(at('bad-task.trace'), [], { ...META, tasks: [{ name: 'x', weight: 'huge' as never }] });
    expect(() => readTrace(at('bad-task.trace'))).toThrow(/a task needs a name and a weight/);
    writeFileSync(at('empty.trace'), '');
    expect(() => readTrace(at('empty.trace'))).toThrow(/bad magic/);
  });
});
