/**
 * Runtime: start, attach, task, producer, run, stats, drain, close.
 *
 * The thread that calls Runtime.start owns the workers and the shutdown protocol; any thread
 * holding `rt.handle` can Runtime.attach() and submit into the same rings, with its results
 * coming back through its own completion ring.
 */
import { Worker, type ResourceLimits } from 'node:worker_threads';
import { createRequire } from 'node:module';
import { createHash, randomFillSync } from 'node:crypto';
import { types } from 'node:util';
import {
  A_STATE, BLOCK_BYTES, DIGEST_WORDS, H_DIGEST, H_INSTANCE, H_PROBE, H_TASK_COUNT, H_WORKERS, Memory, readLayout, RT_CLOSED,
  RT_DRAINING, RT_RUNNING, W_ASYNC_INFLIGHT, W_CPU_MASK, W_EXECUTED, W_FAILED, W_PARKS, W_RESTARTS, W_ROUTED_HEAVY, W_ROUTED_LIGHT,
  W_ROUTED_MEDIUM, W_STOLEN, W_THREAD_ID, W_TID, W_WAKER,
} from '../shm/layout.js';
import { activate as activateAttachment, release as releaseAttachment } from '../shm/words/attachment.js';
import { wake, WAKER_PARKED } from '../shm/waker.js';
import { Clock, hrtimeMicros, MonotonicClock } from '../admission/clock.js';
import { clockOption, parseStartOptions, snapshot } from './options.js';
import { Attachment } from './attachment.js';
import {
  Admission, lookupOrRegister, ParsedSubmit, parseSubmitOptions, Producer, ProducerLimits, producerStats, ProducerStats, registeredProducers,
  SubmitOptions,
} from './producer.js';
import { resolveTask, TaskOptions, TaskRef } from './task.js';
import { preferenceChains, stealMask, type Weight } from './routing.js';
import { chooseCpus, loadAffinity, warmLibuvPool } from './affinity.js';
import { isTypeScript, taskModuleHref } from './tasks-module.js';
import { AbortedError, AttachError, ConfigError, RejectedError, SluiceError, WorkerStartError, describe } from '../errors.js';
import { offAbort, onAbort, reportUncaught, signalAborted, signalReason } from './user-code.js';
import { CAPACITY_REASONS, R_CLOSED, R_DRAINING } from '../admission/reasons.js';
import { Supervisor } from './supervisor.js';
import { Hooks } from './hooks.js';
import type { WorkerData } from './worker.js';

export interface RuntimeOptions {
  /** Module whose named function exports are the tasks (sync or async); .js, .mjs, .cjs or .ts. */
  tasks: string | URL;
  /** Worker threads; default os.availableParallelism(). */
  workers?: number;
  /** Ceiling on admitted-and-unresolved tasks across every producer and thread; default 512. */
  globalSlots?: number;
  /** Cells per worker ring, a power of two; default 256. */
  ringCapacity?: number;
  /** Pin workers to cores when the native addon is present; false = never. Default 'auto'. */
  affinity?: 'auto' | false | number[][];
  /**
   * Microseconds (the one duration not in ms) a consumer spins before parking; 0 = park at once.
   * Default 50. (Renamed from `spin`, which is now refused.)
   */
  spinUs?: number;
  /** Async tasks a worker runs concurrently; default 64. */
  asyncConcurrency?: number;
  /** Producer table size; default 64. */
  maxProducers?: number;
  /** Threads that may attach, including this one; default 16. */
  maxAttachments?: number;
  /** Spill arena bytes per thread (power of two); the largest payload or result. Default 1 MiB. */
  spillBytes?: number;
  /** rt.run() calls that may wait for capacity; more are rejected. Default 65536. */
  runQueueLimit?: number;
  /** Tick clock for admission (e.g. a VirtualClock in tests). */
  clock?: Clock;
  /** Watchdog period in ms (deadlines and forced cancels are acted on within it). Default 10. */
  watchdogMs?: number;
  /** A worker slot that dies more than this many times within a minute is retired. Default 10. */
  maxRestarts?: number;
  /**
   * A worker whose ring holds tasks but which has taken none, and run none, for this many ms is
   * stuck outside any task (e.g. an async task's continuation that never yields): it is
   * replaced, and what it was running is abandoned (docs/design.md 4.8). 0 = never. Default 5000.
   */
  stallMs?: number;
  /** Heap limits for each worker thread; a task that exceeds them kills only its own worker. */
  resourceLimits?: ResourceLimits;
  /**
   * Data for the task module, structured-cloned into every worker (SharedArrayBuffers are shared):
   * tasks read it as `workerData.taskData` (import { workerData } from 'node:worker_threads').
   */
  taskData?: unknown;
  /**
   * Let an idle (spinning) worker take the oldest queued task of a sibling that has been inside
   * one task for 5 µs, within the task's weight class (docs/design.md 4.2a). Default true; off
   * with `spinUs: 0` (an idle worker parks at once) and with one worker.
   */
  steal?: boolean;
  /**
   * Before a worker takes its first task, it runs its per-task path (take a cell, run, complete,
   * encode and decode) a few thousand times on a private scratch buffer with a built-in identity
   * task -- never yours -- so V8 has compiled that path before real tasks arrive (docs/design.md
   * 4.2b). Costs each worker ~25-90 ms at start, in parallel; a replacement worker skips it.
   * Default true.
   */
  warmUp?: boolean;
  /** @internal Enable test-only pause points (rt.testing). Never in production. */
  testHooks?: boolean;
  /**
   * How long start() waits for every worker to load the task module and report ready, in ms;
   * then it rejects with WorkerStartError (e.g. a top-level await that never settles) and tears
   * down whatever it started. Default 30000.
   */
  startTimeoutMs?: number;
  /**
   * Aborting it makes start() reject with AbortedError (cause: the signal's reason), after tearing
   * down what it started; already aborted, start rejects before it creates anything. It governs
   * start only: once start resolved, aborting it does nothing (use close()).
   */
  signal?: AbortSignal;
}

