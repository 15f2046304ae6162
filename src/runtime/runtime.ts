/**
 * Runtime: start, attach, task, producer, run, stats, drain, close.
 *
 * The thread that calls Runtime.start owns the workers and the shutdown protocol; any thread
 * holding `rt.handle` can Runtime.attach() and submit into the same rings, with its results
 * coming back through its own completion ring.
 */
import { type ResourceLimits, type SHARE_ENV } from 'node:worker_threads';
import { createRequire } from 'node:module';
import { A_STATE, H_BARRIER, H_DIGEST, H_INSTANCE, H_TASK_COUNT, MAX_TASKS, Memory, RT_CLOSED, RT_DRAINING, RT_RUNNING, P_SLOTS } from '../shm/layout.js';
import { activate as activateAttachment, release as releaseAttachment } from '../shm/words/attachment.js';
import { Clock, hrtimeMicros, MonotonicClock } from '../admission/clock.js';
import { crypto } from '../builtins.js';
import { clockOption, errorClassesOption, parseStartOptions, snapshot, type StartConfig } from './options.js';
import { Attachment } from './submit/attachment.js';
import {
  parseSubmitOptions, Producer, ProducerStats, SubmitOptions,
} from './producer.js';
import { lookupOrRegister, type ProducerLimits } from './registry.js';
import { resolveTask, TaskOptions, TaskRef } from './task.js';
import type { ProducerHost, Rejection, TaskLatency } from './producer.js';
import type { ResultCast, SubmitArgs, TaskName, TaskResult } from './typed.js';
import { preferenceChains, stealMask, type Weight } from './routing.js';
import { chooseCpus, loadAffinity, processBarrier, warmLibuvPool, workersShareBarrier } from './native/affinity.js';
import { PLAIN_ORDER } from '../shm/order.js';
import { isTypeScript, notAModuleFile, taskModuleHref } from './tasks-module.js';
import { AbortedError, AttachError, ConfigError, RejectedError, SluiceError, WorkerStartError, describe, runRejected } from '../errors.js';
import { reportUncaught, signalAborted, signalReason } from './user-code.js';
import { CAPACITY_REASONS, R_DRAINING } from '../admission/reasons.js';
import { Supervisor } from './supervisor/supervisor.js';
import { EarlySpawn } from './supervisor/early.js';
import { completeQueued, lastStartWarmUp, scratchFor, type Scratch } from './start-warm-up.js';
import type { WorkerData } from './worker/main.js';
import { RunCall, RunQueue, type RunQueueHost } from './run-queue.js';
import { checkHandle, instanceId, tableDigest } from './handle.js';
import { Testing } from './testing/testing.js';
import { Recording, recordAttachment, type RecordingSeam, type TraceOptions, type TraceShare } from './recording.js';
import { rejectionLimit } from '../trace/records.js';
import type { ProducerInfo, TraceMeta, TraceTrailer } from '../trace/file.js';
import { readLimits, registeredFrom, registeredProducers } from './registry.js';
import { producerName } from './producer-name.js';
import { threadId } from 'node:worker_threads';
import { FROM_SOURCE, packageFile } from '../package-root.js';
import { runtimeStats } from './snapshot.js';
import { readMetrics, resetMetrics, type RawMetrics } from './metrics.js';
import { Hurry, START_SETTLE_MS, StartTimeout, abortStart, bounded, closeTimeout, detach, exited, ownQuiesce, quiesce, shutdown, type ShutdownHost } from './shutdown.js';
import { abandonRunning, cancelByKey } from './submit/cancel.js';
import { initIoClasses } from '../admission/io-class.js';
import { ioStats } from './io-class.js';
import type { IoClassName, IoClassStats } from './io-types.js';
import { observerPort, type ObserverPort } from './observers.js';
import type { TokenKey } from './token.js';
import { type GuardOptions, storeGuardConfig } from '../admission/guard.js';
import { GuardControl, Quarantine, taskStats, type TaskStats as HealthStats } from './guard-api.js';
import { UnknownTaskError } from '../errors.js';

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
  /**
   * Spill arena bytes per thread (power of two), the largest payload or result that travels
   * through shared memory; reserved per worker and per attachment: (maxAttachments + workers) x
   * spillBytes in all. Default 1 MiB.
   */
  spillBytes?: number;
  /**
   * What happens to a payload or result larger than the arena (spillBytes - 8 bytes). 'message'
   * (default): on the starting thread it travels by postMessage on a per-worker MessageChannel
   * (slower, off the hot path; `transfer` moves ArrayBuffers without a copy); on attached threads
   * it is still a PayloadError. 'refuse': a PayloadError everywhere (memory bounded by the arenas).
   */
  largeValues?: 'message' | 'refuse';
  /**
   * rt.run() calls that may wait for capacity; more are rejected 'queue-full'. Default 2^31-1 (no
   * limit in practice: the line is bounded by memory, ~0.3 KB per waiting call plus its payload).
   */
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
   * Node CLI options for each worker thread, replacements too (new Worker's execArgv; default:
   * the parent's). Flags Node refuses in a worker make start reject with WorkerStartError.
   */
  execArgv?: string[];
  /**
   * Each worker's process.env (new Worker's env): an object of strings (copied at start: later
   * changes reach no worker), or worker_threads.SHARE_ENV to share this thread's. Default: a
   * copy of process.env made when each worker starts.
   */
  env?: Readonly<Record<string, string>> | typeof SHARE_ENV;
  /**
   * Error classes a task may throw that this thread rebuilds as themselves (`instanceof` holds),
   * matched by class name, nearest on the thrown error's prototype chain first: the instance is
   * made from the class's prototype (its constructor is not called) with the thrown error's
   * message, stack, own enumerable properties, cause and errors. Names must be unique and not
   * those of built-in or sluice error classes. Attached threads pass their own (AttachOptions).
   */
  errors?: readonly ErrorClass[];
  /**
   * Data for the task module, structured-cloned into every worker (SharedArrayBuffers are shared):
   * tasks read it as `workerData.taskData` (import { workerData } from 'node:worker_threads').
   */
  taskData?: unknown;
  /**
   * Record every decision (docs/design.md §4.15): `{ mode: 'flight', records }` keeps the latest
   * `records` (a power of two, default 4096) per thread in shared memory, saved with
   * `rt.saveTrace(path)`; `{ mode: 'file', path, records }` streams everything to `path` from the
   * start (drained every 10 ms, and by the starting thread as its ring fills; finished at close,
   * or at the process's 'exit' event without one; one runtime per file in a process). Off by
   * default. Read with `sluice trace show|explain|replay|export`.
   */
  trace?: TraceOptions;
  /**
   * Let an idle (spinning) worker take the oldest queued task of a sibling that has been inside
   * one task for 5 µs, within the task's weight class (docs/design.md 4.2a). Default true; off
   * with `spinUs: 0` (an idle worker parks at once) and with one worker.
   */
  steal?: boolean;
  /**
   * In its first idle moments after it reports ready, a fresh worker runs its per-task path (take
   * a cell, run, complete, encode and decode) a few thousand times on a private scratch buffer
   * with a built-in identity task -- never yours -- in steps of 64 between which it looks for
   * real tasks first, so V8 compiles that path early (docs/design.md 4.2b). Costs each worker
   * ~25-90 ms of CPU while idle, none on the start path; a replacement worker skips it. Default true.
   */
  warmUp?: boolean;
  /**
   * A breaker for every task function (the Guard House, docs/design.md §4.16), with these
   * settings; off by default (health is kept either way). A task's guard is stored once, shared
   * by every thread: rt.task(name, { guard }) with different settings is then a ConfigError.
   */
  guard?: GuardOptions;
  /** @internal Enable test-only pause points (rt.testing). Never in production. */
  testHooks?: boolean;
  /**
   * Limits of the named I/O classes (rt.task(name, { io })), each an integer from 1 to 65535;
   * unnamed ones keep their defaults: slow 10, moderate 25, fast 50, insane 70. Fixed for the
   * runtime's life; attached threads and workers read them from shared memory.
   */
  ioLimits?: Partial<Record<IoClassName, number>>;
  /**
   * Keep queue-wait and run-time histograms in shared memory, per task and per producer, and
   * each worker's busy time (docs/design.md §2.5): rt.stats() then reports percentiles and
   * utilization, and `sluice/observe` exports them to Prometheus. Default false: two clock reads
   * and four atomic adds per task on the worker and a clock read per turn on the submitter cost
   * more than 2% of throughput (docs/performance.md); off, the metrics region is not laid out.
   */
  metrics?: boolean;
  /**
   * How long start() waits for its first worker to load the task module and report ready, in ms;
   * then it rejects with WorkerStartError (e.g. a top-level await that never settles) and tears
   * down whatever it started. Any other worker thread (replacements too) not ready this long
   * after its spawn is terminated and its slot recovered like a crashed one's. Default 30000.
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
  /** The recording's region when the runtime records (Runtime.start({ trace })); attached threads record into it too. */
  readonly trace?: object | null;
}

