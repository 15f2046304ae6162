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
  A_HEAD, A_START, A_STATE, A_THREAD_ID, A_TID, A_WAKER, A_WINDOW, C_GEN, C_KIND, C_PRODUCER, C_TOKEN, H_HOOKS, Memory, P_PACKED,
  W_CPU_MASK, W_FAILED, W_HEAD, W_KILL_ATT, W_KILL_GEN, W_KILL_TOKEN, W_RUN_TOKEN, W_WAKER,
} from '../../shm/layout.js';
import { CF_RETRYABLE, CF_TOMBSTONE, lowOf } from '../../shm/words/cell.js';
import { writeSubmission } from '../cells.js';
import { activate as activateAttachment, claim as claimAttachment } from '../../shm/words/attachment.js';
import { RING_FULL } from '../../shm/ring.js';
import { ThreadWindow } from '../../shm/window.js';
import { forceFree, free, loadState, markPending, nextGen, retract } from '../../shm/words/token.js';
import { route, type RouteView } from '../routing.js';
import { currentThreadIdentity } from '../native/liveness.js';
import { loadAffinity, nativeFutex, spinYield } from '../native/affinity.js';
import { POLL_ONE_MS, POLL_TURN_MS, SPIN_POLLS, YIELD_AFTER_MS } from '../native/spin.js';
import { Ring } from '../../shm/ring.js';
import { WAKER_PARKED, Waker, useNativeFutex, wake } from '../../shm/waker.js';
import { releaseSlots } from '../../admission/gate.js';
import { S_REJECTED, S_RESOLVED } from '../../admission/reasons.js';
import { Clock } from '../../admission/clock.js';
import { TickSource } from '../../admission/tick.js';
import { wasmDecide, type WasmDecide } from '../../admission/wasm-gate.js';
import { Codec, PREPARE_FULL } from '../codec.js';
import { O_ABANDONED, O_FULFILLED, O_REJECTED, O_RETRACTED, Token, outcomeError } from '../token.js';

type Callback = (err: unknown, value: unknown, tag: number) => void;
import { AbandonedError, PayloadError, RetractedError, thrownText } from '../../errors.js';
import { threadId } from 'node:worker_threads';
import { callUser, reportUncaught } from '../user-code.js';

const PUMP_IDLE = 0;
const PUMP_SCHEDULED = 1;
const PUMP_PARKED = 2;
/** Completions drained per window (bounds how long a supervisor freeze may wait for this thread). */
const DRAIN_CHUNK = 64;

export class Attachment {
  readonly i32: Int32Array;
  readonly layout: Memory['layout'];
  /** Submission rings, one per worker (this thread is one of their producers). */
  readonly rings: Ring[];
  /** This thread's completion ring (it is the only consumer). */
  readonly completions: Ring;
  readonly codec: Codec;
  /** This thread's window (docs/design.md 4.10; shm/window.ts). */
  readonly window: ThreadWindow;
  /** Test-only pause points enabled (runtime/hooks.ts). */
  readonly hooks: boolean;
  /** Preference chains by weight (set by the runtime handle; used to re-route retries). */
  chains: readonly Int32Array[] = [];
  readonly stateW: number;
  readonly globalW: number;
  readonly workerWakerW: Int32Array;
  /** Word index of each worker's run record (routing counts a running task as occupancy). */
  readonly workerRunW: Int32Array;
  /** What this thread's routing reads (routing.ts). */
  readonly routeView: RouteView;
  readonly spinMs: number;

  private readonly tokens: Array<Token | undefined>;
  /** Callback-path admissions, by token index (preallocated: no per-task allocation). */
  private readonly callbacks: Array<Callback | undefined>;
  private readonly cbTags: Int32Array;
  private readonly cbProducers: Int32Array;
  private readonly gens: Int32Array;
  private readonly free: Int32Array;
  private freeTop: number;
  private head: number;
  private idSeq = 0;
  outstanding = 0;
  /**
   * This handle stopped admitting (an attached runtime's drain() or close(), design 4.7): its
   * submits are rejected with this reason index (R_DRAINING, then R_CLOSED once detached);
   * 0 while it admits. Other threads are unaffected. Written by this thread only.
   */
  halted = 0;

