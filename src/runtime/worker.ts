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
  A_HEAD, A_WAKER, C_ATT, C_DEADLINE, C_GEN, C_KIND, C_PRODUCER, C_TOKEN, CF_TOMBSTONE, CF_WEIGHT_MASK,
  CF_WEIGHT_SHIFT, H_HOOKS, Memory, RT_CLOSED, TK_DONE, TK_GEN_SHIFT, TK_PENDING, TK_RUNNING, TK_WORKER_SHIFT,
  W_ASYNC_INFLIGHT, W_WINDOW, W_CPU_MASK, W_EXECUTED, W_HEAD, W_PARKS, W_ROUTED_HEAVY, W_RUN_ATT,
  W_RUN_DEADLINE, W_RUN_GEN, W_RUN_TOKEN, W_THREAD_ID, W_TID, W_WAKER,
} from '../shm/layout.js';
import { Ring, RING_FULL } from '../shm/ring.js';
import { Waker, useNativeFutex, wake } from '../shm/waker.js';
import { MonotonicClock } from '../admission/clock.js';
import { Codec, PREPARE_FULL } from './codec.js';
import { O_ABANDONED, O_FULFILLED, O_REJECTED } from './token.js';
import { PayloadError } from '../errors.js';
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
}

/** Tasks run between two yields to the event loop while async tasks are in flight. */
const YIELD_EVERY = 64; // a guess: small enough that async continuations are not starved

