/**
 * Warm-up (docs/design.md §4.2b): `n` identity tasks run through the loop's per-task path --
 * runOne, execute, complete with its wake of a parked owner, the codec both ways, and the idle
 * spin with its look at a sibling and its yields (WorkerLoop.idleSpin, Stealer.trySteal) -- on a
 * private scratch buffer shaped like the runtime's, cycling through the common payload types.
 * Class methods share their feedback and optimized code across instances, so the real loop's
 * path is compiled by the time the warm-up is over. It runs in steps, off the start path: the
 * worker reports ready first, and its loop runs a step only while its own ring is empty (§4.2b
 * step 2), and a step ends once a real task is published, so one waits for at most one warm-up task.
 *
 * Owner: a WarmUp plays every role on its own buffer (producer: token word PENDING and the
 * submission cell, as §4.1 step 5; worker: §4.2 steps 1-4, §4.3 steps 5-6; owner: consumes
 * the completion, and before every 16th task marks its waker word PARKED, as an owner about to
 * sleep does, with no one sleeping on it; the scratch sibling, worker 1: every 64th task is
 * queued on its ring behind a run of its that does not move, and the scratch loop steals it,
 * §4.2a; and every 64th task the sibling has claimed a cell of the loop's own ring first, which
 * the loop then skips, §4.2 step 2 failing as after §4.2a step 6). Nothing shared with the
 * runtime is touched, and no task of the user's module runs.
 */
import { A_WAKER, type Layout, Memory, W_HEAD, W_RUN_TOKEN } from '../../shm/layout.js';
import { WAKER_PARKED } from '../../shm/waker.js';
import { Ring } from '../../shm/ring.js';
import { TK_GEN_MAX, claimRun, markPending } from '../../shm/words/token.js';
import { Codec } from '../codec.js';
import { writeSubmission } from '../cells.js';
import { type TaskFn, WorkerLoop } from './loop.js';

/**
 * Tasks each fresh worker runs in its warm-up. By ~2,500 V8 (11.3, Node 20) has marked the
 * per-task path for TurboFan; 5,000 also covers the codec's decode and lets the compile jobs
 * finish. 25-90 ms per worker here (docs/performance.md, Changes: "Worker warm-up").
 */
export const WARM_UP_TASKS = 5_000;
/**
 * How long after 'ready' an idle worker waits before it begins the warm-up, unless its first real
 * task comes first (§4.2b step 2). While a runtime starts, its workers' warm-up took CPU from the
 * sibling still starting and from the main thread's start and first submit on the same CPUs, and
 * the first task waited for the first (cold) step: 10-30 ms of the first result here
 * (docs/performance.md, "sixth session: start-up and the first run"). A runtime started ahead
 * of its load still warms before the load comes, if it comes later than this; once any worker
 * has run a task, the timer no longer starts one (WorkerLoop.warmByTimer).
 */
export const WARM_UP_DELAY_MS = 100;
const identity: TaskFn = (x) => x;
/** The warm-up's occasional longer idle spin (ms): past YIELD_AFTER_MS, so the yield branch runs too. */
const WARM_SPIN_LONG_MS = 0.02;
/** A steal mask with every weight class's bit (WorkerData.stealMask). */
const ANY_CLASS = 0b1111;
/** The warm-up's payloads (and, through `identity`, results): the common types, ints most. */
const TRAINING: readonly unknown[] = [1, 2, 3, 0.5, 'warm', 4, undefined, true, 5, { w: 1 }, 6, null, [7, 0.5]];

/** The scratch buffer and the parts of its loop a step drives (built by the first step). */
interface Scratch {
  mem: Memory;
  loop: WorkerLoop;
  submitter: Codec;
  /** Worker 1's ring (the scratch sibling's: no thread runs it), for the steal's training. */
  sibling: Ring;
}

/** The scratch sibling's slot (worker 1 of two): it never runs; it is stolen from, and claims a cell first. */
const SIBLING = 1;
/** Task i with (i & 63) === STEAL_AT is stolen from the sibling's ring; (i & 63) === SKIP_AT, a claimed cell is skipped before it. */
const STEAL_AT = 49;
const SKIP_AT = 17;

/**
 * `n` warm-up tasks as restartable steps, with `like`'s spin and async settings. The scratch
 * buffer is built by the first step (not before the worker reports ready, §4.2b step 1) and
 * dropped with this object when the loop lets go of it (§4.2b step 3).
 */
export class WarmUp {
  /** @internal Warm-up tasks run so far (test/warmup.test.ts). */
  ran = 0;
  /** @internal Of them, stolen from the scratch sibling (§4.2a); and cells skipped because the sibling had claimed them (test/warmup.test.ts). */
  stole = 0;
  /** @internal */ skipped = 0;
  private scratch: Scratch | null = null;

  /**
   * `plainWindows`: the runtime's window protocol (layout.ts H_BARRIER), which the scratch memory
   * copies, so the warm-up trains the same branch of ThreadWindow.enter as the real tasks take
   * (the other would be compiled without feedback and deoptimize at the first real task).
   */
  constructor(private readonly n: number, private readonly like: Layout, private readonly plainWindows = false) {}