/** Structured-clonable: pass it in workerData or postMessage, then Runtime.attach(handle). */
export interface RuntimeHandle {
  readonly kind: 'sluice-runtime';
  readonly sab: SharedArrayBuffer;
  /** The shared WebAssembly.Memory whose buffer `sab` is, when there is one (opaque here). */
  readonly memory: object | null;
  readonly names: readonly string[];
  readonly chains: readonly (readonly number[])[];
}

/** Runtime.attach's options. */
export interface AttachOptions {
  /** Tick clock for this thread's admission decisions (e.g. a VirtualClock in tests). */
  clock?: Clock;
}

/** rt.drain() and rt.close() options. */
export interface CloseOptions {
  /**
   * How long running and queued tasks get to finish before they are retracted/abandoned.
   * close(): default 30000. drain(): default Infinity (it also takes Infinity); past it drain
   * resolves, with tasks still outstanding.
   */
  timeoutMs?: number;
}

/** rt.affinity: whether workers are pinned to cores, and if not, why. */
export interface AffinityInfo {
  /** The native addon loaded in this process: pinning is possible and parked workers sleep in its
   *  futex (false: no addon for this platform, or SLUICE_NO_NATIVE=1; `reason` says which). */
  available: boolean;
  /** Workers pinned themselves to cores. */
  pinned: boolean;
  /** Why workers are not pinned; null when they are. */
  reason: string | null;
}

/** One worker slot in rt.stats().workers. */
export interface WorkerStats {
  index: number;
  threadId: number;
  /** Kernel thread id (needs the affinity addon; 0 without it). */
  tid: number;
  /** CPUs this worker may run on (needs the affinity addon; null without it). */
  cpus: number[] | null;
  /** Tasks of each weight class this worker ran (tasks without a class are not counted). */
  routed: Record<Weight, number>;
  /** Times this slot's thread died and was replaced. */
  restarts: number;
  /** Retired after dying too often: its ring takes no more work. */
  failed: boolean;
  executed: number;
  queued: number;
  asyncInFlight: number;
  parked: boolean;
  /** Times this worker went to sleep. */
  parks: number;
  /** Tasks this worker took from a stalled sibling's ring (counted in `executed` too). */
  stolen: number;
}

/** The runtime's state, as rt.stats() reports it. */
export type RuntimeState = 'running' | 'draining' | 'closed';

/** rt.stats(): a plain-object snapshot. */
export interface RuntimeStats {
  state: RuntimeState;
  global: { inFlight: number; limit: number };
  producers: ProducerStats[];
  workers: WorkerStats[];
  /** The last recovery events (worker replaced, thread reconciled), newest last. */
  events: string[];
}

/** After terminate(), how long close (or a failed start) waits for a thread's exit before giving up on it (design 4.7). */
const STOP_GRACE_MS = 1000;
/** A failed start lets the other workers finish loading before they go (design 4.7), at most this long. */
const START_SETTLE_MS = 2000;

/** Symbol.asyncDispose (Node 20 has it; older builds spell it Symbol.for('nodejs.asyncDispose'), as Node does). */
const asyncDispose: typeof Symbol.asyncDispose =
  (Symbol as { asyncDispose?: typeof Symbol.asyncDispose }).asyncDispose ?? (Symbol.for('nodejs.asyncDispose') as typeof Symbol.asyncDispose);

interface Waiter {
  task: TaskRef;
  payload: unknown;
  /** Read and checked once, at rt.run(): re-submits never read the caller's object again. */
  options: ParsedSubmit | undefined;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

export class Runtime {
  /** @internal */ private readonly att: Attachment;
  /** @internal */ private readonly mem: Memory;
  /** @internal */ private readonly producers = new Map<string, Producer>();
  /** @internal */ private readonly tasks = new Map<string, TaskRef>();
  /** @internal */ private readonly waiters: Waiter[] = [];
  /** @internal */ private waiterTimer: NodeJS.Timeout | null = null;
  /** @internal */ private closing: Promise<void> | null = null;
  /** @internal */ private defaultProducer: Producer | null = null;
  /** @internal */ readonly chains: Int32Array[];
  /** @internal The shared memory's instance id: TaskRefs of other runtimes carry another (task.ts). */
  readonly instance: string;
  /** @internal */ private affinityInfo: AffinityInfo = Object.freeze({
    available: loadAffinity().available, pinned: false, reason: 'attached runtime: workers belong to the starting thread',
  });

  /** Whether workers are pinned to cores, and if not, why (frozen). */
  get affinity(): Readonly<AffinityInfo> { return this.affinityInfo; }

  // Private (kept in the declarations as such): runtimes are made by Runtime.start and Runtime.attach.
  private constructor(
    mem: Memory,
    att: Attachment,
    /** The task module's task names, in id order (frozen). */
    readonly names: readonly string[],
    /** @internal */ private readonly chainLists: number[][],
    /** @internal */ readonly clock: Clock,
    /** @internal */ private readonly supervisor: Supervisor | null,
    /** @internal */ private readonly runQueueLimit: number,
  ) {
    this.mem = mem;
    this.att = att;
    Object.freeze(names);
    this.instance = instanceId(mem);
    this.chains = chainLists.map((c) => Int32Array.from(c));
    att.chains = this.chains;
    att.onDrained = this.afterDrain;
  }