  /**
   * This thread's guesses of the gate words (gate.ts): [p] is producer p's packed word, and
   * [globalGuess] the global count. This attachment's guess table in shared memory (so the
   * WebAssembly fast path reads the same guesses), written only by this thread: only ever an
   * expected value for a CAS.
   */
  readonly gateGuess: Int32Array;
  /** Steps 2-3's common case in one WebAssembly call, when the memory is a WebAssembly.Memory (wasm-gate.ts). */
  readonly fastGate: WasmDecide | null;
  /**
   * Benchmark-only (ungateForBenchmark, for the "gates off" row): 1 = this thread's submits for
   * producer p skip steps 2-3 and their completions give back no slots. Never set in production.
   */
  readonly ungated: Uint8Array;

  // Drain chunks (drain()): slots released and callbacks due, held until the chunk's window closes.
  private deferring = false;
  private draining = false;
  private deferredCount = 0;
  private readonly released: Int32Array;
  private readonly releasedProducers: Int32Array;
  private releasedCount = 0;
  private releasedTotal = 0;
  private readonly deferredCb: Array<Callback | undefined> = new Array<Callback | undefined>(DRAIN_CHUNK).fill(undefined);
  private readonly deferredValue: unknown[] = new Array<unknown>(DRAIN_CHUNK).fill(undefined);
  private readonly deferredOutcome = new Int32Array(DRAIN_CHUNK);
  private readonly deferredTag = new Int32Array(DRAIN_CHUNK);
  readonly globalGuess: number;
  /** The admission tick of this thread's rate-limited decisions (tick.ts). */
  readonly ticks: TickSource;

  private readonly waker: Waker;
  private pump = PUMP_IDLE;
  private get pumpState(): number { return this.pump; }
  /** An admission tick may be reused only while the pump is scheduled: its next tick expires it. */
  private set pumpState(s: number) {
    this.pump = s;
    this.ticks.reusable = s === PUMP_SCHEDULED;
  }
  private spinUntil = 0;
  /** When the pump was last scheduled or had a turn: step 0 keeps the event loop waiting at most POLL_TURN_MS past it. */
  private turnAt = 0;
  /** @internal Step 0's budget per poll: min(spin, POLL_ONE_MS); 0 with spin 0 (0 turns step 0 off). */
  pollOneMs: number;
  /** @internal How long step 0 may keep the event loop waiting (POLL_TURN_MS; tests may widen it). */
  pollTurnMs = POLL_TURN_MS;
  private readonly keepAlive: NodeJS.Timeout;
  private readonly pause = spinYield();
  private readonly addon = loadAffinity().addon;
  /** Bit mask of the CPUs this thread may use (CPUs 0..31); null until first needed. */
  private allowedMask: number | null = null;
  /** @internal How often the pump moved this thread off an awake worker's CPU (diagnostics). */
  coreMoves = 0;
  /** Called after each drained batch (rt.run waiters, back-pressure edges). */
  onDrained: (() => void) | null = null;

