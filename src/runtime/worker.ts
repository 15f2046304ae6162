/**
 * The worker loop: pop, run with containment, complete, park. This file is a worker_threads
 * entry point; it owns one worker slot (its submission ring, its block, its result arena) while
 * it lives. A replacement thread takes the slot over from the head stored in shared memory.
 *
 * Run (docs/design.md 4.2):
 *   1. Wait for the cell at head to be published.
 *   2. CAS the token word PENDING -> RUNNING|worker. Losing means it was retracted (or, after a
 *      crash, already started by the dead predecessor): free its payload chunk (an idempotent,
 *      position-checked free) and skip it. Winning records "started here" before the cell is
 *      released, so "never started" and "started" stay distinguishable.
 *   3. Copy the payload out (frees its spill chunk), then store head + 1: the cell is free.
 *   4. Set the run record (token, deadline), call the task, clear the run record. A throw or a
 *      rejection resolves the token 'rejected'; the loop carries on.
 * Complete (4.3):
 *   5. CAS RUNNING -> DONE (losing means the task was abandoned meanwhile: drop the result).
 *   6. Claim a cell in the submitter's completion ring (never full: it has a cell per token),
 *      write outcome and value, publish, and wake the submitter if it is parked.
 * Park (3.2): spin for the spin budget, announce PARKED, re-check the ring, then sleep:
 * blocking when no async task is in flight (nothing else can need this thread; the addon's
 * futex, else Atomics.wait: waker.ts), Atomics.waitAsync when one is, so its continuations keep
 * running.
 */
import { isMainThread, parentPort, threadId, workerData } from 'node:worker_threads';
import {
  A_HEAD, A_WAKER, C_ATT, C_DEADLINE, C_GEN, C_KIND, C_TOKEN, H_HOOKS, type Layout, Memory, RT_CLOSED, W_ASYNC_INFLIGHT,
  W_WINDOW, W_CPU_MASK, W_EXECUTED, W_HEAD, W_PARKS, W_ROUTED_HEAVY, W_RUN_ATT, W_BEAT, W_FAILED, W_RUN_DEADLINE, W_RUN_GEN,
  W_RUN_TOKEN, W_STOLEN, W_THREAD_ID, W_TID, W_WAKER,
} from '../shm/layout.js';
import { CF_SPILLED, CF_TOMBSTONE, lowOf, weightOf } from '../shm/words/cell.js';
import { Ring, RING_FULL } from '../shm/ring.js';
import { ThreadWindow } from '../shm/window.js';
import { TK_GEN_MAX, claimRun, isRunningOn, markDone, markPending } from '../shm/words/token.js';
import { Waker, useNativeFutex, wake } from '../shm/waker.js';
import { MonotonicClock } from '../admission/clock.js';
import { Codec, PREPARE_FULL } from './codec.js';
import { clipReason, writeCompletion, writeSubmission } from './cells.js';
import { O_ABANDONED, O_FULFILLED, O_REJECTED } from '../admission/outcomes.js';
import { PayloadError, describe, thrownText } from '../errors.js';
import { loadTaskModule } from './tasks-module.js';
import { loadAffinity, nativeFutex, pinCurrentThread, spinYield } from './affinity.js';
import { HOOK_POINTS, pauseAt } from './hooks.js';
import { SPIN_POLLS, YIELD_AFTER_MS } from './spin.js';

export interface WorkerData {
  sluiceWorker: true;
  sab: SharedArrayBuffer;
  index: number;
  tasks: string;
  /** CPUs to pin this thread to (affinity), or null. */
  cpus: number[] | null;
  /** Runtime.start({ taskData }): read by task modules as `workerData.taskData`. */
  taskData: unknown;
  /**
   * Bit i set: this worker is in weight i's preference chain (routing.ts; bit 3: tasks without
   * a class), so it may steal such tasks. 0 when stealing is off (Runtime.start({ steal: false })).
   */
  stealMask: number;
  /** Run the warm-up (WorkerLoop.warmUp) before reporting ready: false for a replacement thread. */
  warmUp: boolean;
}

