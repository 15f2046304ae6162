/**
 * The SharedArrayBuffer memory map. This is the only file that knows an offset.
 *
 * One SharedArrayBuffer per runtime, laid out once at start, fixed size after. Every word that
 * is written independently by different threads sits on its own 128-byte block (two 64-byte
 * lines: adjacent-line prefetch makes 64 not enough on x86). Read-mostly configuration shares.
 *
 * Regions, in order (all 128-byte aligned):
 *
 *   header        1 block        configuration (read-only after start)
 *   state         1 block        runtime state word (RUNNING / DRAINING / CLOSED)
 *   global        1 block        admitted-and-unresolved count
 *   hooks         1 block        test-only pause points (see runtime/hooks.ts)
 *   io            IO_SLOTS blocks I/O class slots: in-flight count, class word (words/io.ts)
 *   producers     P blocks       one per producer: packed gate word, refill word, limits
 *   names         P x 64 bytes   producer names (UTF-8), read-mostly
 *   workers       W blocks       waker word, ring head, run record, window flag, counters
 *   attachments   A blocks       waker word, completion head, window flag, owner identity
 *   tails         (W+A) blocks   ring tails: submission rings 0..W-1, completion rings W..W+A-1
 *   stats         A x P x 16 w   per-attachment, per-producer counters: the attachment's thread
 *                                (the supervisor once that thread is dead)
 *   guesses       A x (P+1) w    each attachment's guesses of the gate words (its own thread
 *                                only: a hint for the gates' CAS, gate.ts; 128-byte aligned each)
 *   tokens        A x T words    token state words, one table per attachment
 *   tokenMeta     A x T words    producer index of each live token
 *   tokenIo       A x T words    I/O class slot + 1 of each live token (0 = none; words/io.ts)
 *   arenaCtl      (A+W) blocks   spill arena allocator words: one writer *thread* each (arena.ts)
 *   arenaTags     (A+W) x S/64 w chunk tags, one word per 64-byte granule (arena.ts)
 *   subRings      W x C cells    per-worker submission rings
 *   compRings     A x T cells    per-attachment completion rings
 *   arenas        (A+W) x S      spill arenas: attachments 0..A-1, then workers
 *   metrics       only with H_METRICS (docs/design.md §2.5; shm/words/histogram.ts):
 *     mHeader     1 block        window start (float64 µs since the epoch; rt.resetStats)
 *     mWorkers    W blocks       busy milliseconds of each worker (its thread only: Atomics.add;
 *                                zeroed by a reset)
 *     hists       (M_TASKS + P) x 2 histograms: queue wait, run time; per task id, then per producer
 *     tokenTicks  A x T words    submit tick of each live token (µs, wrapping int32): its submitter,
 *                                before it publishes the cell; read by the worker that claims it
 *   guard         N blocks       the Guard House, one per task: breaker word, since word (any
 *                                thread, CAS: words/breaker.ts), its guard config (written once)
 *   health        A x N x 8 w    per-attachment, per-task calls and outcomes (the attachment's thread)
 *   runTime       W x N x 4 w    per-worker, per-task run count, max and sum (the worker; sum a float64)
 *   tokenTask     A x T words    task id | (probe round epoch + 1) << 16 of each live token (owner, §4.16)
 *
 * W workers, C ring capacity, P producers, A attachments, T token capacity (the next power of
 * two >= globalSlots), S spill bytes per writer, N = MAX_TASKS (512) task slots. A cell is 128 bytes (see CELL_* below).
 */

import { HIST_BYTES, HIST_WORDS } from './words/histogram.js';

export const MAGIC = 0x534c4943; // "SLIC"
export const LAYOUT_VERSION = 12;

export const BLOCK_BYTES = 128;
export const BLOCK_WORDS = BLOCK_BYTES >> 2;
export const CELL_BYTES = 128;
export const CELL_WORDS = CELL_BYTES >> 2;
export const NAME_BYTES = 64;
/** Spill arena chunks start on 64-byte granules; each granule has a tag word (arena.ts). */
export const ARENA_GRANULE = 64;
export const STAT_WORDS = 16;