  /** @internal Test-only controls, present with Runtime.start({ testHooks: true }). */
  testing: Testing | null = null;
  /** @internal */ private readonly events: string[] = [];

  /** @internal */ private readonly recordEvent = (message: string): void => {
    this.events.push(message);
    if (this.events.length > 32) this.events.shift();
  };

  /** Start a runtime: lay out shared memory, spawn the workers, load the task module in each. */
  static async start(options: RuntimeOptions): Promise<Runtime> {
    // Every option is read once and checked (options.ts) before anything is allocated.
    const cfg = parseStartOptions(options);
    const { workers } = cfg;
    const href = taskModuleHref(cfg.tasks);
    checkTypeScriptSupport(href);
    const { startTimeoutMs, signal } = cfg;
    if (signal !== undefined && signalAborted(signal)) {
      throw new AbortedError('Runtime.start was aborted before it began', { cause: signalReason(signal) });
    }

    let mem: Memory;
    try {
      mem = Memory.create({
        workers, ringCapacity: cfg.ringCapacity, globalSlots: cfg.globalSlots, maxProducers: cfg.maxProducers,
        maxAttachments: cfg.maxAttachments, spillBytes: cfg.spillBytes, taskCount: 0, spinMicros: cfg.spinUs, asyncLimit: cfg.asyncLimit,
        testHooks: cfg.testHooks,
      });
    } catch (cause) {
      if (!(cause instanceof RangeError)) throw cause;
      throw new ConfigError(
        `Runtime.start: could not allocate ${cfg.layout.totalBytes} bytes of shared memory; lower spillBytes, maxAttachments, workers, ringCapacity or globalSlots`,
        { cause },
      );
    }
    // The instance id every TaskRef of this runtime carries (task.ts).
    randomFillSync(mem.i32.subarray(H_INSTANCE, H_INSTANCE + 2));
    const epoch = hrtimeMicros();
    mem.setEpochMicros(epoch);
    const clock = cfg.clock ?? new MonotonicClock(epoch);

    const { cpus, status: affinityStatus } = await planAffinity(cfg.affinity, workers);
    const chains = preferenceChains(cpus.map((c) => (c ? Math.min(...c) : null)));
    const { steal, warmUp, taskData } = cfg;

    let names: string[];
    const supervisor = new Supervisor(
      mem, workerEntry(),
      (w, replacement): WorkerData => ({
        sluiceWorker: true, sab: mem.sab, index: w, tasks: href, cpus: cpus[w]!, taskData, stealMask: steal ? stealMask(chains, w) : 0,
        warmUp: warmUp && !replacement,
      }),
      { watchdogMs: cfg.watchdogMs, maxRestarts: cfg.maxRestarts, stallMs: cfg.stallMs, restartWindowMs: 60_000, resourceLimits: cfg.resourceLimits },
    );
    let lists: string[][];
    let settle = START_SETTLE_MS;
    try {
      // Before the first spawn: nothing to tear down yet.
      if (signal !== undefined && signalAborted(signal)) throw new AbortedError('Runtime.start was aborted', { cause: signalReason(signal) });
      const failed = (w: number, err: unknown): WorkerStartError => new WorkerStartError(
        `worker ${w} could not start: ${err instanceof Error ? err.message : describe(err)}`, { cause: err },
      );
      // new Worker() can also throw at once (e.g. EAGAIN: no thread for these resourceLimits):
      // a rejected promise like the others, so every spawn is awaited and torn down alike.
      const spawns = Array.from({ length: workers }, (_, w) => {
        try {
          return supervisor.spawn(w).catch((err: unknown) => { throw failed(w, err); });
        } catch (err) {
          return Promise.reject(failed(w, err));
        }
      });
      try {
        lists = await bounded(Promise.all(spawns), startTimeoutMs, signal);
      } catch (err) {
        if (err instanceof AbortedError || err instanceof StartTimeout) settle = 100; // a worker may never settle: do not wait long
        throw err instanceof StartTimeout ? err.error : err;
      }
      names = lists[0]!;
      for (let w = 1; w < lists.length; w++) {
        if (lists[w]!.join('\0') !== names.join('\0')) {
          throw new WorkerStartError(`workers disagree on the task module's exports: [${names}] vs [${lists[w]}]`);
        }
      }
    } catch (err) {
      await abortStart(mem, supervisor, settle);
      if (err instanceof SluiceError) throw err;
      throw new WorkerStartError(`a worker could not be created: ${err instanceof Error ? err.name : describe(err)}`, { cause: err });
    }
    mem.i32[H_TASK_COUNT] = names.length;
    // What Runtime.attach checks a handle's names and chains against.
    mem.i32.set(tableDigest(names, chains), H_DIGEST);
    activateAttachment(mem.i32, mem.attachWord(0, A_STATE));
    const att = new Attachment(mem, 0, clock);
    const rt = new Runtime(mem, att, names, chains, clock, supervisor, cfg.runQueueLimit);
    rt.affinityInfo = Object.freeze(affinityStatus);
    supervisor.onEvent = rt.recordEvent;
    supervisor.onRetired = rt.afterRetire;
    if (cfg.testHooks) rt.testing = new Testing(mem, supervisor);
    return rt;
  }

