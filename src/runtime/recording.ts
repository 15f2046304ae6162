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
import { resolve } from 'node:path';
import { saveFlight, TraceStream, type ProducerInfo, type TraceMeta, type TraceTrailer } from '../trace/file.js';
import type { Seam } from '../trace/seam.js';
import { setReadLog, type ReadLog } from '../admission/read-log.js';
import { TICK_REUSE, type TickSource } from '../admission/tick.js';
import { P_EARNED, P_LAST_MS, P_PACKED, type Memory } from '../shm/layout.js';
import { REJECTED_FLAGS_SHIFT, SEEN_EARNED, SEEN_GLOBAL, SEEN_GUESS, SEEN_LAST_MS, SEEN_PACKED, TICK_REDECIDED, TICK_REUSED } from '../trace/records.js';
import { RouteSnapshot } from './routing.js';
import { snapshot } from './options.js';

/** Runtime.start({ trace }). */
export type TraceOptions =
  | { mode: 'flight'; records?: number }
  | { mode: 'file'; path: string; records?: number };

/** @internal The `trace` option, read once and checked. */
export interface TraceConfig { mode: 'flight' | 'file'; path: string | null; records: number }

/** @internal What a thread needs to open its own ring (workerData.trace, the attach handle's trace). */
export interface TraceShare {
  sab: SharedArrayBuffer; records: number; attachments: number; workers: number; epochMicros: number;
  /** A full recording: deciding threads keep a read log (§4.15 step 5). */
  readLog: boolean;
}

/** @internal What an attachment exposes for recording its decisions (submit/attachment.ts). */
export interface RecordedAttachment {
  readonly mem: Memory;
  readonly gateGuess: Int32Array;
  readonly globalGuess: number;
  readonly ticks: TickSource;
  seam: Seam | null;
  readLog: ThreadReadLog | null;
  routeSnapshot: RouteSnapshot | null;
  fastGate: unknown;
}

/**
 * @internal Record an attachment's decisions into its slot's ring: the seam, the route copy
 * (§4.15 step 6), and in a full recording the read log (step 5), which takes the WebAssembly
 * gate out (its CASes are not logged; the JavaScript gate decides the same).
 */
export function recordAttachment(att: RecordedAttachment, share: TraceShare, index: number, label: string, threadId: number, limitOf: (reason: number, producer: number) => number): void {
  const seam = seamFor(share, WRITER_ATTACHMENT, index, label, threadId) as RecordingSeam;
  seam.ticks = att.ticks;
  seam.mem = att.mem;
  seam.limitOf = limitOf;
  att.routeSnapshot = seam.snapshot = new RouteSnapshot(share.workers);
  if (share.readLog) {
    att.readLog = seam.log = new ThreadReadLog(seam.recorder, att.mem, att.gateGuess, att.globalGuess, att.ticks);
    att.fastGate = null;
  }
  att.seam = seam;
}

/** A flight recorder's window per thread (256 KiB of records). */
const DEFAULT_RECORDS = 4096;
/**
 * A full recording's ring per thread (1 MiB): what a thread may write between two drains. A
 * thread recording ~400k records/s (an attached producer at full speed) while the starting
 * thread is idle is drained by the timer alone, and on a 2-CPU machine whose CPUs the workers
 * and that thread keep busy, the timer ran up to 18-21 ms late: 4,096 slots lost 10-25% of such
 * a thread's records, 16,384 none (docs/performance.md, seventh session).
 */
const DEFAULT_FILE_RECORDS = 16384;
const MAX_RECORDS = 1 << 20;
/** The largest trace region: 2^31 words (8 GiB), so every word index of it is an int32. */
const MAX_TRACE_WORDS = 2 ** 31;