// ---- header block (word indices relative to the start of the buffer) ----
export const H_MAGIC = 0;
export const H_VERSION = 1;
export const H_TOTAL_BYTES = 2;
export const H_WORKERS = 3;
export const H_RING_CAP = 4;
export const H_GLOBAL_SLOTS = 5;
export const H_MAX_PRODUCERS = 6;
export const H_MAX_ATTACH = 7;
export const H_TOKEN_CAP = 8;
export const H_SPILL_BYTES = 9;
export const H_TASK_COUNT = 10;
export const H_SPIN_US = 11;
export const H_ASYNC_LIMIT = 12;
/** 1 when test-only pause points are enabled (runtime/hooks.ts). */
export const H_HOOKS = 13;
/**
 * Instance id: two random words written at start (words 14..15). A TaskRef carries it and is
 * accepted only by runtime handles over memory holding the same id (task.ts).
 */
export const H_INSTANCE = 14;
/**
 * SHA-256 of the task names and routing chains (words 18..25), written at start: Runtime.attach
 * accepts a handle only when its names and chains hash to it (runtime.ts tableDigest).
 */
export const H_DIGEST = 18;
export const DIGEST_WORDS = 8;
/**
 * Attach's probe word (word 26): Runtime.attach adds 1 through one view and reads it through the
 * other to see that a handle's sab and memory are one memory. Nothing else reads it.
 */
export const H_PROBE = 26;
/**
 * The task table's hash (word 27): a 32-bit hash of the task module's export names, never 0. The
 * first worker thread to load the module stores it (compareExchange from 0); every later thread,
 * replacements included, compares its own before it reports ready and refuses to start on a
 * mismatch (worker/main.ts), so no thread runs tasks by another table's ids.
 */
export const H_NAMES = 27;
/**
 * Worker slots still starting (word 28): bit w (w < 32) is set from the spawn of slot w's thread
 * until it reports ready, and again from its death until its replacement does (§4.7 "Start",
 * §4.8 step 6); cleared when the slot is retired. Written only by the supervisor (the starting
 * thread) with Atomics.or/and; route() reads it with a plain load (a stale bit only makes a
 * worse choice, routing.ts).
 */
export const H_STARTING = 28;
/** Whether slot w is starting, given the H_STARTING word (slots from 32 on never are). */
export function slotStarting(starting: number, w: number): boolean {
  return starting !== 0 && w < 32 && ((starting >>> w) & 1) !== 0;
}
/** 1 when the runtime keeps histograms (RuntimeOptions.metrics): the metrics region exists. */
export const H_METRICS = 29;
/**
 * 1 when the freezer runs a process barrier (membarrier(2), src/runtime/native/barrier.ts) after
 * it stores the freeze word (word 30): every thread's window flag is then stored with a plain
 * store, not a sequentially consistent one (shm/window.ts, docs/design.md §4.10). Written once at
 * start, before any thread that enters a window exists.
 */
export const H_BARRIER = 30;
/**
 * 1 when the submission rings' publishes are plain stores (word 31; docs/design.md §3.2,
 * shm/waker.ts): a producer publishes a cell with a plain store and a worker runs the process
 * barrier between announcing PARKED and its re-check. Written once at start, so every thread of
 * the runtime (producers, workers, the warm-ups' scratch memories) reads the same answer; set
 * only with H_BARRIER, a spin (spin > 0: with spin 0 a worker parks whenever its ring is empty,
 * and a barrier per park would cost more than the publishes save) and workers whose environment
 * gives them the same barrier (runtime/native/affinity.ts workersShareBarrier).
 */
export const H_PLAIN_PUBLISH = 31;
/** Whether this runtime's submission publishes are plain stores (H_PLAIN_PUBLISH). */
export function plainPublish(i32: Int32Array): boolean {
  return i32[H_PLAIN_PUBLISH] === 1;
}
/**
 * Largest layout: byte offsets are turned into word indices with `>> 2` and arena positions are
 * int32, so every offset must stay below 2^31 (and a 64 KiB WebAssembly page of rounding).
 */
export const MAX_LAYOUT_BYTES = 2 ** 31 - 65536;
/** Clock epoch, microseconds since the Unix epoch, as a float64 at byte 64 (words 16..17). */
export const H_EPOCH_F64 = 8; // index into a Float64Array view