  constructor(readonly mem: Memory, readonly index: number, readonly clock: Clock) {
    // This thread wakes workers that may sleep in the native futex: it must wake them that way.
    useNativeFutex(nativeFutex());
    const L = mem.layout;
    this.i32 = mem.i32;
    this.layout = L;
    this.rings = [];
    this.workerWakerW = new Int32Array(L.workers);
    this.workerRunW = new Int32Array(L.workers);
    const tailW = new Int32Array(L.workers);
    const headW = new Int32Array(L.workers);
    const cpuMaskW = new Int32Array(L.workers);
    for (let w = 0; w < L.workers; w++) {
      this.rings.push(new Ring(mem.i32, w, mem.tailWord(w), mem.workerWord(w, W_HEAD), mem.subRingByte(w), L.ringCapacity));
      this.workerWakerW[w] = mem.workerWord(w, W_WAKER);
      this.workerRunW[w] = mem.workerWord(w, W_RUN_TOKEN);
      tailW[w] = mem.tailWord(w);
      headW[w] = mem.workerWord(w, W_HEAD);
      cpuMaskW[w] = mem.workerWord(w, W_CPU_MASK);
    }
    // Ties go to this CPU's worker only when this thread parks as soon as it has submitted
    // (spin 0) and so hands its CPU over; a polling pump would compete with the worker it woke
    // (routing.ts, rule 2).
    const addon = this.addon;
    const local = addon !== null && L.spinMicros === 0;
    this.routeView = {
      i32: mem.i32, tailW, headW, runW: this.workerRunW, cpuMaskW,
      currentCpu: local ? () => addon.currentCpu() : () => -1,
    };
    this.completions = new Ring(
      mem.i32, L.workers + index, mem.tailWord(L.workers + index), mem.attachWord(index, A_HEAD),
      mem.compRingByte(index), L.tokenCapacity,
    );
    this.codec = new Codec(mem, index);
    this.window = new ThreadWindow(mem.i32, mem.attachWord(index, A_WINDOW), mem.freezeWord);
    this.hooks = mem.i32[H_HOOKS] === 1;
    this.stateW = mem.stateWord;
    this.globalW = mem.globalWord;
    this.spinMs = L.spinMicros / 1000;
    this.pollOneMs = Math.min(this.spinMs, POLL_ONE_MS);
    this.gateGuess = new Int32Array(mem.sab, mem.guessByte(index), L.maxProducers + 1);
    this.fastGate = wasmDecide(mem.wasm);
    this.ungated = new Uint8Array(L.maxProducers);
    this.released = new Int32Array(L.maxProducers);
    this.releasedProducers = new Int32Array(L.maxProducers);
    this.globalGuess = L.maxProducers;
    this.ticks = new TickSource(clock);
    const T = L.tokenCapacity;
    this.tokens = new Array<Token | undefined>(T).fill(undefined);
    this.callbacks = new Array<Callback | undefined>(T).fill(undefined);
    this.cbTags = new Int32Array(T);
    this.cbProducers = new Int32Array(T);
    this.gens = new Int32Array(T);
    this.free = new Int32Array(T);
    for (let t = 0; t < T; t++) this.free[t] = T - 1 - t; // pop order 0, 1, 2, ...
    this.freeTop = T;
    this.head = this.completions.head();
    this.waker = new Waker(mem.i32, mem.attachWord(index, A_WAKER));
    this.keepAlive = setInterval(noop, 2 ** 30);
    this.keepAlive.unref();
    Atomics.store(this.i32, mem.attachWord(index, A_THREAD_ID), threadId);
    if (index === 0) {
      const me = currentThreadIdentity();
      Atomics.store(this.i32, mem.attachWord(0, A_START), me.start);
      Atomics.store(this.i32, mem.attachWord(0, A_TID), me.tid);
    }
  }

  /**
   * Claim a free attachment slot (1..A-1) for the calling thread, or -1. FREE -> CLAIMING by
   * CAS; the identity is recorded; then ACTIVE. The liveness check reads only ACTIVE slots, so it
   * never judges this thread by the identity of the slot's previous (dead) owner.
   */
  static claimSlot(mem: Memory): number {
    for (let a = 1; a < mem.layout.maxAttachments; a++) {
      if (!claimAttachment(mem.i32, mem.attachWord(a, A_STATE))) continue;
      const me = currentThreadIdentity();
      Atomics.store(mem.i32, mem.attachWord(a, A_START), me.start);
      Atomics.store(mem.i32, mem.attachWord(a, A_TID), me.tid);
      Atomics.store(mem.i32, mem.attachWord(a, A_WINDOW), 0);
      activateAttachment(mem.i32, mem.attachWord(a, A_STATE));
      return a;
    }
    return -1;
  }

