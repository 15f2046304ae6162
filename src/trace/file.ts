/**
 * Trace files: a self-describing header, then 64-byte frames (records.ts), then (when the writer
 * finished) a trailer.
 *
 *   byte 0   8 bytes  FILE_MAGIC "SLUICETR"
 *        8   u32 LE   FILE_VERSION
 *       12   u32 LE   H: header bytes
 *       16   H bytes  the header: UTF-8 JSON (TraceMeta: mode, clock origin, workers, ring
 *                     capacity, global slots, routing chains and worker CPUs, producers with
 *                     names and limits, tasks with names and weights, the thread table)
 *            zeros    to the next multiple of 64: frames start on a frame boundary
 *   F        64·n     frames: the records, each thread's in its ring order (word 0 = SEQ = 2p+2,
 *                     so every frame says its position p in its thread's ring), little-endian;
 *                     and (version 2, streams) producer-table frames among them (word 0 =
 *                     TABLE_SEQ, odd, which no record's SEQ is): each producer registered after
 *                     the header was written, its name and limits, written by the drainer
 *                     once a record might name it (tableFrames below)
 *   end      T bytes  trailer JSON (TraceTrailer: per thread, frames written and records lost),
 *            u32 LE   T, then 8 bytes TRAILER_MAGIC "SLTRAILR"
 *
 * A file without a trailer was cut short (the process died while recording): everything up to
 * the last whole frame is read, a partial last frame is counted bad, and `complete` is false.
 * Its producer table comes from the header and the table frames, so it still names every
 * producer its records name (and replay has their limits). A trailer that is not a TraceTrailer
 * (damaged, or not written by sluice) is not used: the file reads as one without a trailer.
 * Every frame is verified (its check word): a frame that does not verify is counted bad, not
 * decoded. Records missing between two positions of one thread are counted as `missing`.
 *
 * Two writers: saveFlight (a flight-recorder snapshot of every ring at once: works on a dead
 * thread's ring, which is still in shared memory) and TraceStream (a full recording: drains the
 * rings incrementally through a fixed buffer, so memory stays bounded, and counts what the
 * writers overwrote before it got there as lost, in the trailer).
 */
import { closeSync, constants, openSync, write, writeSync } from 'node:fs';
import { heapShortfall, readBounded } from '../read-bounded.js';
import {
  RECORD_BYTES, RECORD_VERSION, RECORD_WORDS, R_SEQ, RecordKind, checkWord, decodeFrames, encodeRecord, type TraceRecord,
} from './records.js';
import type { TraceRing } from './ring.js';

export const FILE_MAGIC = 'SLUICETR';
export const TRAILER_MAGIC = 'SLTRAILR';
/** Version 2 adds the producer-table frames; a version-1 file (none) reads the same way. */
export const FILE_VERSION = 2;
const READABLE_VERSIONS: readonly number[] = [1, 2];
const PREFIX = 16;

/**
 * Word 0 of a producer-table frame: odd, so never a committed record's SEQ (2p+2, even). Layout
 * (16 words, little-endian): 0 TABLE_SEQ; 1 TABLE_HEAD | chunk; 2 the producer's index; chunk 0:
 * 3 rate, 4 burst, 5 slots, 6 the name's UTF-8 length, 7..14 its bytes 0..31; chunk 1 (names
 * longer than 32 bytes): 3..14 bytes 32..79; 15 the check word of words 1..14 (records.ts).
 */
export const TABLE_SEQ = -1;
const TABLE_HEAD = 0x5442_0000; // "TB", chunk in the low 16 bits
const TABLE_NAME0 = 32;
const TABLE_NAME1 = 48;

/** A trace file that cannot be read (not a trace, a foreign version, a broken header). */
export class TraceFileError extends Error {
  override readonly name = 'TraceFileError';
}

export type WeightName = 'heavy' | 'medium' | 'light';

/** One thread (ring) in the file's thread table. */
export interface ThreadInfo {
  /** 0 attachment, 1 worker (records.ts WRITER_*). */
  writerClass: number;
  writerIndex: number;
  /** What the thread is: 'main' (attachment 0, also the supervisor), 'attached', 'worker'. */
  kind: 'main' | 'attached' | 'worker';
  name: string;
  /** Slots of its ring. */
  capacity: number;
  /** Flight: what the snapshot saw (records.ts Snapshot); stream: the position draining began at. */
  first?: number;
  lost?: number;
  refused?: number;
  records?: number;
}

/** A producer: its name, its limits as the gate holds them (rate 0 = none, burst 0 without a rate), and the tick it was registered at (its bucket's anchor). */
export interface ProducerInfo { name: string; rate: number; burst: number; slots: number; registeredAt?: number }
export interface TaskInfo { name: string; weight: WeightName | null }

