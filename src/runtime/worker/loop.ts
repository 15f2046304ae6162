/**
 * The worker loop: pop, run with containment, complete, park. It owns one worker slot (its
 * submission ring, its block, its result arena) while its thread lives; a replacement thread
 * takes the slot over from the head stored in shared memory (§4.8 step 6).
 *
 * Owner, for worker slot w: while its thread lives, this loop alone stores its ring's head
 * (W_HEAD) and writes its run record (W_RUN_*; the supervisor resets these only for a dead or
 * retired slot, §4.8), counters (W_EXECUTED, W_ROUTED_HEAVY, W_PARKS, W_ASYNC_INFLIGHT), W_THREAD_ID,
 * heartbeat (W_BEAT), window flag (W_WINDOW, through ThreadWindow) and, with the producers, its
 * waker word (W_WAKER, §3.2). On a token word it makes two transitions only: PENDING -> RUNNING|w
 * (`claimRun`) and RUNNING|w -> DONE|w (`markDone`). In a completion ring it claims, writes and
 * publishes cells; their owner consumes them (§4.3 step 7).
 *
 * Run (docs/design.md §4.2):
 *   §4.2 step 1. Wait for the cell at head to be published (a tombstone: free it, skip).
 *   §4.2 step 2. CAS the token word PENDING -> RUNNING|w. Losing means it was retracted (or,
 *      after a crash, already started by the dead predecessor): free its payload chunk (an
 *      idempotent, position-checked free) and skip it. Winning records "started here" before
 *      the cell is released, so "never started" and "started" stay distinguishable.
 *   §4.2 step 3. Copy the payload out (frees its spill chunk), then store head + 1: the cell is free.
 *   §4.2 step 4. Set the run record (token, deadline), call the task, clear the run record. A
 *      throw or a rejection resolves the token 'rejected'; a thenable becomes an async job
 *      (async-job.ts); the loop carries on.
 * Complete (§4.3, worker side):
 *   §4.3 step 5. Encode the result (in layers, §4.12 step 3), enter the window (§4.10), CAS
 *      RUNNING -> DONE (losing means the task was abandoned meanwhile: drop the result).
 *   §4.3 step 6. Claim a cell in the submitter's completion ring (never full: it has a cell per
 *      token), write outcome and value, publish, leave the window, wake the submitter if parked.
 * Park (§3.2 steps 1-3): spin for the spin budget (an idle spinner steals from stalled siblings:
 * steal.ts, §4.2a), announce PARKED, re-check the ring, then sleep: blocking when no async task
 * is in flight (nothing else can need this thread; the addon's futex, else Atomics.wait:
 * waker.ts), Atomics.waitAsync when one is, so its continuations keep running.
 * Heartbeat (§4.8, "A stalled worker"): W_BEAT, below.
 *
 * Warm-up (§4.2b): while the ring is empty and a warm-up is pending, the loop runs it a step at
 * a time (warm-up.ts) instead of spinning, and turns its event loop between steps.
 *
 * The per-task path (loopBody, runOne, execute, complete) stays in this one class with the state
 * it touches: no closure and no allocation per task. Cold protocols live beside it: steal.ts,
 * async-job.ts, warm-up.ts; the thread entry is main.ts.
 */
import { parentPort, threadId, type MessagePort } from 'node:worker_threads';
import {
  A_HEAD, A_WAKER, C_ATT, C_DEADLINE, C_GEN, C_KIND, C_PRODUCER, C_TOKEN, H_BARRIER, H_HOOKS, Memory, RT_CLOSED, W_ASYNC_INFLIGHT,
  W_WINDOW, W_EXECUTED, W_HEAD, W_PARKS, W_ROUTED_HEAVY, W_RUN_ATT, W_BEAT, W_RUN_DEADLINE, W_RUN_GEN,
  W_RUN_TOKEN, W_THREAD_ID, W_WAKER, RN_COUNT, RN_MAX_US, RN_SUM_F64, RUNTIME_WORDS, plainPublish,
} from '../../shm/layout.js';
import { CF_TOMBSTONE, lowOf, weightOf } from '../../shm/words/cell.js';
import { Ring, RING_FULL } from '../../shm/ring.js';
import { ThreadWindow } from '../../shm/window.js';
import type { Seam } from '../../trace/seam.js';
import { claimRun, markDone } from '../../shm/words/token.js';
import { Waker, wake } from '../../shm/waker.js';
import { MonotonicClock } from '../../admission/clock.js';
import { Codec, PREPARE_FULL } from '../codec.js';
import { writeCompletion } from '../cells.js';
import { O_FULFILLED, O_REJECTED } from '../../admission/outcomes.js';
import { PayloadError, describe, thrownText } from '../../errors.js';
import { processBarrier, spinYield } from '../native/affinity.js';
import { HOOK_POINTS, pauseAt } from '../testing/hooks.js';
import { SPIN_POLLS, YIELD_AFTER_MS } from '../native/spin.js';
import { STEAL_EVERY, Stealer } from './steal.js';
import { AsyncJobs } from './async-job.js';
import { type NestContext, taskKey } from './nest.js';
import type { WorkerMetrics } from '../metrics.js';
import { loadAcquire, storeRelease } from '../../shm/order.js';

