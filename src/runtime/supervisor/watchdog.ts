/**
 * The watchdog tick (docs/design.md §4.8 "Deadlines", "Forced cancel", "A stalled worker"; §4.9
 * liveness): a timer on the starting thread that
 * - runs the recovery steps left in the backlog (no freeze yet, a full ring, a cell still being
 *   written) until each is done;
 * - terminates a worker whose synchronous task overran its deadline, after abandoning that
 *   token (CAS RUNNING -> ABANDONED; recovery writes its completion), or whose running token
 *   was cancelled with force;
 * - terminates a worker stalled outside any task (checkStalls);
 * - finds attached threads that died (kernel tid and start time, native/liveness.ts) and hands
 *   them to adopt.ts, whose drains it then repeats until each is done.
 *
 * Who writes what: it reads the workers' run records, heartbeats and heads (each written by its
 * worker alone) and the attachments' identity words (their owners'); it writes only a worker's
 * kill request word (W_KILL_TOKEN := 0: a request is looked at once) and, by CAS, a token word
 * RUNNING -> ABANDONED. Everything else it does through the Reconciler and the facade's terminate.
 */
import {
  A_STATE, Memory, W_ASYNC_INFLIGHT, W_BEAT, W_FAILED, W_KILL_ATT, W_KILL_GEN, W_KILL_TOKEN, W_RUN_ATT, W_RUN_DEADLINE,
  W_RUN_GEN, W_RUN_TOKEN, W_WAKER,
} from '../../shm/layout.js';
import { isActive, isFree } from '../../shm/words/attachment.js';
import { abandonRunning } from '../../shm/words/token.js';
import { WAKER_PARKED } from '../../shm/waker.js';
import { MonotonicClock } from '../../admission/clock.js';
import { threadAlive } from '../native/liveness.js';
import type { Ending, SupervisorContext, SupervisorOptions } from './context.js';
import type { Reconciler } from './reconcile.js';
import { drainAdopted, recoverAttachment } from './adopt.js';

const LIVENESS_EVERY = 10; // watchdog ticks between liveness checks of attached threads (a guess: ~100 ms)
const IDLE_TICK_MS = 250; // watchdog period when nothing runs (a guess: idle cost vs. first look at a new deadline)

export class Watchdog {
  private readonly i32: Int32Array;
  private readonly mem: Memory;
  private readonly L: Memory['layout'];
  private readonly clock: MonotonicClock;
  private timer: NodeJS.Timeout | null = null;
  private ticks = 0;
  /** Per slot: the heartbeat and head the last tick saw, and since when (ms) they stood still with work queued (-1: not). */
  private readonly seenBeat: Int32Array;
  private readonly seenHead: Int32Array;
  private readonly stillSince: Float64Array;

  constructor(
    private readonly ctx: SupervisorContext,
    private readonly rec: Reconciler,
    private readonly options: SupervisorOptions,
    /** The facade's terminate: record why, then end slot w's thread (it is recovered and respawned). */
    private readonly terminate: (w: number, ending: Ending) => void,
  ) {
    this.i32 = ctx.i32;
    this.mem = ctx.mem;
    this.L = ctx.L;
    this.clock = new MonotonicClock(ctx.mem.epochMicros());
    this.seenBeat = new Int32Array(this.L.workers);
    this.seenHead = new Int32Array(this.L.workers);
    this.stillSince = new Float64Array(this.L.workers).fill(-1);
  }

  /** A thread (re)starts in slot w: it is not judged stalled until it reports ready. */
  started(w: number): void {
    this.stillSince[w] = -1;
  }

  start(): void {
    this.schedule(this.options.watchdogMs);
  }