/** The header: everything replay, explain and export need besides the records. */
export interface TraceMeta {
  /** 'flight': the latest records of every ring, saved at one moment; 'stream': everything from the start. */
  mode: 'flight' | 'stream';
  /**
   * Why replay cannot re-make this file's decisions although it is a full recording (absent: it
   * can). A runtime's recording says so until its seam records every replay input.
   */
  notReplayable?: string;
  /**
   * 'threads': a runtime's own full recording, with its read log: replay re-makes each deciding
   * thread on its own (replay-threads.ts). Absent: the records are in one decision order (a
   * recording of the gates and router driven by one thread), replayed merged by tick.
   */
  replay?: 'threads';
  /** records.ts RECORD_VERSION of the frames. */
  recordVersion: number;
  /** Tick 0 (ticks are µs): CLOCK_MONOTONIC µs, and wall-clock ms when known. */
  clock: { originMicros: number; wallMs: number | null };
  workers: number;
  ringCapacity: number;
  globalSlots: number;
  /** Routing rule 2 (ties to the submitter's CPU: spin 0 and the native addon) was on. */
  cpuTie: boolean;
  /** The CPU each worker is pinned to (its first), null when unpinned. */
  workerCpus: (number | null)[];
  /** Routing chains by weight class: heavy, medium, light, none (routing.ts preferenceChains). */
  chains: number[][];
  producers: ProducerInfo[];
  tasks: TaskInfo[];
  threads: ThreadInfo[];
}

/** Written last by a writer that finished: per thread, frames written and records lost. */
export interface TraceTrailer {
  /** Record frames written (the producer-table frames not counted). */
  frames: number;
  /** The producer table at the end of a streamed recording (producers registered after its header was written). */
  producers?: ProducerInfo[];
  threads: { writerClass: number; writerIndex: number; written: number; lost: number }[];
}

export interface TraceFile {
  meta: TraceMeta;
  trailer: TraceTrailer | null;
  /** The verified records, in file order (each thread's in its ring order). */
  records: TraceRecord[];
  /** Each record's position in its thread's ring (mod 2^31). */
  positions: number[];
  /** Frames that did not verify (cut short, corrupted, another record version). */
  bad: number;
  /** Bytes after the last whole frame (a write cut short). */
  partialBytes: number;
  /** Records missing between two records of one thread (positions skipped). */
  missing: number;
  /** Records the writer says it lost (trailer; flight: the snapshot's lost counts); null if unknown. */
  lost: number | null;
  /** The writer finished (the trailer is there). */
  complete: boolean;
}

/** A ring and who writes it. */
export interface ThreadRing {
  ring: TraceRing;
  writerClass: number;
  writerIndex: number;
  kind: ThreadInfo['kind'];
  name: string;
}

// ---- producer-table frames ----

/**
 * The frames that carry producer `index` (its name and limits): one, or two for a name longer
 * than 32 UTF-8 bytes (registry.ts allows 64). A name past 80 bytes would be cut there.
 */
export function tableFrames(index: number, p: ProducerInfo): Int32Array {
  const name = Buffer.from(p.name, 'utf8');
  const len = Math.min(name.length, TABLE_NAME0 + TABLE_NAME1);
  const chunks = len > TABLE_NAME0 ? 2 : 1;
  const out = new Int32Array(chunks * RECORD_WORDS);
  const bytes = new Uint8Array(out.buffer);
  for (let c = 0; c < chunks; c++) {
    const at = c * RECORD_WORDS;
    out[at + R_SEQ] = TABLE_SEQ;
    out[at + 1] = TABLE_HEAD | c;
    out[at + 2] = index;
    if (c === 0) {
      out[at + 3] = p.rate;
      out[at + 4] = p.burst;
      out[at + 5] = p.slots;
      out[at + 6] = len;
      bytes.set(name.subarray(0, Math.min(len, TABLE_NAME0)), (at + 7) * 4);
    } else {
      bytes.set(name.subarray(TABLE_NAME0, len), (at + 3) * 4);
    }
    out[at + 15] = checkWord(out, at);
  }
  return out;
}

/** What the table frames of a file say, per producer index (chunks as they were found). */
interface TableEntry { rate: number; burst: number; slots: number; len: number; name0: Uint8Array | null; name1: Uint8Array | null }