// ---- runtime state block (word offsets within it) ----
/** Runtime state: RT_RUNNING / RT_DRAINING / RT_CLOSED. Written by the starting thread. */
export const ST_STATE = 0;
/**
 * Freeze flag (docs/design.md 4.10): 1 while the supervisor reconciles after a thread died.
 * Every window that moves a shared counter or claims a ring cell is entered by storing the
 * thread's window flag, then reading this word (Dekker): a thread that sees it set leaves and
 * waits; the supervisor, after setting it, waits until no live thread's window flag is set.
 */
export const ST_FREEZE = 1;

export const RT_RUNNING = 0;
export const RT_DRAINING = 1;
export const RT_CLOSED = 2;

// ---- producer block (relative to the producer's block) ----
/** 0 free, 1 claiming (name being written), 2 ready. Written once by the registering thread. */
export const P_CLAIM = 0;
/** The gate word: bucket tokens | in flight (its bits: words/gate.ts; its protocol: admission/gate.ts). */
export const P_PACKED = 1;
/** Tokens earned by the refill function up to the last refill (wrapping int32). CAS only. */
export const P_EARNED = 2;
/** Limits (read-only after registration). rate 0 means unlimited (no bucket). */
export const P_RATE = 3;
export const P_BURST = 4;
export const P_SLOTS = 5;
export const P_NAME_LEN = 6;
/** Tick of the last refill in milliseconds (wrapping), to detect a P_EARNED wrap (bucket.ts). */
export const P_LAST_MS = 7;

export const P_CLAIM_FREE = 0;
export const P_CLAIM_BUSY = 1;
export const P_CLAIM_READY = 2;

// ---- I/O class block (one per class slot, words/io.ts; docs/design.md §2.4) ----
/** Admitted-and-unresolved tasks of the class: submitters (CAS), resolvers (sub), the supervisor's recount. */
export const IO_COUNT = 0;
/** key | limit, written once (words/io.ts). */
export const IO_CLASS = 1;
/** Slot 0's block only: 1 once the thread-pool warning was emitted for this runtime (CAS 0 -> 1, runtime/io-class.ts). */
export const IO_WARNED = 2;
/** Slots 0..3: the named classes slow, moderate, fast, insane (admission/io-class.ts IO_CLASS_NAMES). */
export const IO_NAMED = 4;
/** Slots 4..: custom classes ({ limit }), one per task function that declares one, claimed at rt.task(). */
export const IO_CUSTOM = 16;
export const IO_SLOTS = IO_NAMED + IO_CUSTOM;

// ---- worker block ----
/** Waker state word (waker.ts). Written by the worker and by producers that wake it (CAS). */
export const W_WAKER = 0;
/**
 * Submission ring head: stored by the worker thread that owns the slot (ring.ts release), and by
 * the supervisor when it retires the slot (head = tail - capacity: the ring reads full). Stealing
 * siblings read it with an RMW that writes back what it read (ring.ts, runtime/worker/steal.ts stealAt).
 */
export const W_HEAD = 1;
/**
 * Run record: the task whose synchronous part runs now. Written by the worker only:
 * W_RUN_TOKEN = token index + 1 (0 = none) is stored last when a run starts and first (0) when
 * it ends. The watchdog reads it to enforce deadlines and forced cancels.
 */
export const W_RUN_ATT = 3;
export const W_RUN_TOKEN = 4;
export const W_RUN_GEN = 5;
export const W_EXECUTED = 6;
/** Window flag (4.10): 1 while this worker is inside complete() (token DONE .. cell published). */
export const W_WINDOW = 7;
export const W_THREAD_ID = 9;
export const W_ASYNC_INFLIGHT = 10;
export const W_ROUTED_HEAVY = 11;
export const W_ROUTED_MEDIUM = 12;
export const W_ROUTED_LIGHT = 13;
/** Times the worker went to sleep (parkSync or parkAsync). Written by the worker only. */
export const W_PARKS = 15;
/** Kernel thread id (gettid) when the affinity addon is present, else 0. */
export const W_TID = 16;
/** The CPUs the worker is allowed on, as a bit mask of CPUs 0..31 (0 = unknown / unpinned). */
export const W_CPU_MASK = 17;
/** Deadline of the running task, ms since the runtime's epoch (0 = none). Worker only. */
export const W_RUN_DEADLINE = 18;
/**
 * Forced-cancel request: the canceller stores att, gen, then token + 1 (last). The watchdog
 * terminates the worker only if its run record names that same token.
 */