/** Tasks run between two yields to the event loop while async tasks are in flight. */
const YIELD_EVERY = 64; // a guess: small enough that async continuations are not starved
/**
 * A sibling that has been inside one task for this long (run record set, ring head unmoved)
 * while cells wait in its ring is stalled: an idle worker takes its oldest cell. Well above a
 * trivial task (~1 µs here). A sibling merely descheduled between tasks (the main thread took
 * its CPU) is left alone: stealing from it too cost 10-25% of trivial-task throughput here
 * (docs/performance.md).
 */
const STALL_MS = 0.005;
/** Cells of one sibling a look tries at most. */
const STEAL_SCAN = 8;
const STEAL_RAN = 0;
const STEAL_SKIP = 1;
const STEAL_STOP = 2;
/** An idle spin looks at its siblings when it starts, every this many clock reads (~4 µs), and before it parks. */
const STEAL_EVERY = 8;

type TaskFn = (payload: unknown) => unknown;

/**
 * Tasks each fresh worker runs in its warm-up. By ~2,500 V8 (11.3, Node 20) has marked the
 * per-task path for TurboFan; 5,000 also covers the codec's decode and lets the compile jobs
 * finish. 25-90 ms per worker here (docs/performance.md, Changes: "Worker warm-up").
 */
const WARM_UP_TASKS = 5_000;
const identity: TaskFn = (x) => x;
/** A steal mask with every weight class's bit (WorkerData.stealMask). */
const ANY_CLASS = 0b1111;
/** The warm-up's payloads (and, through `identity`, results): the common types, ints most. */
const TRAINING: readonly unknown[] = [1, 2, 3, 0.5, 'warm', 4, undefined, true, 5, { w: 1 }, 6, null, [7, 0.5]];

class WorkerLoop {
  private readonly i32: Int32Array;
  private readonly ring: Ring;
  private readonly completions: Ring[];
  private readonly compWakers: Int32Array;
  private readonly codec: Codec;
  private readonly waker: Waker;
  private readonly stateW: number;
  private readonly spinMs: number;
  private readonly asyncLimit: number;
  private readonly parksW: number;
  private readonly routedW: number;
  private readonly runW: number;
  /** This worker's window (docs/design.md 4.10): complete()'s DONE .. published. */
  private readonly window: ThreadWindow;
  private readonly hooks: boolean;
  private readonly clock: MonotonicClock;
  private readonly executedW: number;
  private readonly stolenW: number;
  /** Weight classes this worker may steal (WorkerData.stealMask); 0 = never steals. */
  private readonly stealMask: number;
  /** The other workers' submission rings, W_FAILED and run-record words, and what the last look saw. */
  private readonly victims: Ring[] = [];
  private readonly victimFailedW: number[] = [];
  private readonly victimRunW: number[] = [];
  private readonly seenHead: Int32Array;
  private readonly seenRun: Int32Array;
  /** Per victim: the next position to try (positions before it, from its head, were tried). */
  private readonly tried: Int32Array;
  /** When (head, run record) were first seen so (performance.now() ms), or -1: not stalled at the last look. */
  private readonly seenAt: Float64Array;
  /** Polite spinning (sched_yield), when the native addon is present. */
  private readonly pause = spinYield();
  private head: number;
  private asyncInFlight = 0;
  /** True while a continuation (setImmediate / waitAsync) of the loop is pending. */
  private scheduled = false;
  /** True while the loop waits for an async task to settle (async limit reached). */
  private blockedOnLimit = false;
  /** Async tasks in flight (startAsync), each counted once in asyncInFlight until it finishes. */
  private readonly asyncJobs = new Set<AsyncJob>();
  private readonly asyncW: number;
  private readonly beatW: number;