/** Frame `at` is a producer-table frame: fold it into `table` if it verifies; true either way (it is no record). */
function readTableFrame(frames: Int32Array, at: number, table: Map<number, TableEntry>): boolean {
  if (frames[at + R_SEQ] !== TABLE_SEQ) return false;
  const head = frames[at + 1]!;
  const index = frames[at + 2]!;
  if ((head & 0xffff0000) !== TABLE_HEAD || checkWord(frames, at) !== frames[at + 15] || index < 0 || index > 0xffff) return true;
  const chunk = head & 0xffff;
  const e = table.get(index) ?? { rate: 0, burst: 0, slots: 0, len: -1, name0: null, name1: null };
  const bytes = new Uint8Array(frames.buffer, frames.byteOffset, frames.byteLength);
  if (chunk === 0) {
    const len = frames[at + 6]!;
    if (len < 0 || len > TABLE_NAME0 + TABLE_NAME1) return true;
    e.rate = frames[at + 3]!;
    e.burst = frames[at + 4]!;
    e.slots = frames[at + 5]!;
    e.len = len;
    e.name0 = bytes.slice((at + 7) * 4, (at + 7) * 4 + TABLE_NAME0);
  } else if (chunk === 1) {
    e.name1 = bytes.slice((at + 3) * 4, (at + 3) * 4 + TABLE_NAME1);
  } else {
    return true;
  }
  table.set(index, e);
  return true;
}

/** The table frames' producers from `from` on, as long as they follow each other (a registry's entries do). */
function tableProducers(table: Map<number, TableEntry>, from: number): ProducerInfo[] {
  const out: ProducerInfo[] = [];
  for (let i = from; ; i++) {
    const e = table.get(i);
    if (e === undefined || e.len < 0 || e.name0 === null) return out;
    const name = Buffer.concat([e.name0, e.name1 ?? new Uint8Array(0)]).subarray(0, e.len);
    // A long name whose second frame was not read keeps its first 32 bytes, marked cut.
    const cut = e.len > TABLE_NAME0 && e.name1 === null;
    out.push({ name: cut ? `${name.subarray(0, TABLE_NAME0).toString('utf8')}…` : name.toString('utf8'), rate: e.rate, burst: e.burst, slots: e.slots });
  }
}

// ---- writing ----

function headerBytes(meta: TraceMeta): Buffer {
  const json = Buffer.from(JSON.stringify(meta), 'utf8');
  const total = Math.ceil((PREFIX + json.length) / RECORD_BYTES) * RECORD_BYTES;
  const out = Buffer.alloc(total);
  out.write(FILE_MAGIC, 0, 'latin1');
  out.writeUInt32LE(FILE_VERSION, 8);
  out.writeUInt32LE(json.length, 12);
  json.copy(out, PREFIX);
  return out;
}

function trailerBytes(trailer: TraceTrailer): Buffer {
  const json = Buffer.from(JSON.stringify(trailer), 'utf8');
  const out = Buffer.alloc(json.length + 12);
  json.copy(out, 0);
  out.writeUInt32LE(json.length, json.length);
  out.write(TRAILER_MAGIC, json.length + 4, 'latin1');
  return out;
}

function threadEntry(t: ThreadRing): ThreadInfo {
  return { writerClass: t.writerClass, writerIndex: t.writerIndex, kind: t.kind, name: t.name, capacity: t.ring.capacity };
}

function writeAll(fd: number, buf: Uint8Array): void {
  let off = 0;
  while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
}

/** writeAll at file offset `at` (positional: the descriptor's own offset does not move). */
function writeAllAt(fd: number, buf: Uint8Array, at: number): void {
  let off = 0;
  while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off, at + off);
}

/**
 * Save a flight-recorder snapshot of every ring to `path`: each ring's committed records
 * (ring.ts snapshot: consistent, whole, oldest first), the snapshot's lost and refused counts in
 * the thread table. Works on a dead thread's ring. `meta` without mode, recordVersion and threads.
 */
export function saveFlight(path: string, rings: readonly ThreadRing[], meta: Omit<TraceMeta, 'mode' | 'recordVersion' | 'threads'>): TraceTrailer & { records: number } {
  const threads: ThreadInfo[] = [];
  const frames: Int32Array[] = [];
  const trailer: TraceTrailer = { frames: 0, threads: [] };
  let records = 0; // as readTrace will count them: a SUBMIT_ROUTED frame is two records
  for (const t of rings) {
    const s = t.ring.snapshot();
    const f = new Int32Array(s.records.length * RECORD_WORDS);
    s.records.forEach((r, i) => {
      records += r.kind === RecordKind.SUBMIT_ROUTED ? 2 : 1;
      encodeRecord(r, f, i * RECORD_WORDS);
      f[i * RECORD_WORDS + R_SEQ] = (2 * (s.first + i) + 2) | 0;
    });
    frames.push(f);
    threads.push({ ...threadEntry(t), first: s.first, lost: s.lost, refused: s.refused, records: s.records.length });
    trailer.threads.push({ writerClass: t.writerClass, writerIndex: t.writerIndex, written: s.records.length, lost: s.lost });
    trailer.frames += s.records.length;
  }
  const fd = openSync(path, 'w');
  try {
    writeAll(fd, headerBytes({ ...meta, mode: 'flight', recordVersion: RECORD_VERSION, threads }));
    for (const f of frames) writeAll(fd, new Uint8Array(f.buffer, f.byteOffset, f.byteLength));
    writeAll(fd, trailerBytes(trailer));
  } finally {
    closeSync(fd);
  }
  return { ...trailer, records };
}

