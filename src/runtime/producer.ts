/**
 * A producer handle: the Submit protocol (docs/design.md §4.1, steps 0-7), its back-pressure
 * edges and its stats. The producer itself (name, limits, counters) is an entry of the shared
 * producer table (registry.ts); a handle is this thread's view of it. Owner of what submit
 * writes: this thread (its window, its token table, its ring claims); the gate words are shared
 * and move only by the gate's CASes (src/admission/gate.ts, src/shm/words/gate.ts).
 */
import { BLOCK_WORDS, HEALTH_WORDS, P_PACKED } from '../shm/layout.js';
import { BR_STATE_MASK } from '../shm/words/breaker.js';
import { GUARD_REJECT } from './guard-house.js';
import { writeSubmission } from './cells.js';
import type { Limits } from '../admission/gate.js';
import { inflightOf, tokensOf } from '../shm/words/gate.js';
import { types } from 'node:util';
import { ConfigError, describe } from '../errors.js';
import { snapshot } from './options.js';
import { effectiveLimits, type EffectiveLimits } from './registry.js';
import { producerStats } from './snapshot.js';
import { abortReason, callUser, isAbortSignal, offAbort, onAbort, reportUncaught, signalAborted } from './user-code.js';
import { RT_CLOSED, RT_DRAINING, RT_RUNNING } from '../shm/layout.js';
import { REJECTIONS, type RejectReason, type Rejection, S_ADMITTED, guardRejection, rateRejection } from '../admission/reasons.js';
import { retryAfterMs } from '../admission/bucket.js';
import type { Outcome } from '../admission/outcomes.js';
import { RING_FULL } from '../shm/ring.js';
import { markPending } from '../shm/words/token.js';
import { ProducerGate, admitGlobal } from '../admission/gate.js';
import {
  ADMITTED, R_ARENA_FULL, R_CLOSED, R_DRAINING, R_GLOBAL_SLOTS, R_IO_CLASS, R_NO_WORKERS, R_PRODUCER_SLOTS, R_QUARANTINED, R_RATE, R_RING_FULL,
} from '../admission/reasons.js';
import { admitIo, releaseIo } from '../admission/io-class.js';
import { Codec, PREPARE_FULL } from './codec.js';
import type { Attachment } from './submit/attachment.js';
import { type RunSink, Token } from './token.js';
import { TaskRef, checkMs } from './task.js';
import type { ResultCast, SubmitArgs, TaskName, TaskPayload, TaskResult } from './typed.js';
import { HOOK_POINTS, pauseAt } from './testing/hooks.js';
import { route } from './routing.js';
import type { Clock } from '../admission/clock.js';
import { logSub } from '../admission/read-log.js';
import type { ThreadReadLog } from './recording.js';
import type { LatencyStats } from '../shm/words/histogram.js';
import { producerLatency } from './metrics.js';
import { loadAcquire } from '../shm/order.js';

// ---------------------------------------------------------------------------------------------
// Producer handle: submit, stats, back-pressure edges.
// ---------------------------------------------------------------------------------------------


export type { Rejection };
/**
 * submitCallback's callback: `err` is undefined when the task fulfilled (then `value` is its
 * value), else what awaiting a Token would throw (then `value` is undefined). `tag` is the int32
 * given at submit.
 */
export type SubmitCallback<T = unknown> = (err: unknown, value: T, tag: number) => void;

/** What submit returns: a Token (admitted: true) or a Rejection (admitted: false, reason). */
export type Admission<T = unknown> = Token<T> | Rejection;

export interface SubmitOptions {
  /** Longest run time in ms for this submission (overrides the task's); queue time does not count. */
  deadlineMs?: number;
  /** Retract the task if it has not started within this many ms (overrides the task's). */
  queueTimeoutMs?: number;
  /**
   * Aborting retracts the task if it has not started (like token.cancel()); a running task runs
   * on unless `abandonOnAbort`. Already aborted: submit throws its reason. In rt.run, a call
   * still waiting for capacity rejects at once with the signal's reason.
   */
  signal?: AbortSignal;
  /**
   * Lineage (docs/design.md §4.14): the token whose task this one continues (a chain step), any
   * Token of this runtime, resolved or not. It is recorded as this token's `parent`; it changes
   * nothing else (not the producer charged). Inside a task the running task is the parent by default.
   */
  parent?: Token;
  /**
   * With `signal`: an abort also stops the task if it is already running, as
   * `token.cancel({ force: true })` does (its token resolves 'abandoned' at once and, if its
   * synchronous part is running, its worker, only that one, is terminated and respawned).
   * Default false. Requires `signal`.
   */
  abandonOnAbort?: boolean;
  /**
   * ArrayBuffers the caller gives up (piscina's transferList): once the submit is admitted each is
   * detached in the caller. A payload larger than the arena (the large-value path) that is one of
   * them, or a Uint8Array/Buffer over one, is moved to the worker without a copy; otherwise they
   * are copied like any payload. A buffer the platform cannot transfer (a WebAssembly memory's)
   * stays attached. Each must be a distinct, non-detached ArrayBuffer; at most 1024.
   */
  transfer?: readonly ArrayBuffer[];
}