export type TaskFn = (payload: unknown) => unknown;

/** Tasks run between two yields to the event loop while async tasks are in flight. */
const YIELD_EVERY = 64; // a guess: small enough that async continuations are not starved
/**
 * Warm-up tasks per idle step (§4.2b step 2): a real task that arrives meanwhile waits for at
 * most one step. As YIELD_EVERY: the same bound on how long the event loop goes without a turn.
 * The first steps are smaller (WARM_UP_FIRST, doubling): they run interpreted, right after
 * 'ready', when the first real task is most likely to arrive.
 */
const WARM_UP_STEP = 64;
const WARM_UP_FIRST = 4;
/**
 * How often a worker whose event loop is turning beats and sweeps its async jobs (ms). A guess:
 * well under any sensible stall threshold (stallMs), rare enough to cost nothing; a worker
 * asleep in parkSync does not run it at all.
 */
const BEAT_MS = 50;
/** Longest sleep of a park whose process barrier failed (§3.2 step 3): how late such a worker sees a cell. */
const UNFENCED_SLEEP_MS = 1;
/**
 * §4.2 step 0, the event loop's turns (the loop runs tasks, spins and sleeps inside one callback
 * of its event loop, so nothing else of the thread runs until it returns). Busy: once a task
 * starts this long after the loop's last turn and the thread has something of its own pending in
 * its event loop (a ref'd timer or socket of the task module, an async job), the loop returns to
 * its event loop after it; with nothing of the kind, once a task starts QUIET_TURN_MS after it
 * (the microtasks and nextTicks a synchronous task left behind, an unref'd timer). A turn under
 * load costs the worker its CPU for 0.1-1 ms here (the turn's system call is where the kernel
 * hands the CPU to another runnable thread), hence the longer bound when nothing needs it.
 */
const BUSY_TURN_MS = 10;
const QUIET_TURN_MS = 100;
/**
 * §4.2 step 0, idle: a worker that ran a task since its last turn sleeps blocked (parkSync) for
 * at most this long before it gives its event loop that turn (what the tasks left behind runs
 * within this of the worker going idle; a task arriving sooner is not delayed by a turn). Not
 * 1 ms: a futex sleep with so near a deadline made every parked round trip ~6 µs slower here
 * (14 → 20 µs with spinUs 0); from 5 ms on it costs nothing measurable (docs/performance.md,
 * twentieth session).
 */
const PENDING_TURN_MS = 5;
/**
 * §4.2 step 0, idle: the longest a worker sleeps blocked before it gives its event loop a turn and
 * sleeps again: how late an unref'd timer of its task module runs while the worker is idle. The
 * native futex's slice (waker.ts NATIVE_SLICE_MS) wakes it this often anyway. Each turn costs the
 * wake, the turn and the park's process barrier again: at 100 ms an idle runtime of two workers
 * used 0.65% of a core against 0.19% (`npm run bench`, target f).
 */
const IDLE_TURN_MS = 1000;
/** What the loop uses when plain publishes are on but this thread's addon refuses the barrier. */
const barrierRefused = (): boolean => false;