  /**
   * Join a running runtime from another thread. Its results come back to this thread directly.
   * The handle is checked against the runtime's own shared memory before any slot is claimed
   * (docs/design.md 4.13): a bad handle is an AttachError with nothing taken.
   */
  static async attach(handle: RuntimeHandle, options?: AttachOptions): Promise<Runtime> {
    const o = snapshot('Runtime.attach', 'options', options, ['clock']);
    const userClock = clockOption('Runtime.attach', o.clock);
    const { mem, names, chains } = checkHandle(handle);
    const a = Attachment.claimSlot(mem);
    if (a < 0) throw new AttachError(`no free attachment slot (${mem.layout.maxAttachments}); raise Runtime.start({ maxAttachments })`);
    // Transactional: any failure after the claim gives the slot back.
    let att: Attachment | null = null;
    try {
      const clock = userClock ?? new MonotonicClock(mem.epochMicros());
      att = new Attachment(mem, a, clock);
      return new Runtime(mem, att, names, chains, clock, null, 65536);
    } catch (err) {
      att?.dispose();
      releaseAttachment(mem.i32, mem.attachWord(a, A_STATE));
      throw err;
    }
  }

  /** Fresh copies: a handle's arrays are the caller's to mutate without touching this runtime. */
  get handle(): RuntimeHandle {
    return {
      kind: 'sluice-runtime', sab: this.mem.sab, memory: this.mem.wasm, names: [...this.names], chains: this.chainLists.map((c) => [...c]),
    };
  }

  /** Resolve a task name to its id (once), with its options. Unknown names throw UnknownTaskError. */
  task(name: string, options?: TaskOptions): TaskRef {
    if (options === undefined && typeof name === 'string') {
      const cached = this.tasks.get(name);
      if (cached) return cached;
    }
    const ref = resolveTask(this.instance, this.names, name, options);
    if (options === undefined) this.tasks.set(name, ref);
    return ref;
  }

  /** A producer handle for this thread; the producer itself (limits, counters) is shared by all threads. */
  producer(name: string, limits?: ProducerLimits): Producer {
    const cached = this.producers.get(name);
    if (cached && limits === undefined) return cached;
    const { index, limits: l } = lookupOrRegister(this.mem, name, limits, this.clock.now());
    if (cached) return cached;
    const p = Producer._create(
      { att: this.att, chains: this.chains, clock: this.clock, resolveTask: (n) => this.task(n), instance: this.instance }, name, index, l,
    );
    this.producers.set(name, p);
    return p;
  }