  tokenWordOf(t: number): number { return this.mem.tokenWord(this.index, t); }

  /** Enter this thread's window (docs/design.md 4.10, thread side: shm/window.ts). Nested windows count. */
  enterWindow(): void { this.window.enter(); }

  leaveWindow(): void { this.window.leave(); }

  // ---- submit side (called by Producer.submit after admission) ----

  /** Take a token index for a new admission. Never fails: live tokens <= global slots <= capacity. */
  takeToken(): number {
    if (this.freeTop === 0) throw new Error('sluice: token table exhausted (invariant broken: live tokens > global slots)');
    return this.free[--this.freeTop]!;
  }

  generation(t: number): number { return this.gens[t]!; }

  /** Record an admitted token and make sure its completion will be drained. */
  track(t: number, producer: number, deadlineMs: number): Token {
    const token = Token._create(this, t, this.gens[t]!, producer, deadlineMs, this.idSeq++ * this.layout.maxAttachments + this.index);
    this.tokens[t] = token;
    this.outstanding++;
    if (this.pumpState === PUMP_IDLE) this.schedulePump();
    return token;
  }

  /** Record an admission on the callback path: no Token object, nothing allocated. */
  trackCallback(t: number, producer: number, cb: Callback, tag: number): void {
    this.callbacks[t] = cb;
    this.cbTags[t] = tag;
    this.cbProducers[t] = producer;
    this.outstanding++;
    if (this.pumpState === PUMP_IDLE) this.schedulePump();
  }

  countRejection(producer: number, reason: number): void {
    this.i32[this.mem.statWord(this.index, producer, S_REJECTED + reason)]!++;
  }

  wakeWorker(w: number): void { wake(this.i32, this.workerWakerW[w]!); }

  /**
   * Whether every worker of weight class `weightIndex`'s chain was retired (it kept dying, 4.8
   * step 7): then a full ring is no capacity problem but 'no-workers'. Only on a refused claim.
   */
  chainRetired(weightIndex: number): boolean {
    const chain = this.chains[weightIndex]!;
    for (let i = 0; i < chain.length; i++) if (Atomics.load(this.i32, this.mem.workerWord(chain[i]!, W_FAILED)) !== 1) return false;
    return true;
  }

  // ---- completion side ----

  /** Drain every published completion; resolve each token exactly once. Returns how many. */
  drain(): number {
    const ring = this.completions;
    if (this.draining) return 0; // a callback of this drain: the loop below picks up what arrived
    this.draining = true;
    let n = 0;
    // Chunks of at most DRAIN_CHUNK completions, each inside one window (4.10) and without
    // user code: every slot the chunk frees is given back (in bulk) before the window closes,
    // and only then do the chunk's callbacks run. Promise reactions run later anyway.
    try {
      while (ring.readable(this.head)) {
        this.enterWindow();
        this.deferring = true;
        try {
          n += this.drainChunk();
        } finally {
          this.flushReleases();
          this.deferring = false;
          this.leaveWindow();
        }
        this.runDeferred();
      }
    } finally {
      this.draining = false;
    }
    if (this.retryQueue.length > 0) this.retryPending();
    if (n > 0) this.checkIdle();
    return n;
  }