/**
 * @internal A worker's attachment, once a task imported sluice/task (src/task.ts): the running
 * task, for lineage and for its asyncConcurrency place (§4.14). Null on every other attachment.
 */
export interface SubmitLineage {
  /** The running task's key (worker/nest.ts taskKey), or -1 outside a running task. */
  current(): number;
  /** A child of `key` was admitted as `token`: counted until it resolves (§4.14 step 5). */
  adopt(key: number, token: Token): void;
  /** The callback-path form: the callback that uncounts the child, then calls `cb` in the parent's context. */
  wrap(key: number, cb: SubmitCallback): SubmitCallback;
  /** submitCallback's child of `key` was admitted (wrap's callback uncounts it). */
  adopted(key: number): void;
}

/** A key (worker/nest.ts) as the seam's parent word and generation. */
const GEN_SPAN = 2 ** 21;


export interface ProducerStats {
  name: string;
  /** Its limits, in the form rt.producer(name, limits) takes (see EffectiveLimits). */
  limits: EffectiveLimits;
  /** Admitted and not yet resolved, all threads. */
  inFlight: number;
  /** Bucket tokens available now (null without a rate limit). */
  tokens: number | null;
  admitted: number;
  rejected: Record<RejectReason, number>;
  resolved: Record<Outcome, number>;
  /** Whether this handle last saw its own limits reject it (see on('saturated')). */
  saturated: boolean;
  /**
   * Queue wait (submit to start) and run time (start to end) of its tasks in the current
   * metrics window, all threads, in microseconds; null with `metrics: false` (docs/design.md §2.5).
   */
  latency: TaskLatency | null;
}

/** Queue wait and run time percentiles (µs) of a producer's or a task's tasks (rt.stats()). */
export interface TaskLatency {
  queueWait: LatencyStats;
  run: LatencyStats;
}

/** A producer's back-pressure edges (producer.on / producer.off). */
export type ProducerEvent = 'saturated' | 'clear';

type EdgeListener = () => void;

/** @internal Context a Producer needs from its runtime handle (kept narrow on purpose). */
export interface ProducerHost {
  readonly att: Attachment;
  readonly chains: readonly Int32Array[];
  readonly clock: Clock;
  /** The runtime's instance id: only TaskRefs carrying it are accepted (task.ts). */
  readonly instance: string;
  resolveTask(name: string): TaskRef;
}

/** @internal Submit options, read once and checked (parseSubmitOptions). */
export interface ParsedSubmit {
  readonly deadlineMs: number | undefined;
  readonly queueTimeoutMs: number | undefined;
  readonly signal: AbortSignal | undefined;
  readonly parent: Token | undefined;
  readonly abandonOnAbort: boolean;
  readonly transfer: readonly ArrayBuffer[] | undefined;
}