/** Runtime.attach's options. */
export interface AttachOptions {
  /** Tick clock for this thread's admission decisions (e.g. a VirtualClock in tests). */
  clock?: Clock;
  /** Error classes this thread rebuilds as themselves (as RuntimeOptions.errors, for this thread). */
  errors?: readonly ErrorClass[];
}

/** A class of errors a task may throw (RuntimeOptions.errors): any subclass of Error, whatever its constructor takes. */
export type ErrorClass = abstract new (...args: never[]) => Error;

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
  /**
   * Share of the metrics window this worker's thread spent in tasks' synchronous parts, 0..1
   * (busy ms / window ms; a task still running counts once it ends); null with `metrics: false`.
   */
  utilization: number | null;
}

/** rt.stats().tasks: one task function's latency in the metrics window (docs/design.md §2.5). */
export interface TaskStats extends HealthStats {
  /**
   * Queue wait (submit to start) and run time (start to end) percentiles, microseconds, in the
   * metrics window; null with `metrics: false`, and for task ids past the 63rd (their histograms
   * are shared: docs/design.md §2.5).
   */
  latency: TaskLatency | null;
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
  /** The I/O classes: the four named ones, then every task function's own ({ limit }) class declared so far. */
  io: IoClassStats[];
  /**
   * Per task function, in id order: calls, outcomes, run time, health class, breaker (the Guard
   * House), and with `metrics: true` its latency percentiles.
   */
  tasks: TaskStats[];
  /**
   * The metrics window the percentiles and utilization cover: since start, or since the last
   * rt.resetStats(). Seconds; null with `metrics: false`.
   */
  windowSeconds: number | null;
}

/** Symbol.asyncDispose (Node 20 has it; older builds spell it Symbol.for('nodejs.asyncDispose'), as Node does). */
const asyncDispose: typeof Symbol.asyncDispose =
  (Symbol as { asyncDispose?: typeof Symbol.asyncDispose }).asyncDispose ?? (Symbol.for('nodejs.asyncDispose') as typeof Symbol.asyncDispose);