  /**
   * Run up to `k` more warm-up tasks; true once all `n` have run (then it does nothing). `real`
   * and `at`: the worker's own ring and its head. The step ends early once a real task is
   * published there (§4.2b step 2: real tasks come first, so one waits for at most one warm-up
   * task, not a whole step: a step of 64 cold ones took ~1 ms).
   */
  step(k: number, real: Ring | null = null, at = 0): boolean {
    const n = this.n;
    if (this.ran >= n) return true;
    const { mem, loop, submitter, sibling } = this.scratch ?? (this.scratch = this.build());
    const i32 = mem.i32;
    const ring = loop.ring;
    const completions = loop.completions[0]!;
    const stealer = loop.stealer; // the scratch loop (two workers) has one exactly when the runtime spins
    const mask = mem.layout.tokenCapacity - 1;
    const ownerWaker = mem.attachWord(0, A_WAKER);
    let i = this.ran;
    for (const end = Math.min(n, i + k); i < end; i++) {
      if (real !== null && real.readable(at)) break;
      // As a producer would (§4.1 step 5), with every other task under a deadline.
      const t = i & mask;
      const gen = (i >>> 6) & TK_GEN_MAX;
      markPending(i32, mem.tokenWord(0, t), gen);
      // Now and then the scratch owner is parked, so complete()'s wake takes its waking branch
      // (compareExchange, notify, the addon's futex wake: no sleeper, nothing blocks). A real
      // owner parks whenever its results are slow to come; without this, that first wake
      // deoptimizes complete() inside the user's load (docs/performance.md, fourteenth session).
      if ((i & 15) === 7) Atomics.store(i32, ownerWaker, WAKER_PARKED);
      if (stealer !== null && (i & 63) === SKIP_AT) this.skipOne(mem, loop, submitter, (t + 1) & mask, gen);
      submitter.prepare(TRAINING[i % TRAINING.length]);
      if (stealer !== null && (i & 63) === STEAL_AT) {
        // §4.2a: queued behind a sibling's run that does not move, after a cell the sibling has
        // claimed already (the look skips it and tries the next); two looks STALL_MS apart take it.
        const skip = (t + 1) & mask;
        markPending(i32, mem.tokenWord(0, skip), gen);
        writeSubmission(sibling, sibling.claim(), submitter, 0, 0, 0, skip, gen, 0, 0);
        claimRun(i32, mem.tokenWord(0, skip), gen, SIBLING);
        submitter.prepare(TRAINING[i % TRAINING.length]);
        const p = sibling.claim();
        writeSubmission(sibling, p, submitter, 0, 0, 0, t, gen, 0, i & 1);
        const runW = mem.workerWord(SIBLING, W_RUN_TOKEN);
        i32[runW] = 1;
        const now = performance.now();
        const stolen = stealer.trySteal(now) || stealer.trySteal(now + 1);
        i32[runW] = 0;
        if (stolen) {
          // The sibling passes the skipped cell; the stolen one stays queued until the next round
          // (its own claim would fail there, §4.2a step 6), so that round's look starts past the
          // victim's head, from the first cell it has not tried, as a thief whose loot is still
          // queued does.
          sibling.release(p);
          this.stole++;
        } else {
          // Not expected (the looks are STALL_MS apart on a ring nobody else touches); should it
          // happen, the task is run as any other, and no completion is left unread.
          sibling.release((p + 1) | 0);
          submitter.prepare(TRAINING[i % TRAINING.length]);
          writeSubmission(ring, ring.claim(), submitter, 0, 0, 0, t, gen, 0, i & 1);
          loop.runOne();
        }
      } else {
        writeSubmission(ring, ring.claim(), submitter, 0, 0, 0, t, gen, 0, i & 1);
        loop.runOne();
      }
      // Drain the completion as the submitter would (read() frees a spilled result).
      const head = completions.head();
      submitter.read(completions.cellWord(head), 1);
      completions.release((head + 1) | 0);
      // The idle spin (loop.ts idleSpin, with the steal look), as after every real task of a
      // sequential load: briefly, and now and then long enough to reach its polite yields.
      // The first long one comes early (task 2), before V8 compiles the spin, so its yield
      // branch has been taken once by then.
      if (stealer !== null) loop.idleSpin((i & 255) === 2 ? WARM_SPIN_LONG_MS : 0);
    }
    this.ran = i;
    if (i < n) return false;
    this.scratch = null;
    return true;
  }

  private build(): Scratch {
    const like = this.like;
    const mem = Memory.create({
      workers: 2, ringCapacity: 64, globalSlots: 64, maxProducers: 1, maxAttachments: 1, spillBytes: 1 << 12,
      taskCount: 1, spinMicros: like.spinMicros, asyncLimit: like.asyncLimit, processBarrier: this.plainWindows, plainPublish: this.plainWindows,
    });
    // Worker 0 of two, allowed to steal every class: its idle look (trySteal) finds nothing to
    // take (the sibling's ring empty, or holding only the last stolen cell, behind no run), the
    // common case of a real spin; the steal's training sets a run up first. No stealer without a
    // spin budget.
    const sibling = new Ring(mem.i32, SIBLING, mem.tailWord(SIBLING), mem.workerWord(SIBLING, W_HEAD), mem.subRingByte(SIBLING), mem.layout.ringCapacity);
    return { mem, loop: new WorkerLoop(mem, 0, [identity], ANY_CLASS), submitter: new Codec(mem, 0), sibling };
  }

  /**
   * §4.2 step 2 failing: a cell of the loop's own ring whose token the sibling claimed first (as a
   * thief does, §4.2a step 5), so runOne discards the cell and passes it, running nothing.
   */
  private skipOne(mem: Memory, loop: WorkerLoop, submitter: Codec, t: number, gen: number): void {
    const ring = loop.ring;
    markPending(mem.i32, mem.tokenWord(0, t), gen);
    submitter.prepare(TRAINING[this.skipped % TRAINING.length]);
    writeSubmission(ring, ring.claim(), submitter, 0, 0, 0, t, gen, 0, 0);
    claimRun(mem.i32, mem.tokenWord(0, t), gen, SIBLING);
    loop.runOne();
    this.skipped++;
  }
}