  constructor(private readonly mem: Memory, private readonly w: number, private readonly fns: TaskFn[], stealMask: number) {
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
    this.stateW = mem.stateWord;
    this.spinMs = L.spinMicros / 1000;
    this.asyncLimit = L.asyncLimit;
    this.parksW = mem.workerWord(w, W_PARKS);
    this.routedW = mem.workerWord(w, W_ROUTED_HEAVY);
    this.runW = mem.workerWord(w, 0);
    this.window = new ThreadWindow(mem.i32, mem.workerWord(w, W_WINDOW), mem.freezeWord);
    this.hooks = mem.i32[H_HOOKS] === 1;
    this.clock = new MonotonicClock(mem.epochMicros());
    this.head = Atomics.load(mem.i32, mem.workerWord(w, W_HEAD));
    this.executedW = mem.workerWord(w, W_EXECUTED);
    this.asyncW = mem.workerWord(w, W_ASYNC_INFLIGHT);
    this.beatW = mem.workerWord(w, W_BEAT);
    this.stolenW = mem.workerWord(w, W_STOLEN);
    this.stealMask = L.workers > 1 && this.spinMs > 0 ? stealMask : 0;
    if (this.stealMask !== 0) {
      for (let v = 0; v < L.workers; v++) {
        if (v === w) continue;
        this.victims.push(new Ring(mem.i32, v, mem.tailWord(v), mem.workerWord(v, W_HEAD), mem.subRingByte(v), L.ringCapacity));
        this.victimFailedW.push(mem.workerWord(v, W_FAILED));
        this.victimRunW.push(mem.workerWord(v, W_RUN_TOKEN));
      }
    }
    this.seenHead = new Int32Array(this.victims.length);
    this.seenRun = new Int32Array(this.victims.length);
    this.tried = new Int32Array(this.victims.length);
    this.seenAt = new Float64Array(this.victims.length).fill(-1);
    Atomics.store(mem.i32, mem.workerWord(w, W_THREAD_ID), threadId);
  }

  /**
   * The loop's last line: nothing thrown inside it may stop it silently. Every user-code call
   * in it is contained where it is made (4.12); anything that still escapes is a sluice bug or an
   * unforeseen path, and the worker ends, so crash recovery (4.8) resolves what it held and a
   * replacement takes the ring over.
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
    let sinceYield = 0;
    for (;;) {
      if (this.asyncInFlight >= this.asyncLimit) {
        this.sweepAsync();
        if (this.asyncInFlight >= this.asyncLimit) {
          this.blockedOnLimit = true; // the next job to finish resumes the loop
          return;
        }
      }
      if (ring.readable(this.head)) {
        this.runOne();
        if (this.asyncInFlight > 0 && ++sinceYield >= YIELD_EVERY) return this.resumeSoon();
        continue;
      }
      if (Atomics.load(this.i32, this.stateW) === RT_CLOSED) return this.exit();
      // Spin: cheap to stay awake for about as long as a futex wake costs. An idle spinner
      // also takes work from stalled siblings (step 2a).
      if (this.spinMs > 0) {
        this.waker.spinning();
        const start = performance.now();
        const until = start + this.spinMs;
        const pause = this.pause;
        const steals = this.stealMask !== 0;
        let stole = steals && this.trySteal(start);
        for (let reads = 0; !stole; reads++) {
          // Poll the ring a few dozen times per clock read (spin.ts: the clock allocates).
          let polls = 0;
          while (polls < SPIN_POLLS && !ring.readable(this.head)) polls++;
          if (polls < SPIN_POLLS) break;
          const now = performance.now();
          const last = now >= until;
          if (steals && (last || reads % STEAL_EVERY === STEAL_EVERY - 1) && this.trySteal(now)) stole = true;
          else if (last) break;
          // Spin hard first (a peer on another core answers within a few µs), then politely.
          else if (pause !== null && now - start > YIELD_AFTER_MS) pause();
        }
        if (stole || ring.readable(this.head)) { this.waker.running(); continue; }
      }
      this.waker.announcePark();
      if (ring.readable(this.head) || Atomics.load(this.i32, this.stateW) === RT_CLOSED) {
        this.waker.running();
        continue;
      }
      i32[this.parksW]!++;
      if (this.asyncInFlight > 0 || eventLoopBusy()) {
        // Let async continuations (and timers, I/O a task started on the side) run while we wait.
        const woken = this.waker.parkAsync();
        if (woken === null) continue;
        this.scheduled = true;
        woken.then(this.loop, this.loop);
        return;
      }
      this.waker.parkSync();
      this.beat();
    }
  }

  private resumeSoon(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.loop);
  }

  private runOne(): void {
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
    // Step 2: PENDING -> RUNNING, or it was retracted (or started by a dead predecessor).
    if (!claimRun(i32, this.mem.tokenWord(att, t), gen, this.w)) {
      this.codec.discard(cell, att);
      this.release(pos);
      return;
    }
    if (this.hooks) pauseAt(this.mem, HOOK_POINTS['run:claimed'], this.w + 1);
    // Step 3: copy the payload out, release the cell.
    let payload: unknown;
    let decodeError: unknown = null;
    try {
      payload = this.codec.read(cell, att);
    } catch (err) {
      decodeError = err;
    }
    this.release(pos);
    if (this.hooks) pauseAt(this.mem, HOOK_POINTS['run:released'], this.w + 1);
    this.execute(kind, att, t, gen, deadlineMs, payload, decodeError);
  }

  /** Step 4 for a task this worker has claimed (RUNNING|w) and whose payload it has copied out. */
  private execute(kind: number, att: number, t: number, gen: number, deadlineMs: number, payload: unknown, decodeError: unknown): void {
    const i32 = this.i32;
    i32[this.executedW]!++;
    const weight = weightOf(kind);
    if (weight < 3) i32[this.routedW + weight]!++;
    if (decodeError !== null) {
      this.complete(att, t, gen, O_REJECTED, new PayloadError(`payload could not be decoded: ${(decodeError as Error).message}`));
      return;
    }
    // Step 4: run, with the run record set for the watchdog.
    const runW = this.runW;
    i32[runW + W_RUN_ATT] = att;
    i32[runW + W_RUN_GEN] = gen;
    i32[runW + W_RUN_DEADLINE] = deadlineMs > 0 ? (Math.floor(this.clock.now() / 1000) + deadlineMs) | 0 || 1 : 0;
    Atomics.store(i32, runW + W_RUN_TOKEN, t + 1);
    let result: unknown;
    try {
      result = this.fns[lowOf(kind)]!(payload);
    } catch (err) {
      Atomics.store(i32, runW + W_RUN_TOKEN, 0);
      this.complete(att, t, gen, O_REJECTED, err);
      return;
    }
    Atomics.store(i32, runW + W_RUN_TOKEN, 0);
    if (result !== null && (typeof result === 'object' || typeof result === 'function')) {
      // Reading `then` is user code (a getter, a Proxy trap): a throw rejects the task with
      // what it threw, as a promise resolved with this value would (4.12 layer a).
      let then: unknown;
      try {
        then = (result as { then?: unknown }).then;
      } catch (err) {
        this.complete(att, t, gen, O_REJECTED, err);
        return;
      }
      if (typeof then === 'function') {
        this.startAsync(result, att, t, gen, deadlineMs);
        return;
      }
    }
    this.complete(att, t, gen, O_FULFILLED, result);
  }

