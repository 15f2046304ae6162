/**
 * The starting thread's warm-up (docs/design.md §4.7 "Start", step 4): while the workers boot,
 * the starting thread runs its own per-call path -- `rt.run`, `producer.submit` and its Token,
 * `submitCallback`, the drain of each result (numbers, a string, a small array, an object) --
 * on a scratch buffer, so that a fresh runtime's first calls do not compile it. V8 compiles a
 * function on its first call and class methods share their bytecode and feedback across
 * instances: the first real `rt.run`'s synchronous part then takes 0.3-1.6 ms instead of 1.6-4.3
 * (docs/performance.md, ninth session).
 *
 * Owner: everything here is this thread's, on its own scratch Memory: its attachment (0) plays
 * the submitter; `completeQueued` below plays worker 0 (§4.2 step 2's claim, §4.3 steps 5-6), on this
 * thread, with its own codec. Nothing of the runtime being started is touched: no shared word,
 * no producer, no recording, no metrics. Every scratch task completes before the scratch pump's
 * first tick, so its pump goes idle and dispose() leaves no timer.
 */
import { A_STATE, C_ATT, C_GEN, C_TOKEN, H_TASK_COUNT, Memory } from '../shm/layout.js';
import { activate as activateAttachment } from '../shm/words/attachment.js';
import { claimRun, markDone } from '../shm/words/token.js';
import { RING_FULL } from '../shm/ring.js';
import { MonotonicClock } from '../admission/clock.js';
import { O_FULFILLED } from '../admission/outcomes.js';
import { Codec, PREPARE_FULL } from './codec.js';
import { writeCompletion } from './cells.js';
import { Attachment } from './submit/attachment.js';

/** @internal What the last start warm-up of this thread did (test/start.test.ts): calls made, and completed by the scratch worker. */
export const lastStartWarmUp = { calls: 0, completed: 0, settled: 0 };

/** The results the scratch worker sends back, the kinds users' tasks return most. */
const RESULTS: readonly unknown[] = [2, 0.5, 'warm', [3, 'a'], { v: 1 }];

/** A scratch runtime's parts: the memory, its attachment, and worker 0's codec. */
export interface Scratch {
  mem: Memory;
  att: Attachment;
  clock: MonotonicClock;
  worker: Codec;
}

/**
 * A one-worker scratch memory shaped like the runtime's spin and async settings and window
 * protocol (`plainWindows`: layout.ts H_BARRIER, so the same branch of ThreadWindow.enter is
 * trained), with attachment 0 active.
 */
export function scratchFor(spinMicros: number, asyncLimit: number, plainWindows = false): Scratch {
  const mem = Memory.create({
    workers: 1, ringCapacity: 8, globalSlots: 8, maxProducers: 2, maxAttachments: 1, spillBytes: 1 << 12,
    taskCount: 1, spinMicros, asyncLimit, processBarrier: plainWindows, plainPublish: plainWindows,
  });
  mem.i32[H_TASK_COUNT] = 1;
  activateAttachment(mem.i32, mem.attachWord(0, A_STATE));
  const clock = new MonotonicClock(mem.epochMicros());
  const att = new Attachment(mem, 0, clock);
  return { mem, att, clock, worker: new Codec(mem, mem.layout.maxAttachments) };
}

/**
 * Worker 0's part for every cell queued in its ring: claim the token, free the cell, send back
 * result `k` (mod RESULTS) as fulfilled; then the submitter's drain. Returns how many it completed.
 */
export function completeQueued(s: Scratch, k: number): number {
  const { mem, att, worker } = s;
  const i32 = mem.i32;
  const ring = att.rings[0]!;
  let n = 0;
  for (let pos = ring.head(); ring.readable(pos); pos = (pos + 1) | 0) {
    const cell = ring.cellWord(pos);
    const a = i32[cell + C_ATT]!;
    const t = i32[cell + C_TOKEN]!;
    const gen = i32[cell + C_GEN]!;
    ring.release((pos + 1) | 0);
    if (!claimRun(i32, mem.tokenWord(a, t), gen, 0)) continue;
    if (worker.prepare(RESULTS[(k + n) % RESULTS.length]) === PREPARE_FULL) throw new Error('sluice: the start warm-up result did not fit');
    markDone(i32, mem.tokenWord(a, t), gen, 0);
    const completions = att.completions;
    const p = completions.claim();
    if (p === RING_FULL) throw new Error('sluice: the start warm-up completion ring is full');
    writeCompletion(completions, p, worker, O_FULFILLED, a, t, gen, 0);
    n++;
  }
  att.drain.drain();
  lastStartWarmUp.completed += n;
  return n;
}