/** `M`: the task module's type on a typed runtime (Runtime<M>), else `any` (src/runtime/typed.ts; types only). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export class Producer<M = any> {
  /** @internal */ private readonly att: Attachment;
  /** @internal */ private readonly i32: Int32Array;
  /** @internal */ private readonly codec: Codec;
  /** @internal */ private readonly packedW: number;
  /** @internal */ private readonly admittedW: number;
  /** @internal */ private saturatedEdge = false;
  /**
   * @internal The parent of the submit in progress, for the seam (§4.14 step 3): attachment << 16 |
   * index, and generation; -1 outside submitWithParent (set and reset around its admit).
   */
  private parentWord = -1;
  /** @internal */ private parentGen = -1;
  /** @internal */ private readonly gate: ProducerGate;
  /** @internal */ private readonly listeners: { saturated: EdgeListener[]; clear: EdgeListener[] } = { saturated: [], clear: [] };
  /** @internal This handle's 'rate' Rejection and its retryAfterMs setter (reasons.ts rateRejection); null without a rate. */
  private readonly rateRej: { rejection: Rejection; set: (ms: number) => void } | null;
  /** @internal This handle's 'quarantined' Rejection (reasons.ts guardRejection), made at its first such refusal. */
  private guardRej: ReturnType<typeof guardRejection> | null = null;
  /**
   * @internal The 'clear' timer: armed at a 'rate' refusal for the time the bucket needs to earn a
   * token, so 'clear' fires without anyone submitting or polling. At most one per handle; it keeps
   * the process alive only while a 'clear' listener is registered; cleared when 'clear' fires and
   * when the runtime handle closes (_dispose).
   */
  private clearTimer: NodeJS.Timeout | null = null;
  /** @internal Closed with its runtime handle: no timer is armed any more. */
  private disposed = false;
  /**
   * Its limits, in the form rt.producer(name, limits) takes: `rt.producer(name, p.limits)` finds
   * this same producer (in any thread). Frozen.
   */
  readonly limits: EffectiveLimits;

  // Private (kept in the declarations as such): producers are made by rt.producer(name, limits) (Producer._create).
  private constructor(
    /** @internal */ private readonly host: ProducerHost,
    readonly name: string,
    /** @internal Its entry in the shared producer table. */ readonly index: number,
    /** @internal The gate's form: rate 0 = no rate limit. */ readonly gateLimits: Limits,
  ) {
    this.limits = effectiveLimits(gateLimits);
    this.att = host.att;
    this.i32 = host.att.i32;
    this.codec = host.att.codec;
    this.packedW = host.att.mem.producerWord(index, P_PACKED);
    this.gate = new ProducerGate(this.i32, host.att.mem, index, gateLimits, host.att.gateGuess, host.att.ticks, host.att.fastGate);
    this.admittedW = host.att.mem.statWord(host.att.index, index, S_ADMITTED);
    this.rateRej = gateLimits.rate > 0 ? rateRejection() : null;
  }

  /** @internal The only way to make a Producer (rt.producer). */
  static _create(host: ProducerHost, name: string, index: number, limits: Limits): Producer {
    return new Producer(host, name, index, limits);
  }

  /**
   * Submit one task: admitted (a Token) or rejected (a Rejection with its reason), decided
   * synchronously. Never throws for overload; throws PayloadError/ConfigError for bad input,
   * with nothing queued and no counter changed. Steps as in docs/design.md, "Submit".
   */
  submit<T extends ResultCast<M> = ResultCast<M>, N extends TaskName<M> = TaskName<M>>(
    task: N | TaskRef<N>, ...args: SubmitArgs<M, N, SubmitOptions>
  ): Admission<TaskResult<M, N, T>>;
  submit(task: TaskRef | string, payload?: unknown, options?: SubmitOptions): Admission {
    const ref = this.ref(task);
    return this._submitParsed(ref, payload, options === undefined ? undefined : parseSubmitOptions(options));
  }

  /** @internal submit() after its task and options were checked (rt.run re-submits through it). */
  _submitParsed<T = unknown>(ref: TaskRef, payload: unknown, options: ParsedSubmit | undefined): Admission<T> {
    // A parent to record (§4.14 step 3) takes the path beside this one: the common case's code is
    // what it was before nested tasks (docs/design.md §4.14, "What it costs").
    if (this.att.lineage !== null || (options !== undefined && options.parent !== undefined)) return this.submitWithParent<T>(ref, payload, options);
    return this.submitPlain<T>(ref, payload, options);
  }

  /**
   * @internal rt.run's submit (§4.6; run-queue.ts): null when admitted, else the Rejection. The
   * call's promise (`sink`) is settled exactly once when the task resolves. Its common case (no
   * options, no retries or queue timeout on the task, no parent) makes no Token: the admission
   * is tracked like a callback's (Attachment.trackRun) and its resolve settles the sink; any
   * other case takes submit's path and the Token settles the sink (Token._settleInto).
   */
  _submitRun(ref: TaskRef, payload: unknown, options: ParsedSubmit | undefined, sink: RunSink): Rejection | null {
    if (options !== undefined || this.att.lineage !== null || ref.retries > 0 || ref.queueTimeoutMs > 0) {
      const a = this._submitParsed(ref, payload, options);
      if (!a.admitted) return a;
      a._settleInto(sink);
      return null;
    }
    // §4.1 steps 1-6 as submit; step 7 as submitCallback, with the task's deadline.
    const t = this.admit(ref, payload, ref.deadlineMs);
    if (t < 0) return this.rejection(~t);
    this.att.trackRun(t, this.index, sink);
    if (this.att.guard.keepsPayload(ref.id)) this.att.table.cbPayloads[t] = payload; // §4.16: a failure may be quarantined
    if (this.saturatedEdge) this.edge(false); // after the books, as in submit
    return null;
  }

  /** @internal §4.1 steps 0-7 (the seam's parent: this.parentWord, this.parentGen). */
  private submitPlain<T>(ref: TaskRef, payload: unknown, options: ParsedSubmit | undefined): Admission<T> {
    let deadline = ref.deadlineMs;
    let queueTimeout = ref.queueTimeoutMs;
    let signal: AbortSignal | undefined;
    let abandon = false;
    if (options !== undefined) {
      deadline = options.deadlineMs ?? deadline;
      queueTimeout = options.queueTimeoutMs ?? queueTimeout;
      signal = options.signal;
      abandon = options.abandonOnAbort;
      if (signal !== undefined && signalAborted(signal)) throw abortReason(signal);
    }
    const transfer = options?.transfer;
    const t = transfer === undefined ? this.admit(ref, payload, deadline) : this.admitTransferring(ref, payload, deadline, transfer);
    if (t < 0) return this.rejection(~t);
    const token = this.att.track(t, this.index, deadline) as Token<T>;
    if (ref.retries > 0) {
      token._task = ref;
      token._payload = payload;
      token._retriesLeft = ref.retries;
    } else if (this.att.guard.keepsPayload(ref.id)) token._payload = payload; // §4.16: a failure may be quarantined
    if (signal !== undefined || queueTimeout > 0) watchQueue(token, signal, abandon, queueTimeout);
    // §4.1 step 7. The books are exact (token tracked): only now the 'clear' edge admission raised (user code).
    if (this.saturatedEdge) this.edge(false);
    return token;
  }

  /**
   * @internal §4.14 steps 3 and 5: the parent is `options.parent`, else (a worker's attachment) the
   * running task; the seam's `admitted` records it, the Token keeps it, and a child of the running
   * task is counted for it until it resolves (whatever parent it names).
   */
  private submitWithParent<T>(ref: TaskRef, payload: unknown, options: ParsedSubmit | undefined): Admission<T> {
    let parentKey = options !== undefined && options.parent !== undefined ? this.parentKeyOf(options.parent) : -1;
    const lineage = this.att.lineage;
    const running = lineage === null ? -1 : lineage.current();
    if (parentKey < 0) parentKey = running;
    if (parentKey < 0) return this.submitPlain<T>(ref, payload, options);
    this.parentWord = Math.floor(parentKey / GEN_SPAN);
    this.parentGen = parentKey % GEN_SPAN;
    let a: Admission<T>;
    try {
      a = this.submitPlain<T>(ref, payload, options);
    } finally {
      this.parentWord = this.parentGen = -1;
    }
    if (a.admitted) {
      a._setParent(parentKey);
      if (running >= 0) lineage!.adopt(running, a);
    }
    return a;
  }

  /**
   * The allocation-free path: like submit, but the result goes to `callback(err, value, tag)`
   * instead of a Token, so no Token and no promise exist per task (reuse one callback and tell
   * tasks apart by `tag`, an int32 of your choice). Returns null when admitted, else the
   * Rejection (preallocated). The callback runs exactly once, from the pump, never inside
   * this call. No cancel, deadline or retries on this path; rt.task options other than weight
   * are ignored. A callback that is not a function, or a tag that is not an int32, is a
   * ConfigError with nothing taken. A callback that throws is reported as an uncaught exception.
   */
  submitCallback<T extends ResultCast<M> = ResultCast<M>, N extends TaskName<M> = TaskName<M>>(
    task: N | TaskRef<N>, payload: TaskPayload<M, N>, callback: SubmitCallback<TaskResult<M, N, T>>, tag?: number,
  ): Rejection | null;
  submitCallback(task: TaskRef | string, payload: unknown, callback: SubmitCallback<never>, tag = 0): Rejection | null {
    const ref = this.ref(task);
    if (typeof callback !== 'function') throw new ConfigError(`submitCallback: callback must be a function; got ${describe(callback)}`);
    if (typeof tag !== 'number' || !Number.isInteger(tag) || tag < -(2 ** 31) || tag > 2 ** 31 - 1) {
      throw new ConfigError(`submitCallback: tag must be an int32; got ${describe(tag)}`);
    }
    tag |= 0; // -0 -> 0
    const lineage = this.att.lineage;
    const parentKey = lineage === null ? -1 : lineage.current(); // §4.14 step 3
    let t: number;
    if (parentKey < 0) t = this.admit(ref, payload, 0);
    else {
      callback = lineage!.wrap(parentKey, callback as SubmitCallback) as SubmitCallback<never>;
      this.parentWord = Math.floor(parentKey / GEN_SPAN);
      this.parentGen = parentKey % GEN_SPAN;
      try {
        t = this.admit(ref, payload, 0);
      } finally {
        this.parentWord = this.parentGen = -1;
      }
    }
    if (t < 0) return this.rejection(~t);
    if (parentKey >= 0) lineage!.adopted(parentKey);
    this.att.trackCallback(t, this.index, callback as (err: unknown, value: unknown, tag: number) => void, tag);
    if (this.att.guard.keepsPayload(ref.id)) this.att.table.cbPayloads[t] = payload; // §4.16: a failure may be quarantined
    if (this.saturatedEdge) this.edge(false); // after the books, as in submit
    return null;
  }

  /** §4.1 step 0. The task: a name, or a TaskRef of this runtime (its private brand and instance id, task.ts). */
  /** @internal */ private ref(task: TaskRef | string): TaskRef {
    return typeof task === 'string' ? this.host.resolveTask(task) : TaskRef.own(task, this.host.instance);
  }

  /**
   * §4.14 step 3: SubmitOptions.parent must be a Token of this runtime (its attachment's memory is
   * ours); its key names the generation it last ran (or will run) with.
   */
  /** @internal */ private parentKeyOf(parent: Token): number {
    if (parent._att.mem.sab !== this.att.mem.sab) throw new ConfigError('submit: options.parent is a Token of another runtime');
    return (((parent._att.index << 16) | parent._index) * GEN_SPAN) + parent._gen;
  }

  /** §4.1 steps 1-6. Returns the token index, or ~reason (negative) when rejected. */
  /** @internal */ private admit(ref: TaskRef, payload: unknown, deadline: number): number {
    const att = this.att;
    const i32 = this.i32;
    // §4.1 step 1. The runtime must be running.
    //    An attached handle that drains or closes stops admitting for itself only (att.halted).
    let st = loadAcquire(i32, att.stateW);
    if (st !== RT_RUNNING || att.halted !== 0) return ~this.reject(st === RT_CLOSED ? R_CLOSED : att.halted !== 0 ? att.halted : R_DRAINING, ref);
    // §4.16 step 1: the task's breaker, one load; only a breaker that is not closed (or an
    // isolated task) asks the Guard House, which may refuse (before any encoding or counter) or
    // take a half-open probe (given back below if a later step refuses or the encoding throws).
    // The load is a plain one: a hint, read afresh by every submit (never hoisted across calls).
    // A submit that reads 'closed' while another thread's CAS opens the breaker is ordered before
    // that transition; every decision the Guard House makes is its own atomic CAS.
    let probe = -1;
    if ((i32[att.guard.base + ref.id * BLOCK_WORDS]! & BR_STATE_MASK) !== 0) {
      // Its own clock reading, not the admission tick source's: a recording replays the gates'
      // ticks (§4.15 step 5), and the breaker's transitions are recorded with this reading.
      probe = att.guard.admit(ref.id, att.clock.now());
      if (probe === GUARD_REJECT) return ~this.reject(R_QUARANTINED, ref);
    }
    // §4.1 step 0: everything that can throw or allocate happens before any shared counter moves.
    const tag = probe < 0 ? this.codec.prepare(payload) : this.prepareProbe(ref, payload, probe);
    if (tag === PREPARE_FULL) {
      if (probe >= 0) att.guard.returnProbe(ref.id, probe);
      return ~this.reject(R_ARENA_FULL, ref);
    }
    // Steps 2-5 run inside this thread's window (4.10): a thread that dies in here is
    // reconciled by the supervisor under a freeze, whatever instruction it died at.
    att.window.enter();
    const hooks = att.hooks;
    const gated = att.ungated[this.index] === 0; // always, outside the "gates off" benchmark
    const log = att.readLog; // a full recording's (§4.15 step 5): around the steps that read gate words
    if (log !== null) log.begin(this.index);
    if (gated) {
      // §4.1 step 2. Producer gate: one CAS takes a bucket token and an in-flight slot, or nothing.
      // §4.1 step 3. Global gate, or step 2 rolled back. Then the runtime state again: a close that started
      //    after step 1 either sees our global slot (and waits for it) or we see its state.
      const r = hooks ? this.gatesPausing() : this.gate.admitWithGlobal(att.globalW, att.layout.globalSlots, att.globalGuess);
      if (r !== ADMITTED) return ~this.reject(this.undo(false, false, log, ref, probe, r), ref);
    }
    // §4.1 step 3a. I/O class gate (admission/io-class.ts): one CAS below the class's limit, or
    //    steps 3 and 2 rolled back exactly. A task without a class reads one field here, nothing shared.
    const io = ref._io;
    //    (Its word is not in a recording's read log: replay takes the class's decision as an input.)
    if (io.io !== 0 && !admitIo(i32, io.word, io.limit, att.slots.ioGuess, io.io - 1)) {
      return ~this.reject(this.undo(gated, false, log, ref, probe, R_IO_CLASS), ref);
    }
    if (hooks && io.io !== 0) pauseAt(att.mem, HOOK_POINTS['submit:io'], -(att.index + 1));
    st = loadAcquire(i32, att.stateW);
    // §4.1 step 4. Route, and claim a ring cell (the ring's capacity is part of admission).
    //    A recording routes on a copy of the words it read (§4.15 step 6).
    const snap = att.routeSnapshot;
    const chain = this.host.chains[ref.weightIndex]!;
    const w = st !== RT_RUNNING ? 0 : snap === null ? route(chain, att.routeView) : snap.route(chain, ref.weightIndex, att.routeView);
    const ring = att.rings[w]!;
    const pos = st === RT_RUNNING ? ring.claim() : RING_FULL;
    if (pos === RING_FULL) {
      const reason = st === RT_RUNNING ? (att.chainRetired(ref.weightIndex) ? R_NO_WORKERS : R_RING_FULL) : st === RT_DRAINING ? R_DRAINING : R_CLOSED;
      return ~this.reject(this.undo(gated, io.io !== 0, log, ref, probe, reason), ref);
    }
    if (log !== null) log.end(this.index);
    if (hooks) pauseAt(att.mem, HOOK_POINTS['submit:claimed'], -(att.index + 1));
    // §4.1 step 5. Write the descriptor and publish it. The token word goes PENDING before the cell is
    //    readable, so the worker's PENDING -> RUNNING CAS always has something to win or lose.
    const t = att.table.take();
    const gen = att.table.gens[t]!;
    i32[att.mem.tokenMetaWord(att.index, t)] = this.index;
    i32[att.mem.tokenIoWord(att.index, t)] = io.io; // its class slot + 1 (0 = none), for release and the recount (§4.10 step 4)
    // The submit tick, for the queue wait (§2.5): ordered before the worker's read by the publish.
    // Shared by up to TICK_REUSE submits of one turn (tick.ts): a burst's waits may be over-stated by its length.
    const ticks = att.submitTicks;
    if (ticks !== null) {
      ticks.advance();
      i32[att.tickBase + t] = ticks.value | 0;
    }
    // The token's task and probe (§4.16), before its word leaves FREE: its resolve reads them, and
    // the supervisor, should this thread die, finds them valid for every token not FREE.
    i32[att.guard.tokenTaskBase + t] = ref.id | ((probe + 1) << 16);
    markPending(i32, att.tokenWordOf(t), gen);
    i32[this.admittedW]!++;
    // Health (§4.16): the call counted for its task, on this thread's row.
    i32[att.guard.healthBase + ref.id * HEALTH_WORDS]!++;
    writeSubmission(ring, pos, this.codec, ref.id, ref.weightIndex, att.index, t, gen, this.index, deadline);
    // Recorded inside the window (§4.15): a thread that dies after it published the cell still has it recorded.
    const seam = att.seam;
    if (seam !== null) seam.admitted(this.index, ref.id, att.index, t, gen, w, att.gateGuess[this.index]!, att.gateGuess[att.globalGuess]!, this.parentWord, this.parentGen);
    att.window.leave();
    // §4.1 step 6. Wake the worker only if it is parked. (The 'clear' edge is the caller's, after it tracked t.)
    att.wakeWorker(w);
    return t;
  }

  /**
   * admit() with a `transfer` list: the codec sees it while it prepares the payload (the large-value
   * path moves a listed buffer), and once admitted every listed buffer is detached in the caller.
   */
  /** @internal */ private admitTransferring(ref: TaskRef, payload: unknown, deadline: number, transfer: readonly ArrayBuffer[]): number {
    this.codec.transferList = transfer;
    let t: number;
    try {
      t = this.admit(ref, payload, deadline);
    } finally {
      this.codec.transferList = null;
    }
    if (t >= 0) detach(transfer); // admitted: the caller gave them up
    return t;
  }

  /** §4.1 step 0 for a half-open probe: a payload whose encoding throws gives the probe back (§4.16 step 3). */
  /** @internal */ private prepareProbe(ref: TaskRef, payload: unknown, probe: number): number {
    try {
      return this.codec.prepare(payload);
    } catch (err) {
      this.att.guard.returnProbe(ref.id, probe);
      throw err;
    }
  }

  /**
   * A refusal after the window opened (§4.1 steps 2-4): give back, in the mirror order of taking
   * them, the I/O class slot (`io`: step 3a took one), the global and producer slots (`gated`:
   * steps 2-3 took them; the global word through the read log, as replay re-makes it), then close
   * the read log and the window, drop the prepared payload, and return a half-open probe (§4.16).
   * Returns `reason`.
   */
  /** @internal */ private undo(gated: boolean, io: boolean, log: ThreadReadLog | null, ref: TaskRef, probe: number, reason: number): number {
    const att = this.att;
    if (io) releaseIo(att.mem, ref._io.io - 1, 1, att.slots.ioGuess);
    if (gated) {
      att.gateGuess[att.globalGuess] = logSub(this.i32, att.globalW, 1) - 1;
      this.gate.rollback();
    }
    if (log !== null) log.end(this.index);
    att.window.leave();
    this.codec.abandon();
    if (probe >= 0) att.guard.returnProbe(ref.id, probe);
    return reason;
  }

  /** Steps 2 and 3 one at a time, with the test pause points after each (testHooks runtimes). */
  /** @internal */ private gatesPausing(): number {
    const att = this.att;
    const r = this.gate.admit();
    if (r !== ADMITTED) return r;
    pauseAt(att.mem, HOOK_POINTS['submit:producer'], -(att.index + 1));
    if (!admitGlobal(this.i32, att.globalW, att.layout.globalSlots, att.gateGuess, att.globalGuess)) {
      this.gate.rollback();
      return R_GLOBAL_SLOTS;
    }
    pauseAt(att.mem, HOOK_POINTS['submit:global'], -(att.index + 1));
    return ADMITTED;
  }

  /** The Rejection of reason `r`: preallocated (a 'rate' one is this handle's own, with its retryAfterMs set). */
  /** @internal */ private rejection(r: number): Rejection {
    if (r === R_QUARANTINED && this.guardRej !== null) return this.guardRej.rejection;
    return r === R_RATE && this.rateRej !== null ? this.rateRej.rejection : REJECTIONS[r]!;
  }

  /**
   * Count a rejection (and the saturation edge); returns the reason index. Called with nothing
   * taken. A 'rate' refusal was decided at a fresh clock reading (gate.ts): from it, when the
   * next token is earned (retryAfterMs) and the 'clear' timer.
   */
  /** @internal */ private reject(reason: number, ref: TaskRef): number {
    const att = this.att;
    att.countRejection(this.index, reason);
    const seam = att.seam;
    if (seam !== null) seam.rejected(this.index, ref.id, att.index, reason, att.gateGuess[this.index]!, att.gateGuess[att.globalGuess]!);
    if (reason === R_QUARANTINED) {
      // §4.16: the Rejection says since when and why (its one allocation: at the handle's first such refusal).
      att.guard.describe(ref.id, ref.name, (this.guardRej ??= guardRejection()).set);
    }
    if (reason === R_RATE && this.rateRej !== null) {
      const ms = retryAfterMs(this.gate.tick, this.gateLimits.rate);
      this.rateRej.set(ms);
      if (this.clearTimer === null && !this.disposed) this.armClear(ms);
    }
    if ((reason === R_RATE || reason === R_PRODUCER_SLOTS) && !this.saturatedEdge) this.edge(true);
    return reason;
  }

  /** @internal One timer per handle: its one allocation per saturation by rate (a Timeout). */
  private armClear(ms: number): void {
    const timer = setTimeout(this.onClearTimer, ms);
    // Someone waits for 'clear' (a listener): the timer keeps the process alive until it fires, as
    // any timer the caller set would. Nobody listens: it never keeps the process alive.
    if (this.listeners.clear.length === 0) timer.unref();
    this.clearTimer = timer;
  }

  /**
   * The bucket should have earned a token by now: bring it up to a fresh reading (in the window:
   * the refill moves the gate word, §4.10), then 'clear' if there is a token and a slot. Still
   * no token (another thread took it, or the timer ran early against the clock): armed again for
   * the rest. No slot: the drain of a completion clears it (_checkClear), as before.
   */
  /** @internal */ private readonly onClearTimer = (): void => {
    this.clearTimer = null;
    const att = this.att;
    if (!this.saturatedEdge || this.disposed || att.halted !== 0 || Atomics.load(this.i32, att.stateW) !== RT_RUNNING) return;
    att.window.enter();
    const log = att.readLog;
    if (log !== null) log.begin(this.index);
    try {
      this.gate.refillNow();
    } finally {
      if (log !== null) log.end(this.index);
      att.seam?.refilled(this.index);
      att.window.leave();
    }
    const packed = Atomics.load(this.i32, this.packedW);
    if (tokensOf(packed) === 0) {
      this.armClear(retryAfterMs(this.gate.tick, this.gateLimits.rate));
      return;
    }
    this._checkClear();
  };

  /** @internal The runtime handle closes: no 'clear' timer outlives it. */
  _dispose(): void {
    this.disposed = true;
    if (this.clearTimer !== null) {
      clearTimeout(this.clearTimer);
      this.clearTimer = null;
    }
  }

  /**
   * Back-pressure edges for this handle: 'saturated' when its own limits (rate or slots) first
   * reject a submit, 'clear' when it next has room again (checked as completions drain, and at
   * the next admission). Slow down on 'saturated' instead of retrying blindly.
   */
  on(event: ProducerEvent, listener: () => void): this {
    checkListener('on', event, listener);
    this.listeners[event].push(listener);
    if (event === 'clear' && this.clearTimer !== null) this.clearTimer.ref(); // armed already: now someone waits
    return this;
  }

  off(event: ProducerEvent, listener: () => void): this {
    checkListener('off', event, listener);
    const list = this.listeners[event];
    const i = list.indexOf(listener);
    if (i >= 0) list.splice(i, 1);
    if (event === 'clear' && list.length === 0 && this.clearTimer !== null) this.clearTimer.unref(); // nobody waits any more
    return this;
  }

  /** @internal Called by the runtime handle after completions drained. */
  _checkClear(): void {
    if (!this.saturatedEdge) return;
    const packed = loadAcquire(this.i32, this.packedW);
    const hasToken = this.gateLimits.rate === 0 || tokensOf(packed) > 0;
    if (hasToken && inflightOf(packed) < this.gateLimits.slots) this.edge(false);
  }

  /** Whether its own limits rejected its last submit and it has not had room since (see on('saturated')). */
  get saturated(): boolean { return this.saturatedEdge; }

  /**
   * Flip the edge, then run its listeners (user code) through callUser: one that throws is
   * reported as uncaught and stops neither the others nor the caller (a submit, the pump).
   * Callers have finished their bookkeeping. A copy: a listener may call on()/off().
   */
  /** @internal */ private edge(saturated: boolean): void {
    this.saturatedEdge = saturated;
    if (!saturated && this.clearTimer !== null) {
      clearTimeout(this.clearTimer);
      this.clearTimer = null;
    }
    const list = this.listeners[saturated ? 'saturated' : 'clear'];
    if (list.length === 0) return;
    // A listener may submit again (user code): its submit is not the one whose parent is pending.
    const [pw, pg] = [this.parentWord, this.parentGen];
    this.parentWord = this.parentGen = -1;
    try {
      for (const fn of list.slice()) callUser(fn);
    } finally {
      this.parentWord = pw;
      this.parentGen = pg;
    }
  }

  stats(): ProducerStats {
    return {
      ...producerStats(this.att.mem, this.index, this.host.clock.now()), saturated: this.saturatedEdge,
      latency: producerLatency(this.att.mem, this.index),
    };
  }
}