export class WorkerLoop {
  private readonly i32: Int32Array;
  /** @internal This worker's submission ring (read by warm-up.ts as a producer would). */
  readonly ring: Ring;
  /** @internal One completion ring per attachment (read by warm-up.ts as the submitter would). */
  readonly completions: Ring[];
  private readonly compWakers: Int32Array;
  private readonly codec: Codec;
  private readonly waker: Waker;
  /**
   * §3.2 step 2, asymmetric (layout.ts plainPublish): producers publish this ring's cells with
   * plain stores, so between announcing PARKED and the re-check this thread runs the process
   * barrier. Null: publishes are sequentially consistent and no barrier is needed.
   */
  private readonly parkBarrier: (() => boolean) | null;
  private readonly stateW: number;
  private readonly spinMs: number;
  private readonly asyncLimit: number;
  private readonly parksW: number;
  private readonly routedW: number;
  private readonly runW: number;
  /** This worker's window (§4.10): complete()'s DONE .. published. */
  private readonly window: ThreadWindow;
  private readonly hooks: boolean;
  /**
   * The warm-up still to run (warm-up.ts WarmUp, §4.2b): set by main.ts before the loop starts,
   * stepped while the ring is empty, null once done (§4.2b step 3), with `warmUp: false` and in
   * a replacement thread.
   */
  warming: { step(k: number, real: Ring | null, at: number): boolean } | null = null;
  /**
   * When a pending warm-up may begin by the timer (performance.now() ms; §4.2b step 2): set by
   * main.ts to WARM_UP_DELAY_MS after 'ready'; Infinity once the runtime's work has begun
   * (warmByTimer). The worker's first real task lets it begin at once.
   */
  warmFrom = 0;
  /** The next warm-up step's size (WARM_UP_FIRST doubling to WARM_UP_STEP). */
  private warmStep = WARM_UP_FIRST;
  /** §4.2 step 0: when the loop last came back from its event loop (performance.now() ms), and its executed count then. */
  private turnAt = 0;
  /** §4.2 step 0: when a busy loop next looks at whether to give its event loop a turn. */
  private turnCheck = 0;
  private executedAtTurn = 0;
  /** §4.2 step 0: this pass follows a turn taken to sleep (no task since): park without spinning first. */
  private parkNext = false;
  /** The recording seam (src/trace/seam.ts): null unless recording. */
  seam: Seam | null = null;
  private readonly clock: MonotonicClock;
  private readonly executedW: number;
  /**
   * Health (§4.16): when the run that execute() began started (performance.now()) and its task;
   * complete() of a synchronous run follows at once. An async run's are kept by token
   * (att * tokenCap + t) until its complete() (at most asyncConcurrency of them).
   */
  private runStart = 0;
  private runTask = 0;
  private readonly asyncRuns = new Map<number, number>();
  private readonly runTimeBase: number;
  private readonly tokenCap: number;
  private readonly f64: Float64Array;
  /**
   * @internal This worker's looks at its siblings (steal.ts, §4.2a), or null: it never steals
   * (WorkerData.stealMask 0, a single worker, or no spin). Called by warm-up.ts too.
   */
  readonly stealer: Stealer | null;
  /** Polite spinning (sched_yield), when the native addon is present. */
  private readonly pause = spinYield();
  private head: number;
  /** Async jobs in flight (asyncStarted .. asyncFinished): whether the event loop must keep turning. */
  private asyncInFlight = 0;
  /**
   * asyncConcurrency places held: async jobs in flight minus parents waiting for children of
   * their own (§4.14 step 5). Read on every pass of the loop.
   */
  private placesHeld = 0;
  /** True while a continuation (setImmediate / waitAsync) of the loop is pending. */
  private scheduled = false;
  /** True while the loop waits for an async task to settle (async limit reached). */
  private blockedOnLimit = false;
  /** The async jobs themselves (async-job.ts), each counted once in asyncInFlight until it finishes. */
  private readonly jobs: AsyncJobs;
  private readonly asyncW: number;
  private readonly beatW: number;
  /** Histograms and busy time (§2.5), or null when the runtime keeps none (and in the warm-up's loop). */
  private readonly metrics: WorkerMetrics | null;

  constructor(
    private readonly mem: Memory, private readonly w: number, private readonly fns: TaskFn[], stealMask: number,
    /** Nested tasks (nest.ts, §4.14): null for the warm-up's loop. */ private readonly nest: NestContext | null = null,
    /** The histograms' writer when the runtime keeps metrics (mem.metrics): built by main.ts, which loads metrics.ts only then (start-up). */
    metrics: WorkerMetrics | null = null,
  ) {
    const L = mem.layout;
    this.i32 = mem.i32;
    this.ring = new Ring(mem.i32, w, mem.tailWord(w), mem.workerWord(w, W_HEAD), mem.subRingByte(w), L.ringCapacity);
    this.completions = [];
    this.compWakers = new Int32Array(L.maxAttachments);
    for (let a = 0; a < L.maxAttachments; a++) {
      this.completions.push(new Ring(
        mem.i32, L.workers + a, mem.tailWord(L.workers + a), mem.attachWord(a, A_HEAD), mem.compRingByte(a), L.tokenCapacity,
      ));
      this.compWakers[a] = mem.attachWord(a, A_WAKER);
    }
    this.codec = new Codec(mem, L.maxAttachments + w);
    this.waker = new Waker(mem.i32, mem.workerWord(w, W_WAKER));
    // Runtime.start set plain publishes only for workers whose environment loads the addon that
    // gave it its barrier (affinity.ts workersShareBarrier); should it refuse here all the same,
    // every park sleeps in short slices (loop, step 3): late, never lost.
    this.parkBarrier = plainPublish(mem.i32) ? (processBarrier() ?? barrierRefused) : null;
    this.stateW = mem.stateWord;
    this.spinMs = L.spinMicros / 1000;
    this.asyncLimit = L.asyncLimit;
    this.parksW = mem.workerWord(w, W_PARKS);
    this.routedW = mem.workerWord(w, W_ROUTED_HEAVY);
    this.runW = mem.workerWord(w, 0);
    this.window = new ThreadWindow(mem.i32, mem.workerWord(w, W_WINDOW), mem.freezeWord, mem.i32[H_BARRIER] === 1);
    this.hooks = mem.i32[H_HOOKS] === 1;
    this.clock = new MonotonicClock(mem.epochMicros());
    this.head = Atomics.load(mem.i32, mem.workerWord(w, W_HEAD));
    this.executedW = mem.workerWord(w, W_EXECUTED);
    this.tokenCap = L.tokenCapacity;
    this.f64 = mem.f64;
    this.runTimeBase = mem.runTimeWord(w, 0, RN_COUNT);
    this.asyncW = mem.workerWord(w, W_ASYNC_INFLIGHT);
    this.beatW = mem.workerWord(w, W_BEAT);
    // Weight classes this worker may steal (WorkerData.stealMask); 0 = never steals.
    const steals = L.workers > 1 && this.spinMs > 0 ? stealMask : 0;
    this.stealer = steals !== 0 ? new Stealer(this, mem, this.codec, w, steals) : null;
    if (mem.metrics !== (metrics !== null)) throw new Error('sluice: WorkerLoop needs a WorkerMetrics exactly when the runtime keeps metrics');
    this.metrics = metrics;
    this.jobs = new AsyncJobs(this, mem, w, nest, this.metrics);
    if (nest !== null) nest.places = this.jobs;
    Atomics.store(mem.i32, mem.workerWord(w, W_THREAD_ID), threadId);
  }