/** How TraceStream opens its file: as 'w', plus O_NONBLOCK (the constructor says why). */
const STREAM_OPEN = constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NONBLOCK;

/**
 * A full recording: the header at open, then `poll()` drains every ring from where it left off
 * (ring.ts drain) and appends the frames; `close()` (or `finish()`) drains once more and writes
 * the trailer. Records a writer overwrote before poll() reached them are counted lost, per
 * thread, and the trailer says so.
 *
 * Writes: every write is positional (the stream keeps the file offset). With `writeBehind` 0,
 * poll() drains through one buffer of `bufferFrames` frames and writes synchronously. With
 * `writeBehind` n > 0 it drains into one of n pooled buffers and hands it to an asynchronous
 * write (the libuv pool's thread makes the system call and the kernel's copy, not the recording
 * thread); the buffer returns to the pool when the write completes. With every pooled buffer in
 * flight, poll() falls back to the synchronous buffer: the disk slows the drainer down, never
 * loses a drained frame, and memory stays bounded (n + 1 buffers, whatever the run's length).
 *
 * The producer table: with `producers` (the registry's entries from an index on, as long as they
 * are registered: a registry's entries are registered in index order), each poll ends with the
 * table frames of the producers registered since the last one, written synchronously after the
 * poll's records. A record names a producer only once it was registered, so every producer a
 * drained record names is in the file by the end of the poll that drained it: a recording cut
 * short (the process killed) still has the limits replay needs and the names explain prints.
 *
 * At process exit (`atExit`, from a process 'exit' listener: a process that never closed its
 * runtime, called process.exit, or ended on an uncaught exception) the stream finishes
 * synchronously: the buffers still in an asynchronous write are written again at their offsets
 * (the same bytes: positional writes), then the last drain and the trailer, as close() does.
 */
export class TraceStream {
  private readonly fd: number;
  private readonly from: number[];
  private readonly written: number[];
  private readonly lostBy: number[];
  private readonly buf: Int32Array;
  private readonly pool: Int32Array[] = [];
  /** Asynchronous writes in flight, and who waits for them to end (finish). */
  private pending = 0;
  /** The pooled buffers in an asynchronous write: where each goes (atExit writes them again). */
  private readonly inFlight = new Map<Int32Array, { bytes: number; at: number }>();
  /** Producers in the file so far (the header's, then the table frames'): the next index to look at. */
  private tabled: number;
  private idle: (() => void) | null = null;
  /** The file offset the next frames go to. */
  private offset: number;
  private frames = 0;
  private closed = false;
  private fdOpen = true;
  private timer: NodeJS.Timeout | null = null;
  /** What the last poll drained (or found lost) of the fullest ring, as a fraction of its capacity (every's schedule). */
  private fullest = 0;
  /** Why the stream stopped early (a failed write), or null. */
  error: unknown = null;

  constructor(
    private readonly path: string, private readonly rings: readonly ThreadRing[], meta: Omit<TraceMeta, 'mode' | 'recordVersion' | 'threads'>,
    bufferFrames = 4096, writeBehind = 0, private readonly producers: ((from: number) => ProducerInfo[]) | null = null,
  ) {
    if (!Number.isInteger(bufferFrames) || bufferFrames < 1) throw new RangeError('bufferFrames must be a positive integer');
    if (!Number.isInteger(writeBehind) || writeBehind < 0) throw new RangeError('writeBehind must be a non-negative integer');
    this.from = rings.map((t) => t.ring.appended());
    this.written = rings.map(() => 0);
    this.lostBy = rings.map(() => 0);
    this.buf = new Int32Array(bufferFrames * RECORD_WORDS);
    for (let i = 0; i < writeBehind; i++) this.pool.push(new Int32Array(bufferFrames * RECORD_WORDS));
    const threads = rings.map((t, i): ThreadInfo => ({ ...threadEntry(t), first: this.from[i]! }));
    // As 'w', plus O_NONBLOCK: a FIFO nobody reads would block this open (the starting thread, for
    // good); now it fails at once (ENXIO). On a regular file O_NONBLOCK changes nothing. Every write
    // is positional, so a pipe, a FIFO with a reader or a terminal fails the header's (ESPIPE).
    this.fd = openSync(path, STREAM_OPEN, 0o666);
    const header = headerBytes({ ...meta, mode: 'stream', recordVersion: RECORD_VERSION, threads });
    try {
      writeAllAt(this.fd, header, 0);
    } catch (err) {
      closeSync(this.fd);
      throw err;
    }
    this.offset = header.length;
    this.tabled = meta.producers.length;
  }