export const W_KILL_ATT = 19;
export const W_KILL_GEN = 20;
export const W_KILL_TOKEN = 21;
/** 0 running, 1 failed (kept dying: not respawned; its ring is frozen full). Supervisor only. */
export const W_FAILED = 22;
/** Times this slot's thread died and was replaced. Supervisor only. */
export const W_RESTARTS = 23;
/** Tasks this worker took from a sibling's ring (docs/design.md 4.2a). Written by the worker only. */
export const W_STOLEN = 24;
/**
 * Heartbeat (docs/design.md 4.8, "A stalled worker"): moves on every pass of the worker's loop,
 * and periodically while it waits on its event loop. Written by the worker only (plain store);
 * the supervisor reads it to tell a stuck loop from a busy one.
 */
export const W_BEAT = 25;

// ---- attachment block ----
/** Who holds the slot: FREE / CLAIMING / ACTIVE / CLOSING (words/attachment.ts). */
export const A_STATE = 0;
export const A_WAKER = 1;
/**
 * Completion ring head: stored by the owning thread; by the supervisor instead once the owner is
 * dead (it drains the ring in the owner's place, supervisor/adopt.ts drainAdopted).
 */
export const A_HEAD = 2;
export const A_THREAD_ID = 3;
/**
 * Window flag (4.10): 1 while this thread is inside a submit (gates .. cell published) or a
 * resolve (token freed .. slots released). Written by the owner only.
 */
export const A_WINDOW = 4;
/** The owner thread's kernel tid and start time (/proc), for liveness checks; 0 if unknown. */
export const A_TID = 7;
export const A_START = 8;

// A_STATE values and transitions: words/attachment.ts.

// ---- stats (per attachment, per producer; one writer: the attachment's thread, or the supervisor once it is dead) ----
// STAT_WORDS words each at statWord(a, p, field); the fields (admitted, one counter per
// rejection reason, one per outcome) are admission/reasons.ts's S_* offsets, which checks that
// they fit.

/** Task functions a module may export (the Guard House's regions are sized for this many; start refuses more). */
export const MAX_TASKS = 512;

// ---- guard block (one per task, the Guard House; docs/design.md §4.16) ----
/** The breaker word (its bits and transitions: words/breaker.ts). Any thread, CAS only. */
export const G_BREAKER = 0;
/** The since word: when and why the breaker's current state began (words/breaker.ts). CAS only. */
export const G_SINCE = 1;
/** Its guard config: 0 none, 1 being written, 2 ready (then G_RATIO..G_MODE are read-only). First writer wins. */
export const G_CFG = 2;
/** failureRatio x 1e6, rounded. */
export const G_RATIO = 3;
export const G_VOLUME = 4;
export const G_WINDOW_MS = 5;
export const G_COOL_MS = 6;
export const G_PROBES = 7;
/** 1 enforce (rejects), 0 observe (computes, never rejects). */
export const G_MODE = 8;
export const G_CFG_NONE = 0;
export const G_CFG_BUSY = 1;
export const G_CFG_READY = 2;

// ---- health (per attachment, per task; one writer: the attachment's thread) ----
export const HEALTH_WORDS = 8;
/** Admitted calls (§4.1 step 5). */
export const HL_CALLS = 0;
/** + outcome code (admission/outcomes.ts): resolved calls by outcome (§4.3 step 7). */
export const HL_OUTCOME = 1;

// ---- run time (per worker, per task; one writer: the worker) ----
export const RUNTIME_WORDS = 4;
export const RN_COUNT = 0;
/** Longest run, µs (int32, saturating). */
export const RN_MAX_US = 1;
/** Sum of runs in µs, a float64 over words 2..3 (8-byte aligned). */
export const RN_SUM_F64 = 2;