/**
 * `M` is the task module's type (`Runtime.start<typeof import('./tasks.js')>(...)`): task names,
 * payloads and results are checked against it (src/runtime/typed.ts; types only). Without it
 * (`any`), the runtime is untyped: names are strings, payloads and results unknown.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export class Runtime<M = any> {
  /** @internal */ private readonly att: Attachment;
  /** @internal */ private readonly mem: Memory;
  /** @internal */ private readonly producers = new Map<string, Producer<M>>();
  /** @internal */ private readonly tasks = new Map<string, TaskRef>();
  /** @internal rt.run's wait for capacity (§4.6). */ readonly runQueue: RunQueue;
  /** @internal */ private closing: Promise<void> | null = null;
  /** @internal Fired by destroy(): cuts the shutdown's waits short (shutdown.ts). */ private hurry: Hurry | null = null;
  /** @internal */ private defaultProducer: Producer<M> | null = null;
  /** @internal */ readonly chains: Int32Array[];
  /** @internal The shared memory's instance id: TaskRefs of other runtimes carry another (task.ts). */
  readonly instance: string;
  /** @internal */ private affinityInfo: AffinityInfo = Object.freeze({
    available: loadAffinity().available, pinned: false, reason: 'attached runtime: workers belong to the starting thread',
  });

  /** This handle's quarantine: failed calls of guarded tasks, with their arguments (the Guard House). */
  readonly quarantine: Quarantine;
  /** The operator's hand on each task's breaker: isolate, release, state (the Guard House). */
  readonly guard: GuardControl;

  /** Whether workers are pinned to cores, and if not, why (frozen). */
  get affinity(): Readonly<AffinityInfo> { return this.affinityInfo; }

  /**
   * Runtime.start resolves once its first worker is ready; the others are still loading the task
   * module then. This resolves once every worker slot has a ready thread (a replacement counts
   * once ready) or was retired, or the runtime closed; at once if that holds already. It never
   * rejects. On an attached handle it resolves at once (the workers belong to the starting thread).
   */
  allWorkersReady(): Promise<void> {
    return this.supervisor === null ? Promise.resolve() : this.supervisor.whenAllReady();
  }

  // Private (kept in the declarations as such): runtimes are made by Runtime.start and Runtime.attach.
  private constructor(
    mem: Memory,
    att: Attachment,
    /** The task module's task names, in id order (frozen). */
    readonly names: readonly string[],
    /** @internal */ private readonly chainLists: number[][],
    /** @internal */ readonly clock: Clock,
    /** @internal */ private readonly supervisor: Supervisor | null,
    runQueueLimit: number,
  ) {
    this.mem = mem;
    this.att = att;
    Object.freeze(names);
    this.instance = instanceId(mem);
    this.chains = chainLists.map((c) => Int32Array.from(c));
    att.chains = this.chains;
    att.pump.onDrained = this;
    this.quarantine = new Quarantine(names, (p) => producerName(mem, p), (task, payload, producer) => (this.producerOf(producer) as Producer).submit(task, payload));
    att.guard.feed = this.quarantine.feed;
    this.guard = new GuardControl(mem, (task, where) => this.taskIdOf(task, where), () => this.clock.now(), () => this.att.seam);
    this.runQueue = new RunQueue(new RunQueueLink(this), runQueueLimit);
  }

  /**
   * §4.7 "Start", step 4: this thread's own per-call path (rt.run, producer.submit and its Token,
   * submitCallback, the drain of each kind of result) on a scratch runtime while the workers
   * boot (start-warm-up.ts), so the first real calls do not compile it. Never throws: a failure
   * only means the first calls compile as before. Resolves once the scratch calls settled.
   */
  private static async warmStartingThread(spinUs: number, asyncLimit: number, plainWindows: boolean): Promise<void> {
    let s: Scratch | null = null;
    const stats = lastStartWarmUp;
    stats.calls = stats.completed = stats.settled = 0;
    try {
      s = scratchFor(spinUs, asyncLimit, plainWindows);
      const rt = new Runtime(s.mem, s.att, ['warm'], [[0], [0], [0], [0]], s.clock, null, 8);
      const settled: Array<PromiseLike<unknown>> = [];
      let k = 0;
      for (let i = 0; i < 3; i++) {
        settled.push(rt.run('warm', i));
        completeQueued(s, k++);
      }
      const p = rt.producer('warm');
      for (let i = 0; i < 2; i++) {
        const a = p.submit('warm', { i, tag: 'w' });
        if (a.admitted) settled.push(a);
        completeQueued(s, k++);
      }
      let called = false;
      p.submitCallback('warm', [k, 'w'], () => { called = true; });
      completeQueued(s, k++);
      stats.calls = settled.length + 1;
      const out = await Promise.allSettled(settled);
      stats.settled = out.filter((r) => r.status === 'fulfilled').length + (called ? 1 : 0);
    } catch {
      // An optimisation only.
    } finally {
      s?.att.dispose();
    }
  }

  /** @internal Test-only controls, present with Runtime.start({ testHooks: true }). */
  testing: Testing | null = null;
  /** @internal */ private readonly events: string[] = [];

  /** @internal */ private readonly recordEvent = (message: string): void => {
    this.events.push(message);
    if (this.events.length > 32) this.events.shift();
  };

  /** Start a runtime: lay out shared memory, spawn the workers, load the task module in each. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  static async start<M = any>(options: RuntimeOptions): Promise<Runtime<M>> {
    // Every option is read once and checked (options.ts) before anything is allocated.
    const cfg = parseStartOptions(options);
    const href = taskModuleHref(cfg.tasks);
    const notModule = notAModuleFile(href);
    if (notModule !== null) throw new ConfigError(`Runtime.start: tasks: ${notModule}`);
    checkTypeScriptSupport(href);
    const { signal } = cfg;
    if (signal !== undefined && signalAborted(signal)) {
      throw new AbortedError('Runtime.start was aborted before it began', { cause: signalReason(signal) });
    }

    // §4.7 step 0 ("Start"): the threads first (supervisor/early.ts): their own start-up runs while
    // this thread builds the memory, the affinity plan and the supervisor, whose parts each one
    // gets as its first message. Everything that refuses the start outright is checked above.
    const early = new EarlySpawn(workerEntry(), cfg.workers, { resourceLimits: cfg.resourceLimits, execArgv: cfg.execArgv, env: cfg.env }, cfg.taskData);
    try {
      return await Runtime.startWith<M>(cfg, href, early);
    } finally {
      // A start that failed before the supervisor took every thread: the rest end by themselves.
      await Promise.all(early.abort().map((w) => exited(w, START_SETTLE_MS)));
    }
  }

  /** Runtime.start from its memory on, with the threads spawned early (§4.7 step 0 ("Start")). */
  private static async startWith<M>(cfg: StartConfig, href: string, early: EarlySpawn): Promise<Runtime<M>> {
    const { workers, startTimeoutMs, signal } = cfg;
    let mem: Memory;
    try {
      mem = Memory.create({
        workers, ringCapacity: cfg.ringCapacity, globalSlots: cfg.globalSlots, maxProducers: cfg.maxProducers,
        maxAttachments: cfg.maxAttachments, spillBytes: cfg.spillBytes, taskCount: 0, spinMicros: cfg.spinUs, asyncLimit: cfg.asyncLimit,
        testHooks: cfg.testHooks, metrics: cfg.metrics,
        // The window's asymmetric protocol (shm/window.ts) where plain accesses are ordered as it
        // assumes (x86 TSO, order.ts) and this process has a process barrier.
        processBarrier: PLAIN_ORDER && processBarrier() !== null,
        // The asymmetric waker (§3.2) where the workers get the same barrier: their environment
        // is the env option's, else (undefined, SHARE_ENV) this thread's.
        plainPublish: workersShareBarrier(cfg.env === undefined || typeof cfg.env === 'symbol' ? process.env : cfg.env),
      });
    } catch (cause) {
      if (!(cause instanceof RangeError)) throw cause;
      throw new ConfigError(
        `Runtime.start: could not allocate ${cfg.layout.totalBytes} bytes of shared memory; lower spillBytes, maxAttachments, workers, ringCapacity or globalSlots`,
        { cause },
      );
    }
    // The named I/O classes' limits (§2.4), before any other thread can read them.
    initIoClasses(mem, cfg.ioLimits);
    // The instance id every TaskRef of this runtime carries (task.ts).
    crypto().randomFillSync(mem.i32.subarray(H_INSTANCE, H_INSTANCE + 2));
    const epoch = hrtimeMicros();
    mem.setEpochMicros(epoch);
    const clock = cfg.clock ?? new MonotonicClock(epoch);

    const { cpus, status: affinityStatus } = await planAffinity(cfg.affinity, workers);
    const chains = preferenceChains(cpus.map((c) => (c ? Math.min(...c) : null)));
    const { steal, warmUp, taskData } = cfg;
    const recording = cfg.trace === null ? null : new Recording(cfg.trace, cfg.maxAttachments, workers, epoch);

    let names: string[];
    const supervisor = new Supervisor(
      mem, workerEntry(),
      (w, replacement): WorkerData => ({
        sluiceWorker: true, sab: mem.sab, index: w, tasks: href, cpus: cpus[w]!, taskData, stealMask: steal ? stealMask(chains, w) : 0,
        warmUp: warmUp && !replacement, memory: mem.wasm, chains, trace: recording?.share ?? null,
      }),
      {
        watchdogMs: cfg.watchdogMs, startTimeoutMs, maxRestarts: cfg.maxRestarts, stallMs: cfg.stallMs, restartWindowMs: 60_000, resourceLimits: cfg.resourceLimits,
        execArgv: cfg.execArgv, env: cfg.env,
        messagePath: cfg.largeValues === 'message',
      },
    );
    supervisor.early = early;
    let settle = START_SETTLE_MS;
    let att: Attachment | null = null;
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
      // §4.7 "Start": the first worker to report ready starts the runtime; a failure before that
      // fails the start. The others go on loading (a task routed to one is taken when it is
      // ready, or stolen by a ready sibling), and once start has resolved a thread that fails to
      // load is a death of its slot (§4.8: recovered, respawned, retired if it keeps failing).
      for (const p of spawns) p.catch(() => undefined);
      // While the workers boot (tens of ms of Node's own worker start-up), build what does not
      // depend on the task names: the starting thread's attachment (its rings, codec, the
      // WebAssembly gate's compile). This thread is otherwise idle until the first 'ready'.
      activateAttachment(mem.i32, mem.attachWord(0, A_STATE));
      att = new Attachment(mem, 0, clock);
      att.codec.errorClasses = cfg.errors;
      if (cfg.largeValues === 'message') wireBigPath(att, supervisor);
      // And this thread's per-call path, on scratch memory (step 4; with the workers' warm-up).
      if (warmUp) void Runtime.warmStartingThread(cfg.spinUs, cfg.asyncLimit, mem.i32[H_BARRIER] === 1);
      try {
        names = await bounded(firstReady(spawns), startTimeoutMs, signal);
      } catch (err) {
        if (err instanceof AbortedError || err instanceof StartTimeout) settle = 100; // a worker may never settle: do not wait long
        throw err instanceof StartTimeout ? err.error : err;
      }
      supervisor.expectNames = names;
      if (names.length > MAX_TASKS) throw new WorkerStartError(`the task module exports ${names.length} task functions; at most ${MAX_TASKS} (the Guard House's shared regions are sized for that many)`);
    } catch (err) {
      att?.dispose();
      await abortStart(mem, supervisor, settle);
      if (err instanceof SluiceError) throw err;
      throw new WorkerStartError(`a worker could not be created: ${err instanceof Error ? err.name : describe(err)}`, { cause: err });
    }
    mem.i32[H_TASK_COUNT] = names.length;
    // §4.16: the runtime's default guard, stored for every task before any thread can submit.
    if (cfg.guard !== null) for (let id = 0; id < names.length; id++) storeGuardConfig(mem, id, names[id]!, cfg.guard);
    // What Runtime.attach checks a handle's names and chains against.
    mem.i32.set(tableDigest(names, chains), H_DIGEST);
    const rt = new Runtime<M>(mem, att, names, chains, clock, supervisor, cfg.runQueueLimit);
    if (recording !== null) {
      rt.recording = recording;
      rt.traceShare = recording.share;
      recordAttachment(att, recording.share, 0, 'main', threadId, limitsOf(mem));
      supervisor.seam = att.seam;
      try {
        recording.startStream(() => rt.traceMeta(), att.seam as RecordingSeam, (from) => producerInfos(mem, registeredFrom(mem, from)));
      } catch (err) {
        // The runtime is up by now: a file that cannot be opened fails the start with nothing left running.
        await rt.destroy().catch(() => undefined);
        throw err;
      }
    }
    rt.affinityInfo = Object.freeze(affinityStatus);
    supervisor.onEvent = rt.recordEvent;
    supervisor.onRetired = rt.afterRetire;
    if (cfg.testHooks) rt.testing = new Testing(mem, supervisor);
    supervisor.live = true;
    return rt;
  }

  /**
   * Join a running runtime from another thread. Its results come back to this thread directly.
   * The handle is checked against the runtime's own shared memory before any slot is claimed
   * (docs/design.md 4.13): a bad handle is an AttachError with nothing taken.
   */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  static async attach<M = any>(handle: RuntimeHandle, options?: AttachOptions): Promise<Runtime<M>> {
    return Runtime._attachSync<M>(handle, options);
  }

  /** @internal Runtime.attach, synchronously: a running task's first submit attaches its worker (src/task.ts, §4.14 step 1). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  static _attachSync<M = any>(handle: RuntimeHandle, options?: AttachOptions): Runtime<M> {
    const o = snapshot('Runtime.attach', 'options', options, ['clock', 'errors']);
    const userClock = clockOption('Runtime.attach', o.clock);
    const errors = errorClassesOption('Runtime.attach', o.errors);
    const { mem, names, chains, trace } = checkHandle(handle);
    const a = Attachment.claimSlot(mem);
    if (a < 0) throw new AttachError(`no free attachment slot (${mem.layout.maxAttachments}); raise Runtime.start({ maxAttachments })`);
    // Transactional: any failure after the claim gives the slot back.
    let att: Attachment | null = null;
    try {
      const clock = userClock ?? new MonotonicClock(mem.epochMicros());
      att = new Attachment(mem, a, clock);
      att.codec.errorClasses = errors;
      if (trace !== null) recordAttachment(att, trace, a, `attached ${a}`, threadId, limitsOf(mem));
      const rt = new Runtime<M>(mem, att, names, chains, clock, null, 2 ** 31 - 1); // runQueueLimit's default
      rt.traceShare = trace;
      return rt;
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
      trace: this.traceShare as object | null,
    };
  }

  /**
   * Resolve a task name to its id (once), with its options. Unknown names throw UnknownTaskError
   * (and, on a typed runtime, do not compile).
   */
  task<N extends TaskName<M>>(name: N, options?: TaskOptions): TaskRef<N> {
    if (options === undefined && typeof name === 'string') {
      const cached = this.tasks.get(name);
      if (cached) return cached as TaskRef<N>;
    }
    const ref = resolveTask(this.mem, this.instance, this.names, name, options, (id, cfg) => storeGuardConfig(this.mem, id, this.names[id]!, cfg));
    if (options === undefined) this.tasks.set(name, ref);
    return ref as TaskRef<N>;
  }

  /** A producer handle for this thread; the producer itself (limits, counters) is shared by all threads. */
  producer(name: string, limits?: ProducerLimits): Producer<M> {
    const cached = this.producers.get(name);
    if (cached && limits === undefined) return cached;
    const { index, limits: l } = lookupOrRegister(this.mem, name, limits, this.clock.now());
    if (cached) return cached;
    const p = Producer._create(new ProducerLink(this.att, this.chains, this.clock, this.instance, this), name, index, l);
    this.producers.set(name, p);
    return p;
  }

  /** @internal rt.task() for a name that is only known to be a string (a producer's through ProducerLink, rt.run's). */
  taskRef(name: string): TaskRef {
    return this.task(name as TaskName<M>);
  }

  /** @internal The run queue's submit (RunQueueLink): a queued call on the default producer. */
  submitQueued(call: RunCall): Rejection | null {
    return this.defaultP()._submitRun(call.task, call.payload, call.options, call);
  }

  /** @internal This thread's live admissions (RunQueueLink). */
  outstandingHere(): number {
    return this.att.outstanding;
  }

  /**
   * Run a task on the default producer and wait for its value. Unlike submit, a capacity
   * rejection does not fail: the call waits (FIFO, woken by completions) for room, up to
   * runQueueLimit waiting calls. On a typed runtime the payload is checked against the task's
   * first parameter and the value is its awaited return type.
   */
  run<T extends ResultCast<M> = ResultCast<M>, N extends TaskName<M> = TaskName<M>>(
    task: N | TaskRef<N>, ...args: SubmitArgs<M, N, SubmitOptions>
  ): Promise<TaskResult<M, N, T>>;
  run(task: string | TaskRef, payload?: unknown, options?: SubmitOptions): Promise<unknown> {
    try {
      const ref = typeof task === 'string' ? this.taskRef(task) : TaskRef.own(task, this.instance);
      const call = new RunCall(ref, payload, options === undefined ? undefined : parseSubmitOptions(options));
      // One RunCall held for the runtime's life keeps the class's maps, and the optimized code
      // that embeds them, through a GC that finds no call alive (Attachment.shapeKeeper says why).
      if (this.runShape === null) this.runShape = new RunCall(ref, undefined, undefined);
      if (this.runQueue.length === 0) { // §4.6 step 1
        const r = this.defaultP()._submitRun(ref, payload, call.options, call);
        if (r === null) {
          call.payload = undefined; // admitted: not held by the call
          // §4.4 step 0: the promise is awaited at once (it is all the caller has), so poll for a
          // lone task's result as Token.then does; a task it drains settles the promise now.
          this.att.pollOne();
          return call.promise;
        }
        if (!CAPACITY_REASONS.has(r.reason)) return Promise.reject(runRejected(r));
      } else if (this.att.chainRetired(ref.weightIndex)) {
        // §4.6 step 5: others wait already, but no worker is left for this task: waiting would never end.
        return Promise.reject(new RejectedError('no-workers', 'runtime is no-workers'));
      }
      return this.runQueue.enqueue(call);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** @internal A RunCall never settled or queued, held so its maps stay alive (see run()). */
  private runShape: RunCall | null = null;

  /** @internal The recording, on the starting thread of a runtime that records. */
  recording: Recording | null = null;
  /** @internal The recording's region (rt.handle carries it to attached threads); null: not recording. */
  traceShare: TraceShare | null = null;

  /**
   * Save the flight recorder (Runtime.start({ trace })): every thread's latest records, also a
   * dead worker's or attached thread's, to `path`, as a trace file `sluice trace show|explain|
   * export` reads. Only on the starting thread of a runtime that records (ConfigError otherwise);
   * also after close() (the rings stay in memory until the runtime is collected). A file that
   * cannot be written throws the system's error as `fs` does (ENOENT, EISDIR, ENOSPC: `err.code`).
   * Returns how many records it wrote and how many were lost (overwritten while it copied).
   */
  saveTrace(path: string): { records: number; lost: number } {
    if (this.recording === null) {
      throw new ConfigError(this.supervisor === null
        ? 'rt.saveTrace(): only the thread that started the runtime saves its trace'
        : 'rt.saveTrace(): this runtime does not record; start it with { trace: { mode: \'flight\' } }');
    }
    if (typeof path !== 'string' || path.length === 0) throw new ConfigError(`rt.saveTrace(): path must be a non-empty string; got ${describe(path)}`);
    const t = this.recording.save(path, this.traceMeta());
    return { records: t.records, lost: t.threads.reduce((a, x) => a + x.lost, 0) };
  }

  /** @internal The trace file's header: what replay, explain and export need besides the records. */
  traceMeta(): Omit<TraceMeta, 'mode' | 'recordVersion' | 'threads'> & { producers: ProducerInfo[] } {
    const L = this.mem.layout;
    return {
      // A runtime's full recording carries its deciding threads' read logs: replay re-makes each
      // thread on its own (docs/design.md §4.15 steps 5-6, trace/replay-threads.ts).
      replay: 'threads',
      // Wall-clock ms at tick 0: now, minus the ticks since the epoch.
      clock: { originMicros: this.mem.epochMicros(), wallMs: Date.now() - (hrtimeMicros() - this.mem.epochMicros()) / 1000 },
      workers: L.workers,
      ringCapacity: L.ringCapacity,
      globalSlots: L.globalSlots,
      cpuTie: false,
      workerCpus: this.stats().workers.map((w) => (w.cpus === null ? null : w.cpus[0] ?? null)),
      chains: this.chainLists.map((c) => [...c]),
      // Index-aligned: the registered entries are a prefix (registry.ts), as the table frames assume.
      producers: producerInfos(this.mem, registeredFrom(this.mem, 0)),
      // A weight class is chosen per rt.task() call, not per task: the header names none.
      tasks: this.names.map((name) => ({ name, weight: null })),
    };
  }

  /** @internal What shutdown.ts needs of this handle. */
  private shutdownHost(): ShutdownHost {
    return { mem: this.mem, att: this.att, supervisor: this.supervisor, runQueue: this.runQueue, recordEvent: this.recordEvent, recording: this.recording,
      traceProducers: () => this.traceMeta().producers };
  }

  /** @internal */ private defaultP(): Producer<M> {
    return (this.defaultProducer ??= this.producer('default'));
  }

  /**
   * @internal After each drained batch or cancel, from the pump (submit/pump.ts DrainListener):
   * never throws into it (user code goes through callUser).
   */
  afterDrain(): void {
    try {
      if (this.runQueue.length > 0) this.runQueue.flush();
      for (const p of this.producers.values()) p._checkClear();
    } catch (err) {
      reportUncaught(err); // not expected: the pump must keep running whatever happens here
    }
  }

  /** A worker slot was retired: waiting rt.run calls whose task has no worker left are rejected now. */
  /** @internal */ private readonly afterRetire = (): void => {
    if (this.runQueue.length > 0) this.afterDrain();
  };

  /** Plain-object snapshot: global, per producer, per worker. */
  stats(): RuntimeStats {
    const now = this.clock.now();
    const { taskLatency, ...base } = runtimeStats(this.mem, this.att, now, this.producers, this.events, this.names);
    const tasks = taskStats(this.mem, this.names, now, this.guard.notes).map((t, id) => ({ ...t, latency: taskLatency[id] ?? null }));
    return { ...base, io: ioStats(this.mem, this.names), tasks };
  }

  /**
   * Start a new metrics window (docs/design.md §2.5): zero the histograms and busy times every
   * thread shares, so rt.stats()' percentiles and utilization cover from now. Counters
   * (admitted, rejected, resolved, executed) are not reset. Tasks completing meanwhile may be
   * counted in either window. Does nothing with `metrics: false`.
   */
  resetStats(): void {
    resetMetrics(this.mem);
  }

  /** @internal The histograms as copied from shared memory, for sluice/observe (metricsSnapshot); null with metrics off. */
  rawMetrics(): RawMetrics | null {
    return readMetrics(this.mem, this.names, registeredProducers(this.mem));
  }

  /** @internal A task (name or TaskRef of this runtime) as its id. */
  private taskIdOf(task: unknown, where: string): number {
    if (typeof task === 'string') {
      const id = this.names.indexOf(task);
      if (id < 0) throw new UnknownTaskError(task, this.names);
      return id;
    }
    if (!TaskRef.is(task)) throw new ConfigError(`${where}: task must be a task name or a TaskRef; got ${describe(task)}`);
    return TaskRef.own(task, this.instance).id;
  }

  /** @internal A producer handle of this runtime, or a producer name (rt.quarantine.resubmit). */
  private producerOf(p: unknown): Producer<M> {
    if (typeof p === 'string') return this.producer(p);
    for (const h of this.producers.values()) if (h === p) return h;
    throw new ConfigError(`rt.quarantine.resubmit: producer must be a producer name or a Producer of this runtime handle; got ${describe(p)}`);
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
      this.runQueue.flush();
      await ownQuiesce(this.att, timeoutMs);
      return;
    }
    Atomics.compareExchange(this.mem.i32, this.mem.stateWord, RT_RUNNING, RT_DRAINING);
    this.runQueue.flush();
    await quiesce(this.shutdownHost(), timeoutMs);
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
    return this.shut(timeoutMs);
  }

  /**
   * Stop now (docs/design.md 4.7, "Destroy"): admission stops, waiting rt.run calls are
   * rejected, every task that has not started is retracted and every running one abandoned (its
   * worker terminated; on an attached handle, as cancel({ force: true }) does), then the runtime
   * is closed as by close(). Resolves once every token and callback of this thread has resolved.
   * Idempotent; during a close() in progress it cuts that close's waits short (both resolve
   * together). Afterwards the runtime (or handle) is closed.
   */
  destroy(): Promise<void> {
    const hurry = this.hurry;
    if (hurry === null) return this.shut(0, true);
    hurry.fire();
    // An attached close() that already returned may have left a running task holding its slot.
    if (this.supervisor === null && this.att.outstanding > 0) {
      try {
        abandonRunning(this.att);
      } catch (err) {
        return Promise.reject(err);
      }
    }
    return this.closing!;
  }

  /** @internal close() and destroy(): the one shutdown of this handle (idempotent). */
  private shut(timeoutMs: number, now = false): Promise<void> {
    if (this.closing === null) {
      for (const p of this.producers.values()) p._dispose(); // their 'clear' timers
      const hurry = (this.hurry = new Hurry());
      if (now) hurry.fire();
      this.closing = this.supervisor === null ? detach(this.shutdownHost(), timeoutMs, hurry) : shutdown(this.shutdownHost(), timeoutMs, hurry);
    }
    return this.closing;
  }

  /**
   * Open admission again after drain() (docs/design.md 4.7, "Resume"): the state goes back to
   * 'running' and submits are admitted again; a drain() still waiting keeps waiting until nothing
   * is outstanding (or its timeout). Does nothing on a runtime that is running. On an attached
   * handle it resumes that handle only (the runtime-wide state is the starting thread's). After
   * close() or destroy() (begun or done) it throws a ConfigError: a closed runtime does not
   * reopen; start a new one.
   */
  resume(): void {
    if (this.closing !== null) {
      throw new ConfigError(`rt.resume(): this ${this.supervisor === null ? 'attached handle' : 'runtime'} was closed (close() or destroy()); a closed runtime does not reopen: start a new one`);
    }
    if (this.supervisor === null) {
      if (this.att.halted === R_DRAINING) this.att.halted = 0;
      return;
    }
    // The starting thread is the state word's one writer (4.7): DRAINING -> RUNNING, by CAS so
    // that a CLOSED written at process exit (releaseAtExit) is never undone.
    const i32 = this.mem.i32;
    if (Atomics.compareExchange(i32, this.mem.stateWord, RT_DRAINING, RT_RUNNING) === RT_CLOSED) {
      throw new ConfigError('rt.resume(): the runtime is closed; a closed runtime does not reopen: start a new one');
    }
  }

  /**
   * Retract a pending token by its key (`token.key`, as traces, the dashboard and `sluice trace`
   * print it): the same step as `token.cancel()` (docs/design.md §4.5 step 2), for Tokens and
   * `submitCallback` admissions alike, without holding the Token. Returns whether it retracted:
   * false when the key names no live token of this thread with that generation, or the task has
   * started (a running task is never stopped by it). Only the thread that submitted a token can
   * retract it (its owner resolves it): another thread's key gives false. A key that is not a
   * `{ attachment, index, generation }` of integers is a ConfigError.
   */
  cancelToken(key: TokenKey): boolean {
    const k = snapshot('rt.cancelToken()', 'key', key, ['attachment', 'index', 'generation'], false);
    for (const f of ['attachment', 'index', 'generation'] as const) {
      const v = k[f];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
        throw new ConfigError(`rt.cancelToken(): key.${f} must be a non-negative integer; got ${describe(v)}`);
      }
    }
    if (k.attachment !== this.att.index) return false;
    return cancelByKey(this.att, k.index as number, k.generation as number);
  }

  /** @internal What sluice/observe may see and do on this thread (src/runtime/observers.ts). */
  _observer(): ObserverPort {
    return (this.observers ??= observerPort(this.att, this.supervisor));
  }
  /** @internal */ private observers: ObserverPort | null = null;

  /** `await using rt = await Runtime.start(...)`: close() when the scope ends. */
  [asyncDispose](): Promise<void> {
    return this.close();
  }


}

