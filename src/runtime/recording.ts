/**
 * Recording (issue 18, docs/design.md §4.15): what `Runtime.start({ trace })` turns on. Each
 * thread's decisions reach the recording seam (src/trace/seam.ts); here a `RecordingSeam` turns
 * each call into one 64-byte record in that thread's ring (src/trace/recorder.ts), and the
 * starting thread saves the rings (flight mode: `rt.saveTrace(path)`) or streams them to a file
 * from the start (file mode).
 *
 * The rings live in their own SharedArrayBuffer, one ring per attachment slot and per worker
 * slot (`TraceRings`), so a dead thread's records are still there and a replacement continues
 * its ring. Every thread stamps records with the same tick: µs since the runtime's epoch (the
 * monotonic clock, whatever clock admission uses). Owner of a ring: the thread in its slot.
 */
import { MonotonicClock } from '../admission/clock.js';
import { ConfigError, describe } from '../errors.js';
import { WRITER_ATTACHMENT, WRITER_WORKER, type WriterClass } from '../trace/records.js';
import type { Recorder } from '../trace/recorder.js';
import { TraceRings } from '../trace/rings.js';
import { saveFlight, TraceStream, type ProducerInfo, type TraceMeta, type TraceTrailer } from '../trace/file.js';
import type { Seam } from '../trace/seam.js';
import { snapshot } from './options.js';

/** Runtime.start({ trace }). */
export type TraceOptions =
  | { mode: 'flight'; records?: number }
  | { mode: 'file'; path: string; records?: number };

/** @internal The `trace` option, read once and checked. */
export interface TraceConfig { mode: 'flight' | 'file'; path: string | null; records: number }

/** @internal What a thread needs to open its own ring (workerData.trace, the attach handle's trace). */
export interface TraceShare { sab: SharedArrayBuffer; records: number; attachments: number; workers: number; epochMicros: number }

const DEFAULT_RECORDS = 4096;
const MAX_RECORDS = 1 << 20;

/** @internal Read `trace` once: undefined = off. */
export function traceOption(where: string, v: unknown): TraceConfig | null {
  if (v === undefined) return null;
  const o = snapshot(where, 'trace', v, ['mode', 'path', 'records'], false);
  if (o.mode !== 'flight' && o.mode !== 'file') throw new ConfigError(`${where}: trace.mode must be 'flight' or 'file'; got ${describe(o.mode)}`);
  let records = DEFAULT_RECORDS;
  if (o.records !== undefined) {
    const r = o.records;
    if (typeof r !== 'number' || !Number.isInteger(r) || r < 2 || r > MAX_RECORDS || (r & (r - 1)) !== 0) {
      throw new ConfigError(`${where}: trace.records must be a power of two from 2 to ${MAX_RECORDS}; got ${describe(r)}`);
    }
    records = r;
  }
  if (o.mode === 'file') {
    if (typeof o.path !== 'string' || o.path.length === 0) throw new ConfigError(`${where}: trace.path must be a non-empty string (the file to write); got ${describe(o.path)}`);
    return { mode: 'file', path: o.path, records };
  }
  if (o.path !== undefined) throw new ConfigError(`${where}: trace.path is for mode 'file'; a flight recorder is saved with rt.saveTrace(path)`);
  return { mode: 'flight', path: null, records };
}

/** @internal The Seam of one thread, writing to its slot's ring. Ours only: never throws into the runtime. */
export class RecordingSeam implements Seam {
  private readonly clock: MonotonicClock;
  constructor(private readonly rec: Recorder, epochMicros: number) {
    this.clock = new MonotonicClock(epochMicros);
  }