// ---- cells (relative to the cell's first word) ----
/** Publication word: pos + 1 once the cell for position pos is readable. Written by its claimer. */
export const C_SEQ = 0;
/** The kind word: task id or outcome | value tag | flags (words/cell.ts). */
export const C_KIND = 1;
export const C_ATT = 2;
export const C_TOKEN = 3;
export const C_GEN = 4;
export const C_PRODUCER = 5; // submission: producer index; completion: worker index
export const C_LEN = 6;
export const C_SPILL = 7; // spill arena position when the value is spilled
export const C_DATA_WORD = 8; // first inline data word
export const C_DATA_BYTE = C_DATA_WORD * 4;
/** Deadline in ms of a submission (0 = none): the cell's last word, after the inline bytes. */
export const C_DEADLINE = CELL_WORDS - 1;
export const C_INLINE_BYTES = C_DEADLINE * 4 - C_DATA_BYTE;

// The kind word C_KIND (its bits and flags CF_*): words/cell.ts.

// ---- metrics (docs/design.md §2.5) ----
/** Task ids with a histogram pair of their own; ids >= M_TASKS - 1 share the last pair. */
export const M_TASKS = 64;
/** Histogram pair: HIST_WAIT (submit -> start), HIST_RUN (start -> end). */
export const HIST_WAIT = 0;
export const HIST_RUN = 1;
/** Worker metrics block: busy milliseconds (its thread only, Atomics.add; zeroed by a reset). */
export const MW_BUSY_MS = 0;

// ---- token state word (per attachment table) ----
// One word per token index at tokenWord(a, t); its bits and transitions: words/token.ts.

export interface LayoutConfig {
  workers: number;
  ringCapacity: number;
  globalSlots: number;
  maxProducers: number;
  maxAttachments: number;
  spillBytes: number;
  taskCount: number;
  spinMicros: number;
  asyncLimit: number;
  testHooks?: boolean;
  /** Keep histograms (the metrics region); default false (RuntimeOptions.metrics decides for a runtime). */
  metrics?: boolean;
  /** The freezer runs a process barrier after its freeze store (H_BARRIER): window flags may be plain stores. */
  processBarrier?: boolean;
  /**
   * The workers can run the same barrier too (H_PLAIN_PUBLISH, with processBarrier and a spin):
   * submission publishes may be plain stores. Not part of a Layout (a header word only).
   */
  plainPublish?: boolean;
}

/** Byte offsets of every region, derived from the configuration alone. */
export interface Layout extends LayoutConfig {
  tokenCapacity: number;
  header: number;
  state: number;
  global: number;
  hooksBlock: number;
  io: number;
  producers: number;
  names: number;
  workerBlocks: number;
  attachBlocks: number;
  tails: number;
  stats: number;
  guesses: number;
  /** Bytes of one attachment's guess table (128-byte aligned). */
  guessBytes: number;
  tokens: number;
  tokenMeta: number;
  tokenIo: number;
  arenaCtl: number;
  arenaTags: number;
  subRings: number;
  compRings: number;
  arenas: number;
  /** Metrics region (0 bytes each when metrics are off). */
  mHeader: number;
  mWorkers: number;
  hists: number;
  tokenTicks: number;
  guard: number;
  health: number;
  runTime: number;
  tokenTask: number;
  totalBytes: number;
}

export function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

const align = (n: number): number => Math.ceil(n / BLOCK_BYTES) * BLOCK_BYTES;