  /**
   * The loop's last line (§4.12 step 4): nothing thrown inside it may stop it silently. Every
   * user-code call in it is contained where it is made (§4.12); anything that still escapes is
   * a sluice bug or an unforeseen path, and the worker ends, so crash recovery (§4.8) resolves
   * what it held and a replacement takes the ring over.
   */
  readonly loop = (): void => {
    try {
      this.loopBody();
    } catch (err) {
      fatal(`worker ${this.w}'s loop failed: ${thrownText(err)}`);
    }
  };

  private loopBody(): void {
    this.scheduled = false;
    this.beat();
    const ring = this.ring;
    const i32 = this.i32;
    this.turnAt = performance.now();
    this.turnCheck = this.turnAt + BUSY_TURN_MS;
    this.executedAtTurn = i32[this.executedW]!;
    let sinceYield = 0;
    for (;;) {
      if (this.placesHeld >= this.asyncLimit) {
        this.jobs.sweep();
        if (this.placesHeld >= this.asyncLimit) {
          this.blockedOnLimit = true; // the next job to finish resumes the loop
          return;
        }
      }
      if (ring.readable(this.head)) {
        this.runOne();
        // With nested tasks this thread's own pump (its children's completions) needs turns too.
        if ((this.asyncInFlight > 0 || (this.nest !== null && this.nest.als !== null)) && ++sinceYield >= YIELD_EVERY) return this.resumeSoon();
        // §4.2 step 0, busy (by the run's own clock reading).
        if (this.runStart >= this.turnCheck && this.turnDue()) return this.resumeSoon();
        continue;
      }
      if (loadAcquire(this.i32, this.stateW) === RT_CLOSED) return this.exit();
      if (this.warming !== null && (i32[this.executedW] !== 0 || this.warmByTimer())) {
        // §4.2b step 2: idle, so a step of the warm-up (on its own buffer), the idle look at
        // siblings (§4.2a), then a turn of the event loop (it beats, runs continuations and
        // timers) and back to the ring, which comes first. §4.2b step 3: done, let it go.
        if (this.warming.step(this.warmStep, ring, this.head)) this.warming = null;
        this.warmStep = Math.min(WARM_UP_STEP, this.warmStep * 2);
        if (this.stealer !== null && this.stealer.trySteal(performance.now())) continue;
        return this.resumeSoon();
      }
      // §3.2 step 1, spin: cheap to stay awake for about as long as a futex wake costs. An idle
      // spinner also takes work from stalled siblings (§4.2a, steal.ts). Not right after a turn
      // taken to sleep (§4.2 step 0), unless a task ran since.
      const spin = this.spinMs > 0 && !(this.parkNext && i32[this.executedW] === this.executedAtTurn);
      this.parkNext = false;
      if (spin) {
        this.waker.spinning();
        if (this.idleSpin(this.spinMs)) {
          this.waker.running();
          // A steal ran a task (or one is readable): the busy rule of §4.2 step 0 holds for steals too.
          if (this.runStart >= this.turnCheck && this.turnDue()) return this.resumeSoon();
          continue;
        }
      }
      // §3.2 step 2: announce PARKED, then (plain publishes) the process barrier, then re-check;
      // step 3: sleep.
      this.waker.announcePark();
      const fenced = this.parkBarrier === null || this.parkBarrier();
      if (ring.readable(this.head) || loadAcquire(this.i32, this.stateW) === RT_CLOSED) {
        this.waker.running();
        continue;
      }
      i32[this.parksW]!++;
      // A warm-up still waiting for its start (§4.2b step 2): sleep until then at the latest.
      let sleepMs = this.warming === null ? Infinity : Math.max(0, this.warmFrom - performance.now());
      // A barrier that failed promises nothing: a cell published just before it may be unseen by
      // the re-check, with its producer unaware that we sleep. Look again after a short sleep.
      if (!fenced) sleepMs = Math.min(sleepMs, UNFENCED_SLEEP_MS);
      if (this.asyncInFlight > 0 || eventLoopBusy()) {
        // Let async continuations (and timers, I/O a task started on the side) run while we wait.
        const woken = this.waker.parkAsync(sleepMs);
        if (woken === null) continue;
        this.scheduled = true;
        woken.then(this.loop, this.loop);
        return;
      }
      // §4.2 step 0, idle: blocked for at most PENDING_TURN_MS when a task ran since the last turn
      // (what it left behind runs soon), else IDLE_TURN_MS; woken without work, the turn, then sleep again.
      const turnMs = i32[this.executedW] !== this.executedAtTurn ? PENDING_TURN_MS : IDLE_TURN_MS;
      this.waker.parkSync(Math.min(sleepMs, turnMs));
      this.beat();
      if (!ring.readable(this.head)) {
        this.parkNext = true;
        return this.resumeSoon();
      }
    }
  }

