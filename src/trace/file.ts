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
 *                     so every frame says its position p in its thread's ring), little-endian
 *   end      T bytes  trailer JSON (TraceTrailer: per thread, frames written and records lost),
 *            u32 LE   T, then 8 bytes TRAILER_MAGIC "SLTRAILR"
 *
 * A file without a trailer was cut short (the process died while recording): everything up to
 * the last whole frame is read, a partial last frame is counted bad, and `complete` is false.
 * Every frame is verified (its check word): a frame that does not verify is counted bad, not
 * decoded. Records missing between two positions of one thread are counted as `missing`.
 *
 * Two writers: saveFlight (a flight-recorder snapshot of every ring at once: works on a dead
 * thread's ring, which is still in shared memory) and TraceStream (a full recording: drains the
 * rings incrementally through a fixed buffer, so memory stays bounded, and counts what the
 * writers overwrote before it got there as lost, in the trailer).
 */
import { closeSync, openSync, readFileSync, write, writeSync } from 'node:fs';
import {
  RECORD_BYTES, RECORD_VERSION, RECORD_WORDS, R_SEQ, RecordKind, decodeFrames, encodeRecord, type TraceRecord,
} from './records.js';
import type { TraceRing } from './ring.js';

export const FILE_MAGIC = 'SLUICETR';
export const TRAILER_MAGIC = 'SLTRAILR';
export const FILE_VERSION = 1;
const PREFIX = 16;

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
    bufferFrames = 4096, writeBehind = 0,
  ) {
    if (!Number.isInteger(bufferFrames) || bufferFrames < 1) throw new RangeError('bufferFrames must be a positive integer');
    if (!Number.isInteger(writeBehind) || writeBehind < 0) throw new RangeError('writeBehind must be a non-negative integer');
    this.from = rings.map((t) => t.ring.appended());
    this.written = rings.map(() => 0);
    this.lostBy = rings.map(() => 0);
    this.buf = new Int32Array(bufferFrames * RECORD_WORDS);
    for (let i = 0; i < writeBehind; i++) this.pool.push(new Int32Array(bufferFrames * RECORD_WORDS));
    const threads = rings.map((t, i): ThreadInfo => ({ ...threadEntry(t), first: this.from[i]! }));
    this.fd = openSync(path, 'w');
    const header = headerBytes({ ...meta, mode: 'stream', recordVersion: RECORD_VERSION, threads });
    try {
      writeAllAt(this.fd, header, 0);
    } catch (err) {
      closeSync(this.fd);
      throw err;
    }
    this.offset = header.length;
  }

  /**
   * Drain every ring once (each until it is empty); returns the frames drained. A write that
   * fails (disk full, I/O error) ends the stream: the file stays where it stands (no trailer:
   * readers see a recording cut short), `error` keeps the cause, a process warning says so
   * once, and nothing throws into the recording thread (a timer or a release).
   */
  poll(): number {
    if (this.closed) return 0;
    let n = 0;
    this.fullest = 0;
    try {
      for (let i = 0; i < this.rings.length; i++) {
        const ring = this.rings[i]!.ring;
        const before = this.from[i]!;
        for (;;) {
          const pooled = this.pool.pop();
          const buf = pooled ?? this.buf;
          const d = this.rings[i]!.ring.drain(this.from[i]!, buf);
          this.from[i] = d.next;
          this.lostBy[i]! += d.lost;
          const bytes = d.copied * RECORD_BYTES;
          if (d.copied > 0) {
            const at = this.offset;
            this.offset += bytes;
            if (pooled === undefined) writeAllAt(this.fd, new Uint8Array(buf.buffer, 0, bytes), at);
            else this.writeBehind(pooled, bytes, at);
          } else if (pooled !== undefined) {
            this.pool.push(pooled);
          }
          this.written[i]! += d.copied;
          n += d.copied;
          if (d.copied < buf.length / RECORD_WORDS) break;
        }
        this.fullest = Math.max(this.fullest, (this.from[i]! - before) / ring.capacity);
      }
    } catch (err) {
      this.fail(err);
    }
    this.frames += n;
    return n;
  }

  /** An asynchronous positional write of `bytes` of a pooled buffer at `at` (a short write continues). */
  private writeBehind(buf: Int32Array, bytes: number, at: number, done = 0): void {
    try {
      write(this.fd, new Uint8Array(buf.buffer, done, bytes - done), 0, bytes - done, at + done, (err, n) => this.writeEnded(buf, bytes, at, done, err, n));
    } catch (err) {
      this.pool.push(buf); // refused at once (never in flight): poll's catch ends the stream
      throw err;
    }
    this.pending++; // counted once the request is made: its callback always comes later
  }

  /** A write-behind request ended: continue a short write, or give the buffer back (and fail on an error). Never throws. */
  private writeEnded(buf: Int32Array, bytes: number, at: number, done: number, err: NodeJS.ErrnoException | null, n: number): void {
    this.pending--;
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
      if (this.closed && this.error !== null) this.closeFd();
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
  close(producers?: ProducerInfo[]): TraceTrailer {
    if (this.closed) return this.trailer(producers);
    if (this.pending > 0) throw new Error('TraceStream.close() with writes in flight: await finish()');
    if (this.timer !== null) clearTimeout(this.timer);
    const pool = this.pool.splice(0); // the last drain writes synchronously
    this.poll();
    this.pool.push(...pool);
    if (this.closed) return this.trailer(producers); // the stream failed: the file stays as it was
    this.closed = true;
    const t = this.trailer(producers);
    try {
      writeAllAt(this.fd, trailerBytes(t), this.offset);
      this.closeFd();
    } catch (err) {
      this.closed = false;
      this.fail(err);
    }
    return t;
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
  const buf = typeof source === 'string' ? readFileSync(source) : Buffer.from(source.buffer, source.byteOffset, source.byteLength);
  if (buf.length < PREFIX || buf.toString('latin1', 0, 8) !== FILE_MAGIC) throw new TraceFileError('not a sluice trace file (bad magic)');
  const version = buf.readUInt32LE(8);
  if (version !== FILE_VERSION) throw new TraceFileError(`trace file version ${version} is not ${FILE_VERSION}, the one this build reads`);
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
      try {
        trailer = JSON.parse(buf.toString('utf8', at, at + t)) as TraceTrailer;
        end = at;
      } catch {
        trailer = null;
      }
    }
  }
  const body = Math.max(0, end - framesAt);
  const whole = Math.floor(body / RECORD_BYTES);
  const partialBytes = body - whole * RECORD_BYTES;
  const frames = new Int32Array(whole * RECORD_WORDS);
  new Uint8Array(frames.buffer).set(buf.subarray(framesAt, framesAt + whole * RECORD_BYTES));
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
  if (trailer?.producers !== undefined && trailer.producers.length > meta.producers.length) meta = { ...meta, producers: trailer.producers };
  else if (meta.mode === 'flight') lost = meta.threads.reduce((n, t) => n + (t.lost ?? 0), 0);
  return { meta, trailer, records, positions, bad: bad + (partialBytes > 0 ? 1 : 0), partialBytes, missing, lost, complete: trailer !== null };
}