export function computeLayout(c: LayoutConfig): Layout {
  const T = nextPow2(c.globalSlots);
  const { workers: W, ringCapacity: C, maxProducers: P, maxAttachments: A, spillBytes: S } = c;
  let at = 0;
  const take = (bytes: number): number => {
    const here = at;
    at = align(at + bytes);
    return here;
  };
  const header = take(BLOCK_BYTES);
  const state = take(BLOCK_BYTES);
  const global = take(BLOCK_BYTES);
  const hooks = take(BLOCK_BYTES);
  const io = take(IO_SLOTS * BLOCK_BYTES);
  const producers = take(P * BLOCK_BYTES);
  const names = take(P * NAME_BYTES);
  const workerBlocks = take(W * BLOCK_BYTES);
  const attachBlocks = take(A * BLOCK_BYTES);
  const tails = take((W + A) * BLOCK_BYTES);
  const stats = take(A * P * STAT_WORDS * 4);
  const guessBytes = align((P + 1) * 4);
  const guesses = take(A * guessBytes);
  const tokens = take(A * T * 4);
  const tokenMeta = take(A * T * 4);
  const tokenIo = take(A * T * 4);
  const arenaCtl = take((A + W) * BLOCK_BYTES);
  const arenaTags = take((A + W) * (S / ARENA_GRANULE) * 4);
  const subRings = take(W * C * CELL_BYTES);
  const compRings = take(A * T * CELL_BYTES);
  const arenas = take((A + W) * S);
  const m = c.metrics === true ? 1 : 0;
  const mHeader = take(m * BLOCK_BYTES);
  const mWorkers = take(m * W * BLOCK_BYTES);
  const hists = take(m * (M_TASKS + P) * 2 * HIST_BYTES);
  const tokenTicks = take(m * A * T * 4);
  // The task count is known only once the workers loaded the module, after this layout: the
  // Guard House regions are sized for MAX_TASKS (start refuses a module with more).
  const N = MAX_TASKS;
  const guard = take(N * BLOCK_BYTES);
  const health = take(A * N * HEALTH_WORDS * 4);
  const runTime = take(W * N * RUNTIME_WORDS * 4);
  const tokenTask = take(A * T * 4);
  // Every field named, in one order, whatever the config carried: one hidden class for every
  // Layout (a scratch memory's, a runtime's, a worker's readLayout), so the code optimized on one
  // runtime's memory stays valid for the next (a spread of `c` made a class per set of options).
  return {
    workers: W, ringCapacity: C, globalSlots: c.globalSlots, maxProducers: P, maxAttachments: A, spillBytes: S,
    taskCount: c.taskCount, spinMicros: c.spinMicros, asyncLimit: c.asyncLimit, testHooks: c.testHooks === true, metrics: m === 1,
    tokenCapacity: T, header, state, global, hooksBlock: hooks, io, producers, names, workerBlocks, attachBlocks,
    tails, stats, guesses, guessBytes, tokens, tokenMeta, tokenIo, arenaCtl, arenaTags, subRings, compRings, arenas,
    mHeader, mWorkers, hists, tokenTicks, guard, health, runTime, tokenTask, totalBytes: at,
  };
}

/** Views over one runtime's buffer plus word-index helpers. Cheap to build in any thread. */
export class Memory {
  readonly i32: Int32Array;
  readonly u8: Uint8Array;
  readonly f64: Float64Array;
  readonly buf: Buffer;
  readonly layout: Layout;

  /**
   * `wasm`: the WebAssembly.Memory whose buffer `sab` is, when the runtime was allocated as one
   * (create() does so when the platform allows); the gates' fast path runs on it (wasm-gate.ts).
   */
  constructor(readonly sab: SharedArrayBuffer, layout?: Layout, readonly wasm: WebAssembly.Memory | null = null) {
    this.i32 = new Int32Array(sab);
    this.u8 = new Uint8Array(sab);
    this.f64 = new Float64Array(sab);
    this.buf = Buffer.from(sab);
    this.layout = layout ?? readLayout(this.i32);
  }

  static create(c: LayoutConfig): Memory {
    const layout = computeLayout(c);
    const wasm = sharedWasmMemory(layout.totalBytes);
    const mem = wasm !== null
      ? new Memory(wasm.buffer as unknown as SharedArrayBuffer, layout, wasm)
      : new Memory(new SharedArrayBuffer(layout.totalBytes), layout);
    const h = mem.i32;
    h[H_MAGIC] = MAGIC;
    h[H_VERSION] = LAYOUT_VERSION;
    h[H_TOTAL_BYTES] = layout.totalBytes;
    h[H_WORKERS] = c.workers;
    h[H_RING_CAP] = c.ringCapacity;
    h[H_GLOBAL_SLOTS] = c.globalSlots;
    h[H_MAX_PRODUCERS] = c.maxProducers;
    h[H_MAX_ATTACH] = c.maxAttachments;
    h[H_TOKEN_CAP] = layout.tokenCapacity;
    h[H_SPILL_BYTES] = c.spillBytes;
    h[H_TASK_COUNT] = c.taskCount;
    h[H_SPIN_US] = c.spinMicros;
    h[H_ASYNC_LIMIT] = c.asyncLimit;
    h[H_HOOKS] = c.testHooks ? 1 : 0;
    h[H_METRICS] = c.metrics === true ? 1 : 0;
    h[H_BARRIER] = c.processBarrier === true ? 1 : 0;
    h[H_PLAIN_PUBLISH] = c.processBarrier === true && c.plainPublish === true && c.spinMicros > 0 ? 1 : 0;
    return mem;
  }

