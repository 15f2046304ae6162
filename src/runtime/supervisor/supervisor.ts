/**
 * The supervisor: the starting thread's part in fault containment (docs/design.md 4.8-4.10).
 *
 * - Owns the worker threads. A ring belongs to a worker *slot*, not to a thread: when a worker
 *   dies, its queued cells stay where they are and a replacement takes the slot over (it reads
 *   the head from shared memory). Only what was running on the dead thread is affected:
 *   'abandoned', or run again when its task declared retries. A slot that keeps dying is
 *   reported and retired, not respawned forever.
 * - Watchdog tick: terminates a worker whose synchronous task overran its deadline (after
 *   abandoning that token) or whose running token was cancelled with force.
 * - Finds attached threads that died (kernel tid and start time, liveness.ts).
 * - Reconciles after any death under a freeze (4.10): a thread can be terminated at any
 *   instruction, so nothing it wrote last can be trusted to be complete. Instead, every span
 *   that moves a shared counter or claims a cell runs in its thread's window; the supervisor
 *   sets the freeze word and waits until no live thread is in a window. Then every claimed,
 *   unpublished cell belongs to a dead thread (tombstone it), and the counters are recounted
 *   from the token words, which outside windows are exactly what holds a slot.
 *
 * The supervisor writes completions into any attachment's ring (an 'abandoned' outcome with a
 * short reason string, always inline). It runs on attachment 0's thread, synchronously, never
 * inside one of that thread's own windows.
 */
import { Worker, type ResourceLimits } from 'node:worker_threads';
import {
  A_HEAD, A_START, A_STATE, A_TID, A_WAKER, A_WINDOW, C_ATT, C_GEN, C_KIND, C_PRODUCER, C_SPILL, C_TOKEN, Memory, P_PACKED,
  W_FAILED, W_HEAD, W_KILL_ATT, W_KILL_GEN, W_KILL_TOKEN, W_RESTARTS, W_RUN_ATT, W_RUN_DEADLINE, W_ASYNC_INFLIGHT, W_BEAT,
  W_RUN_GEN, W_RUN_TOKEN, W_WAKER, W_WINDOW, RT_CLOSED,
} from '../../shm/layout.js';
import { CF_RETRYABLE, CF_SPILLED, CF_TOMBSTONE, lowOf } from '../../shm/words/cell.js';
import { close as closeAttachment, isActive, isFree, release as releaseAttachment } from '../../shm/words/attachment.js';
import { Ring, RING_FULL } from '../../shm/ring.js';
import { freeze, inWindow, unfreeze } from '../../shm/window.js';
import {
  TK_ABANDONED, TK_DONE, TK_FREE, TK_PENDING, TK_RETRACTED, TK_RUNNING, abandonRunning, free, genOf, retract, settleAbandoned,
  stateOf, workerOf,
} from '../../shm/words/token.js';
import { useNativeFutex, wake, WAKER_PARKED } from '../../shm/waker.js';
import { nativeFutex } from '../native/affinity.js';
import { arenaScavenge } from '../../shm/arena.js';
import { releaseSlots } from '../../admission/gate.js';
import { MonotonicClock } from '../../admission/clock.js';
import { Codec } from '../codec.js';
import { O_ABANDONED, O_RETRACTED } from '../../admission/outcomes.js';
import { inflightOf, withInflight } from '../../shm/words/gate.js';
import { S_ADMITTED, S_RESOLVED } from '../../admission/reasons.js';
import { OUTCOMES } from '../../admission/outcomes.js';
import { threadAlive } from '../native/liveness.js';
import type { WorkerData } from '../worker/main.js';
import { clipReason, writeCompletion } from '../cells.js';

export { clipReason };

export interface SupervisorOptions {
  /** Passed to each worker thread (heap limits: a task that exceeds them kills its worker only). */
  resourceLimits: ResourceLimits | undefined;
  /** Watchdog period (ms): deadline and forced-cancel resolution. */
  watchdogMs: number;
  /** Deaths of one slot within restartWindowMs after which it is retired. */
  maxRestarts: number;
  restartWindowMs: number;
  /**
   * A ready worker whose ring holds work, with no task in its run record and a heartbeat that
   * has not moved for this long, is stuck outside any task and is replaced (4.8, "A stalled
   * worker"). 0 = never.
   */
  stallMs: number;
}

/** Why a thread ended, for the 'abandoned' reason and stats. */
interface Ending { reason: string; retryable: boolean }