function checkListener(where: string, event: unknown, listener: unknown): void {
  if (event !== 'saturated' && event !== 'clear') {
    throw new ConfigError(`producer.${where}: unknown event ${typeof event === 'string' && event.length <= 20 && /^\w+$/.test(event) ? `'${event}'` : `(${describe(event)})`} (known: saturated, clear)`);
  }
  if (typeof listener !== 'function') throw new ConfigError(`producer.${where}: listener must be a function; got ${describe(listener)}`);
}

const SUBMIT_OPTION_KEYS = ['deadlineMs', 'queueTimeoutMs', 'signal', 'parent', 'abandonOnAbort', 'transfer'] as const;

/** @internal Submit options, each read once and checked: nothing after this reads the caller's object. */
export function parseSubmitOptions(options: unknown): ParsedSubmit {
  const o = snapshot('submit', 'options', options, SUBMIT_OPTION_KEYS);
  const deadlineMs = o.deadlineMs === undefined ? undefined : checkMs('submit', 'deadlineMs', o.deadlineMs);
  const queueTimeoutMs = o.queueTimeoutMs === undefined ? undefined : checkMs('submit', 'queueTimeoutMs', o.queueTimeoutMs);
  const signal = o.signal;
  // A brand check through the intrinsic getter (user-code.ts): a look-alike or a Proxy is
  // refused here, and a subclass that overrides aborted/addEventListener is only ever used
  // through the intrinsics.
  if (signal !== undefined && !isAbortSignal(signal)) throw new ConfigError(`submit: signal must be an AbortSignal; got ${describe(signal)}`);
  // A private brand check (a look-alike or a Proxy fails, running none of its code; only submit
  // makes Tokens); which runtime it
  // belongs to is checked at submit (parentKeyOf), where the runtime is known.
  const parent = o.parent;
  if (parent !== undefined && !Token._is(parent)) throw new ConfigError(`submit: parent must be a Token; got ${describe(parent)}`);
  const abandonOnAbort = o.abandonOnAbort === undefined ? false : o.abandonOnAbort;
  if (typeof abandonOnAbort !== 'boolean') throw new ConfigError(`submit: abandonOnAbort must be a boolean; got ${describe(o.abandonOnAbort)}`);
  if (abandonOnAbort && signal === undefined) throw new ConfigError('submit: abandonOnAbort needs a signal');
  const transfer = o.transfer === undefined ? undefined : transferOption(o.transfer);
  return { deadlineMs, queueTimeoutMs, signal: signal as AbortSignal | undefined, parent: parent as Token | undefined, abandonOnAbort, transfer };
}