  private drainChunk(): number {
    const ring = this.completions;
    const i32 = this.i32;
    const attachments = this.layout.maxAttachments;
    let pos = this.head;
    let n = 0;
    while (n < DRAIN_CHUNK && ring.readable(pos)) {
      const cell = ring.cellWord(pos);
      const kind = i32[cell + C_KIND]!;
      const t = i32[cell + C_TOKEN]!;
      const gen = i32[cell + C_GEN]!;
      const worker = i32[cell + C_PRODUCER]!;
      let outcome = lowOf(kind);
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
      n++;
      if (outcome < 0 || this.gens[t] !== gen) continue; // tombstone, stale or duplicate
      const token = this.tokens[t];
      if (token === undefined) {
        if (this.callbacks[t] !== undefined) this.resolveCallback(t, outcome, value);
        continue;
      }
      if (outcome === O_ABANDONED && (kind & CF_RETRYABLE) !== 0 && token._retriesLeft > 0) {
        token._retriesLeft--;
        if (!this.repush(token)) this.retryQueue.push(token);
        continue;
      }
      // An 'abandoned' or 'retracted' completion carries its reason as a string.
      if (outcome === O_ABANDONED && typeof value === 'string') value = new AbandonedError(value);
      else if (outcome === O_RETRACTED && typeof value === 'string') value = new RetractedError(value);
      this.resolve(token, outcome, value);
    }
    ring.release(pos); // every cell of the chunk is copied out; workers may reuse them
    this.head = pos;
    return n;
  }

  /** Give back the slots released while deferring: global first, then each producer (releaseSlots' order). */
  private flushReleases(): void {
    const total = this.releasedTotal;
    if (total === 0) return;
    const i32 = this.i32;
    const guess = this.gateGuess;
    guess[this.globalGuess] = Atomics.sub(i32, this.globalW, total) - total;
    for (let k = 0; k < this.releasedCount; k++) {
      const p = this.releasedProducers[k]!;
      const c = this.released[p]!;
      guess[p] = Atomics.sub(i32, this.mem.producerWord(p, P_PACKED), c) - c;
      this.released[p] = 0;
    }
    this.releasedCount = 0;
    this.releasedTotal = 0;
  }

  /** Run the callbacks of the chunk just drained, in completion order. One that throws does not stop the others. */
  private runDeferred(): void {
    const k = this.deferredCount;
    this.deferredCount = 0;
    for (let i = 0; i < k; i++) {
      const cb = this.deferredCb[i]!;
      const outcome = this.deferredOutcome[i]!;
      const value = this.deferredValue[i];
      this.deferredCb[i] = undefined;
      this.deferredValue[i] = undefined;
      try {
        if (outcome === O_FULFILLED) cb(undefined, value, this.deferredTag[i]!);
        else cb(outcomeError(outcome, value), undefined, this.deferredTag[i]!);
      } catch (err) {
        reportUncaught(err); // the caller's error, reported as uncaught, with this thread's books intact
      }
    }
  }

  /**
   * Callbacks resolved outside a drain (retractPending, abandonRemaining): queued while the
   * books move, run by runLate() once every window is left.
   */
  private readonly late: Array<{ cb: Callback; outcome: number; value: unknown; tag: number }> = [];

  private runLate(): void {
    for (const c of this.late.splice(0)) {
      if (c.outcome === O_FULFILLED) callUser(c.cb, undefined, c.value, c.tag);
      else callUser(c.cb, outcomeError(c.outcome, c.value), undefined, c.tag);
    }
  }

  /**
   * Run a token again after its worker died (its task declared retries): same token, same slots,
   * next generation, a fresh ring cell. False when no cell (or arena space) is free right now.
   */
  private repush(token: Token): boolean {
    const task = token._task!;
    const w = route(this.chains[task.weightIndex]!, this.routeView);
    const ring = this.rings[w]!;
    let prepared: number;
    try {
      prepared = this.codec.prepare(token._payload); // user code (getters): it may throw this time
    } catch (err) {
      // From the pump: the retry fails, the pump does not. Its first try was abandoned anyway.
      this.resolve(token, O_ABANDONED, new AbandonedError(`its worker died and the retry could not encode the payload again: ${thrownText(err)}`));
      return true;
    }
    if (prepared === PREPARE_FULL) return false;
    this.enterWindow();
    try {
      const pos = ring.claim();
      if (pos === RING_FULL) {
        this.codec.abandon();
        return false;
      }
      const t = token._index;
      const gen = (this.gens[t] = nextGen(token._gen));
      token._gen = gen;
      markPending(this.i32, this.tokenWordOf(t), gen);
      writeSubmission(ring, pos, this.codec, task.id, task.weightIndex, this.index, t, gen, token._producer, token._deadlineMs);
    } finally {
      this.leaveWindow();
    }
    this.wakeWorker(w);
    return true;
  }