function checkMeta(m: unknown): asserts m is TraceMeta {
  const fail = (what: string): never => { throw new TraceFileError(`trace file header: ${what}`); };
  if (typeof m !== 'object' || m === null) fail('not an object');
  const o = m as Record<string, unknown>;
  if (o.mode !== 'flight' && o.mode !== 'stream') fail('mode is neither flight nor stream');
  if (o.recordVersion !== RECORD_VERSION) fail(`record version ${String(o.recordVersion)} is not ${RECORD_VERSION}, the one this build reads`);
  for (const k of ['workers', 'ringCapacity', 'globalSlots'] as const) {
    if (!Number.isSafeInteger(o[k]) || (o[k] as number) < 0) fail(`${k} is not a non-negative integer`);
  }
  for (const k of ['producers', 'tasks', 'threads', 'chains', 'workerCpus'] as const) if (!Array.isArray(o[k])) fail(`${k} is not a list`);
  if (typeof o.clock !== 'object' || o.clock === null) fail('clock is missing');
  const W = o.workers as number;
  const chains = o.chains as unknown[];
  if (chains.length !== 4 || !chains.every((c) => Array.isArray(c) && c.length > 0 && c.every((w) => Number.isInteger(w) && w >= 0 && w < W))) {
    fail('chains must be 4 non-empty lists of worker indices (heavy, medium, light, none)');
  }
  if ((o.workerCpus as unknown[]).length !== W) fail('workerCpus must name one CPU (or null) per worker');
  const int = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) >= 0;
  for (const p of o.producers as unknown[]) {
    const q = p as Record<string, unknown> | null;
    if (q === null || typeof q !== 'object' || typeof q.name !== 'string' || !int(q.rate) || !int(q.burst) || !int(q.slots)) fail('a producer needs a name, rate, burst and slots');
  }
  for (const t of o.tasks as unknown[]) {
    const q = t as Record<string, unknown> | null;
    if (q === null || typeof q !== 'object' || typeof q.name !== 'string' || ![null, 'heavy', 'medium', 'light'].includes(q.weight as string)) fail('a task needs a name and a weight (heavy, medium, light or null)');
  }
}
