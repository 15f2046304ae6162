/**
 * The supervisor's facade (docs/design.md §4.8-§4.10): what the runtime uses (spawn, stop,
 * terminate, terminateAll, releaseAtExit, resolveOrphans, checkAttachments), and the worker
 * threads' lives: spawn, exit, back-off and replacement (§4.8 step 6), retirement of a slot that
 * keeps dying (§4.8 step 7).
 *
 * A ring belongs to a worker *slot*, not to a thread: when a worker dies, its queued cells stay
 * where they are and a replacement takes the slot over (it reads the head from shared memory).
 * Only what was running on the dead thread is affected: 'abandoned', or run again when its task
 * declared retries.
 *
 * The parts, one protocol each, sharing one SupervisorContext (context.ts):
 * - reconcile.ts: recovery under the freeze (§4.8 steps 1-5, §4.9 step 2, §4.10), shutdown's
 *   orphans (§4.7 step 6), retirement, and every completion the supervisor writes;
 * - adopt.ts: a dead attachment's completion ring and books (§4.9);
 * - watchdog.ts: the tick (deadlines, forced cancel, stalls, liveness, the backlog);
 * - output.ts: the workers' stdout/stderr.
 *
 * Who writes what here: the Worker objects and `ready` (context.ts), a slot's W_RESTARTS count,
 * and the runtime state word (RT_CLOSED) at process exit. All on the starting thread
 * (attachment 0's), synchronously, never inside one of that thread's own windows.
 */
import type { Seam } from '../../trace/seam.js';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { H_STARTING, Memory, RT_CLOSED, W_FAILED, W_RESTARTS, W_WAKER } from '../../shm/layout.js';
import { useNativeFutex, wake } from '../../shm/waker.js';
import { nativeFutex } from '../native/affinity.js';
import type { WorkerData } from '../worker/main.js';
import { clipReason } from '../cells.js';
import { SupervisorContext, type Ending, type SupervisorOptions } from './context.js';
import { Reconciler } from './reconcile.js';
import { Watchdog } from './watchdog.js';
import { attributeOutput } from './output.js';
import type { EarlySpawn, StartMessage } from './early.js';

export { clipReason };
export type { SupervisorOptions };

/** Supervisors of the runtimes this thread started and has not closed (module state is per thread). */
const openSupervisors = new Set<Supervisor>();
let exitHooked = false;

/** @internal What process.on('exit') runs (exported for the test). */
export function releaseAllAtExit(): void {
  for (const s of openSupervisors) s.releaseAtExit();
}

export class Supervisor {
  readonly workers: (Worker | null)[];
  /**
   * Per worker slot, the starting thread's end of the channel of the large-value path (codec.ts
   * BigMessage), made at each spawn; null while the slot has no thread. The codec of attachment 0
   * posts payloads on it and receives results from it (receiveMessageOnPort: it has no listener).
   */
  readonly ports: (MessagePort | null)[];
  /** A slot's previous port (its thread ended): what it still holds is kept for the cells still to be read (codec.absorb). */
  onPortRetired: (w: number, port: MessagePort) => void = () => undefined;
  /** Threads Runtime.start created before this supervisor (§4.7 step 0 ("Start")): each slot's first spawn takes its own. */
  early: EarlySpawn | null = null;
  /** Spawns per slot: the base of a thread's result sequence numbers (unique across a slot's threads). */
  private readonly spawns: number[];
  private readonly ctx: SupervisorContext;
  private readonly rec: Reconciler;
  private readonly watchdog: Watchdog;
  private readonly deaths: number[][];

  /** Called with a short message when a slot is retired or a thread is reconciled. */
  /** The recording seam for the supervisor's decisions (src/trace/seam.ts). */
  set seam(s: Seam | null) { this.ctx.seam = s; }
  get onEvent(): (message: string) => void { return this.ctx.onEvent; }
  set onEvent(fn: (message: string) => void) { this.ctx.onEvent = fn; }
  /** Called after a slot is retired (rt.run waiters re-check: maybe no worker is left). */
  get onRetired(): () => void { return this.ctx.onRetired; }
  set onRetired(fn: () => void) { this.ctx.onRetired = fn; }