const LIVENESS_EVERY = 10; // watchdog ticks between liveness checks of attached threads (a guess: ~100 ms)
const IDLE_TICK_MS = 250; // watchdog period when nothing runs (a guess: idle cost vs. first look at a new deadline)

/** Supervisors of the runtimes this thread started and has not closed (module state is per thread). */
const openSupervisors = new Set<Supervisor>();
let exitHooked = false;

/** @internal What process.on('exit') runs (exported for the test). */
export function releaseAllAtExit(): void {
  for (const s of openSupervisors) s.releaseAtExit();
}

export class Supervisor {
  readonly workers: (Worker | null)[];
  private readonly i32: Int32Array;
  private readonly L: Memory['layout'];
  private readonly subRings: Ring[] = [];
  private readonly compRings: Ring[] = [];
  private readonly codec: Codec;
  private readonly clock: MonotonicClock;
  private readonly endings = new Map<number, Ending>();
  private readonly deaths: number[][];
  private timer: NodeJS.Timeout | null = null;
  private readonly adopted = new Set<number>();
  private readonly backlog: Array<() => boolean> = [];
  private ticks = 0;
  private closing = false;
  /** Per slot: its thread reported ready (a starting thread is never judged stalled). */
  private readonly ready: boolean[];
  /** Per slot: the heartbeat and head the last tick saw, and since when (ms) they stood still with work queued (-1: not). */
  private readonly seenBeat: Int32Array;
  private readonly seenHead: Int32Array;
  private readonly stillSince: Float64Array;
  /** Called with a short message when a slot is retired or a thread is reconciled. */
  onEvent: (message: string) => void = () => {};
  /** Called after a slot is retired (rt.run waiters re-check: maybe no worker is left). */
  onRetired: () => void = () => {};

  constructor(
    private readonly mem: Memory,
    private readonly entry: URL,
    /** A slot's workerData; `replacement` when the thread takes over from a dead one. */
    private readonly data: (w: number, replacement: boolean) => WorkerData,
    private readonly options: SupervisorOptions,
  ) {
    const L = mem.layout;
    this.i32 = mem.i32;
    this.L = L;
    for (let w = 0; w < L.workers; w++) {
      this.subRings.push(new Ring(mem.i32, w, mem.tailWord(w), mem.workerWord(w, W_HEAD), mem.subRingByte(w), L.ringCapacity));
    }
    for (let a = 0; a < L.maxAttachments; a++) {
      this.compRings.push(new Ring(
        mem.i32, L.workers + a, mem.tailWord(L.workers + a), mem.attachWord(a, A_HEAD), mem.compRingByte(a), L.tokenCapacity,
      ));
    }
    this.codec = new Codec(mem, 0);
    this.clock = new MonotonicClock(mem.epochMicros());
    useNativeFutex(nativeFutex()); // it wakes (and kills) workers that may sleep in the native futex
    openSupervisors.add(this);
    if (!exitHooked) {
      exitHooked = true;
      process.on('exit', releaseAllAtExit);
    }
    this.workers = new Array<Worker | null>(L.workers).fill(null);
    this.ready = new Array<boolean>(L.workers).fill(false);
    this.seenBeat = new Int32Array(L.workers);
    this.seenHead = new Int32Array(L.workers);
    this.stillSince = new Float64Array(L.workers).fill(-1);
    this.deaths = Array.from({ length: L.workers }, () => []);
    this.schedule(options.watchdogMs);
  }

