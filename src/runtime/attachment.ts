/**
 * Attachment: one thread's connection to a runtime. The thread that started the runtime is
 * attachment 0; every Runtime.attach() claims another. It owns:
 *   - its token table (which tokens are outstanding, and their generation),
 *   - its completion ring, which only it consumes (workers write into it),
 *   - its spill arena for payloads,
 *   - the pump that drains completions without blocking its event loop.
 *
 * Pump (completion side of the waker protocol, for a thread that must not block):
 *   1. While tokens are outstanding, drain the completion ring from a setImmediate tick.
 *   2. Nothing arrived: keep polling from setImmediate for the spin budget (event loop stays live).
 *   3. Budget spent: announce PARKED, re-check the ring, then Atomics.waitAsync; a worker that
 *      publishes a completion and sees PARKED wakes us (waker.ts).
 *   4. No tokens outstanding: stop; nothing runs and nothing keeps the process alive.
 */
import {
  A_ACTIVE, A_HEAD, A_INTENT_POS, A_INTENT_RING, A_STATE, A_THREAD_ID, A_WAKER, C_ATT, C_GEN, C_KIND,
  C_PRODUCER, C_TOKEN, CF_TOMBSTONE, Memory, S_ADMITTED, S_REJECTED, S_RESOLVED, TK_GEN_MASK, TK_GEN_SHIFT,
  TK_PENDING, TK_RETRACTED, W_HEAD, W_WAKER, P_PACKED,
} from '../shm/layout.js';
import { Ring } from '../shm/ring.js';
import { Waker, wake } from '../shm/waker.js';
import { releaseSlots } from '../admission/gate.js';
import { Clock } from '../admission/clock.js';
import { Codec } from './codec.js';
import { O_REJECTED, O_RETRACTED, Token } from './token.js';
import { PayloadError, RetractedError } from '../errors.js';
import { threadId } from 'node:worker_threads';

const PUMP_IDLE = 0;
const PUMP_SCHEDULED = 1;
const PUMP_PARKED = 2;

export class Attachment {
  readonly i32: Int32Array;
  readonly layout: Memory['layout'];
  /** Submission rings, one per worker (this thread is one of their producers). */
  readonly rings: Ring[];
  /** This thread's completion ring (it is the only consumer). */
  readonly completions: Ring;
  readonly codec: Codec;
  readonly intentRingW: number;
  readonly intentPosW: number;
  readonly stateW: number;
  readonly globalW: number;
  readonly workerWakerW: Int32Array;
  readonly spinMs: number;

  private readonly tokens: Array<Token | undefined>;
  private readonly gens: Int32Array;
  private readonly free: Int32Array;
  private freeTop: number;
  private head: number;
  private idSeq = 0;
  outstanding = 0;

  private readonly waker: Waker;
  private pumpState = PUMP_IDLE;
  private spinUntil = 0;
  private readonly keepAlive: NodeJS.Timeout;
  /** Called after each drained batch (rt.run waiters, back-pressure edges). */
  onDrained: (() => void) | null = null;

  constructor(readonly mem: Memory, readonly index: number, readonly clock: Clock) {
    const L = mem.layout;
    this.i32 = mem.i32;
    this.layout = L;
    this.rings = [];
    this.workerWakerW = new Int32Array(L.workers);
    for (let w = 0; w < L.workers; w++) {
      this.rings.push(new Ring(mem.i32, w, mem.tailWord(w), mem.workerWord(w, W_HEAD), mem.subRingByte(w), L.ringCapacity));
      this.workerWakerW[w] = mem.workerWord(w, W_WAKER);
    }
    this.completions = new Ring(
      mem.i32, L.workers + index, mem.tailWord(L.workers + index), mem.attachWord(index, A_HEAD),
      mem.compRingByte(index), L.tokenCapacity,
    );
    this.codec = new Codec(mem, index);
    this.intentRingW = mem.attachWord(index, A_INTENT_RING);
    this.intentPosW = mem.attachWord(index, A_INTENT_POS);
    this.stateW = mem.stateWord;
    this.globalW = mem.globalWord;
    this.spinMs = L.spinMicros / 1000;
    const T = L.tokenCapacity;
    this.tokens = new Array<Token | undefined>(T).fill(undefined);
    this.gens = new Int32Array(T);
    this.free = new Int32Array(T);
    for (let t = 0; t < T; t++) this.free[t] = T - 1 - t; // pop order 0, 1, 2, ...
    this.freeTop = T;
    this.head = this.completions.head();
    this.waker = new Waker(mem.i32, mem.attachWord(index, A_WAKER));
    this.keepAlive = setInterval(noop, 2 ** 30);
    this.keepAlive.unref();
    Atomics.store(this.i32, mem.attachWord(index, A_THREAD_ID), threadId);
  }

  /** Claim a free attachment slot (1..A-1) for the calling thread, or -1. */
  static claimSlot(mem: Memory): number {
    for (let a = 1; a < mem.layout.maxAttachments; a++) {
      if (Atomics.compareExchange(mem.i32, mem.attachWord(a, A_STATE), 0, A_ACTIVE) === 0) return a;
    }
    return -1;
  }

  tokenWordOf(t: number): number { return this.mem.tokenWord(this.index, t); }

  // ---- submit side (called by Producer.submit after admission) ----

  /** Take a token index for a new admission. Never fails: live tokens <= global slots <= capacity. */
  takeToken(): number {
    if (this.freeTop === 0) throw new Error('sluice: token table exhausted (invariant broken: live tokens > global slots)');
    return this.free[--this.freeTop]!;
  }