  get stateWord(): number { return (this.layout.state >> 2) + ST_STATE; }
  get freezeWord(): number { return (this.layout.state >> 2) + ST_FREEZE; }
  get globalWord(): number { return this.layout.global >> 2; }
  /** Byte offset of attachment a's guess table: [p] producer p's packed word, [maxProducers] the global word. */
  guessByte(a: number): number { return this.layout.guesses + a * this.layout.guessBytes; }
  get hooksWord(): number { return this.layout.hooksBlock >> 2; }
  producerWord(p: number, field: number): number { return ((this.layout.producers + p * BLOCK_BYTES) >> 2) + field; }
  nameByte(p: number): number { return this.layout.names + p * NAME_BYTES; }
  workerWord(w: number, field: number): number { return ((this.layout.workerBlocks + w * BLOCK_BYTES) >> 2) + field; }
  attachWord(a: number, field: number): number { return ((this.layout.attachBlocks + a * BLOCK_BYTES) >> 2) + field; }
  /** Ring ids: 0..W-1 are submission rings, W..W+A-1 completion rings. */
  tailWord(ring: number): number { return (this.layout.tails + ring * BLOCK_BYTES) >> 2; }
  statWord(a: number, p: number, field: number): number {
    return (this.layout.stats >> 2) + (a * this.layout.maxProducers + p) * STAT_WORDS + field;
  }
  tokenWord(a: number, t: number): number { return (this.layout.tokens >> 2) + a * this.layout.tokenCapacity + t; }
  tokenMetaWord(a: number, t: number): number { return (this.layout.tokenMeta >> 2) + a * this.layout.tokenCapacity + t; }
  /** I/O class slot + 1 of the live token (a, t), 0 = none (words/io.ts). */
  tokenIoWord(a: number, t: number): number { return (this.layout.tokenIo >> 2) + a * this.layout.tokenCapacity + t; }
  /** Field (IO_COUNT, IO_CLASS) of I/O class slot k (0..IO_SLOTS-1). */
  ioWord(k: number, field: number): number { return ((this.layout.io + k * BLOCK_BYTES) >> 2) + field; }
  /** Spill arenas: writers 0..A-1 are attachments, A..A+W-1 workers. */
  arenaCtlWord(writer: number): number { return (this.layout.arenaCtl + writer * BLOCK_BYTES) >> 2; }
  arenaByte(writer: number): number { return this.layout.arenas + writer * this.layout.spillBytes; }
  /** Word index of the tag of the granule at arena byte offset `off` of `writer`'s arena. */
  arenaTagWord(writer: number, off: number): number {
    return (this.layout.arenaTags >> 2) + writer * (this.layout.spillBytes / ARENA_GRANULE) + (off / ARENA_GRANULE);
  }
  subRingByte(w: number): number { return this.layout.subRings + w * this.layout.ringCapacity * CELL_BYTES; }
  compRingByte(a: number): number { return this.layout.compRings + a * this.layout.tokenCapacity * CELL_BYTES; }
  /** Whether this runtime keeps histograms (the metrics region exists). */
  get metrics(): boolean { return this.layout.metrics === true; }
  /** First word of the histogram `kind` (HIST_WAIT / HIST_RUN) of task id `id` (ids past M_TASKS - 1 share the last). */
  taskHistWord(id: number, kind: number): number {
    return (this.layout.hists >> 2) + ((id < M_TASKS ? id : M_TASKS - 1) * 2 + kind) * HIST_WORDS;
  }
  /** First word of the histogram `kind` of producer p. */
  producerHistWord(p: number, kind: number): number {
    return (this.layout.hists >> 2) + ((M_TASKS + p) * 2 + kind) * HIST_WORDS;
  }
  metricWorkerWord(w: number, field: number): number { return ((this.layout.mWorkers + w * BLOCK_BYTES) >> 2) + field; }
  tokenTickWord(a: number, t: number): number { return (this.layout.tokenTicks >> 2) + a * this.layout.tokenCapacity + t; }
  /** Start of the metrics window, µs since the epoch (rt.resetStats; 0 = the runtime's start). */
  windowStartMicros(): number { return this.f64[this.layout.mHeader >> 3]!; }
  setWindowStartMicros(us: number): void { this.f64[this.layout.mHeader >> 3] = us; }
  /** Task `task`'s guard block (the Guard House). */
  guardWord(task: number, field: number): number { return ((this.layout.guard + task * BLOCK_BYTES) >> 2) + field; }
  healthWord(a: number, task: number, field: number): number {
    return (this.layout.health >> 2) + (a * MAX_TASKS + task) * HEALTH_WORDS + field;
  }
  /** Task id and probe of attachment a's token t (the Guard House): written by its owner at §4.1 step 5, read at resolve, and by the supervisor once the owner is dead. */
  tokenTaskWord(a: number, t: number): number { return (this.layout.tokenTask >> 2) + a * this.layout.tokenCapacity + t; }
  runTimeWord(w: number, task: number, field: number): number {
    return (this.layout.runTime >> 2) + (w * MAX_TASKS + task) * RUNTIME_WORDS + field;
  }
  epochMicros(): number { return this.f64[H_EPOCH_F64]!; }
  setEpochMicros(us: number): void { this.f64[H_EPOCH_F64] = us; }
}