  /**
   * The large-value path (codec.ts BigMessage): payloads of attachment 0's tasks that did not fit
   * its arena arrive on `port`; results for attachment 0 that do not fit this worker's arena go
   * back on it. Other attachments have no channel to this worker: for them the arena is the limit.
   */
  useBigPort(port: MessagePort, seqBase: number): void {
    port.unref();
    this.codec.sendPorts = [port];
    this.codec.seqBase(seqBase);
    this.codec.recvPort = (writer) => (writer === 0 ? port : null);
  }

  /** @internal Whether the cell at head is published (a scratch loop's driver: bench/tail/record-cost.ts). */
  hasWork(): boolean { return this.ring.readable(this.head); }

  /**
   * §4.2 step 0, busy, at turnCheck: whether to give the event loop its turn now (something of the
   * thread's own pending there, or QUIET_TURN_MS since the last turn); if not, when to look again.
   */
  private turnDue(): boolean {
    if (this.runStart - this.turnAt >= QUIET_TURN_MS || this.asyncInFlight > 0 || eventLoopBusy()) return true;
    this.turnCheck = this.turnAt + QUIET_TURN_MS;
    return false;
  }

  private resumeSoon(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.loop);
  }

  /**
   * @internal §3.2 step 1, the spin, for up to `ms`: poll the ring (a few dozen times per clock
   * read: spin.ts, the clock allocates), look at stalled siblings (§4.2a) now and then, spin hard
   * first and then politely (sched_yield). True when a cell is readable or a steal ran a task.
   * A method of its own, called once per idle stretch, so V8 compiles it by its calls during the
   * warm-up (warm-up.ts calls it too) instead of on-stack-replacing the whole loop on the first
   * sequential load (docs/performance.md, tenth session: one-off compiles).
   */
  idleSpin(ms: number): boolean {
    const ring = this.ring;
    const start = performance.now();
    const until = start + ms;
    const pause = this.pause;
    const stealer = this.stealer;
    if (stealer !== null && stealer.trySteal(start)) return true;
    for (let reads = 0; ; reads++) {
      let polls = 0;
      while (polls < SPIN_POLLS && !ring.readable(this.head)) polls++;
      if (polls < SPIN_POLLS) return true;
      const now = performance.now();
      const last = now >= until;
      // Both tests are evaluated on every read, the last one included: the warm-up's brief spins
      // (one read each) then give V8 their feedback, and the compiled spin is not deoptimized
      // the first time a real spin lasts more than one read (docs/performance.md, fourteenth session).
      const stealTurn = reads % STEAL_EVERY === STEAL_EVERY - 1;
      const polite = now - start > YIELD_AFTER_MS;
      if (stealer !== null && (stealTurn || last) && stealer.trySteal(now)) return true;
      if (last) return ring.readable(this.head);
      if (pause !== null && polite) pause();
    }
  }

  /**
   * @internal §4.2 steps 1-4 for the published cell at head (the loop checked it is readable).
   * Called by warm-up.ts too, which is what compiles it (§4.2b).
   */
  runOne(): void {
    const i32 = this.i32;
    const pos = this.head;
    const cell = this.ring.cellWord(pos);
    const kind = i32[cell + C_KIND]!;
    const att = i32[cell + C_ATT]!;
    if (kind & CF_TOMBSTONE) {
      this.codec.discard(cell, att);
      this.release(pos);
      return;
    }
    const t = i32[cell + C_TOKEN]!;
    const gen = i32[cell + C_GEN]!;
    const deadlineMs = i32[cell + C_DEADLINE]!;
    // §4.2 step 2: PENDING -> RUNNING, or it was retracted, stolen (§4.2a step 6) or started by a dead predecessor.
    if (!claimRun(i32, this.mem.tokenWord(att, t), gen, this.w)) {
      this.codec.discard(cell, att);
      this.release(pos);
      return;
    }
    const producer = i32[cell + C_PRODUCER]!;
    if (this.hooks) pauseAt(this.mem, HOOK_POINTS['run:claimed'], this.w + 1);
    // §4.2 step 3: copy the payload out, release the cell.
    let payload: unknown;
    let decodeError: unknown = null;
    try {
      payload = this.codec.read(cell, att);
    } catch (err) {
      decodeError = err;
    }
    this.release(pos);
    if (this.hooks) pauseAt(this.mem, HOOK_POINTS['run:released'], this.w + 1);
    this.execute(kind, att, t, gen, deadlineMs, payload, decodeError, producer, false);
  }

  /**
   * @internal §4.2 step 4 for a task this worker has claimed (RUNNING|w) and whose payload it has
   * copied out: by runOne, or by the Stealer (§4.2a step 5). `producer`, `stolen`: for the START record.
   */
  execute(kind: number, att: number, t: number, gen: number, deadlineMs: number, payload: unknown, decodeError: unknown, producer: number, stolen: boolean): void {
    const i32 = this.i32;
    i32[this.executedW]!++;
    const id = lowOf(kind);
    this.runTask = id; // health (§4.16): which task, for complete()'s run-time counters
    const weight = weightOf(kind);
    if (weight < 3) i32[this.routedW + weight]!++;
    if (decodeError !== null) {
      this.runStart = performance.now();
      if (this.seam !== null) this.seam.started(att, t, gen, this.w, stolen, id, producer, this.runStart);
      this.complete(att, t, gen, O_REJECTED, new PayloadError(`payload could not be decoded: ${(decodeError as Error).message}`));
      return;
    }
    // §4.2 step 4: run, with the run record set for the watchdog. Set before any clock is read:
    // from the cell's release (runOne) to this store the router sees this worker as idle, so
    // nothing that can wait belongs in between.
    const runW = this.runW;
    i32[runW + W_RUN_ATT] = att;
    i32[runW + W_RUN_GEN] = gen;
    i32[runW + W_RUN_DEADLINE] = deadlineMs > 0 ? (Math.floor(this.clock.now() / 1000) + deadlineMs) | 0 || 1 : 0;
    // A release store (order.ts): its readers (the watchdog, a stealing sibling, the router) read
    // it as a hint, each backed by a CAS on the token word; nothing this thread loads next needs
    // to wait for it to be visible.
    storeRelease(i32, runW + W_RUN_TOKEN, t + 1);
    this.runStart = performance.now(); // health: when the run began
    // Recorded here, dated by that reading (§4.15): the worker reads no clock of its own for the recorder.
    if (this.seam !== null) this.seam.started(att, t, gen, this.w, stolen, id, producer, this.runStart);
    // Timed when metrics are on (§2.5).
    const m = this.metrics;
    let startUs = 0;
    let mp = 0;
    if (m !== null) {
      startUs = m.now();
      mp = m.started(id, att, t, startUs);
    }
    let result: unknown;
    try {
      // §4.14 step 2: once the module imported sluice/task, the task runs inside its key's
      // AsyncLocalStorage context, so its children know their parent across its awaits.
      const als = this.nest === null ? null : this.nest.als;
      result = als === null ? this.fns[id]!(payload) : als.run(taskKey(att, t, gen), this.fns[id]!, payload);
    } catch (err) {
      storeRelease(i32, runW + W_RUN_TOKEN, 0);
      if (m !== null) this.timed(m, id, mp, startUs);
      this.complete(att, t, gen, O_REJECTED, err);
      return;
    }
    storeRelease(i32, runW + W_RUN_TOKEN, 0);
    if (result !== null && (typeof result === 'object' || typeof result === 'function')) {
      // Reading `then` is user code (a getter, a Proxy trap): a throw rejects the task with
      // what it threw, as a promise resolved with this value would (§4.12 step 1).
      let then: unknown;
      try {
        then = (result as { then?: unknown }).then;
      } catch (err) {
        if (m !== null) this.timed(m, id, mp, startUs);
        this.complete(att, t, gen, O_REJECTED, err);
        return;
      }
      if (typeof then === 'function') {
        // §4.12 step 2. Its run time ends when it settles (async-job.ts); its busy time is this synchronous part.
        if (m !== null) m.busy(startUs, m.now());
        // An async run: its start and task are kept until its complete() (health, §4.16).
        this.asyncRuns.set(att * this.tokenCap + t, this.runTask * 2 ** 32 + this.runStart);
        this.jobs.start(result, att, t, gen, deadlineMs, id, mp, startUs);
        return;
      }
    }
    if (m !== null) this.timed(m, id, mp, startUs);
    this.complete(att, t, gen, O_FULFILLED, result);
  }

  /**
   * A synchronous run's time and busy time, added before its completion is published: once a
   * token resolves, its times are in the histograms (§2.5).
   */
  private timed(m: WorkerMetrics, id: number, producer: number, startUs: number): void {
    const endUs = m.now();
    m.ended(id, producer, startUs, endUs);
    m.busy(startUs, endUs);
  }

  /**
   * @internal An async job started (AsyncJobs.start): it counts against asyncConcurrency unless
   * it is a parent already waiting for children (`held` false, §4.14 step 5).
   */
  asyncStarted(held: boolean): void {
    this.asyncInFlight++;
    if (held) this.placesHeld++;
    Atomics.store(this.i32, this.asyncW, this.asyncInFlight);
  }

  /**
   * @internal §4.14 step 5: a running async parent's children went 0 -> 1 (it gives its place
   * back: `held` false) or 1 -> 0 (it takes one again, possibly past the limit for a while: the
   * loop then takes no new task until places are free).
   */
  placeChanged(held: boolean): void {
    if (held) {
      this.placesHeld++;
      return;
    }
    this.placesHeld--;
    if (this.blockedOnLimit) {
      this.blockedOnLimit = false;
      this.resumeSoon();
    }
  }

  /**
   * @internal An async job is over (AsyncJobs.finish, once per job): give its place back and,
   * unless it was abandoned elsewhere (outcome -1), complete it (§4.3 steps 5-6).
   */
  asyncFinished(att: number, t: number, gen: number, outcome: number, value: unknown, held: boolean): void {
    this.asyncInFlight--;
    if (held) this.placesHeld--;
    Atomics.store(this.i32, this.asyncW, this.asyncInFlight);
    if (outcome >= 0) this.complete(att, t, gen, outcome, value);
    if (this.blockedOnLimit) {
      this.blockedOnLimit = false;
      this.resumeSoon();
    }
  }

  /**
   * The heartbeat (§4.8, "A stalled worker"): W_BEAT moves on every pass of the
   * loop, and every BEAT_MS from a timer of this thread's event loop (which fires only while the
   * thread is not asleep in parkSync, i.e. while async tasks or a task's own timers and I/O keep
   * its event loop turning). A worker that owes progress, with no task in its run record and a
   * beat that does not move, is stuck outside any task, and the supervisor replaces it.
   */
  private beat(): void {
    this.i32[this.beatW]!++;
  }

  /** The beat timer; also what keeps this thread alive (a pending waitAsync does not) until close. */
  startBeating(): void {
    setInterval(this.onBeatTimer, BEAT_MS);
  }

  private readonly onBeatTimer = (): void => {
    this.beat();
    this.jobs.sweep();
  };

  /**
   * §4.2b step 2, the timer: WARM_UP_DELAY_MS after 'ready', a worker that has run no task warms
   * up only if no worker of the runtime has run one either (a runtime started ahead of its load).
   * Once work has begun elsewhere, it waits for its own first task: its warm-up would take a CPU
   * from the threads serving that work. Only while idle with a warm-up pending.
   */
  private warmByTimer(): boolean {
    if (performance.now() < this.warmFrom) return false;
    const i32 = this.i32;
    for (let w = 0; w < this.mem.layout.workers; w++) {
      if (i32[this.mem.workerWord(w, W_EXECUTED)] !== 0) {
        this.warmFrom = Infinity; // no timer any more: the next idle park sleeps until woken
        return false;
      }
    }
    return true;
  }

  private release(pos: number): void {
    this.head = (pos + 1) | 0;
    this.ring.release(this.head);
  }

  /** §4.3 steps 5-6. An 'abandoned' outcome carries its reason as a short string. */
  private complete(att: number, t: number, gen: number, outcome: number, value: unknown): void {
    const i32 = this.i32;
    // Encode first, outside the window: it may wait for arena space, which the owner frees as
    // it drains (it never blocks on us). §4.12 step 3: (a) the value as the task gave it; (b) a
    // value or error that cannot be read or encoded (a getter or Proxy trap that throws -- also
    // on a second read, after waiting for space -- not clonable, too large) becomes a 'rejected'
    // PayloadError of ours that says so; (c) if even ours cannot be encoded, the worker ends
    // and crash recovery abandons the token (§4.12 step 4, §4.8).
    const ended = performance.now();
    let runTask = this.runTask;
    let runStart = this.runStart;
    if (this.asyncRuns.size > 0) {
      const k = att * this.tokenCap + t;
      const kept = this.asyncRuns.get(k);
      if (kept !== undefined) {
        this.asyncRuns.delete(k);
        runTask = Math.floor(kept / 2 ** 32);
        runStart = kept - runTask * 2 ** 32;
      }
    }
    let tag: number;
    let replaced = false;
    this.codec.bigOk = att === 0; // only attachment 0 receives by message
    for (let waited = 0; ; waited++) {
      try {
        tag = this.codec.prepare(value, replaced ? 'error report' : outcome === O_FULFILLED ? 'result' : 'thrown value');
      } catch (err) {
        if (replaced) return fatal(`worker ${this.w} could not encode a task's error report`);
        value = unsendable(outcome, value, err);
        outcome = O_REJECTED;
        replaced = true;
        continue;
      }
      if (tag !== PREPARE_FULL) break;
      Atomics.wait(i32, this.stateW, i32[this.stateW]!, Math.min(1 + waited, 10));
    }
    // §4.3 step 5: DONE .. published runs inside this worker's window (§4.10; shm/window.ts).
    this.window.enter();
    if (!markDone(i32, this.mem.tokenWord(att, t), gen, this.w)) {
      this.window.leave(); // abandoned meanwhile: drop the result
      this.codec.abandon();
      return;
    }
    this.countRun(runTask, ended - runStart);
    if (this.hooks) pauseAt(this.mem, HOOK_POINTS['complete:done'], this.w + 1);
    // §4.3 step 6.
    const ring = this.completions[att]!;
    let pos = ring.claim();
    while (pos === RING_FULL) pos = ring.claim(); // only with a duplicate from recovery in flight: the owner drains it
    if (this.hooks) pauseAt(this.mem, HOOK_POINTS['complete:claimed'], this.w + 1);
    writeCompletion(ring, pos, this.codec, outcome, att, t, gen, this.w);
    // Recorded once published, still inside the window (§4.15), as a submit's SUBMIT + ROUTE: the
    // owner can drain the result meanwhile; the record (64 bytes, dated by `ended`) is off its path.
    if (this.seam !== null) this.seam.ran(att, t, gen, this.w, outcome, ended);
    this.window.leave();
    wake(i32, this.compWakers[att]!);
  }

  /**
   * Health (§4.16): one more run of its task on this worker's run-time row (this worker is its
   * only writer: plain stores; the sum is a float64 of µs, the max an int32 of µs, saturating).
   */
  private countRun(task: number, ms: number): void {
    const i32 = this.i32;
    const at = this.runTimeBase + task * RUNTIME_WORDS;
    const us = Math.max(0, Math.round(ms * 1000));
    i32[at + RN_COUNT]!++;
    if (us > i32[at + RN_MAX_US]!) i32[at + RN_MAX_US] = Math.min(us, 2 ** 31 - 1);
    this.f64[(at + RN_SUM_F64) >> 1] += us;
  }

  private exit(): void {
    this.waker.running();
    process.exit(0);
  }
}

