// Trace files: the flight snapshot (also of a dead thread's ring), the streamed full recording
// with bounded memory and honest loss counts, and a reader that survives any cut.
import { closeSync, mkdtempSync, open, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync, spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { afterAll, describe, expect, it, vi } from 'vitest';
import fc from 'fast-check';
import { FILE_MAGIC, TABLE_SEQ, TraceFileError, TraceStream, readTrace, saveFlight, type ThreadRing, type TraceMeta } from '../../src/trace/file.js';
import { RECORD_BYTES, RECORD_VERSION, RecordKind, WRITER_WORKER, emptyRecord, type TraceRecord } from '../../src/trace/records.js';
import { notReplayable } from '../../src/trace/replay.js';
import { TraceRing } from '../../src/trace/ring.js';
import { fillSeeded, isSeeded } from './seeded.js';
import { runChild } from '../helpers/child.js';

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

  it('one write per buffer, not per ring: 3 rings drained into one pooled buffer make one asynchronous write', async () => {
    const rings = [ringOf(8, 0), ringOf(8, 1), ringOf(8, 2)];
    const s = new TraceStream(at('one-write.trace'), rings, META, 16, 2);
    const inFlight = (): number => (s as unknown as { pending: number }).pending;
    rings.forEach((t, i) => appendSeeded(t, 0, i + 2)); // 2 + 3 + 4 frames: one buffer of 16
    expect(s.poll()).toBe(9);
    expect(inFlight()).toBe(1);
    rings.forEach((t, i) => appendSeeded(t, i + 2, 2 * (i + 2))); // 9 more, the next poll: its own buffer, one more write
    expect(s.poll()).toBe(9);
    expect(inFlight()).toBe(2);
    const trailer = await s.finish();
    expect(trailer.threads.map((t) => t.written)).toEqual([4, 6, 8]);
    const f = readTrace(at('one-write.trace'));
    expect([f.complete, f.bad, f.lost, f.records.length]).toEqual([true, 0, 0, 18]);
    for (let w = 0; w < 3; w++) expect(ticksOf(f.records, w)).toEqual(range(0, 2 * (w + 2)));
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

describe('TraceStream: the producer table, also in a file cut short', () => {
  const LONG = 'ü'.repeat(30); // 60 UTF-8 bytes: a name in two table frames
  const later = [
    { name: 'b', rate: 0, burst: 0, slots: 3 },
    { name: LONG, rate: 7, burst: 5, slots: 65_535 },
    { name: 'c', rate: 2 ** 31 - 1, burst: 1, slots: 1 },
  ];
  /** A stream whose registry grows between polls; returns the file as it stands before close. */
  const record = (path: string): { s: TraceStream; cut: Buffer } => {
    const t = ringOf(16, 0);
    const registry = [...META.producers];
    const s = new TraceStream(path, [t], META, 4, 0, (from) => registry.slice(from));
    appendSeeded(t, 0, 5);
    s.poll();
    registry.push(later[0]!);
    appendSeeded(t, 5, 10);
    s.poll();
    registry.push(later[1]!, later[2]!);
    s.poll();
    s.poll(); // nothing new: nothing written twice
    return { s, cut: readFileSync(path) };
  };
  const tableAt = (buf: Buffer, chunk: number, index: number): number => {
    for (let o = 0; o + RECORD_BYTES <= buf.length; o += RECORD_BYTES) { // frames start on a frame boundary
      if (buf.readInt32LE(o) === TABLE_SEQ && (buf.readInt32LE(o + 4) & 0xffff) === chunk && buf.readInt32LE(o + 8) === index) return o;
    }
    throw new Error('no such table frame');
  };

  it('each registration is in the file by the end of the poll after it, and a file without its trailer names them all, with their limits', () => {
    const { s, cut } = record(at('table.trace'));
    const f = readTrace(cut);
    expect([f.complete, f.bad, f.missing, f.records.length]).toEqual([false, 0, 0, 10]);
    expect(f.meta.producers.map(({ name, rate, burst, slots }) => ({ name, rate, burst, slots }))).toEqual([
      { name: 'ingest', rate: 10, burst: 2, slots: 2 }, ...later,
    ]);
    expect(ticksOf(f.records, 0)).toEqual(range(0, 10)); // the table frames are no records
    s.close(f.meta.producers);
    const whole = readTrace(at('table.trace'));
    expect([whole.complete, whole.bad, whole.records.length]).toEqual([true, 0, 10]);
    expect(whole.meta.producers.map((p) => p.name)).toEqual(['ingest', 'b', LONG, 'c']);
  });

  it('a damaged table frame: a long name without its second frame is cut (…); without its first, it and the producers after it are unknown', () => {
    const { s, cut } = record(at('table-damaged.trace'));
    s.close();
    const second = Buffer.from(cut);
    second[tableAt(second, 1, 2) + 20] ^= 1;
    expect(readTrace(second).meta.producers.map((p) => p.name)).toEqual(['ingest', 'b', `${'ü'.repeat(16)}…`, 'c']);
    const first = Buffer.from(cut);
    first[tableAt(first, 0, 2) + 12] ^= 1;
    const f = readTrace(first);
    expect(f.meta.producers.map((p) => p.name)).toEqual(['ingest', 'b']);
    expect(f.bad).toBe(0); // a table frame that does not verify is no record either
  });

  it('a decision on a producer the file has no entry for (a version-1 file cut short): replay says so instead of diverging', () => {
    const t = ringOf(8, 0);
    const s = new TraceStream(at('unknown-producer.trace'), [t], META, 4);
    const r = emptyRecord();
    Object.assign(r, { kind: RecordKind.SUBMIT_ADMITTED, writerClass: 0, writerIndex: 0, producer: 3, task: 0, tick: 5 });
    t.ring.append(r);
    s.poll(); // no close: no trailer
    const f = readTrace(at('unknown-producer.trace'));
    expect(notReplayable(f)).toMatch(/a decision names producer 3, which is not in the file's producer table \(1 producers\)/);
    s.close();
  });

  it('atExit: the writes still in flight are written again, then the last drain and the trailer, synchronously', async () => {
    // Hold every thread of libuv's pool in an open() of a FIFO no one writes yet: the stream's
    // asynchronous writes then stay queued, as at a process exit, until the FIFOs are opened.
    const pool = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
    const fifos = Array.from({ length: pool }, (_, i) => at(`hold-${i}.fifo`));
    for (const f of fifos) execFileSync('mkfifo', [f]);
    const held = fifos.map((f) => new Promise<number>((resolve, reject) => open(f, 'r', (err, fd) => (err ? reject(err) : resolve(fd)))));
    const rings = [ringOf(8, 0), ringOf(8, 1)];
    const s = new TraceStream(at('at-exit.trace'), rings, META, 4, 2, (from) => [...META.producers, later[0]!].slice(from));
    for (let k = 0; k < 4; k++) {
      rings.forEach((t) => appendSeeded(t, k * 5, (k + 1) * 5));
      s.poll(); // asynchronous writes (two pooled buffers), queued behind the held threads; the rest synchronous
    }
    rings.forEach((t) => appendSeeded(t, 20, 23)); // not drained yet
    s.atExit([...META.producers, later[0]!]);
    const finished = readFileSync(at('at-exit.trace')); // the queued writes have not run
    for (const f of fifos) closeSync(openSync(f, 'w')); // let the pool go
    for (const fd of await Promise.all(held)) closeSync(fd);
    const f = readTrace(finished);
    expect([f.complete, f.bad, f.missing, f.lost, f.records.length]).toEqual([true, 0, 0, 0, 46]);
    for (let w = 0; w < 2; w++) expect(ticksOf(f.records, w)).toEqual(range(0, 23));
    expect(f.meta.producers.map((p) => p.name)).toEqual(['ingest', 'b']);
    await s.settled(); // the writes end (the same bytes again), and the descriptor closes after them
    expect(readFileSync(at('at-exit.trace')).equals(finished)).toBe(true);
    s.atExit(); // once only
    expect(readFileSync(at('at-exit.trace')).equals(finished)).toBe(true);
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

  it('a file too large for the heap this process may still use: a TraceFileError that says how much it needs and how to run, not an out-of-memory abort', async () => {
    const t = ringOf(4096, 0);
    const s = new TraceStream(at('large.trace'), [t], META, 4096);
    for (let k = 0; k < 100; k++) { appendSeeded(t, k * 4000, (k + 1) * 4000); s.poll(); } // 400,000 frames, 24 MiB: ~100 MiB decoded
    s.close();
    const code = `import { readTrace } from ${JSON.stringify(new URL('../../src/trace/file.ts', import.meta.url).href)};
      try { readTrace(${JSON.stringify(at('large.trace'))}); console.log('read'); } catch (e) { console.log(e.name + ': ' + e.message); }`;
    const r = await runChild(process.execPath, ['--max-old-space-size=48', '--import', 'tsx', '--input-type=module', '-e', code], { timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^TraceFileError: the file has 400\d{3} frames \(24 MiB\); reading it takes about 0\.1 GiB of JavaScript heap and this process may use 0\.\d GiB more: run it with NODE_OPTIONS=--max-old-space-size=\d+, or record a shorter run/);
    expect(readTrace(at('large.trace')).records.length).toBe(400_000); // with this process's heap
  }, 90_000);

  // Not every path is a regular file: a shell's <(...) is a pipe, and a path can be a device.
  it('a source that is not a regular file: a pipe reads like the file; an endless one is refused, never read to the end of memory', async () => {
    // A trace through a FIFO (its writer a child): read as the file is.
    const file = at('piped.trace');
    writeFileSync(file, whole());
    const fifo = at('piped.fifo');
    execFileSync('mkfifo', [fifo]);
    const writer = spawn('sh', ['-c', 'cat "$0" > "$1"', file, fifo], { stdio: 'ignore' });
    const piped = readTrace(fifo); // blocks in open() until the writer opens its end
    await once(writer, 'exit');
    const direct = readTrace(file);
    expect([piped.complete, piped.records.length, piped.bad]).toEqual([direct.complete, direct.records.length, 0]);
    expect(piped.records).toEqual(direct.records);
    // Endless sources, read in a child whose heap is 48 MB and whose data is capped at 2 GB (the
    // code before this read both until the process's memory ran out: 24 GB, then the OOM killer):
    // /dev/zero, and a trace's first bytes followed by zeros without end.
    const endless = at('endless.fifo');
    execFileSync('mkfifo', [endless]);
    const prefix = at('prefix.bin');
    writeFileSync(prefix, whole().subarray(0, 4096));
    const feeder = spawn('sh', ['-c', 'exec cat "$0" /dev/zero > "$1"', prefix, endless], { stdio: 'ignore' });
    const code = `import { readTrace } from ${JSON.stringify(new URL('../../src/trace/file.ts', import.meta.url).href)};
      for (const p of ['/dev/zero', ${JSON.stringify(endless)}]) { try { readTrace(p); console.log('read'); } catch (e) { console.log(e.name + ': ' + e.message); } }`;
    const r = await runChild('sh', ['-c', 'ulimit -d 2000000; exec "$0" --max-old-space-size=48 --import tsx --input-type=module -e "$1"', process.execPath, code], { timeout: 60_000 });
    feeder.kill('SIGKILL');
    expect(r.status, r.stderr).toBe(0);
    const [zero, pipe] = r.stdout.trim().split('\n');
    expect(zero).toBe('TraceFileError: not a sluice trace file (bad magic)');
    expect(pipe).toMatch(/^TraceFileError: .*endless\.fifo is not a regular file, and has \d+ frames \(\d+ MiB\) so far; reading it takes about 0\.\d GiB of JavaScript heap/);
  }, 90_000);

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

describe('readTrace: hostile headers and trailers (property)', () => {
  // A whole file (header, 10 records, trailer) and a way to swap its header JSON or trailer JSON.
  const t = ringOf(16, 0);
  const s0 = new TraceStream(at('hostile.trace'), [t], META, 4);
  appendSeeded(t, 0, 10);
  s0.close(META.producers);
  const base = readFileSync(at('hostile.trace'));
  const trailerLen = base.readUInt32LE(base.length - 12);
  const body = base.subarray(0, base.length - 12 - trailerLen);
  const withTrailer = (json: string): Buffer => {
    const j = Buffer.from(json, 'utf8');
    const tail = Buffer.alloc(12);
    tail.writeUInt32LE(j.length, 0);
    tail.write('SLTRAILR', 4, 'latin1');
    return Buffer.concat([body, j, tail]);
  };
  const headerJson = JSON.parse(base.toString('utf8', 16, 16 + base.readUInt32LE(12))) as Record<string, unknown>;
  const withHeader = (meta: unknown): Buffer => {
    const j = Buffer.from(JSON.stringify(meta) ?? 'null', 'utf8');
    const pre = Buffer.alloc(16);
    base.copy(pre, 0, 0, 12);
    pre.writeUInt32LE(j.length, 12);
    const head = Buffer.concat([pre, j]);
    const pad = Buffer.alloc((RECORD_BYTES - (head.length % RECORD_BYTES)) % RECORD_BYTES);
    const framesAt = Math.ceil((16 + base.readUInt32LE(12)) / RECORD_BYTES) * RECORD_BYTES;
    return Buffer.concat([head, pad, base.subarray(framesAt)]);
  };
  const int = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) >= 0;
  /** What every consumer may rely on in a TraceFile readTrace returned. */
  const sound = (f: ReturnType<typeof readTrace>): void => {
    expect(f.meta.producers.every((p) => typeof p.name === 'string' && int(p.rate) && int(p.burst) && int(p.slots))).toBe(true);
    expect(f.meta.threads.every((x) => int(x.writerClass) && int(x.writerIndex) && typeof x.name === 'string')).toBe(true);
    expect(f.lost === null || int(f.lost)).toBe(true);
    expect(f.complete).toBe(f.trailer !== null);
    if (f.trailer !== null) expect(f.trailer.threads.every((x) => int(x.written) && int(x.lost))).toBe(true);
  };

  it('any JSON as the trailer: used when it is one, else the file reads as one without a trailer; the 10 records either way', () => {
    fc.assert(fc.property(fc.jsonValue(), (v) => {
      const f = readTrace(withTrailer(JSON.stringify(v) ?? 'null'));
      sound(f);
      expect([f.records.length, f.bad, f.partialBytes]).toEqual([10, 0, 0]);
    }), { numRuns: 300 });
    // The shapes that crashed readers before: a trailer without threads, with null entries, with producers that are not.
    for (const j of ['{}', 'null', '[]', '{"frames":1,"threads":null}', '{"frames":1,"threads":[null]}', '{"frames":1,"threads":[{"lost":"x"}]}',
      '{"frames":1,"threads":[],"producers":[null]}', '{"frames":1,"threads":[],"producers":"abcdefghijk"}', '{"frames":1,"threads":[],"producers":[{"name":1,"rate":0,"burst":0,"slots":1}]}', 'not json']) {
      const f = readTrace(withTrailer(j));
      sound(f);
      expect([f.complete, f.records.length, f.meta.producers.map((p) => p.name)]).toEqual([false, 10, ['ingest']]);
    }
  });

  it('any JSON in place of a header field: a TraceFileError, or a file every consumer can rely on', () => {
    const keys = Object.keys(headerJson);
    fc.assert(fc.property(fc.constantFrom(...keys), fc.option(fc.jsonValue(), { nil: undefined }), (k, v) => {
      const meta = { ...headerJson, [k]: v };
      let f: ReturnType<typeof readTrace>;
      try {
        f = readTrace(withHeader(meta));
      } catch (err) {
        expect(err).toBeInstanceOf(TraceFileError);
        return;
      }
      sound(f);
    }), { numRuns: 500 });
    for (const [k, v] of [['threads', [null]], ['threads', [{ writerClass: 1 }]], ['clock', { originMicros: 'x', wallMs: null }], ['clock', {}], ['producers', [{ name: 'p', rate: -1, burst: 0, slots: 1 }]]] as const) {
      expect(() => readTrace(withHeader({ ...headerJson, [k]: v }))).toThrow(TraceFileError);
    }
  });
});