  constructor(
    private readonly mem: Memory,
    private readonly entry: URL,
    /** A slot's workerData; `replacement` when the thread takes over from a dead one. */
    private readonly data: (w: number, replacement: boolean) => WorkerData,
    private readonly options: SupervisorOptions,
  ) {
    const ctx = new SupervisorContext(mem);
    this.ctx = ctx;
    this.workers = ctx.workers;
    this.rec = new Reconciler(ctx);
    this.watchdog = new Watchdog(ctx, this.rec, options, (w, ending) => this.terminate(w, ending));
    useNativeFutex(nativeFutex()); // it wakes (and kills) workers that may sleep in the native futex
    openSupervisors.add(this);
    if (!exitHooked) {
      exitHooked = true;
      process.on('exit', releaseAllAtExit);
    }
    this.deaths = Array.from({ length: mem.layout.workers }, () => []);
    this.ports = new Array<MessagePort | null>(mem.layout.workers).fill(null);
    this.spawns = new Array<number>(mem.layout.workers).fill(0);
    ctx.onSlotRetired = (w) => {
      this.markStarting(w, false);
      this.settleWaiters();
    };
    this.watchdog.start();
  }

  /** Start the thread of slot w; resolves with its task names once it is ready. */
  spawn(w: number, replacement = false): Promise<string[]> {
    // §3.4 step 1: the large-value path's channel (codec.ts): one per thread of the slot.
    this.retirePort(w);
    const ch = this.options.messagePath === true ? new MessageChannel() : null;
    ch?.port1.unref();
    const seqBase = (this.spawns[w]! * 2 ** 20) | 0; // 2^20 results by message per thread before a repeat
    this.spawns[w]!++;
    const data = ch === null ? this.data(w, replacement) : { ...this.data(w, replacement), bigPort: ch.port2, seqBase };
    const early = replacement ? undefined : this.early?.take(w);
    let worker: Worker;
    if (early === undefined) {
      worker = new Worker(this.entry, {
        workerData: data, transferList: ch === null ? undefined : [ch.port2],
        stdout: true, stderr: true, resourceLimits: this.options.resourceLimits,
        ...(this.options.execArgv === undefined ? {} : { execArgv: this.options.execArgv }), ...(this.options.env === undefined ? {} : { env: this.options.env }),
      });
    } else {
      // §4.7 step 0 ("Start"): the thread exists already (early.ts); the rest of its WorkerData is
      // its first message (its workerData has the task data: a task module reads it at its load).
      if (early.worker === null) {
        ch?.port1.close();
        ch?.port2.close();
        throw early.error; // as `new Worker` would have, here
      }
      worker = early.worker;
      const { taskData: _, ...rest } = data;
      const message: StartMessage = { type: 'start', data: rest };
      worker.postMessage(message, ch === null ? undefined : [ch.port2]);
    }
    this.ports[w] = ch?.port1 ?? null;
    const ctx = this.ctx;
    ctx.workers[w] = worker;
    ctx.ready[w] = false;
    this.markStarting(w, true);
    this.watchdog.started(w);
    attributeOutput(worker, w);
    // A worker that cannot go on says why before it ends (worker/main.ts fatal, §4.12 step 4).
    worker.on('message', (m: { type?: unknown; reason?: unknown } | null) => {
      if (m?.type === 'fatal' && typeof m.reason === 'string' && !ctx.endings.has(w)) ctx.endings.set(w, { reason: m.reason, retryable: false });
    });
    let ownLoaded!: () => void;
    this.ownModules[w] = new Promise<void>((r) => { ownLoaded = r; });
    // §4.7 "Start": once Runtime.start has resolved (`live`), a thread that does not report ready
    // within startTimeoutMs is terminated and its slot recovered and respawned like a dead one's.
    // Before that, Runtime.start's own bound governs (and tears everything down).
    // (Fired while start still waits, as start's own bound is about to fire too: looked at again
    // one period later, in case start resolved on another worker meanwhile.)
    const overdue = (): void => {
      if (ctx.closing || ctx.workers[w] !== worker || ctx.ready[w]) return;
      if (!this.live) {
        bootTimer = setTimeout(overdue, this.options.startTimeoutMs);
        bootTimer.unref();
        return;
      }
      this.terminate(w, {
        reason: `worker ${w} did not become ready within ${this.options.startTimeoutMs} ms (startTimeoutMs): does the task module have a top-level await that never settles?`,
        retryable: true,
      });
    };
    let bootTimer = setTimeout(overdue, this.options.startTimeoutMs);
    bootTimer.unref();
    return new Promise((resolve, reject) => {
      const onMessage = (m: { type: string; names?: string[]; error?: { name?: string; message?: string; stack?: string } }): void => {
        ownLoaded();
        if (m.type === 'loading') return; // sluice's own modules are in; the task module is next
        worker.off('message', onMessage);
        clearTimeout(bootTimer);
        // Ready: from here the thread must not keep the process alive by itself; outstanding
        // tokens do (the pump, §4.4), an idle runtime does not (§4.7). Until ready it
        // does, so a start in progress is not cut short by the process ending.
        if (m.type === 'ready') {
          const names = m.names!;
          const expected = this.expectNames;
          if (expected !== null && names.join('\0') !== expected.join('\0')) {
            // The worker's own check (worker/main.ts, H_NAMES) stops this before 'ready'; this
            // one catches what a 32-bit hash cannot (a collision).
            const err = new Error(`workers disagree on the task module's exports: [${expected}] vs [${names}]`);
            this.terminate(w, { reason: `worker ${w}: ${err.message}`, retryable: false });
            return reject(err);
          }
          if (ctx.workers[w] === worker) {
            ctx.ready[w] = true;
            this.markStarting(w, false);
            this.settleWaiters();
          }
          worker.unref();
          return resolve(names);
        }
        // The worker's start error as itself: name, message (module and line) and stack.
        const err = new Error(m.error?.message ?? 'unknown error');
        if (m.error?.name !== undefined) err.name = m.error.name;
        if (m.error?.stack) err.stack = m.error.stack;
        // After Runtime.start, the thread's end is a death like any other (§4.8): say why.
        if (!ctx.endings.has(w)) ctx.endings.set(w, { reason: `worker ${w} could not start: ${err.message}`, retryable: true });
        reject(err);
      };
      worker.on('message', onMessage);
      worker.on('error', (err: Error & { code?: string }) => {
        const reason = err.code === 'ERR_WORKER_OUT_OF_MEMORY'
          ? `worker ${w} ran out of memory (resourceLimits)`
          : `worker ${w} died of an uncaught ${err.name}: ${err.message}`;
        if (!ctx.endings.has(w)) ctx.endings.set(w, { reason, retryable: true });
        reject(err);
      });
      worker.once('exit', (code) => {
        ownLoaded();
        clearTimeout(bootTimer);
        // An exit without 'ready' or an error: most likely a top-level await that never settled
        // with nothing left in the worker's event loop (Node then ends the thread).
        reject(new Error(`worker ${w} exited during start (code ${code})${code === 0 || code === 13
          ? ' without becoming ready: does the task module have a top-level await that never settles?' : ''}`));
        this.onExit(w, worker, code);
      });
      // What an early thread did before this spawn took it (early.ts): as if heard now.
      if (early?.failed !== undefined) worker.emit('error', early.failed);
      if (early?.exitCode !== undefined) worker.emit('exit', early.exitCode);
    });
  }

