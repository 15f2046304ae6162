/**
 * The worker loop: pop, run with containment, complete, park. This file is a worker_threads
 * entry point; it owns one worker slot (its submission ring and its block) while it lives.
 *
 * Pop (docs/design.md, "Run"):
 *   1. Read the cell at head once it is published; copy the payload out (frees its spill chunk).
 *   2. CAS the token word PENDING -> RUNNING|worker. Losing means it was retracted: skip it.
 *      Winning records, before the cell is released, that this token started here.
 *   3. Store head + 1: the cell is free for producers.
 *   4. Run the task. A throw or rejection resolves the token 'rejected'; the loop carries on.
 * Complete:
 *   5. CAS the token word RUNNING -> DONE (losing means it was abandoned meanwhile: drop it).
 *   6. Claim a cell in the submitter's completion ring (never full: it has a cell per token),
 *      write the outcome and value, publish, and wake the submitter if it is parked.
 * Park: spin for the spin budget, announce PARKED, re-check the ring, then sleep: Atomics.wait
 * when no async task is in flight (nothing else can need this thread), Atomics.waitAsync when
 * one is, so its continuations keep running.
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import {
  A_HEAD, A_WAKER, C_ATT, C_GEN, C_KIND, C_PRODUCER, C_TOKEN, CF_TOMBSTONE, CF_WEIGHT_MASK, CF_WEIGHT_SHIFT, Memory, RT_CLOSED, TK_DONE,
  TK_GEN_SHIFT, TK_PENDING, TK_RUNNING, TK_WORKER_SHIFT, W_ASYNC_INFLIGHT, W_EXECUTED, W_HEAD, W_INTENT_POS,
  W_INTENT_RING, W_PARKS, W_ROUTED_HEAVY, W_THREAD_ID, W_WAKER, W_TID, W_CPU_MASK,
} from '../shm/layout.js';
import { Ring, RING_FULL } from '../shm/ring.js';
import { Waker, wake } from '../shm/waker.js';
import { Codec, PREPARE_FULL } from './codec.js';
import { O_FULFILLED, O_REJECTED } from './token.js';
import { PayloadError } from '../errors.js';
import { loadTaskModule } from './tasks-module.js';
import { loadAffinity, pinCurrentThread } from './affinity.js';
import { threadId } from 'node:worker_threads';

export interface WorkerData {
  sluiceWorker: true;
  sab: SharedArrayBuffer;
  index: number;
  tasks: string;
  /** CPUs to pin this thread to (affinity), or null. */
  cpus: number[] | null;
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
  private readonly attachments: number;
  private readonly workerBits: number;
  private readonly parksW: number;
  private readonly routedW: number;
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
    this.attachments = L.maxAttachments;
    this.workerBits = w << TK_WORKER_SHIFT;
    this.parksW = mem.workerWord(w, W_PARKS);
    this.routedW = mem.workerWord(w, W_ROUTED_HEAVY);
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
        const until = performance.now() + this.spinMs;
        while (!ring.readable(this.head) && performance.now() < until);
        if (ring.readable(this.head)) { this.waker.running(); continue; }
      }
      this.waker.announcePark();
      if (ring.readable(this.head) || Atomics.load(this.i32, this.stateW) === RT_CLOSED) {
        this.waker.running();
        continue;
      }
      i32[this.parksW]!++;
      if (this.asyncInFlight > 0) {
        // Let async continuations (and timers, I/O) of tasks run while we wait.
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
    // Step 1: copy the payload out.
    let payload: unknown;
    let decodeError: unknown = null;
    try {
      payload = this.codec.read(cell, att);
    } catch (err) {
      decodeError = err;
    }
    // Step 2: PENDING -> RUNNING, or it was retracted.
    const tw = this.mem.tokenWord(att, t);
    const base = gen << TK_GEN_SHIFT;
    const won = Atomics.compareExchange(i32, tw, base | TK_PENDING, base | this.workerBits | TK_RUNNING) === (base | TK_PENDING);
    // Step 3: release the cell.
    this.release(pos);
    if (!won) return;
    // Step 4: run.
    i32[this.mem.workerWord(this.w, W_EXECUTED)]!++;
    if (decodeError !== null) {
      this.complete(att, t, gen, O_REJECTED, new PayloadError(`payload could not be decoded: ${(decodeError as Error).message}`));
      return;
    }
    const weight = (kind & CF_WEIGHT_MASK) >>> CF_WEIGHT_SHIFT;
    if (weight < 3) i32[this.routedW + weight]!++;
    const fn = this.fns[kind & 0xffff]!;
    let result: unknown;
    try {
      result = fn(payload);
    } catch (err) {
      this.complete(att, t, gen, O_REJECTED, err);
      return;
    }
    if (result !== null && typeof result === 'object' && typeof (result as PromiseLike<unknown>).then === 'function') {
      this.asyncInFlight++;
      Atomics.store(i32, this.mem.workerWord(this.w, W_ASYNC_INFLIGHT), this.asyncInFlight);
      (result as PromiseLike<unknown>).then(
        (v) => this.settled(att, t, gen, O_FULFILLED, v),
        (e) => this.settled(att, t, gen, O_REJECTED, e),
      );
      return;
    }
    this.complete(att, t, gen, O_FULFILLED, result);
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

  /** Steps 5-6. */
  private complete(att: number, t: number, gen: number, outcome: number, value: unknown): void {
    const i32 = this.i32;
    const running = (gen << TK_GEN_SHIFT) | this.workerBits | TK_RUNNING;
    const tw = this.mem.tokenWord(att, t);
    if (Atomics.compareExchange(i32, tw, running, (gen << TK_GEN_SHIFT) | this.workerBits | TK_DONE) !== running) return;
    let tag: number;
    try {
      tag = this.codec.prepare(value, 'result');
    } catch (err) {
      outcome = O_REJECTED;
      tag = this.codec.prepare(err, 'result');
    }
    // The arena frees as the submitter drains results; it never blocks on us, so wait for it.
    for (let waited = 0; tag === PREPARE_FULL; waited++) {
      Atomics.wait(i32, this.stateW, i32[this.stateW]!, Math.min(1 + waited, 10));
      tag = this.codec.prepare(value, 'result');
    }
    const ring = this.completions[att]!;
    const intentRing = this.mem.workerWord(this.w, W_INTENT_RING);
    let pos = ring.claim(intentRing, this.mem.workerWord(this.w, W_INTENT_POS));
    while (pos === RING_FULL) pos = ring.claim(intentRing, this.mem.workerWord(this.w, W_INTENT_POS)); // unreachable: a cell per token
    const cell = ring.cellWord(pos);
    this.codec.write(cell, outcome);
    i32[cell + C_ATT] = att;
    i32[cell + C_TOKEN] = t;
    i32[cell + C_GEN] = gen;
    i32[cell + C_PRODUCER] = this.w;
    ring.publish(pos, intentRing);
    wake(i32, this.compWakers[att]!);
  }

  private exit(): void {
    this.waker.running();
    process.exit(0);
  }
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
  if (affinity.addon !== null) {
    Atomics.store(mem.i32, mem.workerWord(data.index, W_TID), affinity.addon.threadId());
    Atomics.store(mem.i32, mem.workerWord(data.index, W_CPU_MASK), cpuMask(affinity.addon.getAffinity()));
  }
  const mod = await loadTaskModule(data.tasks);
  // A pending Atomics.waitAsync does not keep a thread alive: this does, until close exits.
  setInterval(() => {}, 2 ** 30);
  parentPort!.postMessage({ type: 'ready', names: mod.names });
  const loop = new WorkerLoop(mem, data.index, mod.names.map((n) => mod.fns[n]!));
  loop.loop();
}

if (!isMainThread && parentPort !== null && (workerData as { sluiceWorker?: boolean } | null)?.sluiceWorker) {
  main(workerData as WorkerData).catch((err: unknown) => {
    parentPort!.postMessage({ type: 'error', error: err instanceof Error ? { name: err.name, message: err.message, stack: err.stack } : { message: String(err) } });
  });
}
