/**
 * Attachment: one thread's connection to a runtime. The thread that started the runtime is
 * attachment 0; every Runtime.attach() claims another (§4.7 attach). It is the composition root
 * of what that thread owns, one concern per file of src/runtime/submit/:
 *   - token-table.ts  which token indices are live, their generation, what each resolves;
 *   - release.ts      Complete step 7's books: token word FREE and slots back, in the window;
 *   - drain.ts        consuming its completion ring (it is the only consumer), resolve, retry;
 *   - cancel.ts       cancel (§4.5) and this thread's part of close (§4.7);
 *   - pump.ts         draining without blocking its event loop (§4.4);
 * and the views the submit path (src/runtime/producer.ts, §4.1) needs: the submission rings,
 * the spill arena's writer (codec), the window (§4.10), routing's view, the gate guesses.
 */
import {
  A_START, A_STATE, A_THREAD_ID, A_TID, A_HEAD, A_WINDOW, H_BARRIER, H_HOOKS, H_STARTING, Memory,
  W_CPU_MASK, W_FAILED, W_HEAD, W_RUN_TOKEN, W_WAKER, plainPublish,
} from '../../shm/layout.js';
import { activate as activateAttachment, claim as claimAttachment } from '../../shm/words/attachment.js';
import { ThreadWindow } from '../../shm/window.js';
import { loadState } from '../../shm/words/token.js';
import { type RouteView } from '../routing.js';
import { currentThreadIdentity } from '../native/liveness.js';
import { loadAffinity, nativeFutex } from '../native/affinity.js';
import { Ring } from '../../shm/ring.js';
import { useNativeFutex, wake } from '../../shm/waker.js';
import { S_REJECTED } from '../../admission/reasons.js';
import { Clock, MonotonicClock } from '../../admission/clock.js';
import { TickSource } from '../../admission/tick.js';
import type { ThreadReadLog } from '../recording.js';
import type { RouteSnapshot } from '../routing.js';
import { wasmDecide, type WasmDecide } from '../../admission/wasm-gate.js';
import { Codec } from '../codec.js';
import { type RunSink, Token } from '../token.js';
import { threadId } from 'node:worker_threads';
import { RUN_SINK, TokenTable, type Callback } from './token-table.js';
import { SlotReturn } from './release.js';
import { Drain } from './drain.js';
import { Pump } from './pump.js';
import { cancel } from './cancel.js';
import type { Seam } from '../../trace/seam.js';
import type { SubmitLineage } from '../producer.js';
import { GuardView } from '../guard-house.js';
import { loadAcquire } from '../../shm/order.js';

/** RouteView.currentCpu without rule 2 (routing.ts). */
function noCpu(): number { return -1; }
/** RouteView.currentCpu with rule 2: the addon's getcpu (only set when the addon loaded). */
function addonCpu(): number { return loadAffinity().addon!.currentCpu(); }