/** The first spawn's task names; the first failure if it comes before any of them (Runtime.start, §4.7). */
function firstReady(spawns: readonly Promise<string[]>[]): Promise<string[]> {
  return new Promise<string[]>((resolve, reject) => {
    for (const p of spawns) p.then(resolve, reject);
  });
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
  // Not awaited: libuv creates the whole pool synchronously inside the first submission (uv_once in
  // uv__work_submit), so the pool threads exist, with this thread's mask, when the call returns;
  // the stats finishing tells nothing more (start-up, docs/performance.md).
  void warmLibuvPool();
  const allowed = st.addon.getAffinity();
  if (Array.isArray(affinity)) {
    // A worker pinned to no CPU it may use fails to start (EINVAL), and whether that fails the
    // start or only its slot would depend on which worker boots first: refuse the map up front.
    const may = new Set(allowed);
    affinity.forEach((c, w) => {
      if (!c.some((cpu) => may.has(cpu))) {
        throw new ConfigError(`Runtime.start: affinity map entry ${w} (CPUs ${c.join(', ')}) names no CPU this process may run on (${allowed.join(', ')})`);
      }
    });
  }
  const cpus = Array.isArray(affinity)
    ? affinity.map((c) => [...c])
    : chooseCpus(workers, st.addon.topology(), allowed).map((c) => [c]);
  return { cpus, status: { available: true, pinned: true, reason: null } };
}