  /**
   * Drain every ring once (each until it is empty); returns the frames drained. The rings' frames
   * share the buffers: one write per full buffer and one for the rest, whatever the number of
   * rings (a write is the dear part of a drain: docs/performance.md, fifteenth session). A write
   * that fails (disk full, I/O error) ends the stream: the file stays where it stands (no trailer:
   * readers see a recording cut short), `error` keeps the cause, a process warning says so
   * once, and nothing throws into the recording thread (a timer or a release).
   */
  poll(): number {
    if (this.closed) return 0;
    let n = 0;
    this.fullest = 0;
    let pooled = this.pool.pop();
    let buf = pooled ?? this.buf;
    let filled = 0; // frames of buf drained and not yet written
    const room = Math.floor(buf.length / RECORD_WORDS);
    try {
      for (let i = 0; i < this.rings.length; i++) {
        const ring = this.rings[i]!.ring;
        const before = this.from[i]!;
        for (;;) {
          const d = ring.drain(this.from[i]!, buf, filled);
          this.from[i] = d.next;
          this.lostBy[i]! += d.lost;
          this.written[i]! += d.copied;
          n += d.copied;
          filled += d.copied;
          if (filled < room) break; // this ring is drained
          this.writeOut(buf, pooled, filled);
          pooled = this.pool.pop();
          buf = pooled ?? this.buf;
          filled = 0;
        }
        this.fullest = Math.max(this.fullest, (this.from[i]! - before) / ring.capacity);
      }
      if (filled > 0) this.writeOut(buf, pooled, filled);
      else if (pooled !== undefined) this.pool.push(pooled);
      // After the records: a producer any of them names was registered before it was drained.
      if (this.producers !== null) this.writeTable(this.producers(this.tabled));
    } catch (err) {
      this.fail(err); // the stream ends: its pool is not used again
    }
    this.frames += n;
    return n;
  }

  /** Write `frames` frames of `buf` at the stream's offset: asynchronously from a pooled buffer, else now. */
  private writeOut(buf: Int32Array, pooled: Int32Array | undefined, frames: number): void {
    const bytes = frames * RECORD_BYTES;
    const at = this.offset;
    this.offset += bytes;
    if (pooled === undefined) writeAllAt(this.fd, new Uint8Array(buf.buffer, 0, bytes), at);
    else this.writeBehind(pooled, bytes, at);
  }

  /** Table frames for producers `tabled`, `tabled + 1`, ...: synchronous, a few frames per registration. */
  private writeTable(more: readonly ProducerInfo[]): void {
    for (const p of more) {
      const frames = tableFrames(this.tabled, p);
      writeAllAt(this.fd, new Uint8Array(frames.buffer), this.offset);
      this.offset += frames.byteLength;
      this.tabled++;
    }
  }

  /** An asynchronous positional write of `bytes` of a pooled buffer at `at` (a short write continues). */
  private writeBehind(buf: Int32Array, bytes: number, at: number, done = 0): void {
    try {
      write(this.fd, new Uint8Array(buf.buffer, done, bytes - done), 0, bytes - done, at + done, (err, n) => this.writeEnded(buf, bytes, at, done, err, n));
      this.inFlight.set(buf, { bytes, at });
    } catch (err) {
      this.pool.push(buf); // refused at once (never in flight): poll's catch ends the stream
      throw err;
    }
    this.pending++; // counted once the request is made: its callback always comes later
  }

  /** A write-behind request ended: continue a short write, or give the buffer back (and fail on an error). Never throws. */
  private writeEnded(buf: Int32Array, bytes: number, at: number, done: number, err: NodeJS.ErrnoException | null, n: number): void {
    this.pending--;
    this.inFlight.delete(buf);
    if (err === null && done + n < bytes && !this.closed) {
      try {
        this.writeBehind(buf, bytes, at, done + n);
      } catch (e) {
        this.fail(e);
      }
    } else {
      this.pool.push(buf);
      if (err !== null) this.fail(err);
    }
    if (this.pending === 0) {
      const idle = this.idle;
      this.idle = null;
      if (idle !== null) idle();
      if (this.closed) this.closeFd(); // failed, or finished by atExit with this write in flight
    }
  }