  /**
   * Run a task on the default producer and wait for its value. Unlike submit, a capacity
   * rejection does not fail: the call waits (FIFO, woken by completions) for room, up to
   * runQueueLimit waiting calls.
   */
  run<T = unknown>(task: string | TaskRef, payload?: unknown, options?: SubmitOptions): Promise<T> {
    try {
      const ref = typeof task === 'string' ? this.task(task) : TaskRef.own(task, this.instance);
      const parsed = options === undefined ? undefined : parseSubmitOptions(options);
      if (this.waiters.length === 0) {
        const a = this.defaultP()._submitParsed<T>(ref, payload, parsed);
        if (a.admitted) {
          // 4.4 step 0: the promise is awaited at once (it is all the caller has), so poll for a
          // lone task's result as Token.then does; a settled token gives a settled promise.
          if (a._outcome < 0) this.att.pollOne();
          return a.promise();
        }
        if (!CAPACITY_REASONS.has(a.reason)) return Promise.reject(new RejectedError(a.reason, `runtime is ${a.reason}`));
      } else if (this.att.chainRetired(ref.weightIndex)) {
        // Others wait already, but no worker is left for this task: waiting would never end.
        return Promise.reject(new RejectedError('no-workers', 'runtime is no-workers'));
      }
      if (this.waiters.length >= this.runQueueLimit) {
        return Promise.reject(new RejectedError('queue-full', `rt.run() wait queue is full (${this.runQueueLimit}); raise runQueueLimit`));
      }
      return new Promise<T>((resolve, reject) => {
        this.waiters.push({ task: ref, payload, options: parsed, resolve: resolve as (v: unknown) => void, reject });
        this.pollWaiters();
      });
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Plain-object snapshot: global, per producer, per worker. */
  stats(): RuntimeStats {
    const i32 = this.mem.i32;
    const L = this.mem.layout;
    const st = Atomics.load(i32, this.mem.stateWord);
    const now = this.clock.now();
    const workers: WorkerStats[] = [];
    for (let w = 0; w < L.workers; w++) {
      workers.push({
        index: w,
        threadId: Atomics.load(i32, this.mem.workerWord(w, W_THREAD_ID)),
        tid: Atomics.load(i32, this.mem.workerWord(w, W_TID)),
        cpus: maskCpus(Atomics.load(i32, this.mem.workerWord(w, W_CPU_MASK))),
        routed: {
          heavy: i32[this.mem.workerWord(w, W_ROUTED_HEAVY)]!,
          medium: i32[this.mem.workerWord(w, W_ROUTED_MEDIUM)]!,
          light: i32[this.mem.workerWord(w, W_ROUTED_LIGHT)]!,
        },
        restarts: Atomics.load(i32, this.mem.workerWord(w, W_RESTARTS)),
        failed: Atomics.load(i32, this.mem.workerWord(w, W_FAILED)) === 1,
        executed: i32[this.mem.workerWord(w, W_EXECUTED)]!,
        queued: this.att.rings[w]!.size(),
        asyncInFlight: Atomics.load(i32, this.mem.workerWord(w, W_ASYNC_INFLIGHT)),
        parked: Atomics.load(i32, this.mem.workerWord(w, W_WAKER)) === WAKER_PARKED,
        parks: i32[this.mem.workerWord(w, W_PARKS)]!,
        stolen: i32[this.mem.workerWord(w, W_STOLEN)]!,
      });
    }
    return {
      state: st === RT_RUNNING ? 'running' : st === RT_DRAINING ? 'draining' : 'closed',
      global: { inFlight: Atomics.load(i32, this.mem.globalWord), limit: L.globalSlots },
      producers: registeredProducers(this.mem).map((p) => {
        const mine = [...this.producers.values()].find((x) => x.index === p);
        return { ...producerStats(this.mem, p, now), saturated: mine?.saturated ?? false };
      }),
      workers,
      events: [...this.events],
    };
  }

  /**
   * Stop admitting ('draining'), then resolve when every admitted task (every thread's) has resolved.
   *
   * On an attached runtime (Runtime.attach) this is per handle: only this handle stops admitting
   * (its later submits are rejected 'draining'; other threads are unaffected), and it resolves
   * when this thread's own tokens have resolved. The runtime-wide drain is the starting thread's.
   */
  async drain(options?: CloseOptions): Promise<void> {
    const timeoutMs = closeTimeout('rt.drain()', options, Infinity);
    if (this.supervisor === null) {
      if (this.att.halted === 0) this.att.halted = R_DRAINING;
      this.flushWaiters();
      await this.ownQuiesce(timeoutMs);
      return;
    }
    Atomics.compareExchange(this.mem.i32, this.mem.stateWord, RT_RUNNING, RT_DRAINING);
    this.flushWaiters();
    await this.quiesce(timeoutMs);
  }

  /**
   * The shutdown protocol (docs/design.md, "Shutdown"); idempotent, never hangs. On an attached
   * runtime it is that handle's drain() (within timeoutMs), then detach: its attachment slot is
   * freed and its submits are rejected 'closed'; the runtime and other threads carry on. Only
   * the starting thread's close() shuts the runtime down.
   */
  close(options?: CloseOptions): Promise<void> {
    let timeoutMs: number;
    try {
      timeoutMs = closeTimeout('rt.close()', options, 30_000);
    } catch (err) {
      return Promise.reject(err);
    }
    if (this.closing === null) this.closing = this.supervisor === null ? this.detach(timeoutMs) : this.shutdown(timeoutMs);
    return this.closing;
  }

  /** `await using rt = await Runtime.start(...)`: close() when the scope ends. */
  [asyncDispose](): Promise<void> {
    return this.close();
  }

  /** @internal */ private async shutdown(timeoutMs: number): Promise<void> {
    const i32 = this.mem.i32;
    const deadline = performance.now() + timeoutMs;
    // 1. Stop admission: every submit from now on is rejected 'draining'.
    Atomics.compareExchange(i32, this.mem.stateWord, RT_RUNNING, RT_DRAINING);
    // 2. Waiting rt.run() calls were never admitted: reject them.
    this.flushWaiters();
    // 3. Let admitted tasks finish, within the timeout.
    const drained = await this.quiesce(timeoutMs);
    // 4. Retract what has not started (its cell stays in the ring; the worker skips it).
    if (!drained) this.att.retractPending();
    // 5. Closed: workers exit when their ring is empty; wake every parked one so it notices.
    //    From here a worker's exit is the end of its slot, not a crash to recover from.
    const supervisor = this.supervisor!;
    supervisor.stop();
    Atomics.store(i32, this.mem.stateWord, RT_CLOSED);
    for (let w = 0; w < this.mem.layout.workers; w++) wake(i32, this.mem.workerWord(w, W_WAKER));
    //    A worker still busy is terminated; one that does not exit even then is inside a native
    //    call (execSync, a blocking fs call), which terminate() cannot interrupt: close stops
    //    waiting for it after STOP_GRACE_MS, reports it and unrefs it (it ends when the call returns).
    const stopped = await Promise.all(supervisor.workers.map((wk) => (
      wk === null ? true : exited(wk, Math.max(0, deadline - performance.now()) + 1000)
    )));
    stopped.forEach((ok, w) => {
      if (!ok) {
        this.recordEvent(`worker ${w} did not stop within ${STOP_GRACE_MS} ms of being terminated (blocked outside JavaScript?); it will end when its native call returns`);
      }
    });
    // 6. Whatever still ran when the workers were stopped is abandoned; other threads' tokens
    //    that no worker will complete are completed for them (retracted or abandoned).
    supervisor.resolveOrphans();
    this.att.drain();
    this.att.abandonRemaining('the runtime closed while the task was running');
    // 7. Release: timers, and this thread's attachment.
    this.att.dispose();
  }

  /** @internal */ private async detach(timeoutMs: number): Promise<void> {
    this.att.halted = R_CLOSED; // this handle admits no more (design 4.7); the runtime carries on
    this.flushWaiters(true);
    // Timed out: what has not started never will (retracted). A task still running keeps its
    // token, and the slot stays this thread's until it resolves: freeing it now would hand a
    // live token table to the next attach. (If this thread ends first, the supervisor's liveness
    // check reclaims the slot, 4.9.)
    if (!(await this.ownQuiesce(timeoutMs))) this.att.retractPending();
    const release = (): void => {
      this.att.dispose();
      releaseAttachment(this.mem.i32, this.mem.attachWord(this.att.index, A_STATE));
    };
    if (this.att.outstanding === 0) release();
    else void this.att.whenIdle().then(release);
  }

  /** Wait until no task is admitted-and-unresolved anywhere, or the timeout; returns which. */
  /** @internal */ private async quiesce(timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    if (!(await this.ownQuiesce(timeoutMs))) return false;
    while (Atomics.load(this.mem.i32, this.mem.globalWord) !== 0) {
      if (performance.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, 1)); // other threads' tokens: poll (close is not a hot path)
    }
    return true;
  }

  /** @internal */ private async ownQuiesce(timeoutMs: number): Promise<boolean> {
    if (this.att.outstanding === 0) return true;
    const all = this.att.whenIdle();
    if (timeoutMs === Infinity) {
      await all;
      return true;
    }
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<false>((r) => { timer = setTimeout(() => r(false), timeoutMs); });
    const done = await Promise.race([all.then(() => true), timedOut]);
    clearTimeout(timer);
    return done;
  }

  // ---- rt.run waiters ----

  /** @internal */ private defaultP(): Producer {
    return (this.defaultProducer ??= this.producer('default'));
  }

  /** After each drained batch or cancel, from the pump: never throws into it (user code goes through callUser). */
  /** @internal */ private readonly afterDrain = (): void => {
    try {
      if (this.waiters.length > 0) this.flushWaiters();
      for (const p of this.producers.values()) p._checkClear();
    } catch (err) {
      reportUncaught(err); // not expected: the pump must keep running whatever happens here
    }
  };

  /** A worker slot was retired: waiting rt.run calls whose task has no worker left are rejected now. */
  /** @internal */ private readonly afterRetire = (): void => {
    if (this.waiters.length > 0) this.afterDrain();
  };

  /** @internal */ private flushing = false;
  /** @internal */ private flushAgain = false;
  /** @internal */ private flushForce = false;

  /**
   * 4.6 step 3. Not re-entrant: a submit in here raises edges, whose listeners (user code) may
   * call rt.run, drain or close, which flush again; that call is folded into this one (the loop
   * runs again), so no waiter is shifted twice or lost.
   */
  /** @internal */ private flushWaiters(force = false): void {
    if (force) this.flushForce = true; // detach: every later flush rejects 'closed'
    if (this.flushing) {
      this.flushAgain = true;
      return;
    }
    this.flushing = true;
    try {
      do {
        this.flushAgain = false;
        this.flushOnce(this.flushForce);
      } while (this.flushAgain);
    } finally {
      this.flushing = false;
    }
    this.pollWaiters();
  }

  /** @internal */ private flushOnce(force: boolean): void {
    const q = this.waiters;
    while (q.length > 0) {
      const w = q[0]!;
      let a: Admission;
      try {
        a = force ? { admitted: false, reason: 'closed' } : this.defaultP()._submitParsed(w.task, w.payload, w.options);
      } catch (err) {
        q.shift();
        w.reject(err);
        continue;
      }
      if (a.admitted) {
        q.shift();
        a.promise().then(w.resolve, w.reject);
      } else if (CAPACITY_REASONS.has(a.reason)) {
        break;
      } else {
        q.shift();
        w.reject(new RejectedError(a.reason, `runtime is ${a.reason}`));
      }
    }
  }

  /** Capacity held by other threads frees without waking this one: poll while anyone waits. */
  /** @internal */ private pollWaiters(): void {
    if (this.waiters.length === 0 || this.att.outstanding > 0 || this.waiterTimer !== null) return;
    this.waiterTimer = setTimeout(() => {
      this.waiterTimer = null;
      this.flushWaiters();
    }, 1);
  }

}

/** close()/drain() options: timeoutMs, an integer number of ms (drain also takes Infinity, its default). */
function closeTimeout(where: string, options: unknown, dflt: number): number {
  const o = snapshot(where, 'options', options, ['timeoutMs']);
  const v = o.timeoutMs;
  if (v === undefined) return dflt;
  if (v === Infinity && dflt === Infinity) return v;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 2 ** 31 - 1) {
    throw new ConfigError(`${where}: timeoutMs must be an integer from 0 to ${2 ** 31 - 1} (ms)${dflt === Infinity ? ' or Infinity' : ''}; got ${describe(v)}`);
  }
  return v + 0;
}

function instanceId(mem: Memory): string {
  return `${mem.i32[H_INSTANCE]! >>> 0}:${mem.i32[H_INSTANCE + 1]! >>> 0}`;
}

/** SHA-256 of the canonical encoding (JSON) of the task names and routing chains, as 8 words. */
/** @internal */
export function tableDigest(names: readonly string[], chains: readonly (readonly number[])[]): Int32Array {
  const d = createHash('sha256').update(JSON.stringify([names, chains])).digest();
  return new Int32Array(d.buffer.slice(d.byteOffset, d.byteOffset + DIGEST_WORDS * 4));
}

const HANDLE_KEYS = ['kind', 'sab', 'memory', 'names', 'chains'] as const;
const wasmBuffer = Object.getOwnPropertyDescriptor(WebAssembly.Memory.prototype, 'buffer')!.get!;
const sabLength = Object.getOwnPropertyDescriptor(SharedArrayBuffer.prototype, 'byteLength')!.get!;

/**
 * Check an attach handle against the memory it names (docs/design.md 4.13), reading each of its
 * fields once: structure, then the memory's header (readLayout trusts none of it), then the
 * digest of names and chains written at start. Nothing is claimed here; a bad handle is an
 * AttachError that says what is wrong without printing values.
 */
function checkHandle(handle: unknown): { mem: Memory; names: string[]; chains: number[][] } {
  const bad = (what: string, cause?: unknown): AttachError =>
    new AttachError(`Runtime.attach: not a valid handle of a running sluice runtime (${what}); pass rt.handle`, cause === undefined ? undefined : { cause });
  const h = snapshot('Runtime.attach', 'handle', handle, HANDLE_KEYS, false, AttachError);
  if (h.kind !== 'sluice-runtime') throw bad("its kind is not 'sluice-runtime'");
  const sab = h.sab;
  if (!types.isSharedArrayBuffer(sab)) throw bad(`its sab is ${describe(sab)}, not a SharedArrayBuffer`);
  let buf = sab;
  let wasm: WebAssembly.Memory | null = null;
  if (h.memory !== null && h.memory !== undefined) {
    try {
      buf = Reflect.apply(wasmBuffer, h.memory, []) as SharedArrayBuffer; // brand check: a look-alike throws
    } catch {
      throw bad(`its memory is ${describe(h.memory)}, not a WebAssembly.Memory`);
    }
    if (!types.isSharedArrayBuffer(buf)) throw bad('its memory is not shared');
    wasm = h.memory as WebAssembly.Memory;
  }
  const bytes = Reflect.apply(sabLength, buf, []) as number;
  if (bytes < BLOCK_BYTES || bytes % 8 !== 0) throw bad('its buffer is too small or misaligned for a runtime');
  let layout;
  try {
    layout = readLayout(new Int32Array(buf));
  } catch (err) {
    throw bad((err as Error).message);
  }
  const mem = new Memory(buf, layout, wasm);
  if (buf !== sab) {
    // memory and sab must be views of one memory (a cloned handle holds two objects for it):
    // a write through one must show through the other.
    if (Reflect.apply(sabLength, sab, []) !== bytes) throw bad("its sab is not its memory's buffer");
    const other = new Int32Array(sab);
    const before = Atomics.add(mem.i32, H_PROBE, 1);
    if (((Atomics.load(other, H_PROBE) - before) | 0) <= 0) throw bad("its sab is not its memory's buffer");
  }
  const names = readStrings(h.names, bad);
  if (names.length !== mem.i32[H_TASK_COUNT]) throw bad('its names do not match the runtime\'s tasks');
  const workers = mem.i32[H_WORKERS]!;
  const chains = readChains(h.chains, workers, bad);
  const want = mem.i32.subarray(H_DIGEST, H_DIGEST + DIGEST_WORDS);
  const got = tableDigest(names, chains);
  for (let i = 0; i < DIGEST_WORDS; i++) {
    if (got[i] !== want[i]) throw bad('its names or chains differ from the runtime\'s (reordered or edited)');
  }
  return { mem, names, chains };
}

function readStrings(v: unknown, bad: (what: string, cause?: unknown) => AttachError): string[] {
  if (!Array.isArray(v)) throw bad(`its names are ${describe(v)}, not an array`);
  try {
    const n = v.length;
    if (n > 0xffff) throw bad('it has too many names');
    const out: string[] = [];
    for (let i = 0; i < n; i++) {
      const s = v[i] as unknown;
      if (typeof s !== 'string' || s.length === 0 || !s.isWellFormed()) throw bad(`its names[${i}] is not a well-formed, non-empty string`);
      out.push(s);
    }
    return out;
  } catch (err) {
    if (err instanceof AttachError) throw err;
    throw bad('reading its names threw', err);
  }
}

function readChains(v: unknown, workers: number, bad: (what: string, cause?: unknown) => AttachError): number[][] {
  if (!Array.isArray(v)) throw bad(`its chains are ${describe(v)}, not an array`);
  try {
    if (v.length !== 4) throw bad('it does not have 4 chains');
    const out: number[][] = [];
    for (let c = 0; c < 4; c++) {
      const chain = v[c] as unknown;
      if (!Array.isArray(chain)) throw bad(`its chains[${c}] is not an array`);
      const n = chain.length;
      if (n === 0 || n > workers) throw bad(`its chains[${c}] has ${n} workers; the runtime has ${workers}`);
      const seen = new Set<number>();
      for (let i = 0; i < n; i++) {
        const w = chain[i] as unknown;
        if (typeof w !== 'number' || !Number.isInteger(w) || w < 0 || w >= workers || seen.has(w)) {
          throw bad(`its chains[${c}] names a worker that does not exist or names one twice`);
        }
        seen.add(w);
      }
      out.push([...seen]);
    }
    return out;
  } catch (err) {
    if (err instanceof AttachError) throw err;
    throw bad('reading its chains threw', err);
  }
}
/**
 * Which CPUs each worker pins itself to. 'auto': one core each (distinct physical cores first)
 * when the addon is present, unpinned otherwise. A map: as given, and the addon is required.
 * Before any worker pins, the libuv pool is started from this (unpinned) thread, so a pinned
 * worker never creates it (threads inherit their creator's mask; see affinity.ts).
 */
async function planAffinity(
  affinity: 'auto' | false | number[][], workers: number,
): Promise<{ cpus: (number[] | null)[]; status: AffinityInfo }> {
  const none = new Array<number[] | null>(workers).fill(null);
  const st = loadAffinity();
  if (affinity === false) return { cpus: none, status: { available: st.available, pinned: false, reason: 'affinity: false' } };
  if (!st.available || st.addon === null) {
    if (Array.isArray(affinity)) throw new ConfigError(`an affinity map was given but CPU pinning is unavailable: ${st.reason}`);
    return { cpus: none, status: { available: false, pinned: false, reason: st.reason } };
  }
  await warmLibuvPool();
  const cpus = Array.isArray(affinity)
    ? affinity.map((c) => [...c])
    : chooseCpus(workers, st.addon.topology(), st.addon.getAffinity()).map((c) => [c]);
  return { cpus, status: { available: true, pinned: true, reason: null } };
}

function maskCpus(mask: number): number[] | null {
  if (mask === 0) return null;
  const out: number[] = [];
  for (let c = 0; c < 32; c++) if (mask & (1 << c)) out.push(c);
  return out;
}

function workerEntry(): URL {
  const self = import.meta.url;
  return new URL(self.endsWith('.ts') ? './worker-dev.mjs' : './worker.js', self);
}

/** A TypeScript task module is loaded through tsx, which must be installed. */
function checkTypeScriptSupport(tasksHref: string): void {
  if (!isTypeScript(tasksHref)) return;
  try {
    createRequire(import.meta.url).resolve('tsx/esm/api');
  } catch {
    throw new WorkerStartError('the task module is TypeScript: install tsx (npm i -D tsx) so workers can load it');
  }
}

/** @internal Test-only controls (Runtime.start({ testHooks: true })). */
export class Testing {
  readonly hooks: Hooks;
  constructor(mem: Memory, private readonly supervisor: Supervisor) {
    this.hooks = new Hooks(mem);
  }
  /** Terminate worker slot w's thread, as a crash would (the slot is respawned). */
  killWorker(w: number, reason = `worker ${w} was killed by a test`): void {
    this.supervisor.terminate(w, { reason, retryable: true });
  }
  /** Look for dead attached threads now instead of at the next liveness tick. */
  checkAttachments(): void { this.supervisor.checkAttachments(); }
}

/**
 * @internal The "gates off" benchmark (bench/gates.ts; not exported from the package): this
 * thread's submits for `producer` skip admission steps 2-3 (no token, no slot, no global count)
 * and their completions give nothing back. Its tasks are invisible to every limit and to
 * close()'s wait for the global count. Deliberately not part of Testing: a testHooks runtime
 * takes a slower submit path (its pause points), which would be charged to the gates.
 */
export function ungateForBenchmark(rt: Runtime, producer: Producer): void {
  (rt as unknown as { att: Attachment }).att.ungated[producer.index] = 1;
}

/**
 * Resolve true when the worker exits; terminate it if it has not within `ms`. terminate() stops
 * JavaScript (a loop, Atomics.wait) but not a native call (execSync, a blocking fs call): a
 * thread inside one exits only when the call returns. So if it has not exited STOP_GRACE_MS
 * after terminate(), resolve false and unref it: it holds up neither the caller nor the event
 * loop (though Node still joins it when the process exits: design 4.7).
 */
function exited(worker: Worker, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (worker.threadId === -1) return resolve(true);
    let grace: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      worker.terminate().catch(() => {});
      grace = setTimeout(() => {
        worker.unref();
        resolve(false);
      }, STOP_GRACE_MS);
    }, ms);
    worker.once('exit', () => {
      clearTimeout(timer);
      clearTimeout(grace);
      resolve(true);
    });
  });
}