  /**
   * Step 2a (docs/design.md 4.2a): take the oldest untried queued task of a sibling that has
   * been inside the same task for STALL_MS, and run it here. Returns whether a task was stolen
   * (and run, or started if async).
   */
  private trySteal(now: number): boolean {
    const i32 = this.i32;
    const victims = this.victims;
    for (let k = 0; k < victims.length; k++) {
      const v = victims[k]!;
      const h = Atomics.load(i32, v.headWord);
      if (((Atomics.load(i32, v.tailWord) - h) | 0) <= 0) {
        this.seenAt[k] = -1;
        continue;
      }
      // Inside a task (its run record set), the same one as at the last look, for STALL_MS.
      const running = Atomics.load(i32, this.victimRunW[k]!);
      if (running === 0 || this.seenAt[k]! < 0 || this.seenHead[k] !== h || this.seenRun[k] !== running) {
        this.seenHead[k] = h;
        this.seenRun[k] = running;
        this.seenAt[k] = running === 0 ? -1 : now;
        continue;
      }
      if (now - this.seenAt[k]! < STALL_MS) continue;
      this.seenAt[k] = -1;
      // From the oldest cell not yet tried (cells this worker stole stay queued until the
      // victim passes them), a few at a time.
      const tail = Atomics.load(i32, v.tailWord);
      const tried = this.tried[k]!;
      let p = ((tried - h) | 0) > 0 && ((tail - tried) | 0) >= 0 ? tried : h;
      for (let n = 0; n < STEAL_SCAN && ((tail - p) | 0) > 0; n++, p = (p + 1) | 0) {
        const r = this.stealAt(v, p, this.victimFailedW[k]!);
        if (r === STEAL_STOP) break;
        this.tried[k] = (p + 1) | 0;
        if (r === STEAL_RAN) return true;
      }
    }
    return false;
  }