/** @internal Read `trace` once: undefined = off. */
export function traceOption(where: string, v: unknown): TraceConfig | null {
  if (v === undefined) return null;
  const o = snapshot(where, 'trace', v, ['mode', 'path', 'records'], false);
  if (o.mode !== 'flight' && o.mode !== 'file') throw new ConfigError(`${where}: trace.mode must be 'flight' or 'file'; got ${describe(o.mode)}`);
  let records = o.mode === 'file' ? DEFAULT_FILE_RECORDS : DEFAULT_RECORDS;
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

/**
 * @internal A deciding thread's read log (admission/read-log.ts, §4.15 step 5), full recordings
 * only. `begin(p)` before a decision on producer p's words: this thread's guesses of them that
 * moved since its last decision (a release, a flush, a reconcile changed them) are recorded as
 * SEEN guess records, then the log is installed; `end()` uninstalls it. Its shadow is the value
 * this thread last read or wrote at each gate word inside a decision.
 */
export class ThreadReadLog implements ReadLog {
  /** Reads made inside decisions (wrapping): SEEN records carry it, replay counts the same. */
  reads = 0;
  /**
   * The shadow, dense: [0] the global word, [1 + p·SHADOW_FIELDS + f] field f < SHADOW_FIELDS of
   * producer p's block (the gate words); any other word in `other`. Unset words read as 0.
   */
  private readonly dense: Int32Array;
  private readonly other = new Map<number, number>();
  private readonly guessShadow: Int32Array;
  private readonly base: number;
  private readonly stride: number;
  /** log2(stride): a producer block is a power-of-two number of words (layout.ts BLOCK_BYTES). */
  private readonly shift: number;
  private readonly blocks: number;
  private readonly globalW: number;
  private tick = 0;

  constructor(
    private readonly rec: Recorder, private readonly mem: Memory, private readonly guess: Int32Array,
    private readonly globalGuess: number, private readonly ticks: TickSource,
  ) {
    this.guessShadow = new Int32Array(guess.length);
    this.base = mem.producerWord(0, 0);
    this.stride = mem.producerWord(1, 0) - this.base;
    if (this.stride < SHADOW_FIELDS || (this.stride & (this.stride - 1)) !== 0) throw new Error('sluice: a producer block is not a power of two of words');
    this.shift = 31 - Math.clz32(this.stride);
    this.blocks = mem.layout.maxProducers;
    this.globalW = mem.globalWord;
    this.dense = new Int32Array(1 + this.blocks * SHADOW_FIELDS);
  }

  /** Index of word w in `dense`, or -1 (kept in `other`). */
  private slot(w: number): number {
    if (w === this.globalW) return 0;
    const off = w - this.base;
    const p = off >> this.shift;
    const f = off & (this.stride - 1);
    return off >= 0 && p < this.blocks && f < SHADOW_FIELDS ? 1 + p * SHADOW_FIELDS + f : -1;
  }

  begin(p: number): void {
    this.tick = this.ticks.value;
    this.sync(p, SEEN_PACKED | SEEN_GUESS, p);
    this.sync(this.globalGuess, SEEN_GLOBAL | SEEN_GUESS, -1);
    setReadLog(this);
  }

  end(p: number): void {
    setReadLog(null);
    this.guessShadow[p] = this.guess[p]!;
    this.guessShadow[this.globalGuess] = this.guess[this.globalGuess]!;
  }

  private sync(gi: number, word: number, p: number): void {
    const g = this.guess[gi]!;
    if (g === this.guessShadow[gi]) return;
    this.guessShadow[gi] = g;
    this.rec.seen(this.tick, word, p, g, this.reads);
  }

  before(): void { this.reads = (this.reads + 1) | 0; }

  read(w: number, value: number): void {
    const i = this.slot(w);
    if (i >= 0) {
      if (this.dense[i] === value) return;
      this.dense[i] = value;
    } else {
      if ((this.other.get(w) ?? 0) === value) return;
      this.other.set(w, value);
    }
    this.seenAt(w, value);
  }

  /** read(w, value) then wrote(w, next), with one lookup: a CAS that won, an atomic subtraction. */
  readWrote(w: number, value: number, next: number): void {
    const i = this.slot(w);
    if (i < 0) {
      this.read(w, value);
      this.other.set(w, next);
      return;
    }
    const was = this.dense[i]!;
    this.dense[i] = next;
    if (was !== value) this.seenAt(w, value);
  }

  /** A SEEN record: w read `value`, which is not what this thread last read or wrote there. */
  private seenAt(w: number, value: number): void {
    this.tick = this.ticks.value;
    const off = w - this.base;
    if (w === this.globalW) this.rec.seen(this.tick, SEEN_GLOBAL, -1, value, this.reads);
    else this.rec.seen(this.tick, seenField(off % this.stride), Math.floor(off / this.stride), value, this.reads);
  }

  wrote(w: number, value: number): void {
    const i = this.slot(w);
    if (i >= 0) this.dense[i] = value;
    else this.other.set(w, value);
  }

  /**
   * A RELEASE this thread recorded for producer p's token (recorder.ts `released`): its view of
   * the global word and of p's PACKED word each go down by one, and its guesses of them are
   * taken to be those views -- exactly what replay does to its private memory and guesses at the
   * same record (replay-threads.ts). Nothing is recorded: a read that later finds the view right
   * needs no SEEN record, one that does not is recorded as ever. (Before, a release made the next
   * decision record its guesses and reads of both words: 4 SEEN records per sequential task.)
   */
  released(p: number): void {
    if (p < 0 || p >= this.blocks) return;
    const dense = this.dense;
    const ip = 1 + p * SHADOW_FIELDS + P_PACKED;
    const vp = (dense[ip]! - 1) | 0;
    dense[ip] = vp;
    this.guessShadow[p] = vp;
    const vg = (dense[0]! - 1) | 0;
    dense[0] = vg;
    this.guessShadow[this.globalGuess] = vg;
  }

  /** This thread's view of producer p's field f (< SHADOW_FIELDS): the gate words a decision records. */
  field(p: number, f: number): number {
    return p >= 0 && p < this.blocks ? this.dense[1 + p * SHADOW_FIELDS + f]! : this.view(this.mem.producerWord(p, f));
  }

  /** This thread's view of the global word. */
  global(): number { return this.dense[0]!; }

  /** This thread's view of a word (the last value it read or wrote there in a decision, or a release moved it to). */
  view(w: number): number {
    const i = this.slot(w);
    return i >= 0 ? this.dense[i]! : (this.other.get(w) ?? 0);
  }
}

/** Producer block fields a read log keeps densely (the gate words: PACKED, EARNED, LAST_MS, ...). */
const SHADOW_FIELDS = 8;

function seenField(field: number): number {
  return field === P_PACKED ? SEEN_PACKED : field === P_EARNED ? SEEN_EARNED : field === P_LAST_MS ? SEEN_LAST_MS : 0xff;
}

/** @internal The Seam of one thread, writing to its slot's ring. Ours only: never throws into the runtime. */
export class RecordingSeam implements Seam {
  private readonly clock: MonotonicClock;
  /** The deciding thread's admission ticks, route copy and read log (an attachment's; null on a worker). */
  ticks: TickSource | null = null;
  snapshot: RouteSnapshot | null = null;
  log: ThreadReadLog | null = null;
  mem: Memory | null = null;
  private advances = 0;
  private turn = -1;
  private reuse = 0;
  private turnTick = 0;
  private batch = -1;
  private batchTick = 0;
  private readonly occ: Int32Array;
  readonly recorder: Recorder;
  /**
   * File mode, the starting thread's seam: drain every ring to the file now (TraceStream.poll),
   * called from here once this thread has appended `flushEvery` records since the last call, at
   * a point outside any admission decision: a refusal, or a release (inside the drain chunk's
   * window, which only a freeze waits for, and the supervisor that freezes is this thread). The
   * timer alone drains only between event-loop turns, and a busy thread fills its ring faster.
   */
  flush: (() => void) | null = null;
  flushEvery = 0;
  private flushedAt = 0;
  constructor(private readonly rec: Recorder, epochMicros: number, workers: number) {
    this.recorder = rec;
    this.clock = new MonotonicClock(epochMicros);
    this.occ = new Int32Array(workers);
  }

  /**
   * A decision's tick and TICK_* flags: the admission tick when the decision read it (a rated
   * producer: replay needs exactly that reading), else a clock reading.
   */
  private decisionTick(): number {
    const t = this.ticks;
    if (t === null) { flags = 0; return this.clock.now(); }
    if (t.advances === this.advances) {
      // Not a rated decision: a reading shared by up to TICK_REUSE records of one pump turn, as
      // admission's (tick.ts): such a tick is at most one synchronous stretch old.
      flags = 0;
      if (t.turns !== this.turn || this.reuse === 0) { this.turn = t.turns; this.reuse = TICK_REUSE; this.turnTick = this.clock.now(); }
      this.reuse--;
      return this.turnTick;
    }
    this.advances = t.advances;
    flags = t.advanceReused ? (t.reused ? TICK_REUSED : TICK_REUSED | TICK_REDECIDED) : 0;
    return t.value;
  }

  /** The gate words after a decision on producer p: the thread's view with a read log, else its guesses. */
  private words(p: number, packed: number, global: number): void {
    const log = this.log;
    const mem = this.mem;
    if (log === null || mem === null) { wordsOut[0] = packed; wordsOut[1] = global; wordsOut[2] = 0; return; }
    wordsOut[0] = log.field(p, P_PACKED);
    wordsOut[1] = log.global();
    wordsOut[2] = log.field(p, P_EARNED);
  }

  admitted(producer: number, task: number, att: number, token: number, gen: number, worker: number, packed: number, global: number, parent: number, parentGen: number): void {
    const tick = this.decisionTick();
    const f = flags;
    const pAtt = parent < 0 ? -1 : parent >>> 16;
    const pIdx = parent < 0 ? -1 : parent & 0xffff;
    this.words(producer, packed, global);
    const snap = this.snapshot;
    const weightClass = snap === null ? 0xffff : snap.chainClass;
    if (snap === null) {
      this.rec.submitted(tick, producer, task, weightClass, att, token, gen, pAtt, pIdx, parentGen, wordsOut[0]!, wordsOut[1]!, wordsOut[2]!, f);
      one[0] = worker;
      this.rec.routed(tick, producer, task, 0xffff, att, token, gen, one, none, 0, false);
      return;
    }
    const cpu = snap.cpu;
    const chosen = snap.chosen;
    // The tie went to this CPU when the router read one and chose other than rule 1's pick.
    const cpuTie = cpu >= 0 && worker !== snap.plain;
    const rec = this.rec;
    // One frame for both when the route fits (records.ts foldRoute, here from the router's own
    // packing of what it read), else SUBMIT then ROUTE.
    if (snap.packed >= 0 && (cpu < 0 || cpu === rec.cpu) && (f & ~3) === 0 && weightClass <= 0xff) {
      rec.submittedRoutedPacked(tick, producer, task, weightClass, att, token, gen, pAtt, pIdx, parentGen, wordsOut[0]!, wordsOut[1]!, wordsOut[2]!, f,
        snap.chain.length, snap.packed, chosen, worker, cpuTie, cpu);
      return;
    }
    const chain = snap.chain;
    const occ = this.occ;
    for (let i = 0; i < chain.length; i++) occ[chain[i]!] = snap.occupancy(chain[i]!);
    rec.submittedRouted(tick, producer, task, weightClass, att, token, gen, pAtt, pIdx, parentGen, wordsOut[0]!, wordsOut[1]!, wordsOut[2]!, f,
      chain, occ, chosen, cpuTie, cpu);
  }
  rejected(producer: number, task: number, _att: number, reason: number, packed: number, global: number): void {
    const tick = this.decisionTick();
    this.words(producer, packed, global);
    const limit = this.limitOf === null ? 0 : this.limitOf(reason, producer);
    this.rec.rejected(tick, producer, task, reason, -1, -1, -1, wordsOut[0]!, wordsOut[1]!, wordsOut[2]!, (limit & 0x0fffffff) | (flags << REJECTED_FLAGS_SHIFT));
    if (this.flush !== null) this.flushDue();
  }
  /** The limit a refusal compared against (replay.ts rejectionLimit), when the seam knows the runtime's limits. */
  limitOf: ((reason: number, producer: number) => number) | null = null;
  refilled(producer: number): void {
    this.rec.refilled(this.ticks === null ? this.clock.now() : this.ticks.value, producer);
  }
  /** A worker's START and RESOLVE, dated by the loop's own readings of the run's start and end (the health counters'): no clock read of ours. */
  started(att: number, token: number, gen: number, worker: number, stolen: boolean, task: number, producer: number, startMs: number): void {
    this.rec.started(this.clock.at(startMs), producer, task, att, token, gen, worker, worker, -1, stolen ? 1 : 0);
  }
  ran(att: number, token: number, gen: number, worker: number, outcome: number, endMs: number): void {
    this.rec.resolved(this.clock.at(endMs), -1, -1, att, token, gen, worker, outcome, 0, 0);
  }
  resolved(att: number, token: number, gen: number, producer: number, outcome: number, batch: number): void {
    // One clock reading per drain chunk (one synchronous stretch of at most DRAIN_CHUNK resolves).
    if (batch < 0 || batch !== this.batch) { this.batchTick = this.clock.now(); this.batch = batch; }
    this.rec.released(this.batchTick, producer, -1, att, token, gen, outcome, 0, 0);
    if (this.log !== null) this.log.released(producer);
    if (this.flush !== null) this.flushDue();
  }

  private flushDue(): void {
    const pos = this.rec.ring.position();
    if (((pos - this.flushedAt) | 0) < this.flushEvery) return;
    this.flushedAt = pos;
    this.flush!();
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
  admin(action: number, session: number, task: number, att: number, token: number, gen: number, ok: boolean): void {
    this.rec.admin(this.clock.now(), action, session, task, att, token, gen, ok);
  }
  /** The decision's own tick (the runtime clock it was made on), so replay sees what decided it. */
  breaker(task: number, from: number, to: number, why: number, tick: number): void {
    this.rec.breaker(tick, task, from, to, why);
  }
}
const one = new Int32Array(1);
const none = new Int32Array(0);
const wordsOut = new Int32Array(3);
/** The last decisionTick()'s TICK_* flags (one thread per module instance). */
let flags = 0;

/** @internal Open the calling thread's ring in a shared trace region and return its seam. */
export function seamFor(share: TraceShare, writerClass: WriterClass, index: number, label: string, threadId: number): Seam {
  const rings = new TraceRings(new Int32Array(share.sab), 0, share.attachments, share.workers, share.records);
  const rec = rings.recorder(writerClass, index);
  const seam = new RecordingSeam(rec, share.epochMicros, share.workers);
  rec.meta(new MonotonicClock(share.epochMicros).now(), label, threadId);
  return seam;
}

/**
 * A full recording's writes (TraceStream): frames per drain buffer, and buffers that may be in an
 * asynchronous write at once (8 × 256 KiB), so the starting thread drains and the libuv pool
 * writes; with all of them in flight, the stream writes synchronously.
 */
const STREAM_BUFFER_FRAMES = 4096;
const STREAM_WRITE_BEHIND = 8;

/** @internal The starting thread's side: the region, and the file in file mode. */
export class Recording {
  readonly share: TraceShare;
  private readonly rings: TraceRings;
  private stream: TraceStream | null = null;

  constructor(readonly config: TraceConfig, attachments: number, workers: number, epochMicros: number) {
    const words = TraceRings.words(attachments, workers, config.records);
    const bytes = words * 4;
    if (words > MAX_TRACE_WORDS) {
      throw new ConfigError(`Runtime.start: the trace rings would take ${bytes} bytes ((maxAttachments + workers) × trace.records × 64 bytes); the region holds at most ${MAX_TRACE_WORDS * 4} (its word indices); lower trace.records or maxAttachments`);
    }
    let sab: SharedArrayBuffer;
    try {
      sab = new SharedArrayBuffer(bytes);
    } catch (cause) {
      throw new ConfigError(`Runtime.start: could not allocate ${bytes} bytes for the trace rings ((maxAttachments + workers) × trace.records × 64 bytes); lower trace.records or maxAttachments`, { cause });
    }
    // A fresh SharedArrayBuffer is zero-filled: laying it out writes only the rings' headers, so the
    // region is reserved, not committed, and a thread's ring costs memory once the thread records.
    this.rings = new TraceRings(new Int32Array(sab), 0, attachments, workers, config.records, true, true);
    this.share = { sab, records: config.records, attachments, workers, epochMicros, readLog: config.mode === 'file' };
  }

  /** The main thread's seam (attachment 0, also the supervisor's). */
  mainSeam(threadId: number): Seam { return seamFor(this.share, WRITER_ATTACHMENT, 0, 'main', threadId); }

  /**
   * File mode: open the file and drain the rings into it every `everyMs` from now on, and from
   * the starting thread's own seam whenever it has appended a quarter of its ring since (a busy
   * thread between two timer turns). Workers' rings fill no faster than their owner resolves:
   * a worker runs only what was admitted, and its two records per task wait at most for the
   * owner's next quarter-ring of submits and releases.
   */
  startStream(
    meta: () => Omit<TraceMeta, 'mode' | 'recordVersion' | 'threads'>, main: RecordingSeam | null = null,
    producers: ((from: number) => ProducerInfo[]) | null = null, everyMs = 10,
  ): void {
    if (this.config.mode !== 'file') return;
    const file = resolve(this.config.path!);
    if (recordingTo.has(file)) {
      throw new ConfigError(`Runtime.start: trace.path ${JSON.stringify(this.config.path!.slice(0, 200))} is the file of another runtime of this process that still records; give each runtime its own file`);
    }
    let stream: TraceStream;
    try {
      stream = this.stream = new TraceStream(this.config.path!, this.rings.threads(), meta(), STREAM_BUFFER_FRAMES, STREAM_WRITE_BEHIND, producers).every(everyMs);
    } catch (cause) {
      throw new ConfigError(`Runtime.start: trace.path ${JSON.stringify(this.config.path!.slice(0, 200))} could not be opened and written (${cause instanceof Error ? cause.message : String(cause)})${seekHint(cause)}`, { cause });
    }
    if (main !== null) {
      main.flushEvery = Math.max(1, this.config.records >>> 2);
      main.flush = () => { stream.poll(); };
    }
    recordingTo.add(file);
    this.file = file;
    // A process that ends without rt.close() (forgotten, process.exit, an uncaught exception)
    // still finishes the file: the last records and the trailer (TraceStream.atExit).
    this.exitHook = () => { stream.atExit(producers === null ? undefined : producers(0)); };
    atExit.add(this.exitHook);
    if (!exitListening) { exitListening = true; process.on('exit', finishAtExit); }
  }

  private exitHook: (() => void) | null = null;
  /** The file this recording streams to (resolved), while it is open. */
  private file: string | null = null;

  /** Flight mode (or file mode, a snapshot beside the stream): every ring's latest records, now. */
  save(path: string, meta: Omit<TraceMeta, 'mode' | 'recordVersion' | 'threads'>): TraceTrailer & { records: number } {
    return saveFlight(path, this.rings.threads(), meta);
  }

  /** Close: drain what is left and write the trailer (file mode), once its writes have ended. Idempotent. */
  async close(producers?: ProducerInfo[]): Promise<void> {
    const stream = this.stream;
    this.stream = null;
    try {
      await stream?.finish(producers);
    } finally {
      // Only now: a process that exits while the last writes are in flight still finishes the file.
      if (this.exitHook !== null) atExit.delete(this.exitHook);
      this.exitHook = null;
      if (this.file !== null) recordingTo.delete(this.file);
      this.file = null;
    }
  }
}

/** What a path that cannot take a full recording's positional writes is told (a pipe, a FIFO, a terminal). */
function seekHint(cause: unknown): string {
  const code = (cause as NodeJS.ErrnoException | null)?.code;
  return code === 'ESPIPE' || code === 'ENXIO' ? '; a full recording writes at offsets: give it a regular file, not a pipe, a FIFO or a terminal' : '';
}

/** The files this process's open full recordings stream to (resolved paths): one runtime each. */
const recordingTo = new Set<string>();

/** The full recordings not closed yet: each finishes its file if the process exits first. */
const atExit = new Set<() => void>();
let exitListening = false;

function finishAtExit(): void {
  for (const finish of atExit) {
    try {
      finish();
    } catch { /* atExit does not throw; and one file's trouble must not keep the others unfinished */ }
  }
  atExit.clear();
}

export { WRITER_ATTACHMENT, WRITER_WORKER };