  private fail(err: unknown): void {
    if (this.error !== null) return;
    this.error = err;
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    // Not while writes are in flight: the descriptor's number could be reused by another open.
    if (this.pending === 0) this.closeFd();
    process.emitWarning(`the full recording to ${this.path} stopped: ${err instanceof Error ? err.message : String(err)}; the file ends there, without its trailer`, { code: 'SLUICE_TRACE_WRITE' });
  }

  private closeFd(): void {
    if (!this.fdOpen) return;
    this.fdOpen = false;
    try { closeSync(this.fd); } catch { /* already gone */ }
  }

  /**
   * Poll on a timer that does not keep the process alive: every `ms` milliseconds while the
   * rings fill slowly, sooner when they do not. After each poll the next comes when the fullest
   * ring, at the rate it filled since the poll before, would be a quarter full again: at most
   * `ms`, at least `busyMs` later (a thread recording a million records a second fills a 4,096-slot
   * ring in 4 ms; a 10 ms timer alone loses most of them while the starting thread is idle).
   */
  every(ms: number, busyMs = Math.min(ms, 1)): this {
    if (this.timer !== null || this.closed) return this;
    let at = Date.now();
    const tick = (): void => {
      this.timer = null;
      const now = Date.now();
      const elapsed = Math.max(1, now - at);
      at = now;
      this.poll();
      if (this.closed) return;
      const f = this.fullest;
      const next = f <= 0 ? ms : Math.max(busyMs, Math.min(ms, Math.ceil((0.25 * elapsed) / f)));
      this.timer = setTimeout(tick, next).unref();
    };
    this.timer = setTimeout(tick, ms).unref();
    return this;
  }


  /** Records lost so far (overwritten before they were drained), all threads. */
  get lost(): number { return this.lostBy.reduce((a, b) => a + b, 0); }

  private trailer(producers?: ProducerInfo[]): TraceTrailer {
    return {
      frames: this.frames,
      ...(producers === undefined ? {} : { producers }),
      threads: this.rings.map((t, i) => ({ writerClass: t.writerClass, writerIndex: t.writerIndex, written: this.written[i]!, lost: this.lostBy[i]! })),
    };
  }

  /**
   * Drain what is left, write the trailer, close the file; with no asynchronous write in flight
   * (a stream without write-behind, or after finish()). Idempotent.
   */
  close(producers?: ProducerInfo[], inFlightWritten = false): TraceTrailer {
    if (this.closed) return this.trailer(producers);
    if (this.pending > 0 && !inFlightWritten) throw new Error('TraceStream.close() with writes in flight: await finish()');
    if (this.timer !== null) clearTimeout(this.timer);
    const pool = this.pool.splice(0); // the last drain writes synchronously
    this.poll();
    this.pool.push(...pool);
    if (this.closed) return this.trailer(producers); // the stream failed: the file stays as it was
    this.closed = true;
    const t = this.trailer(producers);
    try {
      writeAllAt(this.fd, trailerBytes(t), this.offset);
      // Not while a write is in flight (atExit): the descriptor's number could be reused by
      // another open before it ran. Its callback closes it.
      if (this.pending === 0) this.closeFd();
    } catch (err) {
      this.closed = false;
      this.fail(err);
    }
    return t;
  }

  /**
   * close(), synchronously, from a process 'exit' listener: nothing asynchronous runs after it, so
   * the writes still in flight are made again here (the same bytes at the same offsets), then the
   * last drain and the trailer. Never throws (a failure ends the stream as a failed write does).
   */
  atExit(producers?: ProducerInfo[]): void {
    if (this.closed) return;
    try {
      for (const [buf, w] of this.inFlight) writeAllAt(this.fd, new Uint8Array(buf.buffer, 0, w.bytes), w.at);
    } catch (err) {
      this.fail(err);
      return;
    }
    // Those writes may still run too (the same bytes) and return their buffers as they end.
    this.close(producers, true);
  }

  /** Resolves once no asynchronous write is in flight (every pooled buffer back in the pool). */
  async settled(): Promise<void> {
    while (this.pending > 0) await new Promise<void>((resolve) => { this.idle = resolve; });
  }

  /** close(), once every asynchronous write has ended. */
  async finish(producers?: ProducerInfo[]): Promise<TraceTrailer> {
    if (this.timer !== null) clearTimeout(this.timer);
    await this.settled();
    return this.close(producers);
  }
}

// ---- reading ----