type TaskFn = (payload: unknown) => unknown;

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
  private readonly workerBits: number;
  private readonly parksW: number;
  private readonly routedW: number;
  private readonly runW: number;
  private readonly windowW: number;
  private readonly freezeW: number;
  private readonly hooks: boolean;
  private readonly clock: MonotonicClock;
  /** Polite spinning (sched_yield), when the native addon is present. */
  private readonly pause = spinYield();
  private head: number;
  private asyncInFlight = 0;
  /** True while a continuation (setImmediate / waitAsync) of the loop is pending. */
  private scheduled = false;
  /** True while the loop waits for an async task to settle (async limit reached). */
  private blockedOnLimit = false;

  constructor(private readonly mem: Memory, private readonly w: number, private readonly fns: TaskFn[]) {
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
    this.workerBits = w << TK_WORKER_SHIFT;
    this.parksW = mem.workerWord(w, W_PARKS);
    this.routedW = mem.workerWord(w, W_ROUTED_HEAVY);
    this.runW = mem.workerWord(w, 0);
    this.windowW = mem.workerWord(w, W_WINDOW);
    this.freezeW = mem.freezeWord;
    this.hooks = mem.i32[H_HOOKS] === 1;
    this.clock = new MonotonicClock(mem.epochMicros());
    this.head = Atomics.load(mem.i32, mem.workerWord(w, W_HEAD));
    Atomics.store(mem.i32, mem.workerWord(w, W_THREAD_ID), threadId);
  }

  readonly loop = (): void => {
    this.scheduled = false;
    const ring = this.ring;
    const i32 = this.i32;
    let sinceYield = 0;
    for (;;) {
      if (this.asyncInFlight >= this.asyncLimit) {
        this.blockedOnLimit = true; // the next settle resumes the loop
        return;
      }
      if (ring.readable(this.head)) {
        this.runOne();
        if (this.asyncInFlight > 0 && ++sinceYield >= YIELD_EVERY) return this.resumeSoon();
        continue;
      }
      if (Atomics.load(this.i32, this.stateW) === RT_CLOSED) return this.exit();
      // Spin: cheap to stay awake for about as long as a futex wake costs.
      if (this.spinMs > 0) {
        this.waker.spinning();
        const start = performance.now();
        const until = start + this.spinMs;
        const pause = this.pause;
        for (;;) {
          // Poll the ring a few dozen times per clock read (spin.ts: the clock allocates).
          let polls = 0;
          while (polls < SPIN_POLLS && !ring.readable(this.head)) polls++;
          if (polls < SPIN_POLLS) break;
          const now = performance.now();
          if (now >= until) break;
          // Spin hard first (a peer on another core answers within a few µs), then politely.
          if (pause !== null && now - start > YIELD_AFTER_MS) pause();
        }
        if (ring.readable(this.head)) { this.waker.running(); continue; }
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
    }
  };

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
    const base = gen << TK_GEN_SHIFT;
    const tw = this.mem.tokenWord(att, t);
    if (Atomics.compareExchange(i32, tw, base | TK_PENDING, base | this.workerBits | TK_RUNNING) !== (base | TK_PENDING)) {
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
    i32[this.mem.workerWord(this.w, W_EXECUTED)]!++;
    const weight = (kind & CF_WEIGHT_MASK) >>> CF_WEIGHT_SHIFT;
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
      result = this.fns[kind & 0xffff]!(payload);
    } catch (err) {
      Atomics.store(i32, runW + W_RUN_TOKEN, 0);
      this.complete(att, t, gen, O_REJECTED, err);
      return;
    }
    Atomics.store(i32, runW + W_RUN_TOKEN, 0);
    if (result !== null && typeof result === 'object' && typeof (result as PromiseLike<unknown>).then === 'function') {
      this.startAsync(result as PromiseLike<unknown>, att, t, gen, deadlineMs);
      return;
    }
    this.complete(att, t, gen, O_FULFILLED, result);
  }

  /** An async task: complete when it settles; past its deadline, abandon it (it runs on, ignored). */
  private startAsync(p: PromiseLike<unknown>, att: number, t: number, gen: number, deadlineMs: number): void {
    this.asyncInFlight++;
    Atomics.store(this.i32, this.mem.workerWord(this.w, W_ASYNC_INFLIGHT), this.asyncInFlight);
    let timer: NodeJS.Timeout | null = null;
    if (deadlineMs > 0) {
      timer = setTimeout(() => {
        timer = null;
        this.complete(att, t, gen, O_ABANDONED, `deadline of ${deadlineMs} ms exceeded (async task left running, its result ignored)`);
      }, deadlineMs);
    }
    const settle = (outcome: number, v: unknown): void => {
      if (timer !== null) clearTimeout(timer);
      this.settled(att, t, gen, outcome, v);
    };
    p.then((v) => settle(O_FULFILLED, v), (e) => settle(O_REJECTED, e));
  }

  private settled(att: number, t: number, gen: number, outcome: number, value: unknown): void {
    this.asyncInFlight--;
    Atomics.store(this.i32, this.mem.workerWord(this.w, W_ASYNC_INFLIGHT), this.asyncInFlight);
    this.complete(att, t, gen, outcome, value);
    if (this.blockedOnLimit) {
      this.blockedOnLimit = false;
      this.resumeSoon();
    }
  }

  private release(pos: number): void {
    this.head = (pos + 1) | 0;
    this.ring.release(this.head);
  }

  /** Steps 5-6. An 'abandoned' outcome carries its reason as a short string. */
  private complete(att: number, t: number, gen: number, outcome: number, value: unknown): void {
    const i32 = this.i32;
    // Encode first (outside the window: it may wait for arena space). A result that cannot be
    // carried becomes a 'rejected' PayloadError.
    let tag: number;
    try {
      tag = this.codec.prepare(value, 'result');
    } catch (err) {
      outcome = O_REJECTED;
      value = err;
      tag = this.codec.prepare(err, 'result');
    }
    // The arena frees as the submitter drains results; it never blocks on us, so wait for it.
    for (let waited = 0; tag === PREPARE_FULL; waited++) {
      Atomics.wait(i32, this.stateW, i32[this.stateW]!, Math.min(1 + waited, 10));
      tag = this.codec.prepare(value, 'result');
    }
    // DONE .. published runs inside this worker's window (docs/design.md 4.10).
    for (;;) {
      Atomics.store(i32, this.windowW, 1);
      if (Atomics.load(i32, this.freezeW) === 0) break;
      Atomics.store(i32, this.windowW, 0);
      Atomics.wait(i32, this.freezeW, 1, 5);
    }
    const running = (gen << TK_GEN_SHIFT) | this.workerBits | TK_RUNNING;
    if (Atomics.compareExchange(i32, this.mem.tokenWord(att, t), running, (gen << TK_GEN_SHIFT) | this.workerBits | TK_DONE) !== running) {
      Atomics.store(i32, this.windowW, 0); // abandoned meanwhile: drop the result
      this.codec.abandon();
      return;
    }
    if (this.hooks) pauseAt(this.mem, HOOK_POINTS['complete:done'], this.w + 1);
    const ring = this.completions[att]!;
    let pos = ring.claim();
    while (pos === RING_FULL) pos = ring.claim(); // only with a duplicate from recovery in flight: the owner drains it
    if (this.hooks) pauseAt(this.mem, HOOK_POINTS['complete:claimed'], this.w + 1);
    writeCompletion(i32, ring.cellWord(pos), this.codec, outcome, att, t, gen, this.w);
    ring.publish(pos);
    Atomics.store(i32, this.windowW, 0);
    wake(i32, this.compWakers[att]!);
  }

  private exit(): void {
    this.waker.running();
    process.exit(0);
  }
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

/** Fill a completion cell (after codec.prepare of its value). Shared with recovery. */
export function writeCompletion(
  i32: Int32Array, cell: number, codec: Codec, outcome: number, att: number, t: number, gen: number, worker: number,
  flags = 0,
): void {
  codec.write(cell, outcome | flags);
  i32[cell + C_ATT] = att;
  i32[cell + C_TOKEN] = t;
  i32[cell + C_GEN] = gen;
  i32[cell + C_PRODUCER] = worker;
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
  const mod = await loadTaskModule(data.tasks);
  // A pending Atomics.waitAsync does not keep a thread alive: this does, until close exits.
  setInterval(() => {}, 2 ** 30);
  const loop = new WorkerLoop(mem, data.index, mod.names.map((n) => mod.fns[n]!));
  parentPort!.postMessage({ type: 'ready', names: mod.names });
  loop.loop();
}

if (!isMainThread && parentPort !== null && (workerData as { sluiceWorker?: boolean } | null)?.sluiceWorker) {
  main(workerData as WorkerData).catch((err: unknown) => {
    parentPort!.postMessage({ type: 'error', error: err instanceof Error ? { name: err.name, message: err.message, stack: err.stack } : { message: String(err) } });
  });
}