  /**
   * Copy out the cell at position p of ring v, validate the copy, claim its token, run it.
   * Who may write what: the victim owns head and releases p only after its own CAS on the
   * cell's token; a producer rewrites the cell only after that release. So the copy is taken
   * first (peekInline writes nothing shared), then validated by reading head with an RMW (a
   * full barrier: the copy's plain loads cannot move past it) -- p not yet released means the
   * cell was not rewritten during the copy -- and only then is the token CASed PENDING ->
   * RUNNING|this worker, exactly as step 2 does. The victim's own CAS later fails and it skips
   * the cell, as for a retracted task. Spilled payloads are left alone: their chunk is freed by
   * whoever copies it out, which would race the victim's skip.
   */
  private stealAt(v: Ring, p: number, failedW: number): number {
    const i32 = this.i32;
    if (!v.readable(p)) return STEAL_STOP; // still being written: the victim stalls there too
    const cell = v.cellWord(p);
    const kind = i32[cell + C_KIND]!;
    if ((kind & (CF_TOMBSTONE | CF_SPILLED)) !== 0) return STEAL_SKIP;
    if ((this.stealMask & (1 << weightOf(kind))) === 0) return STEAL_SKIP;
    const att = i32[cell + C_ATT]!;
    const t = i32[cell + C_TOKEN]!;
    const gen = i32[cell + C_GEN]!;
    const deadlineMs = i32[cell + C_DEADLINE]!;
    let payload: unknown;
    let decodeError: unknown = null;
    try {
      payload = this.codec.peekInline(cell, kind);
    } catch (err) {
      decodeError = err;
    }
    // Validate. A retired slot (supervisor: W_FAILED, then head moved back) is never a victim.
    if (((p - Atomics.add(i32, v.headWord, 0)) | 0) < 0 || Atomics.load(i32, failedW) !== 0) return STEAL_STOP;
    if (!claimRun(i32, this.mem.tokenWord(att, t), gen, this.w)) {
      return STEAL_SKIP; // started (by its worker or by us), or retracted
    }
    i32[this.stolenW]!++;
    this.execute(kind, att, t, gen, deadlineMs, payload, decodeError);
    return STEAL_RAN;
  }

  /**
   * An async task (its result has a callable `then`): complete when it settles; past its deadline,
   * abandon it (it runs on, its result ignored). The thenable is adopted by a promise of our own
   * (adopt), so a `then` that throws, calls back twice, or resolves with another thenable is
   * handled by the engine's promise resolution, never on our stack, and settles us at most once.
   * A job stops counting against asyncConcurrency when it settles, when its deadline passes, or
   * when its token was abandoned by another thread (a forced cancel; sweepAsync): a task that
   * never settles holds its place only until then (4.12 class 2).
   */
  private startAsync(thenable: unknown, att: number, t: number, gen: number, deadlineMs: number): void {
    const job = new AsyncJob(this, att, t, gen);
    this.asyncJobs.add(job);
    this.asyncInFlight++;
    Atomics.store(this.i32, this.asyncW, this.asyncInFlight);
    if (deadlineMs > 0) job.timer = setTimeout(job.onDeadline, deadlineMs, deadlineMs);
    adopt(thenable).then(job.onFulfilled, job.onRejected);
  }

  /** A job is over (settled, past its deadline, or abandoned elsewhere): give its place back. Once per job. */
  finishAsync(job: AsyncJob, outcome: number, value: unknown): void {
    if (job.done) return;
    job.done = true;
    if (job.timer !== null) clearTimeout(job.timer);
    job.timer = null;
    this.asyncJobs.delete(job);
    this.asyncInFlight--;
    Atomics.store(this.i32, this.asyncW, this.asyncInFlight);
    if (outcome >= 0) this.complete(job.att, job.t, job.gen, outcome, value);
    if (this.blockedOnLimit) {
      this.blockedOnLimit = false;
      this.resumeSoon();
    }
  }