/**
 * The large-value path (codec.ts BigMessage) of the starting thread: payloads over its arena go
 * to the worker by message, results over a worker's arena come back the same way. Attached
 * threads have no channel to the workers (a MessagePort cannot travel in a clonable handle):
 * for them spillBytes stays the limit.
 */
function wireBigPath(att: Attachment, supervisor: Supervisor): void {
  const A = att.layout.maxAttachments;
  att.codec.sendPorts = supervisor.ports;
  att.codec.bigOk = true;
  att.codec.recvPort = (writer) => supervisor.ports[writer - A] ?? null;
  supervisor.onPortRetired = (w, port) => att.codec.absorb(port, A + w);
}

function workerEntry(): URL {
  return packageFile(FROM_SOURCE ? 'runtime/worker/main-dev.mjs' : 'runtime/worker/main.js');
}

/** The trace file's entries of producers `ps` (names and limits, as the registry holds them). */
function producerInfos(mem: Memory, ps: readonly number[]): ProducerInfo[] {
  return ps.map((p) => ({ name: producerName(mem, p), ...readLimits(mem, p) }));
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

/** The limit a refusal compared against, from the runtime's own words (a recording's SUBMIT_REJECTED K3). */
function limitsOf(mem: Memory): (reason: number, producer: number) => number {
  const L = mem.layout;
  return (reason, p) => rejectionLimit(reason, mem.i32[mem.producerWord(p, P_SLOTS)]!, L.globalSlots, L.ringCapacity);
}

/**
 * What a producer and the run queue need of their runtime handle (ProducerHost, RunQueueHost):
 * objects of a class, not closures. Their calls sit on the submit path, shared by every runtime of
 * the process: a closure per runtime was a new call target there for each runtime, so the
 * optimized submit path was deoptimized when a second runtime started ("wrong call target") and
 * again when the first one was collected ("weak objects"; docs/performance.md, tenth session).
 */
class ProducerLink implements ProducerHost {
  constructor(
    readonly att: Attachment, readonly chains: readonly Int32Array[], readonly clock: Clock, readonly instance: string,
    private readonly rt: Runtime,
  ) {}

  resolveTask(name: string): TaskRef { return this.rt.taskRef(name); }
}

class RunQueueLink implements RunQueueHost {
  constructor(private readonly rt: Runtime) {}
  submit(call: RunCall): Rejection | null { return this.rt.submitQueued(call); }
  outstanding(): number { return this.rt.outstandingHere(); }
}