export class Attachment {
  readonly i32: Int32Array;
  readonly layout: Memory['layout'];
  /** Submission rings, one per worker (this thread is one of their producers). */
  readonly rings: Ring[];
  /** This thread's completion ring (it is the only consumer: drain.ts). */
  readonly completions: Ring;
  readonly codec: Codec;
  /** This thread's window (§4.10; shm/window.ts). */
  readonly window: ThreadWindow;
  /** Test-only pause points enabled (runtime/testing/hooks.ts). */
  readonly hooks: boolean;
  /** Preference chains by weight (set by the runtime handle; used to re-route retries). */
  chains: readonly Int32Array[] = [];
  readonly stateW: number;
  readonly globalW: number;
  readonly workerWakerW: Int32Array;
  /** What this thread's routing reads (routing.ts). */
  readonly routeView: RouteView;
  /** The recording seam (src/trace/seam.ts): null unless recording. Set once, before any submit. */
  seam: Seam | null = null;
  /** A worker's attachment made by sluice/task: the running task (lineage, §4.14). Null elsewhere. */
  lineage: SubmitLineage | null = null;
  readonly table: TokenTable;
  readonly slots: SlotReturn;
  /** Whether the gates of producer p are switched off (benchmark only): SlotReturn's array, read per submit. */
  readonly ungated: Uint8Array;
  readonly drain: Drain;
  readonly pump: Pump;
  private idSeq = 0;
  /**
   * This handle stopped admitting (an attached runtime's drain() or close(), §4.7): its
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
  readonly globalGuess: number;
  /** Steps 2-3's common case in one WebAssembly call, when the memory is a WebAssembly.Memory (wasm-gate.ts). */
  fastGate: WasmDecide | null;
  /** A full recording's read log (recording.ts, §4.15 step 5), installed around this thread's decisions; null otherwise. */
  readLog: ThreadReadLog | null = null;
  /** A recording's copy of the words route() reads (routing.ts RouteSnapshot, §4.15 step 6); null when not recording. */
  routeSnapshot: RouteSnapshot | null = null;
  /** The admission tick of this thread's rate-limited decisions (tick.ts). */
  readonly ticks: TickSource;
  /**
   * Word of this attachment's token 0 in the submit-tick table (metrics, docs/design.md §2.5),
   * or -1 when the runtime keeps no histograms.
   */
  readonly tickBase: number;
  /**
   * The submit ticks' clock (µs since the runtime's epoch, whatever clock admission uses), read
   * as admission's is (tick.ts): one reading serves up to TICK_REUSE submits of one turn; the
   * pump expires it. Null when the runtime keeps no histograms.
   */
  readonly submitTicks: TickSource | null;
  /** This thread's side of the Guard House (guard-house.ts, §4.16). */
  readonly guard: GuardView;