  /**
   * Per slot: resolves once its thread has loaded sluice's own modules (it says 'loading'), is
   * ready, or exited. Until then, terminating it may leak the descriptors of the reads in flight.
   */
  readonly ownModules: Promise<void>[] = [];

  /**
   * Set by Runtime.start once it has resolved (its first worker ready): from then on a thread's
   * start failure or a start that outlasts startTimeoutMs is a death of its slot (§4.8), not a
   * failed start.
   */
  live = false;
  /** The task names every thread must report (the first ready worker's), once known. */
  expectNames: readonly string[] | null = null;

  /**
   * Layout H_STARTING, bit w: set from a spawn until 'ready' and from a death until the
   * replacement's 'ready'; cleared at retirement (routing.ts: route() sends work elsewhere while
   * it is set). Slots from 32 on have no bit (they are routed as if ready).
   */
  private markStarting(w: number, on: boolean): void {
    if (w >= 32) return;
    if (on) Atomics.or(this.mem.i32, H_STARTING, 1 << w);
    else Atomics.and(this.mem.i32, H_STARTING, ~(1 << w));
  }

  /** Callers of whenAllReady waiting for every slot to have a ready thread (or be retired). */
  private readyWaiters: Array<() => void> = [];
  /**
   * Keeps the process alive while someone awaits whenAllReady. A slot between two attempts holds
   * only its back-off timer, which is unref'd (an idle runtime does not keep the process alive):
   * without this, a program awaiting rt.allWorkersReady() while a slot kept failing to start
   * could reach its end, exit and close the runtime under the await.
   */
  private readyHold: NodeJS.Timeout | null = null;

  /** Every slot has a ready thread or is retired (W_FAILED). */
  private allReadyNow(): boolean {
    for (let w = 0; w < this.ctx.ready.length; w++) {
      if (!this.ctx.ready[w] && Atomics.load(this.mem.i32, this.mem.workerWord(w, W_FAILED)) !== 1) return false;
    }
    return true;
  }

  /** After a 'ready', a retirement or stop(): settle the waiters if nothing is starting any more. */
  private settleWaiters(force = false): void {
    if (this.readyWaiters.length === 0 || (!force && !this.allReadyNow())) return;
    const waiters = this.readyWaiters;
    this.readyWaiters = [];
    if (this.readyHold !== null) clearInterval(this.readyHold);
    this.readyHold = null;
    for (const r of waiters) r();
  }