  private readonly retryQueue: Token[] = [];

  private retryPending(): void {
    while (this.retryQueue.length > 0 && this.repush(this.retryQueue[0]!)) this.retryQueue.shift();
  }

  /** Resolve a token: free its index, give back its slots, count it, settle it. Exactly once. */
  resolve(token: Token, outcome: number, value: unknown): void {
    const t = token._index;
    this.tokens[t] = undefined;
    this.gens[t] = nextGen(token._gen);
    if (token._cleanup !== null) {
      try {
        token._cleanup(); // ours (a timer, an intrinsic removeEventListener); the books must not depend on it
      } catch (err) {
        reportUncaught(err);
      }
    }
    this.release(t, token._producer, outcome);
    token._settle(outcome, value);
  }

  /**
   * Complete step 7, in a window: the token word FREE and its slots released together. While
   * draining, the slots are counted and given back in bulk before the chunk's window closes.
   */
  private release(t: number, producer: number, outcome: number): void {
    this.enterWindow();
    free(this.i32, this.tokenWordOf(t));
    if (this.ungated[producer] !== 0) {
      // gates off (benchmark): nothing was taken
    } else if (this.deferring) {
      if (this.released[producer]++ === 0) this.releasedProducers[this.releasedCount++] = producer;
      this.releasedTotal++;
    } else {
      releaseSlots(this.i32, this.mem.producerWord(producer, P_PACKED), this.globalW, this.gateGuess, producer, this.globalGuess);
    }
    this.i32[this.mem.statWord(this.index, producer, S_RESOLVED + outcome)]!++;
    this.leaveWindow();
    this.free[this.freeTop++] = t;
    this.outstanding--;
  }

  /** resolve() for a callback-path admission. */
  private resolveCallback(t: number, outcome: number, value: unknown): void {
    const cb = this.callbacks[t]!;
    const tag = this.cbTags[t]!;
    const producer = this.cbProducers[t]!;
    this.callbacks[t] = undefined;
    this.gens[t] = nextGen(this.gens[t]!);
    this.release(t, producer, outcome);
    if (this.deferring) {
      const k = this.deferredCount++;
      this.deferredCb[k] = cb;
      this.deferredOutcome[k] = outcome;
      this.deferredValue[k] = value;
      this.deferredTag[k] = tag;
    } else {
      this.late.push({ cb, outcome, value, tag }); // user code: runLate(), after the books
    }
  }

  /**
   * token.cancel() (docs/design.md 4.5): retract if still pending: the worker's PENDING -> RUNNING
   * CAS decides the race. With force, a running token is abandoned at once (its result will be
   * dropped) and, if its synchronous part is running, the watchdog terminates that worker only.
   */
  cancel(token: Token, force: boolean): boolean {
    if (token._outcome >= 0 || this.tokens[token._index] !== token) return false;
    let done: boolean;
    this.enterWindow(); // the state CAS and the release that follows it, together
    try {
      done = this.cancelInWindow(token, force);
    } finally {
      this.leaveWindow();
    }
    if (!done) return false;
    // Books exact and the window left: now what may run user code (rt.run waiters, 'clear' edges).
    this.checkIdle();
    if (this.onDrained !== null) this.onDrained();
    return true;
  }