/** `transfer`: an array (read once: length and each index) of distinct, non-detached ArrayBuffers. */
function transferOption(v: unknown): readonly ArrayBuffer[] {
  if (!Array.isArray(v)) throw new ConfigError(`submit: transfer must be an array of ArrayBuffers; got ${describe(v)}`);
  let list: unknown[];
  try {
    const n = v.length;
    if (n > 1024) throw new ConfigError(`submit: transfer has more than 1024 entries (${n})`);
    list = new Array<unknown>(n);
    for (let i = 0; i < n; i++) list[i] = v[i];
  } catch (cause) {
    if (cause instanceof ConfigError) throw cause;
    throw new ConfigError('submit: reading transfer threw', { cause });
  }
  for (let i = 0; i < list.length; i++) {
    const ab = list[i];
    if (!types.isArrayBuffer(ab)) throw new ConfigError(`submit: transfer[${i}] must be an ArrayBuffer (not a SharedArrayBuffer or a view); got ${describe(ab)}`);
    if (isDetached(ab)) throw new ConfigError(`submit: transfer[${i}] is a detached ArrayBuffer`);
    if (list.indexOf(ab) !== i) throw new ConfigError(`submit: transfer[${i}] is listed twice`);
  }
  return Object.freeze(list as ArrayBuffer[]);
}