  /**
   * Resolves once every slot has a ready thread or is retired (at once if that holds now), or the
   * runtime closed: rt.allWorkersReady. Never rejects.
   */
  whenAllReady(): Promise<void> {
    if (this.ctx.closing || this.allReadyNow()) return Promise.resolve();
    this.readyHold ??= setInterval(holdOpen, 2 ** 30);
    return new Promise<void>((r) => { this.readyWaiters.push(r); });
  }

  /** Shutdown: no more respawns, no more watchdog. */
  stop(): void {
    openSupervisors.delete(this);
    this.ctx.closing = true;
    this.watchdog.stop();
    this.settleWaiters(true);
  }

  /** §3.4 step 5. Slot w's thread ended (or is being replaced): its port receives nothing more. */
  private retirePort(w: number): void {
    const old = this.ports[w];
    if (old === null || old === undefined) return;
    this.ports[w] = null;
    try {
      this.onPortRetired(w, old);
    } finally {
      old.close();
    }
  }

  /** Test and forced-cancel path: terminate slot w's thread (it is respawned). */
  terminate(w: number, ending: Ending): void {
    if (!this.ctx.endings.has(w)) this.ctx.endings.set(w, ending);
    void this.kill(w);
  }

  /**
   * The process is exiting with this runtime still open. Node joins worker threads as it tears
   * down, and a worker asleep in the native futex would hold that up until its slice ends
   * (src/shm/waker.ts): mark the runtime closed and wake every worker, which then exits by itself.
   */
  releaseAtExit(): void {
    this.stop(); // the exits that follow are the end of the slots, not crashes to recover from
    Atomics.store(this.mem.i32, this.mem.stateWord, RT_CLOSED);
    for (let w = 0; w < this.mem.layout.workers; w++) wake(this.mem.i32, this.mem.workerWord(w, W_WAKER));
  }

  /** Start failure: terminate every thread started so far. */
  terminateAll(): Promise<unknown> {
    return Promise.all(this.workers.map((_, w) => this.kill(w)));
  }

  /** §4.7 step 6 for the other threads (reconcile.ts). */
  resolveOrphans(): void {
    this.rec.resolveOrphans();
  }

  /** §4.9: find attached threads that are gone and reconcile them (watchdog.ts; also callable directly). */
  checkAttachments(): void {
    this.watchdog.checkAttachments();
  }

  /**
   * Terminate slot w's thread, then wake it: a thread asleep in the native futex sees the
   * termination only once it is back in JavaScript (src/shm/waker.ts).
   */
  private kill(w: number): Promise<number> | undefined {
    const exit = this.workers[w]?.terminate();
    wake(this.mem.i32, this.mem.workerWord(w, W_WAKER));
    return exit;
  }

  // ---- worker death (§4.8) ----

  private onExit(w: number, worker: Worker, code: number): void {
    const ctx = this.ctx;
    if (ctx.workers[w] !== worker) return;
    ctx.workers[w] = null;
    ctx.ready[w] = false;
    if (!ctx.closing) this.markStarting(w, true); // no thread until a replacement is ready (or the slot is retired)
    this.retirePort(w); // nothing more arrives on it; nothing posted to it now would be read
    if (ctx.closing) return;
    const ending = ctx.endings.get(w) ?? { reason: `worker ${w} exited with code ${code}`, retryable: true };
    ctx.endings.delete(w);
    // Recovery first (§4.8 steps 1-5): the replacement reuses index w, and must not be mistaken for the dead thread.
    this.rec.recoverWorker(w, ending, () => this.replace(w));
  }

  /** §4.8 step 6: respawn with back-off; step 7: a slot that died too often is retired instead. */
  private replace(w: number): void {
    const now = performance.now();
    const recent = this.deaths[w]!.filter((t) => now - t < this.options.restartWindowMs);
    recent.push(now);
    this.deaths[w] = recent;
    Atomics.add(this.mem.i32, this.mem.workerWord(w, W_RESTARTS), 1);
    if (recent.length > this.options.maxRestarts) {
      this.rec.retire(w);
      return;
    }
    // Back-off: 0, 10, 20, 40 ... ms, capped at 1 s (a guess that stops a crash loop burning CPU).
    const delay = recent.length <= 1 ? 0 : Math.min(1000, 10 * 2 ** (recent.length - 2));
    const respawn = (): void => {
      if (this.ctx.closing) return;
      if (this.ctx.seam !== null) this.ctx.seam.respawned(w); // before the replacement can take a task
      this.spawn(w, true).catch(() => { /* a failed respawn ends in onExit again */ });
    };
    if (delay === 0) respawn();
    else setTimeout(respawn, delay).unref();
  }
}

/** A ref'd interval's callback that does nothing: it only keeps the event loop alive (Supervisor.readyHold). */
function holdOpen(): void {}
