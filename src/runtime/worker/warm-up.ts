/**
 * Warm-up (docs/design.md §4.2b): before a fresh worker reports ready, `n` identity tasks run
 * through the loop's per-task path -- runOne, execute, complete, the codec both ways, and an idle
 * look at a sibling (Stealer.trySteal) -- on a private scratch buffer shaped like the runtime's,
 * cycling through the common payload types. Class methods share their feedback and optimized
 * code across instances, so the real loop starts with that path compiled.
 *
 * Owner: this function plays every role on its own buffer (producer: token word PENDING and the
 * submission cell, as §4.1 step 5; worker: §4.2 steps 1-4, §4.3 steps 5-6; owner: consumes
 * the completion). Nothing shared with the runtime is touched, and no task of the user's
 * module runs.
 */
import { type Layout, Memory } from '../../shm/layout.js';
import { TK_GEN_MAX, markPending } from '../../shm/words/token.js';
import { Codec } from '../codec.js';
import { writeSubmission } from '../cells.js';
import { type TaskFn, WorkerLoop } from './loop.js';

/**
 * Tasks each fresh worker runs in its warm-up. By ~2,500 V8 (11.3, Node 20) has marked the
 * per-task path for TurboFan; 5,000 also covers the codec's decode and lets the compile jobs
 * finish. 25-90 ms per worker here (docs/performance.md, Changes: "Worker warm-up").
 */
export const WARM_UP_TASKS = 5_000;
const identity: TaskFn = (x) => x;
/** A steal mask with every weight class's bit (WorkerData.stealMask). */
const ANY_CLASS = 0b1111;
/** The warm-up's payloads (and, through `identity`, results): the common types, ints most. */
const TRAINING: readonly unknown[] = [1, 2, 3, 0.5, 'warm', 4, undefined, true, 5, { w: 1 }, 6, null, [7, 0.5]];

/** Run `n` warm-up tasks on a scratch buffer with `like`'s spin and async settings. */
export function warmUp(n: number, like: Layout): void {
  const mem = Memory.create({
    workers: 2, ringCapacity: 64, globalSlots: 64, maxProducers: 1, maxAttachments: 1, spillBytes: 1 << 12,
    taskCount: 1, spinMicros: like.spinMicros, asyncLimit: like.asyncLimit,
  });
  const i32 = mem.i32;
  // Worker 0 of two, allowed to steal every class: its idle look (trySteal) finds the
  // sibling's ring empty, the common case of a real spin. No stealer without a spin budget.
  const loop = new WorkerLoop(mem, 0, [identity], ANY_CLASS);
  const ring = loop.ring;
  const completions = loop.completions[0]!;
  const stealer = loop.stealer;
  const submitter = new Codec(mem, 0);
  const mask = mem.layout.tokenCapacity - 1;
  for (let i = 0; i < n; i++) {
    // As a producer would (§4.1 step 5), with every other task under a deadline.
    const t = i & mask;
    const gen = (i >>> 6) & TK_GEN_MAX;
    markPending(i32, mem.tokenWord(0, t), gen);
    submitter.prepare(TRAINING[i % TRAINING.length]);
    writeSubmission(ring, ring.claim(), submitter, 0, 0, 0, t, gen, 0, i & 1);
    loop.runOne();
    // Drain the completion as the submitter would (read() frees a spilled result).
    const head = completions.head();
    submitter.read(completions.cellWord(head), 1);
    completions.release((head + 1) | 0);
    if (stealer !== null) stealer.trySteal(performance.now());
  }
}