/** Read a trace file (a path or its bytes). Throws TraceFileError when it is not one. */
export function readTrace(source: string | Uint8Array): TraceFile {
  let buf: Buffer;
  if (typeof source === 'string') buf = readSource(source);
  else {
    checkRoom(source.byteLength);
    buf = Buffer.from(source.buffer, source.byteOffset, source.byteLength);
  }
  if (buf.length < PREFIX || buf.toString('latin1', 0, 8) !== FILE_MAGIC) throw new TraceFileError(BAD_MAGIC);
  const version = buf.readUInt32LE(8);
  if (!READABLE_VERSIONS.includes(version)) throw new TraceFileError(`trace file version ${version} is not one this build reads (${READABLE_VERSIONS.join(', ')})`);
  const h = buf.readUInt32LE(12);
  if (PREFIX + h > buf.length) throw new TraceFileError('trace file header cut short');
  let meta: TraceMeta;
  try {
    meta = JSON.parse(buf.toString('utf8', PREFIX, PREFIX + h)) as TraceMeta;
  } catch {
    throw new TraceFileError('trace file header is not valid JSON');
  }
  checkMeta(meta);
  const framesAt = Math.ceil((PREFIX + h) / RECORD_BYTES) * RECORD_BYTES;
  let end = buf.length;
  let trailer: TraceTrailer | null = null;
  if (buf.length >= framesAt + 12 && buf.toString('latin1', buf.length - 8) === TRAILER_MAGIC) {
    const t = buf.readUInt32LE(buf.length - 12);
    const at = buf.length - 12 - t;
    if (at >= framesAt) {
      // The frames end where the trailer begins, whether or not the trailer itself can be used.
      end = at;
      try {
        trailer = trailerOf(JSON.parse(buf.toString('utf8', at, at + t)));
      } catch {
        trailer = null;
      }
    }
  }
  const body = Math.max(0, end - framesAt);
  const whole = Math.floor(body / RECORD_BYTES);
  const partialBytes = body - whole * RECORD_BYTES;
  const all = new Int32Array(whole * RECORD_WORDS);
  new Uint8Array(all.buffer).set(buf.subarray(framesAt, framesAt + whole * RECORD_BYTES));
  // The producer-table frames out, the records' frames kept in order.
  const table = new Map<number, TableEntry>();
  let kept = 0;
  for (let f = 0; f < whole; f++) {
    const at = f * RECORD_WORDS;
    if (readTableFrame(all, at, table)) continue;
    if (kept !== f) all.copyWithin(kept * RECORD_WORDS, at, at + RECORD_WORDS);
    kept++;
  }
  const frames = all.subarray(0, kept * RECORD_WORDS);
  const { records, positions, bad } = decodeFrames(frames);
  // Positions per thread must follow each other: a skipped position is a record missing.
  const next = new Map<number, number>();
  let missing = 0;
  records.forEach((r, i) => {
    const key = r.writerClass * 256 + r.writerIndex;
    const want = next.get(key);
    const p = positions[i]!;
    if (want !== undefined && p > want) missing += p - want;
    next.set(key, p + 1);
  });
  let lost: number | null = null;
  if (trailer !== null) lost = trailer.threads.reduce((n, t) => n + t.lost, 0);
  // Producers: the header's, then those the table frames add (a stream's registrations, also in
  // a file cut short), then the trailer's table when it has more.
  const added = tableProducers(table, meta.producers.length);
  if (added.length > 0) meta = { ...meta, producers: [...meta.producers, ...added] };
  if (trailer?.producers !== undefined && trailer.producers.length > meta.producers.length) meta = { ...meta, producers: trailer.producers };
  else if (meta.mode === 'flight') lost = meta.threads.reduce((n, t) => n + (t.lost ?? 0), 0);
  return { meta, trailer, records, positions, bad: bad + (partialBytes > 0 ? 1 : 0), partialBytes, missing, lost, complete: trailer !== null };
}

const BAD_MAGIC = 'not a sluice trace file (bad magic)';

/**
 * A trace's bytes from `path` (read-bounded.ts): a regular file once checkRoom says it fits; a
 * pipe, a FIFO or a device in chunks, refused when its first does not start with the file magic
 * and once the frames it has given would not fit.
 */
function readSource(path: string): Buffer {
  return readBounded(
    path,
    (first) => { if (first.length >= 8 && first.toString('latin1', 0, 8) !== FILE_MAGIC) throw new TraceFileError(BAD_MAGIC); },
    (bytes, sofar) => checkRoom(bytes, sofar ? path : null),
  );
}

/**
 * JavaScript heap a decoded file takes per 64-byte frame: its records (~210 bytes each, and a
 * SUBMIT_ROUTED frame is two) and their positions, as measured on a runtime's recording (7.5 M
 * records from 6 M frames: 1.5 GB).
 */
export const HEAP_PER_FRAME = 270;

/**
 * A file is read whole and every record decoded: refuse, with what to do, one that would not fit
 * in what this process may still allocate, rather than end it with V8's out-of-memory abort.
 * `unsized`: the path of a source that has no size to check first (readSource), whose `bytes`
 * are what it has given so far.
 */