  /** Start the thread of slot w; resolves with its task names once it is ready. */
  spawn(w: number, replacement = false): Promise<string[]> {
    const worker = new Worker(this.entry, { workerData: this.data(w, replacement), stdout: true, stderr: true, resourceLimits: this.options.resourceLimits });
    this.workers[w] = worker;
    this.ready[w] = false;
    this.stillSince[w] = -1;
    attributeOutput(worker, w);
    // A worker that cannot go on says why before it ends (worker/main.ts fatal, 4.12 layer c).
    worker.on('message', (m: { type?: unknown; reason?: unknown } | null) => {
      if (m?.type === 'fatal' && typeof m.reason === 'string' && !this.endings.has(w)) this.endings.set(w, { reason: m.reason, retryable: false });
    });
    let ownLoaded!: () => void;
    this.ownModules[w] = new Promise<void>((r) => { ownLoaded = r; });
    return new Promise((resolve, reject) => {
      const onMessage = (m: { type: string; names?: string[]; error?: { name?: string; message?: string; stack?: string } }): void => {
        ownLoaded();
        if (m.type === 'loading') return; // sluice's own modules are in; the task module is next
        worker.off('message', onMessage);
        // Ready: from here the thread must not keep the process alive by itself; outstanding
        // tokens do (the pump, design 4.4), an idle runtime does not (design 4.7). Until ready it
        // does, so a start in progress is not cut short by the process ending.
        if (m.type === 'ready') {
          if (this.workers[w] === worker) this.ready[w] = true;
          worker.unref();
          return resolve(m.names!);
        }
        // The worker's start error as itself: name, message (module and line) and stack.
        const err = new Error(m.error?.message ?? 'unknown error');
        if (m.error?.name !== undefined) err.name = m.error.name;
        if (m.error?.stack) err.stack = m.error.stack;
        reject(err);
      };
      worker.on('message', onMessage);
      worker.on('error', (err: Error & { code?: string }) => {
        const reason = err.code === 'ERR_WORKER_OUT_OF_MEMORY'
          ? `worker ${w} ran out of memory (resourceLimits)`
          : `worker ${w} died of an uncaught ${err.name}: ${err.message}`;
        if (!this.endings.has(w)) this.endings.set(w, { reason, retryable: true });
        reject(err);
      });
      worker.once('exit', (code) => {
        ownLoaded();
        // An exit without 'ready' or an error: most likely a top-level await that never settled
        // with nothing left in the worker's event loop (Node then ends the thread).
        reject(new Error(`worker ${w} exited during start (code ${code})${code === 0 || code === 13
          ? ' without becoming ready: does the task module have a top-level await that never settles?' : ''}`));
        this.onExit(w, worker, code);
      });
    });
  }

  /**
   * Per slot: resolves once its thread has loaded sluice's own modules (it says 'loading'), is
   * ready, or exited. Until then, terminating it may leak the descriptors of the reads in flight.
   */
  readonly ownModules: Promise<void>[] = [];