  private cancelInWindow(token: Token, force: boolean): boolean {
    const i32 = this.i32;
    const w = this.tokenWordOf(token._index);
    const t = token._index;
    if (retract(i32, w, token._gen)) {
      this.resolve(token, O_RETRACTED, new RetractedError('task was cancelled before it started'));
    } else {
      if (!force) return false;
      const worker = forceFree(i32, w, token._gen);
      if (worker < 0) return false; // not running (finishing: let it), or it finished meanwhile
      this.resolve(token, O_ABANDONED, new AbandonedError('cancelled with force while running'));
      const kw = this.mem.workerWord(worker, 0);
      i32[kw + W_KILL_ATT] = this.index;
      i32[kw + W_KILL_GEN] = token._gen;
      Atomics.store(i32, kw + W_KILL_TOKEN, t + 1);
    }
    if (this.outstanding === 0 && this.pumpState === PUMP_PARKED) wake(i32, this.waker.word);
    return true;
  }

  /** State bits of a live token's word (for Token.state). */
  tokenState(t: number): number { return loadState(this.i32, this.tokenWordOf(t)); }

  /** Resolves once nothing this thread admitted is outstanding. */
  whenIdle(): Promise<void> {
    if (this.outstanding === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private readonly idleWaiters: Array<() => void> = [];

  private checkIdle(): void {
    if (this.outstanding === 0 && this.idleWaiters.length > 0) for (const r of this.idleWaiters.splice(0)) r();
  }

  /** Close, timed out: retract everything of this thread that has not started (Tokens and callbacks). */
  retractPending(): void {
    for (const token of this.tokens) if (token !== undefined) token.cancel();
    for (let t = 0; t < this.callbacks.length; t++) {
      if (this.callbacks[t] === undefined) continue;
      this.enterWindow();
      try {
        if (retract(this.i32, this.tokenWordOf(t), this.gens[t]!)) {
          this.resolveCallback(t, O_RETRACTED, new RetractedError('the runtime closed before the task started'));
        }
      } finally {
        this.leaveWindow();
      }
    }
    this.checkIdle();
    this.runLate();
  }

  /** Close, workers stopped: whatever is still outstanding ran when they stopped. */
  abandonRemaining(reason: string): void {
    for (const token of this.tokens) if (token !== undefined) this.resolve(token, O_ABANDONED, new AbandonedError(reason));
    for (let t = 0; t < this.callbacks.length; t++) {
      if (this.callbacks[t] !== undefined) this.resolveCallback(t, O_ABANDONED, new AbandonedError(reason));
    }
    this.checkIdle();
    this.runLate();
  }

  // ---- pump ----

  schedulePump(): void {
    if (this.pumpState !== PUMP_IDLE) return;
    this.pumpState = PUMP_SCHEDULED;
    this.turnAt = performance.now();
    this.spinUntil = this.turnAt + this.spinMs;
    setImmediate(this.pumpTick);
  }

  /**
   * Pump step 0 (docs/design.md 4.4), the one-task poll: when this thread has exactly one task
   * outstanding and is about to give its event loop a turn to wait for it (a token being
   * awaited; a pump tick whose callbacks submitted the next task), poll the completion ring for
   * up to min(spin, POLL_ONE_MS) and drain what arrives: the awaiter or callback runs without
   * an event-loop turn (~2 µs here, more than a trivial task's whole trip through a spinning
   * worker). Not inside a drain (a callback awaiting), and not once POLL_TURN_MS have passed
   * since the pump last had a turn. Returns how many completions it drained.
   */
  pollOne(): number {
    if (this.outstanding !== 1 || this.pollOneMs === 0 || this.draining) return 0;
    const start = performance.now();
    if (start - this.turnAt > this.pollTurnMs) return 0;
    const ring = this.completions;
    const until = start + this.pollOneMs;
    for (;;) {
      for (let i = 0; i < SPIN_POLLS; i++) {
        if (ring.readable(this.head)) {
          const n = this.drain();
          if (n > 0) {
            this.spinUntil = start + this.spinMs;
            if (this.onDrained !== null) this.onDrained();
          }
          return n;
        }
      }
      if (performance.now() >= until) return 0;
    }
  }

  private readonly pumpTick = (): void => {
    this.ticks.expire(); // a new turn: the next admission reads the clock
    let n = this.drain();
    if (n === 0 && this.spinMs === 0 && this.pause !== null && this.outstanding > 0) {
      // Spin 0: yield the CPU once before parking. A worker woken on this CPU (routing.ts rule 2)
      // runs its task now and this drain finds the result: no waitAsync, no wake back.
      this.pause();
      n = this.drain();
    }
    // One clock reading per tick: the spin budget's restart, or the check against it.
    const now = performance.now();
    this.turnAt = now;
    if (n > 0) {
      this.spinUntil = now + this.spinMs;
      if (this.onDrained !== null) this.onDrained();
      // A callback that submitted the next task (a sequential loop on the callback path): step 0.
      while (this.pollOne() > 0);
    }
    if (this.outstanding === 0) {
      this.pumpState = PUMP_IDLE;
      return;
    }
    if (n > 0 || now < this.spinUntil) {
      // Nothing for a few µs: if the worker we wait for shares this CPU, leave it (when another
      // CPU is free of awake workers), or at least let it run.
      if (n === 0 && this.pause !== null && now - (this.spinUntil - this.spinMs) > YIELD_AFTER_MS) {
        this.leaveBusyCore();
        this.pause();
      }
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

  /**
   * Pump step 2a (docs/design.md 4.4): if this thread runs on the CPU of an awake (spinning or
   * running) pinned worker, and may run on a CPU that no awake pinned worker owns, move there:
   * narrow this thread's affinity to those CPUs (the kernel migrates the thread before the call
   * returns), then restore the mask at once. The thread is never left pinned.
   *
   * Why: the kernel does not know a spinning worker's CPU is spoken for. When the worker parks
   * (e.g. through one of this thread's GC pauses) its CPU goes idle and the idle balancer pulls
   * this thread onto it; once the worker wakes, both stay there (the worker is pinned, this
   * thread is cache-hot), a round trip costs two context switches (~20 µs instead of ~3), and
   * it lasts until the periodic balancer separates them, tens of ms later.
   */
  private leaveBusyCore(): void {
    const addon = this.addon;
    if (addon === null) return;
    const i32 = this.i32;
    let busy = 0;
    for (let w = 0; w < this.workerWakerW.length; w++) {
      const m = Atomics.load(i32, this.mem.workerWord(w, W_CPU_MASK));
      if (m === 0 || (m & (m - 1)) !== 0) continue; // unpinned, or pinned to several CPUs
      if (Atomics.load(i32, this.workerWakerW[w]!) !== WAKER_PARKED) busy |= m;
    }
    if (busy === 0) return;
    const cpu = addon.currentCpu();
    if (cpu >= 32 || (busy & (1 << cpu)) === 0) return;
    try {
      this.allowedMask ??= maskOf(addon.getAffinity());
      if ((this.allowedMask & ~busy) === 0) return; // nowhere to go: every CPU of ours is busy
      const allowed = addon.getAffinity(); // read again: only now is it worth an allocation
      this.allowedMask = maskOf(allowed);
      const target = allowed.filter((c) => c >= 32 || (busy & (1 << c)) === 0);
      if (target.length === 0) return;
      try {
        addon.setAffinity(target);
      } finally {
        addon.setAffinity(allowed);
      }
      this.coreMoves++;
    } catch {
      this.allowedMask = 0; // the OS refuses: never try again (and the pump carries on)
    }
  }

  private readonly onWake = (): void => {
    this.keepAlive.unref();
    this.waker.running();
    this.pumpState = PUMP_SCHEDULED;
    this.turnAt = performance.now();
    this.spinUntil = this.turnAt + this.spinMs;
    this.pumpTick();
  };

  /** Stop the pump and free this thread's timers (after everything resolved, or at close). */
  dispose(): void {
    clearInterval(this.keepAlive);
    if (this.pumpState === PUMP_PARKED) wake(this.i32, this.waker.word);
  }
}

function noop(): void {}

function maskOf(cpus: readonly number[]): number {
  let m = 0;
  for (const c of cpus) if (c < 32) m |= 1 << c;
  return m;
}