function checkRoom(bytes: number, unsized: string | null = null): void {
  const frames = Math.floor(bytes / RECORD_BYTES);
  const has = `has ${frames} frames (${Math.round(bytes / 2 ** 20)} MiB)`;
  heapRoom(frames * HEAP_PER_FRAME, `${unsized === null ? `the file ${has}` : `${unsized} is not a regular file, and ${has} so far`}; reading it`);
}

/**
 * Throw a TraceFileError when `need` bytes of JavaScript heap are more than this process may still
 * allocate: `doing` (what would take them) takes about so much, and the `--max-old-space-size` to
 * run with. For the readers of a whole trace (readTrace, the Chrome export).
 */
export function heapRoom(need: number, doing: string): void {
  const short = heapShortfall(need, doing);
  if (short !== null) throw new TraceFileError(`${short}, or record a shorter run`);
}

/** A count, an index or a limit as the file's JSON holds them. */
const int = (x: unknown): boolean => Number.isSafeInteger(x) && (x as number) >= 0;

/** `v` as a TraceTrailer if it is one (as TraceStream writes it), else null: a damaged trailer is not used. */
function trailerOf(v: unknown): TraceTrailer | null {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return null;
  const o = v as Record<string, unknown>;
  if (!int(o.frames) || !Array.isArray(o.threads)) return null;
  for (const t of o.threads as unknown[]) {
    const q = t as Record<string, unknown> | null;
    if (q === null || typeof q !== 'object' || !int(q.writerClass) || !int(q.writerIndex) || !int(q.written) || !int(q.lost)) return null;
  }
  if (o.producers !== undefined && (!Array.isArray(o.producers) || !o.producers.every(isProducerInfo))) return null;
  return o as unknown as TraceTrailer;
}

function isProducerInfo(p: unknown): boolean {
  const q = p as Record<string, unknown> | null;
  return q !== null && typeof q === 'object' && typeof q.name === 'string' && int(q.rate) && int(q.burst) && int(q.slots);
}

function checkMeta(m: unknown): asserts m is TraceMeta {
  const fail = (what: string): never => { throw new TraceFileError(`trace file header: ${what}`); };
  if (typeof m !== 'object' || m === null) fail('not an object');
  const o = m as Record<string, unknown>;
  if (o.mode !== 'flight' && o.mode !== 'stream') fail('mode is neither flight nor stream');
  if (o.recordVersion !== RECORD_VERSION) fail(`record version ${String(o.recordVersion)} is not ${RECORD_VERSION}, the one this build reads`);
  for (const k of ['workers', 'ringCapacity', 'globalSlots'] as const) {
    if (!int(o[k])) fail(`${k} is not a non-negative integer`);
  }
  for (const k of ['producers', 'tasks', 'threads', 'chains', 'workerCpus'] as const) if (!Array.isArray(o[k])) fail(`${k} is not a list`);
  const clock = o.clock as Record<string, unknown> | null;
  if (typeof clock !== 'object' || clock === null || !Number.isFinite(clock.originMicros) || !(clock.wallMs === null || Number.isFinite(clock.wallMs))) {
    fail('clock needs originMicros (a number) and wallMs (a number or null)');
  }
  const W = o.workers as number;
  const chains = o.chains as unknown[];
  if (chains.length !== 4 || !chains.every((c) => Array.isArray(c) && c.length > 0 && c.every((w) => Number.isInteger(w) && w >= 0 && w < W))) {
    fail('chains must be 4 non-empty lists of worker indices (heavy, medium, light, none)');
  }
  if ((o.workerCpus as unknown[]).length !== W) fail('workerCpus must name one CPU (or null) per worker');
  for (const t of o.threads as unknown[]) {
    const q = t as Record<string, unknown> | null;
    if (q === null || typeof q !== 'object' || !int(q.writerClass) || !int(q.writerIndex) || typeof q.name !== 'string' ||
      !['first', 'lost', 'refused', 'records'].every((k) => q[k] === undefined || int(q[k]))) {
      fail('a thread needs a writerClass, a writerIndex and a name (and counts that are non-negative integers)');
    }
  }
  if (!(o.producers as unknown[]).every(isProducerInfo)) fail('a producer needs a name, rate, burst and slots');
  for (const t of o.tasks as unknown[]) {
    const q = t as Record<string, unknown> | null;
    if (q === null || typeof q !== 'object' || typeof q.name !== 'string' || ![null, 'heavy', 'medium', 'light'].includes(q.weight as string)) fail('a task needs a name and a weight (heavy, medium, light or null)');
  }
}