const detachedGetter = Object.getOwnPropertyDescriptor(ArrayBuffer.prototype, 'detached')?.get as ((this: ArrayBuffer) => boolean) | undefined;
/** Whether an ArrayBuffer is detached, intrinsically (its own properties may lie). */
function isDetached(ab: ArrayBuffer): boolean {
  if (detachedGetter !== undefined) return detachedGetter.call(ab);
  try {
    new Uint8Array(ab);
    return false;
  } catch {
    return true;
  }
}

/** An admitted submit's `transfer`: each listed buffer not moved already (the large-value path) is detached (moved, no copy). */
function detach(list: readonly ArrayBuffer[]): void {
  for (const ab of list) {
    if (isDetached(ab)) continue;
    try {
      structuredClone(ab, { transfer: [ab] });
    } catch { /* not transferable (a WebAssembly memory's buffer): it stays the caller's */ }
  }
}

/**
 * Retract the token if it is still waiting when the signal aborts or the queue timeout passes;
 * with `abandon`, an abort also abandons it while it runs (a forced cancel, §4.5 step 3). Both
 * are detached when the token resolves, so nothing outlives it.
 */
function watchQueue(token: Token, signal: AbortSignal | undefined, abandon: boolean, queueTimeoutMs: number): void {
  const retract = (): void => { token.cancel(); };
  const aborted = abandon ? (): void => { token._att.cancel(token, true, 'its signal aborted while it ran'); } : retract;
  const timer = queueTimeoutMs > 0 ? setTimeout(retract, queueTimeoutMs) : null;
  token._cleanup = (): void => {
    if (timer !== null) clearTimeout(timer);
    if (signal !== undefined) offAbort(signal, aborted);
  };
  if (signal === undefined) return;
  // The token is admitted: nothing here may throw into submit (the intrinsics do not run the
  // signal's own methods; a failure is reported, and the token still resolves).
  try {
    onAbort(signal, aborted);
    if (signalAborted(signal)) aborted(); // aborted during admission (e.g. by a payload getter)
  } catch (err) {
    reportUncaught(err);
  }
}