  stop(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  /**
   * The watchdog runs every watchdogMs while anything could need it (a task running, a kill
   * request, recovery work pending, another thread attached), and every IDLE_TICK_MS otherwise,
   * so an idle runtime costs next to no CPU. A deadline task that starts while the runtime is
   * idle is therefore first looked at up to IDLE_TICK_MS late.
   */
  private schedule(ms: number): void {
    if (this.ctx.closing) return;
    this.timer = setTimeout(this.tick, ms);
    this.timer.unref();
  }

  private busy(): boolean {
    if (this.ctx.backlog.length > 0 || this.ctx.adopted.size > 0) return true;
    const i32 = this.i32;
    for (let w = 0; w < this.L.workers; w++) {
      const base = this.mem.workerWord(w, 0);
      if (Atomics.load(i32, base + W_RUN_TOKEN) !== 0 || Atomics.load(i32, base + W_KILL_TOKEN) !== 0) return true;
      if (Atomics.load(i32, base + W_ASYNC_INFLIGHT) !== 0 || Atomics.load(i32, base + W_WAKER) !== WAKER_PARKED) return true;
    }
    for (let a = 1; a < this.L.maxAttachments; a++) {
      if (!isFree(i32, this.mem.attachWord(a, A_STATE))) return true;
    }
    return false;
  }

  private readonly tick = (): void => {
    this.timer = null;
    try {
      this.watch();
    } finally {
      this.schedule(this.busy() ? this.options.watchdogMs : Math.max(this.options.watchdogMs, IDLE_TICK_MS));
    }
  };

  private watch(): void {
    const i32 = this.i32;
    const ctx = this.ctx;
    if (ctx.backlog.length > 0) {
      const pending = ctx.backlog.splice(0);
      for (const job of pending) if (!job()) ctx.backlog.push(job);
    }
    const nowMs = Math.floor(this.clock.now() / 1000) | 0;
    for (let w = 0; w < this.L.workers; w++) {
      if (ctx.workers[w] === null) continue;
      const base = this.mem.workerWord(w, 0);
      const killToken = Atomics.load(i32, base + W_KILL_TOKEN);
      const tok = Atomics.load(i32, base + W_RUN_TOKEN);
      // Forced cancel: only if the run record still names that token (its synchronous part runs).
      if (killToken !== 0) {
        Atomics.store(i32, base + W_KILL_TOKEN, 0);
        if (killToken === tok && i32[base + W_KILL_ATT] === i32[base + W_RUN_ATT] && i32[base + W_KILL_GEN] === i32[base + W_RUN_GEN]) {
          this.terminate(w, { reason: `worker ${w} stopped: its running task was cancelled with force`, retryable: true });
          continue;
        }
      }
      if (tok === 0) continue;
      // Deadline: losing the CAS means the task just finished: nothing to do.
      const deadline = i32[base + W_RUN_DEADLINE]!;
      if (deadline === 0 || ((nowMs - deadline) | 0) <= 0) continue;
      const att = i32[base + W_RUN_ATT]!;
      const gen = i32[base + W_RUN_GEN]!;
      if (!abandonRunning(i32, this.mem.tokenWord(att, tok - 1), gen, w)) continue;
      ctx.endings.set(-1 - w, { reason: `deadline exceeded: the task ran past its deadlineMs and its worker was stopped`, retryable: false });
      this.terminate(w, { reason: `worker ${w} stopped: a task overran its deadline`, retryable: true });
    }
    if (this.options.stallMs > 0) this.checkStalls();
    if (++this.ticks % LIVENESS_EVERY === 0) this.checkAttachments();
    for (const a of ctx.adopted) if (drainAdopted(ctx, a)) ctx.adopted.delete(a);
  }

  /**
   * A stalled worker (§4.8 "A stalled worker", steps 1-3): ready, owing progress (its ring holds
   * work, or async tasks are in flight, whose settling its event loop must run), no task in its
   * run record (a long synchronous task is the deadline's business, not this), and neither its
   * heartbeat nor its head moved for stallMs (a worker with async tasks in flight beats every
   * BEAT_MS from a timer of its event loop). Its loop is stuck outside any task -- typically an
   * async task's continuation that never yields -- and every task routed to it would wait
   * forever: terminate it; recovery abandons what it was running and a replacement takes the
   * ring over. Reads are plain or Atomics loads of words the worker writes alone; a stale read
   * only delays the verdict by a tick.
   */
  private checkStalls(): void {
    const i32 = this.i32;
    const ctx = this.ctx;
    const now = performance.now();
    for (let w = 0; w < this.L.workers; w++) {
      if (ctx.workers[w] === null || !ctx.ready[w] || Atomics.load(i32, this.mem.workerWord(w, W_FAILED)) !== 0) {
        this.stillSince[w] = -1;
        continue;
      }
      const ring = ctx.subRings[w]!;
      const head = Atomics.load(i32, ring.headWord);
      const beat = i32[this.mem.workerWord(w, W_BEAT)]!;
      // Owed progress: queued cells to take, or async tasks whose settling its event loop must run.
      const owes = ((Atomics.load(i32, ring.tailWord) - head) | 0) > 0 || Atomics.load(i32, this.mem.workerWord(w, W_ASYNC_INFLIGHT)) > 0;
      const inTask = Atomics.load(i32, this.mem.workerWord(w, W_RUN_TOKEN)) !== 0;
      if (!owes || inTask || beat !== this.seenBeat[w] || head !== this.seenHead[w] || this.stillSince[w] < 0) {
        this.seenBeat[w] = beat;
        this.seenHead[w] = head;
        this.stillSince[w] = owes && !inTask ? now : -1;
        continue;
      }
      if (now - this.stillSince[w]! < this.options.stallMs) continue;
      this.stillSince[w] = -1;
      // One verdict per thread: terminate() may take effect only when a native call returns, and
      // the thread must not be judged (and reported) again meanwhile. Its replacement reports ready.
      ctx.ready[w] = false;
      const reason = `worker ${w} stalled: no progress for ${this.options.stallMs} ms outside any task`;
      ctx.onEvent(`${reason} (an async task's continuation that never yields?): replacing it`);
      this.terminate(w, { reason, retryable: false });
    }
  }

  /** §4.9 liveness: find attached threads that are gone and reconcile them. Also callable directly. */
  checkAttachments(): void {
    const i32 = this.i32;
    for (let a = 1; a < this.L.maxAttachments; a++) {
      if (!isActive(i32, this.mem.attachWord(a, A_STATE))) continue;
      if (threadAlive(this.ctx.identity(a)) === false) recoverAttachment(this.rec, a);
    }
  }
}