  /**
   * Jobs whose token is no longer RUNNING|this worker with their generation were abandoned by
   * another thread (a forced cancel resolves at once and leaves the task running): they stop
   * counting. Runs when the limit is reached, and every BEAT_MS.
   */
  private sweepAsync(): void {
    const i32 = this.i32;
    for (const job of this.asyncJobs) {
      if (!isRunningOn(i32, this.mem.tokenWord(job.att, job.t), job.gen, this.w)) this.finishAsync(job, -1, undefined);
    }
  }

  /**
   * The heartbeat (docs/design.md 4.8, "A stalled worker"): W_BEAT moves on every pass of the
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
    this.sweepAsync();
  };

  private release(pos: number): void {
    this.head = (pos + 1) | 0;
    this.ring.release(this.head);
  }

  /** Steps 5-6. An 'abandoned' outcome carries its reason as a short string. */
  private complete(att: number, t: number, gen: number, outcome: number, value: unknown): void {
    const i32 = this.i32;
    // Encode first, outside the window: it may wait for arena space, which the owner frees as
    // it drains (it never blocks on us). 4.12: (a) the value as the task gave it; (b) a value or
    // error that cannot be read or encoded (a getter or Proxy trap that throws -- also on a
    // second read, after waiting for space -- not clonable, too large) becomes a 'rejected'
    // PayloadError of ours that says so; (c) if even ours cannot be encoded, the worker ends
    // and crash recovery abandons the token (4.8).
    let tag: number;
    let replaced = false;
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
    // DONE .. published runs inside this worker's window (docs/design.md 4.10; shm/window.ts).
    this.window.enter();
    if (!markDone(i32, this.mem.tokenWord(att, t), gen, this.w)) {
      this.window.leave(); // abandoned meanwhile: drop the result
      this.codec.abandon();
      return;
    }
    if (this.hooks) pauseAt(this.mem, HOOK_POINTS['complete:done'], this.w + 1);
    const ring = this.completions[att]!;
    let pos = ring.claim();
    while (pos === RING_FULL) pos = ring.claim(); // only with a duplicate from recovery in flight: the owner drains it
    if (this.hooks) pauseAt(this.mem, HOOK_POINTS['complete:claimed'], this.w + 1);
    writeCompletion(ring, pos, this.codec, outcome, att, t, gen, this.w);
    this.window.leave();
    wake(i32, this.compWakers[att]!);
  }

  /**
   * The warm-up (docs/design.md 4.2b): `n` identity tasks through this class's per-task path --
   * runOne, execute, complete, the codec both ways, and an idle look at a sibling (trySteal) --
   * on a private scratch buffer shaped like the runtime's, cycling through the common payload
   * types. Class methods share their feedback and optimized code across instances, so the real
   * loop starts with that path compiled. Nothing shared with the runtime is touched, and no task
   * of the user's module runs.
   */
  static warmUp(n: number, like: Layout): void {
    const mem = Memory.create({
      workers: 2, ringCapacity: 64, globalSlots: 64, maxProducers: 1, maxAttachments: 1, spillBytes: 1 << 12,
      taskCount: 1, spinMicros: like.spinMicros, asyncLimit: like.asyncLimit,
    });
    const i32 = mem.i32;
    // Worker 0 of two, allowed to steal every class: its idle look (trySteal) finds the
    // sibling's ring empty, the common case of a real spin.
    const loop = new WorkerLoop(mem, 0, [identity], ANY_CLASS);
    const ring = loop.ring;
    const completions = loop.completions[0]!;
    const submitter = new Codec(mem, 0);
    const mask = mem.layout.tokenCapacity - 1;
    for (let i = 0; i < n; i++) {
      // As a producer would (producer.ts, admit step 5), with every other task under a deadline.
      const t = i & mask;
      const gen = (i >>> 6) & TK_GEN_MAX;
      markPending(i32, mem.tokenWord(0, t), gen);
      submitter.prepare(TRAINING[i % TRAINING.length]);
      writeSubmission(ring, ring.claim(), submitter, 0, 0, 0, t, gen, 0, i & 1);
      loop.runOne();
      // Drain the completion as the submitter would (read() frees a spilled result).
      const head = completions.head();
      submitter.read(completions.cellWord(head), 1);
      completions.release((head + 1) | 0);
      loop.trySteal(performance.now());
    }
  }

  private exit(): void {
    this.waker.running();
    process.exit(0);
  }
}