  /** Shutdown: no more respawns, no more watchdog. */
  stop(): void {
    openSupervisors.delete(this);
    this.closing = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Test and forced-cancel path: terminate slot w's thread (it is respawned). */
  terminate(w: number, ending: Ending): void {
    if (!this.endings.has(w)) this.endings.set(w, ending);
    void this.kill(w);
  }

  /**
   * The process is exiting with this runtime still open. Node joins worker threads as it tears
   * down, and a worker asleep in the native futex would hold that up until its slice ends
   * (src/shm/waker.ts): mark the runtime closed and wake every worker, which then exits by itself.
   */
  releaseAtExit(): void {
    this.stop(); // the exits that follow are the end of the slots, not crashes to recover from
    Atomics.store(this.i32, this.mem.stateWord, RT_CLOSED);
    for (let w = 0; w < this.L.workers; w++) wake(this.i32, this.mem.workerWord(w, W_WAKER));
  }

  /** Start failure: terminate every thread started so far. */
  terminateAll(): Promise<unknown> {
    return Promise.all(this.workers.map((_, w) => this.kill(w)));
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

  // ---- worker death ----

  private onExit(w: number, worker: Worker, code: number): void {
    if (this.workers[w] !== worker) return;
    this.workers[w] = null;
    this.ready[w] = false;
    if (this.closing) return;
    const ending = this.endings.get(w) ?? { reason: `worker ${w} exited with code ${code}`, retryable: true };
    this.endings.delete(w);
    // Recovery first: the replacement reuses index w, and must not be mistaken for the dead thread.
    this.recoverWorker(w, ending, () => this.replace(w));
  }

  private replace(w: number): void {
    const now = performance.now();
    const recent = this.deaths[w]!.filter((t) => now - t < this.options.restartWindowMs);
    recent.push(now);
    this.deaths[w] = recent;
    Atomics.add(this.i32, this.mem.workerWord(w, W_RESTARTS), 1);
    if (recent.length > this.options.maxRestarts) {
      this.retire(w);
      return;
    }
    // Back-off: 0, 10, 20, 40 ... ms, capped at 1 s (a guess that stops a crash loop burning CPU).
    const delay = recent.length <= 1 ? 0 : Math.min(1000, 10 * 2 ** (recent.length - 2));
    const respawn = (): void => {
      if (this.closing) return;
      this.spawn(w, true).catch(() => { /* a failed respawn ends in onExit again */ });
    };
    if (delay === 0) respawn();
    else setTimeout(respawn, delay).unref();
  }

  /** Crash recovery for slot w (4.8), under a freeze; retried each tick if no freeze could be had. */
  private recoverWorker(w: number, ending: Ending, then: () => void): void {
    const reason = clipReason(ending.reason);
    const run = (): boolean => {
      if (!this.freeze()) return false;
      try {
        this.reconcile([w], [], { reason, retryable: ending.retryable });
      } finally {
        this.unfreeze();
      }
      this.endings.delete(-1 - w);
      Atomics.store(this.i32, this.mem.workerWord(w, W_RUN_TOKEN), 0);
      // w's result arena: chunks that published completions still name stay; the rest are free.
      const referenced = new Set<number>();
      const i32 = this.i32;
      for (let a = 0; a < this.L.maxAttachments; a++) {
        this.forEachPublished(this.compRings[a]!, (cell) => {
          const kind = i32[cell + C_KIND]!;
          if (i32[cell + C_PRODUCER] === w && (kind & (CF_SPILLED | CF_TOMBSTONE)) === CF_SPILLED) referenced.add(i32[cell + C_SPILL]!);
        });
      }
      arenaScavenge(this.mem, this.L.maxAttachments + w, referenced);
      this.onEvent(`worker ${w} replaced: ${reason}`);
      then();
      return true;
    };
    if (!run()) this.backlog.push(run);
  }

  // ---- the freeze (4.10) ----

  /**
   * Set the freeze word and wait until no live thread is inside a window. False (and unfrozen)
   * if a live thread stays inside one for a second: the caller retries later.
   */
  private freeze(): boolean {
    return freeze(this.i32, this.mem.freezeWord, this.liveInWindow);
  }

  private unfreeze(): void {
    unfreeze(this.i32, this.mem.freezeWord);
  }

  /**
   * The freeze's liveness predicate: some live thread is inside its window. An attachment counts
   * when ACTIVE, its flag set and its thread not known dead (a dead owner's flag may stay set);
   * a worker when its thread object exists (a dead worker's slot is null until respawned).
   * Attachment 0 is this thread, never inside a window while it freezes.
   */
  private readonly liveInWindow = (): boolean => {
    const i32 = this.i32;
    for (let a = 1; a < this.L.maxAttachments; a++) {
      if (!isActive(i32, this.mem.attachWord(a, A_STATE))) continue;
      if (!inWindow(i32, this.mem.attachWord(a, A_WINDOW))) continue;
      if (threadAlive(this.identity(a)) !== false) return true;
    }
    for (let w = 0; w < this.L.workers; w++) {
      if (this.workers[w] !== null && inWindow(i32, this.mem.workerWord(w, W_WINDOW))) return true;
    }
    return false;
  };

  private identity(a: number): { tid: number; start: number } {
    return { tid: Atomics.load(this.i32, this.mem.attachWord(a, A_TID)), start: Atomics.load(this.i32, this.mem.attachWord(a, A_START)) };
  }

  /**
   * Under a freeze, with no live thread inside a window:
   * 1. every claimed, unpublished cell (in any ring) was claimed by a dead thread: tombstone it;
   * 2. tokens of dead workers: RUNNING -> ABANDONED with an 'abandoned' completion (retryable
   *    unless the reason is its own deadline); abandoned by the watchdog, or DONE without a
   *    published completion: an 'abandoned' completion;
   * 3. tokens of dead attachments that are PENDING in no published cell never run: FREE,
   *    counted retracted; DONE with no published completion were consumed by the dead owner
   *    before it could free them: FREE, counted abandoned (the result died with its owner);
   * 4. the counters are recounted from the token words: global = tokens not FREE; each
   *    producer's in flight = its tokens not FREE. Outside windows that is exact (4.10);
   * 5. every worker and attachment is woken: a dead thread may have published and died before
   *    its wake-up call.
   */
  private reconcile(deadWorkers: number[], deadAtts: number[], ending: Ending): void {
    const i32 = this.i32;
    const L = this.L;
    // 1.
    for (const ring of [...this.subRings, ...this.compRings]) {
      const end = Atomics.load(i32, ring.tailWord);
      for (let pos = ring.head(); pos !== end; pos = (pos + 1) | 0) {
        // Keep no flag: its writer may have died between the kind word and the spill word, so a
        // spill position there may be stale. The dead writer's chunk is scavenged instead.
        if (!ring.readable(pos)) ring.tombstone(pos, C_KIND, CF_TOMBSTONE, 0);
      }
    }
    // Published cells, for 2 and 3.
    const queued = new Set<number>(); // (att, token, gen) still waiting in a submission ring
    for (const ring of this.subRings) {
      this.forEachPublished(ring, (cell) => {
        if ((i32[cell + C_KIND]! & CF_TOMBSTONE) === 0) queued.add(key(i32[cell + C_ATT]!, i32[cell + C_TOKEN]!, i32[cell + C_GEN]!));
      });
    }
    const dead = new Set(deadWorkers);
    const closing = new Set(deadAtts);
    for (let a = 0; a < L.maxAttachments; a++) {
      if (isFree(i32, this.mem.attachWord(a, A_STATE))) continue;
      for (let t = 0; t < L.tokenCapacity; t++) {
        const tw = this.mem.tokenWord(a, t);
        const word = Atomics.load(i32, tw);
        if (word === TK_FREE) continue;
        const state = stateOf(word);
        const gen = genOf(word);
        const w = workerOf(word);
        if (closing.has(a) && state === TK_PENDING && !queued.has(key(a, t, gen))) {
          // 3. Its submit died before publishing: it never runs.
          free(i32, tw);
          i32[this.mem.statWord(a, i32[this.mem.tokenMetaWord(a, t)]!, S_RESOLVED + O_RETRACTED)]!++;
          continue;
        }
        if (closing.has(a) && state === TK_RETRACTED) {
          free(i32, tw); // retracted by its dead owner, never resolved: nothing will
          continue;
        }
        if (closing.has(a) && state === TK_DONE && !dead.has(w) && !this.completionPublished(a, t, gen, w)) {
          // Its dead owner consumed the completion and died before freeing the token (live
          // workers are outside their windows now, so a DONE token's completion is published or
          // consumed). The result died with its owner.
          free(i32, tw);
          i32[this.mem.statWord(a, i32[this.mem.tokenMetaWord(a, t)]!, S_RESOLVED + O_ABANDONED)]!++;
          continue;
        }
        if (state === TK_PENDING || !dead.has(w)) continue;
        // 2.
        if (state === TK_RUNNING) {
          // Under the freeze nothing else moves this word: the CAS always wins here.
          if (abandonRunning(i32, tw, gen, w)) this.abandon(a, t, gen, w, ending.reason, ending.retryable);
        } else if (state === TK_ABANDONED) {
          this.abandon(a, t, gen, w, this.endings.get(-1 - w)?.reason ?? ending.reason, false);
        } else if (state === TK_DONE && !this.completionPublished(a, t, gen, w)) {
          this.abandon(a, t, gen, w, clipReason(`${ending.reason} (while returning its result)`), ending.retryable);
        }
      }
    }
    // 5. A dead thread may have published a cell and died before waking its consumer: wake all.
    for (let w = 0; w < L.workers; w++) wake(i32, this.mem.workerWord(w, W_WAKER));
    for (let a = 0; a < L.maxAttachments; a++) wake(i32, this.mem.attachWord(a, A_WAKER));
    // 4.
    const inflight = new Int32Array(L.maxProducers);
    let global = 0;
    for (let a = 0; a < L.maxAttachments; a++) {
      for (let t = 0; t < L.tokenCapacity; t++) {
        if (Atomics.load(i32, this.mem.tokenWord(a, t)) === TK_FREE) continue;
        global++;
        inflight[i32[this.mem.tokenMetaWord(a, t)]!]!++;
      }
    }
    Atomics.store(i32, this.mem.globalWord, global);
    for (let p = 0; p < L.maxProducers; p++) {
      const pw = this.mem.producerWord(p, P_PACKED);
      for (;;) {
        const old = Atomics.load(i32, pw);
        if (inflightOf(old) === inflight[p]) break;
        if (Atomics.compareExchange(i32, pw, old, withInflight(old, inflight[p]!)) === old) break;
      }
    }
  }

  /**
   * Shutdown step 6 for the other threads (4.7): the workers are gone, so a live token of
   * another attachment will never be completed by one. Complete it here, so nothing that thread
   * awaits waits forever (and its pump lets it exit): PENDING -> RETRACTED ('retracted'),
   * RUNNING -> ABANDONED ('abandoned'). Each by CAS, which the owner's own cancel may win
   * instead. DONE has its completion already. Only after every worker exited or was given up.
   */
  resolveOrphans(): void {
    const i32 = this.i32;
    for (let a = 1; a < this.L.maxAttachments; a++) {
      if (!isActive(i32, this.mem.attachWord(a, A_STATE))) continue;
      for (let t = 0; t < this.L.tokenCapacity; t++) {
        const tw = this.mem.tokenWord(a, t);
        const word = Atomics.load(i32, tw);
        if (word === TK_FREE) continue;
        const state = stateOf(word);
        const gen = genOf(word);
        if (state === TK_PENDING) {
          if (retract(i32, tw, gen)) {
            this.complete(a, t, gen, 0, O_RETRACTED, 'the runtime closed before the task started', false);
          }
        } else if (state === TK_RUNNING) {
          if (abandonRunning(i32, tw, gen, workerOf(word))) {
            this.abandon(a, t, gen, workerOf(word), 'the runtime closed while the task was running', false);
          }
        }
      }
    }
  }

  /** A slot that keeps dying: retract what is queued in its ring and freeze the ring full. */
  private retire(w: number): void {
    const i32 = this.i32;
    Atomics.store(i32, this.mem.workerWord(w, W_FAILED), 1);
    const ring = this.subRings[w]!;
    // Freeze first: head = tail - capacity makes the ring read full, so no new claims land.
    const headW = this.mem.workerWord(w, W_HEAD);
    let pos = Atomics.load(i32, headW);
    const tail = Atomics.load(i32, ring.tailWord);
    Atomics.store(i32, headW, (tail - ring.capacity) | 0);
    const drain = (): boolean => {
      const end = Atomics.load(i32, ring.tailWord);
      while (pos !== end) {
        if (!ring.readable(pos)) return false; // a live producer is still writing it: next tick
        this.retractCell(ring.cellWord(pos), `worker slot ${w} retired after repeated crashes`);
        pos = (pos + 1) | 0;
      }
      return true;
    };
    if (!drain()) this.backlog.push(drain);
    this.onEvent(`worker slot ${w} keeps dying: retired (not respawned)`);
    this.onRetired();
  }

  private retractCell(cell: number, reason: string): void {
    const i32 = this.i32;
    const kind = i32[cell + C_KIND]!;
    const att = i32[cell + C_ATT]!;
    this.codec.discard(cell, att);
    if (kind & CF_TOMBSTONE) return;
    const t = i32[cell + C_TOKEN]!;
    const gen = i32[cell + C_GEN]!;
    if (!retract(i32, this.mem.tokenWord(att, t), gen)) return;
    this.complete(att, t, gen, 0, O_RETRACTED, reason, false);
  }

  // ---- completions written by the supervisor ----

  /** An 'abandoned' completion for (a, t, gen). */
  private abandon(a: number, t: number, gen: number, w: number, reason: string, retryable: boolean): void {
    this.complete(a, t, gen, w, O_ABANDONED, reason, retryable);
    // DONE = "a completion for this token exists": a second recovery will not write another.
    settleAbandoned(this.i32, this.mem.tokenWord(a, t), gen);
  }

  private complete(a: number, t: number, gen: number, w: number, outcome: number, reason: string, retryable: boolean): void {
    const ring = this.compRings[a]!;
    const write = (): boolean => {
      const p = ring.claim();
      if (p === RING_FULL) return false; // the ring holds a tombstone or a duplicate: retry next tick
      this.codec.prepare(clipReason(reason), 'reason'); // inline: never spills, never PREPARE_FULL
      writeCompletion(ring, p, this.codec, outcome, a, t, gen, w, retryable ? CF_RETRYABLE : 0);
      wake(this.i32, this.mem.attachWord(a, A_WAKER));
      return true;
    };
    if (!write()) this.backlog.push(write);
  }

  private completionPublished(a: number, t: number, gen: number, w: number): boolean {
    let found = false;
    const i32 = this.i32;
    this.forEachPublished(this.compRings[a]!, (cell) => {
      if ((i32[cell + C_KIND]! & CF_TOMBSTONE) !== 0) return; // its other words are stale
      if (i32[cell + C_TOKEN] === t && i32[cell + C_GEN] === gen && i32[cell + C_PRODUCER] === w) found = true;
    });
    return found;
  }

  private forEachPublished(ring: Ring, fn: (cell: number) => void): void {
    const end = Atomics.load(this.i32, ring.tailWord);
    for (let pos = ring.head(); pos !== end; pos = (pos + 1) | 0) {
      if (ring.readable(pos)) fn(ring.cellWord(pos));
    }
  }

  // ---- watchdog ----

  /**
   * The watchdog runs every watchdogMs while anything could need it (a task running, a kill
   * request, recovery work pending, another thread attached), and every IDLE_TICK_MS otherwise,
   * so an idle runtime costs next to no CPU. A deadline task that starts while the runtime is
   * idle is therefore first looked at up to IDLE_TICK_MS late.
   */
  private schedule(ms: number): void {
    if (this.closing) return;
    this.timer = setTimeout(this.tick, ms);
    this.timer.unref();
  }

  private busy(): boolean {
    if (this.backlog.length > 0 || this.adopted.size > 0) return true;
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
    if (this.backlog.length > 0) {
      const pending = this.backlog.splice(0);
      for (const job of pending) if (!job()) this.backlog.push(job);
    }
    const nowMs = Math.floor(this.clock.now() / 1000) | 0;
    for (let w = 0; w < this.L.workers; w++) {
      if (this.workers[w] === null) continue;
      const base = this.mem.workerWord(w, 0);
      const killToken = Atomics.load(i32, base + W_KILL_TOKEN);
      const tok = Atomics.load(i32, base + W_RUN_TOKEN);
      if (killToken !== 0) {
        Atomics.store(i32, base + W_KILL_TOKEN, 0);
        if (killToken === tok && i32[base + W_KILL_ATT] === i32[base + W_RUN_ATT] && i32[base + W_KILL_GEN] === i32[base + W_RUN_GEN]) {
          this.terminate(w, { reason: `worker ${w} stopped: its running task was cancelled with force`, retryable: true });
          continue;
        }
      }
      if (tok === 0) continue;
      const deadline = i32[base + W_RUN_DEADLINE]!;
      if (deadline === 0 || ((nowMs - deadline) | 0) <= 0) continue;
      const att = i32[base + W_RUN_ATT]!;
      const gen = i32[base + W_RUN_GEN]!;
      if (!abandonRunning(i32, this.mem.tokenWord(att, tok - 1), gen, w)) continue;
      this.endings.set(-1 - w, { reason: `deadline exceeded: the task ran past its deadlineMs and its worker was stopped`, retryable: false });
      this.terminate(w, { reason: `worker ${w} stopped: a task overran its deadline`, retryable: true });
    }
    if (this.options.stallMs > 0) this.checkStalls();
    if (++this.ticks % LIVENESS_EVERY === 0) this.checkAttachments();
    for (const a of this.adopted) if (this.drainAdopted(a)) this.adopted.delete(a);
  }

  /**
   * A stalled worker (docs/design.md 4.8): ready, owing progress (its ring holds work, or async
   * tasks are in flight, whose settling its event loop must run), no task in its run record (a
   * long synchronous task is the deadline's business, not this), and neither its heartbeat nor
   * its head moved for stallMs (a worker with async tasks in flight beats every BEAT_MS from a
   * timer of its event loop). Its loop is stuck outside any task -- typically an async
   * task's continuation that never yields -- and every task routed to it would wait forever:
   * terminate it; recovery abandons what it was running and a replacement takes the ring over.
   * Reads are plain or Atomics loads of words the worker writes alone; a stale read only delays
   * the verdict by a tick.
   */
  private checkStalls(): void {
    const i32 = this.i32;
    const now = performance.now();
    for (let w = 0; w < this.L.workers; w++) {
      if (this.workers[w] === null || !this.ready[w] || Atomics.load(i32, this.mem.workerWord(w, W_FAILED)) !== 0) {
        this.stillSince[w] = -1;
        continue;
      }
      const ring = this.subRings[w]!;
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
      this.ready[w] = false;
      const reason = `worker ${w} stalled: no progress for ${this.options.stallMs} ms outside any task`;
      this.onEvent(`${reason} (an async task's continuation that never yields?): replacing it`);
      this.terminate(w, { reason, retryable: false });
    }
  }

  // ---- producer death ----

  /** Find attached threads that are gone and reconcile them. Also callable directly. */
  checkAttachments(): void {
    const i32 = this.i32;
    for (let a = 1; a < this.L.maxAttachments; a++) {
      if (!isActive(i32, this.mem.attachWord(a, A_STATE))) continue;
      const id = { tid: Atomics.load(i32, this.mem.attachWord(a, A_TID)), start: Atomics.load(i32, this.mem.attachWord(a, A_START)) };
      if (threadAlive(id) === false) this.recoverAttachment(a);
    }
  }

  /**
   * Producer death (docs/design.md 4.9), for attachment a whose thread is gone:
   * 1. ACTIVE -> CLOSING (CAS): exactly one reconciler.
   * 2. Under a freeze (4.10): its claimed, unpublished cell becomes a tombstone; a token it made
   *    PENDING but never published is freed; the counters are recounted, which gives back every
   *    slot its unfinished submit held, wherever it died.
   * 3. Its admitted tasks still run. The supervisor consumes its completion ring in its place:
   *    results dropped, slots released, outcomes counted. When none is left, its books are
   *    closed (admitted = resolved) and the slot is FREE for a new attach.
   */
  recoverAttachment(a: number): void {
    const i32 = this.i32;
    if (!closeAttachment(i32, this.mem.attachWord(a, A_STATE))) return;
    const run = (): boolean => {
      if (!this.freeze()) return false;
      try {
        this.reconcile([], [a], { reason: `attached thread ${a} died`, retryable: false });
      } finally {
        this.unfreeze();
      }
      this.onEvent(`attached thread ${a} is gone: reconciled (its admitted tasks run; results dropped)`);
      if (!this.drainAdopted(a)) this.adopted.add(a);
      return true;
    };
    if (!run()) this.backlog.push(run);
  }

  /** Drain a dead attachment's completions; true once nothing of it is left (slot freed). */
  private drainAdopted(a: number): boolean {
    const i32 = this.i32;
    const ring = this.compRings[a]!;
    let pos = ring.head();
    while (ring.readable(pos)) {
      const cell = ring.cellWord(pos);
      const kind = i32[cell + C_KIND]!;
      const t = i32[cell + C_TOKEN]!;
      const gen = i32[cell + C_GEN]!;
      this.codec.discard(cell, this.L.maxAttachments + i32[cell + C_PRODUCER]!);
      pos = (pos + 1) | 0;
      ring.release(pos);
      if (kind & CF_TOMBSTONE) continue;
      const tw = this.mem.tokenWord(a, t);
      const word = Atomics.load(i32, tw);
      if (word === TK_FREE || genOf(word) !== gen) continue;
      free(i32, tw); // with the release below: the supervisor never runs inside a freeze here
      const p = i32[this.mem.tokenMetaWord(a, t)]!;
      releaseSlots(i32, this.mem.producerWord(p, P_PACKED), this.mem.globalWord);
      i32[this.mem.statWord(a, p, S_RESOLVED + lowOf(kind))]!++;
    }
    for (let t = 0; t < this.L.tokenCapacity; t++) {
      if (Atomics.load(i32, this.mem.tokenWord(a, t)) !== TK_FREE) return false;
    }
    // Its books: a submit it died in counts as not admitted, so admitted = resolved.
    for (let p = 0; p < this.L.maxProducers; p++) {
      let resolved = 0;
      for (let o = 0; o < OUTCOMES.length; o++) resolved += i32[this.mem.statWord(a, p, S_RESOLVED + o)]!;
      i32[this.mem.statWord(a, p, S_ADMITTED)] = resolved;
    }

    // Nothing of it is live: its payload arena holds only chunks of cells still to be skipped.
    const referenced = new Set<number>();
    for (const r of this.subRings) {
      this.forEachPublished(r, (cell) => {
        const kind = i32[cell + C_KIND]!;
        if (i32[cell + C_ATT] === a && (kind & (CF_SPILLED | CF_TOMBSTONE)) === CF_SPILLED) referenced.add(i32[cell + C_SPILL]!);
      });
    }
    arenaScavenge(this.mem, a, referenced);
    releaseAttachment(i32, this.mem.attachWord(a, A_STATE));
    return true;
  }
}

/** Worker stdout/stderr reach the parent's, each line prefixed with the worker's slot. */
function attributeOutput(worker: Worker, w: number): void {
  const prefix = `[sluice worker ${w}] `;
  const pipe = (from: NodeJS.ReadableStream | null, to: NodeJS.WriteStream): void => {
    if (from === null) return;
    unrefStdio(from);
    let partial = '';
    from.setEncoding('utf8');
    from.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop()!;
      if (lines.length > 0) to.write(lines.map((l) => prefix + l + '\n').join(''));
    });
    from.on('end', () => { if (partial) to.write(prefix + partial + '\n'); });
  };
  pipe(worker.stdout, process.stdout);
  pipe(worker.stderr, process.stderr);
}

/**
 * With `stdout: true`, Node refs the worker's internal port as soon as the parent reads the
 * stream, until the worker exits: an idle runtime would keep the process alive whatever
 * worker.unref() says (design 4.7). Node's own default stdio (no `stdout: true`) is piped with
 * that flag (kIncrementsPortRef) off; do the same. The flag is internal: if a Node version does
 * not have it, nothing changes (and test/lifecycle.test.ts fails).
 */
function unrefStdio(stream: NodeJS.ReadableStream): void {
  const flag = Object.getOwnPropertySymbols(stream).find((s) => s.description === 'kIncrementsPortRef');
  if (flag !== undefined) (stream as unknown as Record<symbol, unknown>)[flag] = false;
}

function key(a: number, t: number, gen: number): number {
  return (a * 0x10000 + t) * 0x200000 + gen; // < 2^53: a < 256, t < 2^16, gen < 2^21
}