/**
 * A shared WebAssembly.Memory of at least `bytes` (whole 64 KiB pages), or null when the
 * platform has none: its buffer is an ordinary SharedArrayBuffer to everything else.
 */
export function sharedWasmMemory(bytes: number): WebAssembly.Memory | null {
  const pages = Math.ceil(bytes / 65536);
  if (pages > 65536 || process.env.SLUICE_NO_WASM === '1') return null;
  try {
    return new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
  } catch {
    return null;
  }
}

/**
 * The layout a buffer's header describes. Trusts nothing: a header from a forged or foreign
 * buffer is refused (TypeError saying which field is wrong) unless every field is within the
 * bounds Runtime.start enforces and the computed layout is the recorded size and fits the buffer.
 */
export function readLayout(i32: Int32Array): Layout {
  if (i32.length < BLOCK_WORDS) throw new TypeError('not a sluice runtime buffer (smaller than its header)');
  if (i32[H_MAGIC] !== MAGIC) throw new TypeError('not a sluice runtime buffer (bad magic)');
  if (i32[H_VERSION] !== LAYOUT_VERSION) {
    throw new TypeError(`sluice layout version ${i32[H_VERSION]} does not match this build (${LAYOUT_VERSION})`);
  }
  const field = (name: string, w: number, min: number, max: number, pow2 = false): number => {
    const v = i32[w]!;
    if (v < min || v > max || (pow2 && (v & (v - 1)) !== 0)) throw new TypeError(`sluice runtime header: ${name} is out of range`);
    return v;
  };
  const layout = computeLayout({
    workers: field('workers', H_WORKERS, 1, 255),
    ringCapacity: field('ringCapacity', H_RING_CAP, 2, 1 << 16, true),
    globalSlots: field('globalSlots', H_GLOBAL_SLOTS, 1, 0xffff),
    maxProducers: field('maxProducers', H_MAX_PRODUCERS, 1, 4096),
    maxAttachments: field('maxAttachments', H_MAX_ATTACH, 1, 255),
    spillBytes: field('spillBytes', H_SPILL_BYTES, 1 << 10, 1 << 30, true),
    taskCount: field('taskCount', H_TASK_COUNT, 0, 0xffff),
    spinMicros: field('spin', H_SPIN_US, 0, 1_000_000),
    asyncLimit: field('asyncConcurrency', H_ASYNC_LIMIT, 1, 1 << 16),
    metrics: field('metrics', H_METRICS, 0, 1) === 1,
  });
  if (layout.totalBytes > MAX_LAYOUT_BYTES || i32[H_TOTAL_BYTES] !== layout.totalBytes || layout.totalBytes > i32.length * 4) {
    throw new TypeError('sluice runtime header: its sizes do not match the buffer');
  }
  if (i32[H_TOKEN_CAP] !== layout.tokenCapacity) throw new TypeError('sluice runtime header: tokenCapacity does not match globalSlots');
  return layout;
}