/** Start() timed out (startTimeoutMs): carries the WorkerStartError to report. */
class StartTimeout {
  constructor(readonly error: WorkerStartError) {}
}

/** `p`, or a StartTimeout after `ms`, or an AbortedError when `signal` aborts; the timer and listener go either way. */
function bounded<T>(p: Promise<T>, ms: number, signal: AbortSignal | undefined): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const done = (): void => {
      clearTimeout(timer);
      if (signal !== undefined) offAbort(signal, aborted);
    };
    const aborted = (): void => {
      done();
      reject(new AbortedError('Runtime.start was aborted', { cause: signalReason(signal!) }));
    };
    const timer = setTimeout(() => {
      done();
      reject(new StartTimeout(new WorkerStartError(
        `the workers did not become ready within ${ms} ms (startTimeoutMs): does the task module have a top-level await that never settles?`,
      )));
    }, ms);
    if (signal !== undefined) onAbort(signal, aborted);
    p.then((v) => { done(); resolve(v); }, (err: unknown) => { done(); reject(err); });
  });
}

/**
 * A failed start (design 4.7): no worker may outlive it, and no file descriptor. A thread
 * terminated while it loads modules leaks the descriptors of the reads it has in flight
 * (counted in /proc/self/fd: one per worker cut off mid-import), so each is first let finish
 * loading sluice's own modules (up to START_SETTLE_MS), then the task module for up to
 * `settleMs`: closed and woken, a ready worker exits by itself, and one whose import failed
 * exits anyway. Then whatever is left (a top-level await that never settles) is terminated; one
 * stuck in a native call is unref'd.
 */
async function abortStart(mem: Memory, supervisor: Supervisor, settleMs: number): Promise<void> {
  supervisor.stop();
  Atomics.store(mem.i32, mem.stateWord, RT_CLOSED);
  for (let w = 0; w < mem.layout.workers; w++) wake(mem.i32, mem.workerWord(w, W_WAKER));
  await Promise.all(supervisor.workers.map(async (wk, w) => {
    if (wk === null) return;
    // Never cut a thread off while it loads sluice's own modules (bounded: START_SETTLE_MS).
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([supervisor.ownModules[w], new Promise<void>((r) => { timer = setTimeout(r, START_SETTLE_MS); })]);
    clearTimeout(timer);
    await exited(wk, settleMs);
  }));
}