/**
 * How often a worker whose event loop is turning beats and sweeps its async jobs (ms). A guess:
 * well under any sensible stall threshold (stallMs), rare enough to cost nothing; a worker
 * asleep in parkSync does not run it at all.
 */
const BEAT_MS = 50;

/** One async task in flight on this worker; finishes once (WorkerLoop.finishAsync). */
class AsyncJob {
  done = false;
  timer: NodeJS.Timeout | null = null;
  constructor(private readonly loop: WorkerLoop, readonly att: number, readonly t: number, readonly gen: number) {}
  readonly onFulfilled = (v: unknown): void => { this.loop.finishAsync(this, O_FULFILLED, v); };
  readonly onRejected = (e: unknown): void => { this.loop.finishAsync(this, O_REJECTED, e); };
  readonly onDeadline = (ms: number): void => {
    // A reason, as every 'abandoned' completion carries one: clipped to travel inline (cells.ts).
    this.loop.finishAsync(this, O_ABANDONED, clipReason(`deadline of ${ms} ms exceeded (async task left running, its result ignored)`));
  };
}

/**
 * A native promise that adopts `x` as Promise resolution does: reads `then` once (a throw
 * rejects), calls it in a later job (a throw after a settle is ignored), adopts nested
 * thenables, settles once. Never throws, and never reads `x.constructor` (Promise.resolve does).
 */
async function adopt(x: unknown): Promise<unknown> {
  return x;
}

/**
 * What a task's result (or thrown error) that could not be encoded becomes (4.12 layer b): a
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
 * The last line (4.12 layer c): this worker cannot go on. Tell the supervisor why (so the tokens
 * it abandons say so), then end the thread: crash recovery (4.8) takes over.
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

/** CPUs 0..31 as a bit mask (enough for stats on the machines this runs on; 0 if none fit). */
function cpuMask(cpus: readonly number[]): number {
  let m = 0;
  for (const c of cpus) if (c < 32) m |= 1 << c;
  return m;
}

async function main(data: WorkerData): Promise<void> {
  const mem = new Memory(data.sab);
  // Pin before anything else can create threads from this one (they would inherit the mask).
  const affinity = loadAffinity();
  if (data.cpus !== null) {
    const pin = pinCurrentThread(data.cpus, affinity);
    if (!pin.pinned) throw new Error(`could not pin worker ${data.index} to CPUs ${data.cpus.join(',')}: ${pin.reason}`);
  }
  useNativeFutex(nativeFutex()); // parkSync sleeps in the native futex when the addon has one
  if (affinity.addon !== null) {
    Atomics.store(mem.i32, mem.workerWord(data.index, W_TID), affinity.addon.threadId());
    Atomics.store(mem.i32, mem.workerWord(data.index, W_CPU_MASK), cpuMask(affinity.addon.getAffinity()));
  }
  // sluice's own modules are loaded: a failed start may terminate this thread from here without
  // cutting off a read in flight (Runtime.start, abortStart).
  parentPort!.postMessage({ type: 'loading' });
  const mod = await loadTaskModule(data.tasks);
  if (data.warmUp) WorkerLoop.warmUp(WARM_UP_TASKS, mem.layout);
  const loop = new WorkerLoop(mem, data.index, mod.names.map((n) => mod.fns[n]!), data.stealMask);
  loop.startBeating();
  parentPort!.postMessage({ type: 'ready', names: mod.names });
  loop.loop();
}

if (!isMainThread && parentPort !== null && (workerData as { sluiceWorker?: boolean } | null)?.sluiceWorker) {
  main(workerData as WorkerData).catch((err: unknown) => {
    // Forwarded as plain strings (the start error's message names the module and the line).
    let error = { name: 'Error', message: 'the task module threw a value that cannot be inspected', stack: '' };
    try {
      const e = err instanceof Error ? err : null;
      error = { name: str(e?.name, 'Error'), message: str(e?.message, 'a non-Error value was thrown'), stack: str(e?.stack, '') };
    } catch { /* a hostile error object: the fallback above */ }
    parentPort!.postMessage({ type: 'error', error });
  });
}

function str(v: unknown, dflt: string): string {
  return typeof v === 'string' ? v : dflt;
}