/**
 * What a task's result (or thrown error) that could not be encoded becomes (§4.12 step 3): a
 * PayloadError of sluice's own, with a one-line stack, which always encodes inline. Its text
 * never includes the user's value, and reading `err` runs no user code.
 */
function unsendable(outcome: number, value: unknown, err: unknown): PayloadError {
  const what = outcome === O_FULFILLED ? `the task's result (${describe(value)})` : `the value the task threw (${describe(value)})`;
  const e = new PayloadError(`${what} could not be sent back: ${thrownText(err)}`);
  e.stack = `${e.name}: ${e.message}`;
  return e;
}

/**
 * The last line (§4.12 step 4): this worker cannot go on. Tell the supervisor why (so the tokens
 * it abandons say so), then end the thread: crash recovery (§4.8) takes over. It lives here, not
 * in main.ts, because the loop is its only caller (main.ts imports this file: no cycle).
 */
function fatal(reason: string): never {
  try {
    parentPort?.postMessage({ type: 'fatal', reason });
  } catch { /* nothing more to do */ }
  process.exit(70);
}

/**
 * Whether this thread's event loop has work of its own (a timer or I/O a task started and did
 * not await), besides the worker's keep-alive interval. Then the worker parks with waitAsync
 * so that work runs; otherwise it blocks in Atomics.wait. About 0.5 µs; called only when parking.
 */
function eventLoopBusy(): boolean {
  let n = 0;
  for (const r of process.getActiveResourcesInfo()) if (r !== 'CloseReq' && ++n > 1) return true;
  return false;
}