  generation(t: number): number { return this.gens[t]!; }

  /** Record an admitted token and make sure its completion will be drained. */
  track(t: number, gen: number, producer: number): Token {
    const token = new Token(this, t, gen, producer, this.idSeq++ * this.layout.maxAttachments + this.index);
    this.tokens[t] = token;
    this.mem.i32[this.mem.statWord(this.index, producer, S_ADMITTED)]!++;
    this.outstanding++;
    if (this.pumpState === PUMP_IDLE) this.schedulePump();
    return token;
  }

  countRejection(producer: number, reason: number): void {
    this.i32[this.mem.statWord(this.index, producer, S_REJECTED + reason)]!++;
  }

  wakeWorker(w: number): void { wake(this.i32, this.workerWakerW[w]!); }

  // ---- completion side ----

  /** Drain every published completion; resolve each token exactly once. Returns how many. */
  drain(): number {
    const ring = this.completions;
    const i32 = this.i32;
    const attachments = this.layout.maxAttachments;
    let pos = this.head;
    let n = 0;
    while (ring.readable(pos)) {
      const cell = ring.cellWord(pos);
      const kind = i32[cell + C_KIND]!;
      const t = i32[cell + C_TOKEN]!;
      const gen = i32[cell + C_GEN]!;
      const worker = i32[cell + C_PRODUCER]!;
      let outcome = kind & 0xffff;
      let value: unknown;
      if (kind & CF_TOMBSTONE) {
        outcome = -1;
      } else {
        try {
          value = this.codec.read(cell, attachments + worker);
        } catch (err) {
          outcome = O_REJECTED;
          value = new PayloadError(`task result could not be decoded: ${(err as Error).message}`, { cause: err });
        }
      }
      pos = (pos + 1) | 0;
      ring.release(pos); // the cell is copied out; workers may reuse it
      n++;
      const token = this.tokens[t];
      if (outcome >= 0 && token !== undefined && token._gen === gen) this.resolve(token, outcome, value);
    }
    this.head = pos;
    return n;
  }

  /** Resolve a token: free its index, give back its slots, count it, settle it. Exactly once. */
  resolve(token: Token, outcome: number, value: unknown): void {
    const t = token._index;
    this.tokens[t] = undefined;
    this.gens[t] = (token._gen + 1) & TK_GEN_MASK;
    Atomics.store(this.i32, this.tokenWordOf(t), 0);
    this.free[this.freeTop++] = t;
    releaseSlots(this.i32, this.mem.producerWord(token._producer, P_PACKED), this.globalW);
    this.i32[this.mem.statWord(this.index, token._producer, S_RESOLVED + outcome)]!++;
    this.outstanding--;
    token._settle(outcome, value);
  }

  /** token.cancel(): retract if still pending (the worker's PENDING -> RUNNING CAS decides the race). */
  cancel(token: Token): boolean {
    if (token._outcome >= 0 || this.tokens[token._index] !== token) return false;
    const w = this.tokenWordOf(token._index);
    const pending = (token._gen << TK_GEN_SHIFT) | TK_PENDING;
    if (Atomics.compareExchange(this.i32, w, pending, (token._gen << TK_GEN_SHIFT) | TK_RETRACTED) !== pending) return false;
    this.resolve(token, O_RETRACTED, new RetractedError('task was cancelled before it started'));
    if (this.outstanding === 0 && this.pumpState === PUMP_PARKED) wake(this.i32, this.waker.word);
    if (this.onDrained !== null) this.onDrained();
    return true;
  }

  /** Every outstanding token of this thread (for close). */
  liveTokens(): Token[] {
    return this.tokens.filter((t): t is Token => t !== undefined);
  }

  // ---- pump ----

  schedulePump(): void {
    if (this.pumpState !== PUMP_IDLE) return;
    this.pumpState = PUMP_SCHEDULED;
    this.spinUntil = performance.now() + this.spinMs;
    setImmediate(this.pumpTick);
  }

  private readonly pumpTick = (): void => {
    const n = this.drain();
    if (n > 0) {
      this.spinUntil = performance.now() + this.spinMs;
      if (this.onDrained !== null) this.onDrained();
    }
    if (this.outstanding === 0) {
      this.pumpState = PUMP_IDLE;
      return;
    }
    if (n > 0 || performance.now() < this.spinUntil) {
      setImmediate(this.pumpTick);
      return;
    }
    this.waker.announcePark();
    if (this.completions.readable(this.head)) {
      this.waker.running();
      setImmediate(this.pumpTick);
      return;
    }
    const woken = this.waker.parkAsync();
    if (woken === null) {
      setImmediate(this.pumpTick);
      return;
    }
    this.pumpState = PUMP_PARKED;
    this.keepAlive.ref(); // a pending waitAsync alone does not keep the process alive
    woken.then(this.onWake, this.onWake);
  };

  private readonly onWake = (): void => {
    this.keepAlive.unref();
    this.waker.running();
    this.pumpState = PUMP_SCHEDULED;
    this.spinUntil = performance.now() + this.spinMs;
    this.pumpTick();
  };

  /** Stop the pump and free this thread's timers (after everything resolved, or at close). */
  dispose(): void {
    clearInterval(this.keepAlive);
    if (this.pumpState === PUMP_PARKED) wake(this.i32, this.waker.word);
  }
}

function noop(): void {}