  admitted(producer: number, task: number, att: number, token: number, gen: number, worker: number, packed: number, global: number, parent: number, parentGen: number): void {
    const tick = this.clock.now();
    const pAtt = parent < 0 ? -1 : parent >>> 16;
    const pIdx = parent < 0 ? -1 : parent & 0xffff;
    this.rec.submitted(tick, producer, task, 0xffff, att, token, gen, pAtt, pIdx, parentGen, packed, global, 0, 0);
    one[0] = worker;
    this.rec.routed(tick, producer, task, 0xffff, att, token, gen, one, none, 0, false);
  }
  rejected(producer: number, task: number, _att: number, reason: number, packed: number, global: number): void {
    this.rec.rejected(this.clock.now(), producer, task, reason, -1, -1, -1, packed, global, 0, 0);
  }
  started(att: number, token: number, gen: number, worker: number, stolen: boolean): void {
    this.rec.started(this.clock.now(), -1, -1, att, token, gen, worker, worker, -1, stolen ? 1 : 0);
  }
  ran(att: number, token: number, gen: number, worker: number, outcome: number): void {
    this.rec.resolved(this.clock.now(), -1, -1, att, token, gen, worker, outcome, 0, 0);
  }
  resolved(att: number, token: number, gen: number, producer: number, outcome: number): void {
    this.rec.released(this.clock.now(), producer, -1, att, token, gen, outcome, 0, 0);
  }
  cancelled(att: number, token: number, gen: number, force: boolean): void {
    this.rec.cancelled(this.clock.now(), -1, -1, att, token, gen, force, 0, true);
  }
  retried(att: number, token: number, gen: number, worker: number): void {
    this.rec.retried(this.clock.now(), -1, -1, att, token, gen, worker, 1, 0);
  }
  workerDied(worker: number, retryable: boolean): void {
    this.rec.workerDied(this.clock.now(), worker, retryable ? 1 : 3, 0, -1, -1, -1);
  }
  respawned(worker: number): void { this.rec.respawned(this.clock.now(), worker, 0, 0, 0); }
  /** No record kind of its own yet: a WORKER_DIED with exit code -1 (cause 0) marks the retirement. */
  retired(worker: number): void { this.rec.workerDied(this.clock.now(), worker, 0, -1, -1, -1, -1); }
  frozen(): void { this.rec.frozen(this.clock.now(), 1, 0, 0); }
  reconciled(deadWorkers: number, deadAttachments: number): void {
    this.rec.reconciled(this.clock.now(), 0, -1, deadWorkers, deadAttachments);
  }
  /** The decision's own tick (the runtime clock it was made on), so replay sees what decided it. */
  breaker(task: number, from: number, to: number, why: number, tick: number): void {
    this.rec.breaker(tick, task, from, to, why);
  }
}
const one = new Int32Array(1);
const none = new Int32Array(0);

/** @internal Open the calling thread's ring in a shared trace region and return its seam. */
export function seamFor(share: TraceShare, writerClass: WriterClass, index: number, label: string, threadId: number): Seam {
  const rings = new TraceRings(new Int32Array(share.sab), 0, share.attachments, share.workers, share.records);
  const rec = rings.recorder(writerClass, index);
  const seam = new RecordingSeam(rec, share.epochMicros);
  rec.meta(new MonotonicClock(share.epochMicros).now(), label, threadId);
  return seam;
}

/** @internal The starting thread's side: the region, and the file in file mode. */
export class Recording {
  readonly share: TraceShare;
  private readonly rings: TraceRings;
  private stream: TraceStream | null = null;

  constructor(readonly config: TraceConfig, attachments: number, workers: number, epochMicros: number) {
    const bytes = TraceRings.words(attachments, workers, config.records) * 4;
    let sab: SharedArrayBuffer;
    try {
      sab = new SharedArrayBuffer(bytes);
    } catch (cause) {
      throw new ConfigError(`Runtime.start: could not allocate ${bytes} bytes for the trace rings ((maxAttachments + workers) × trace.records × 64 bytes); lower trace.records or maxAttachments`, { cause });
    }
    this.rings = new TraceRings(new Int32Array(sab), 0, attachments, workers, config.records, true);
    this.share = { sab, records: config.records, attachments, workers, epochMicros };
  }

  /** The main thread's seam (attachment 0, also the supervisor's). */
  mainSeam(threadId: number): Seam { return seamFor(this.share, WRITER_ATTACHMENT, 0, 'main', threadId); }

  /** File mode: open the file and drain the rings into it every `everyMs` from now on. */
  startStream(meta: () => Omit<TraceMeta, 'mode' | 'recordVersion' | 'threads'>, everyMs = 10): void {
    if (this.config.mode !== 'file') return;
    this.stream = new TraceStream(this.config.path!, this.rings.threads(), meta()).every(everyMs);
  }

  /** Flight mode (or file mode, a snapshot beside the stream): every ring's latest records, now. */
  save(path: string, meta: Omit<TraceMeta, 'mode' | 'recordVersion' | 'threads'>): TraceTrailer {
    return saveFlight(path, this.rings.threads(), meta);
  }

  /** Close: drain what is left and write the trailer (file mode). Idempotent. */
  close(producers?: ProducerInfo[]): void {
    this.stream?.close(producers);
    this.stream = null;
  }
}

export { WRITER_ATTACHMENT, WRITER_WORKER };