  constructor(readonly mem: Memory, readonly index: number, readonly clock: Clock) {
    // This thread wakes workers that may sleep in the native futex: it must wake them that way.
    useNativeFutex(nativeFutex());
    const L = mem.layout;
    this.i32 = mem.i32;
    this.layout = L;
    this.rings = [];
    this.workerWakerW = new Int32Array(L.workers);
    const runW = new Int32Array(L.workers);
    const tailW = new Int32Array(L.workers);
    const headW = new Int32Array(L.workers);
    const cpuMaskW = new Int32Array(L.workers);
    const plain = plainPublish(mem.i32); // §3.2: the workers run the process barrier before they sleep
    for (let w = 0; w < L.workers; w++) {
      this.rings.push(new Ring(mem.i32, w, mem.tailWord(w), mem.workerWord(w, W_HEAD), mem.subRingByte(w), L.ringCapacity, plain));
      this.workerWakerW[w] = mem.workerWord(w, W_WAKER);
      runW[w] = mem.workerWord(w, W_RUN_TOKEN);
      tailW[w] = mem.tailWord(w);
      headW[w] = mem.workerWord(w, W_HEAD);
      cpuMaskW[w] = mem.workerWord(w, W_CPU_MASK);
    }
    // Ties go to this CPU's worker only when this thread parks as soon as it has submitted
    // (spin 0) and so hands its CPU over; a polling pump would compete with the worker it woke
    // (routing.ts, rule 2).
    const local = loadAffinity().addon !== null && L.spinMicros === 0;
    this.routeView = {
      i32: mem.i32, tailW, headW, runW, cpuMaskW, startingW: H_STARTING,
      currentCpu: local ? addonCpu : noCpu, // module functions: one call target for every runtime
    };
    this.completions = new Ring(
      mem.i32, L.workers + index, mem.tailWord(L.workers + index), mem.attachWord(index, A_HEAD),
      mem.compRingByte(index), L.tokenCapacity,
    );
    this.codec = new Codec(mem, index);
    this.window = new ThreadWindow(mem.i32, mem.attachWord(index, A_WINDOW), mem.freezeWord, mem.i32[H_BARRIER] === 1);
    this.hooks = mem.i32[H_HOOKS] === 1;
    this.stateW = mem.stateWord;
    this.globalW = mem.globalWord;
    this.gateGuess = new Int32Array(mem.sab, mem.guessByte(index), L.maxProducers + 1);
    this.globalGuess = L.maxProducers;
    this.fastGate = wasmDecide(mem.wasm);
    this.ticks = new TickSource(clock);
    this.tickBase = mem.metrics ? mem.tokenTickWord(index, 0) : -1;
    this.submitTicks = mem.metrics ? new TickSource(new MonotonicClock(mem.epochMicros())) : null;
    this.guard = new GuardView(mem, index, clock, this);
    this.table = new TokenTable(L.tokenCapacity);
    this.shapeKeeper = Token._create(this, 0, 0, -1, 0, -1);
    this.slots = new SlotReturn(mem, index, this.window, this.gateGuess, this.globalGuess);
    this.ungated = this.slots.ungated;
    this.drain = new Drain(this);
    this.pump = new Pump(this);
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


  /** Live admissions of this thread. */
  get outstanding(): number { return this.table.outstanding; }

  // ---- the submit path's hand-over (§4.1 steps 5 and 7) ----

  /**
   * A Token that is never handed out, held for the attachment's life: V8 holds a class's hidden
   * classes (maps) weakly, so a GC that finds no Token alive frees them and discards every
   * optimized function that embedded one ("weak objects"): submit, track, the Token constructor.
   * The first submits after an idle GC then run unoptimized while V8 compiles them again. One
   * live instance keeps the maps, and the code with them (docs/performance.md, fifth session).
   */
  private readonly shapeKeeper: Token;

  /** Record an admitted token (§4.1 step 7) and make sure its completion will be drained. */
  track(t: number, producer: number, deadlineMs: number): Token {
    const table = this.table;
    const token = Token._create(this, t, table.gens[t]!, producer, deadlineMs, this.idSeq++ * this.layout.maxAttachments + this.index);
    table.tokens[t] = token;
    table.outstanding++;
    this.pump.want();
    return token;
  }

  /** Record an admission on the callback path: no Token object, nothing allocated. */
  trackCallback(t: number, producer: number, cb: Callback, tag: number): void {
    const table = this.table;
    table.callbacks[t] = cb;
    table.cbTags[t] = tag;
    table.cbProducers[t] = producer;
    table.outstanding++;
    this.pump.want();
  }

  /**
   * Record an rt.run admission without a Token (§4.6, Producer._submitRun): a callback-path
   * admission whose callback is RUN_SINK and whose result settles `sink` (drain.ts). It takes a
   * token id as a Token would.
   */
  trackRun(t: number, producer: number, sink: RunSink): void {
    const table = this.table;
    table.callbacks[t] = RUN_SINK;
    table.sinks[t] = sink;
    table.runIds[t] = this.idSeq++ * this.layout.maxAttachments + this.index;
    table.cbTags[t] = 0;
    table.cbProducers[t] = producer;
    table.outstanding++;
    this.pump.want();
  }

  countRejection(producer: number, reason: number): void {
    this.i32[this.mem.statWord(this.index, producer, S_REJECTED + reason)]!++;
  }

  wakeWorker(w: number): void { wake(this.i32, this.workerWakerW[w]!); }

  /**
   * Whether every worker of weight class `weightIndex`'s chain was retired (it kept dying, §4.8
   * step 7): then a full ring is no capacity problem but 'no-workers'. Only on a refused claim.
   */
  chainRetired(weightIndex: number): boolean {
    const chain = this.chains[weightIndex]!;
    for (let i = 0; i < chain.length; i++) if (loadAcquire(this.i32, this.mem.workerWord(chain[i]!, W_FAILED)) !== 1) return false;
    return true;
  }

  // ---- what a Token asks of its attachment ----

  /** token.cancel() (§4.5, cancel.ts); `why`: an abandoned token's message (a signal with abandonOnAbort). */
  cancel(token: Token, force: boolean, why?: string): boolean { return cancel(this, token, force, why); }

  /** State bits of a live token's word (for Token.state). */
  tokenState(t: number): number { return loadState(this.i32, this.tokenWordOf(t)); }

  /** §4.4 step 0 (pump.ts). */
  pollOne(): number { return this.pump.pollOne(); }

  /** Stop the pump and free this thread's timers (after everything resolved, or at close). */
  dispose(): void { this.pump.dispose(); }
}
