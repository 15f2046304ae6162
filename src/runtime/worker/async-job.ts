/**
 * Async jobs (docs/design.md §4.2 step 4, §4.12 step 2): a task whose result has a callable
 * `then` completes when that settles, or is abandoned at its deadline, whichever is first.
 *
 * Owner: the worker's thread alone; nothing here touches shared memory except through the
 * loop (WorkerLoop.asyncStarted / asyncFinished write W_ASYNC_INFLIGHT; WorkerLoop.complete
 * writes the token word and the completion cell, §4.3 steps 5-6) and the sweep's read of the
 * token word (`isRunningOn`). Each job finishes exactly once: at its settle, at its deadline,
 * or when a sweep finds its token abandoned elsewhere (a forced cancel, §4.8), and only then
 * gives its asyncConcurrency place back.
 */
import { isRunningOn } from '../../shm/words/token.js';
import { O_ABANDONED, O_FULFILLED, O_REJECTED } from '../../admission/outcomes.js';
import type { Memory } from '../../shm/layout.js';
import { clipReason } from '../cells.js';
import type { WorkerLoop } from './loop.js';
import { type NestContext, type ParentPlaces, taskKey } from './nest.js';
import type { WorkerMetrics } from '../metrics.js';

/** The async jobs in flight on one worker (its loop counts them; this set finishes each once). */
export class AsyncJobs implements ParentPlaces {
  private readonly jobs = new Set<AsyncJob>();
  /** Jobs by task key, only once the module imported sluice/task (nest.ts, §4.14 step 5). */
  private readonly byKey = new Map<number, AsyncJob>();

  constructor(
    private readonly loop: WorkerLoop, private readonly mem: Memory, private readonly w: number, private readonly nest: NestContext | null = null,
    /** Histograms (§2.5): a job's run time ends when it settles or passes its deadline. */ private readonly metrics: WorkerMetrics | null = null,
  ) {}

  /**
   * Start one (§4.12 step 2): the thenable is adopted by a promise of our own (adopt), so a
   * `then` that throws, calls back twice, or resolves with another thenable is handled by the
   * engine's promise resolution, never on our stack, and settles us at most once. Past its
   * deadline it is abandoned (it runs on, its result ignored).
   */
  start(thenable: unknown, att: number, t: number, gen: number, deadlineMs: number, id = 0, producer = 0, startUs = 0): void {
    const job = new AsyncJob(this, att, t, gen);
    job.id = id;
    job.producer = producer;
    job.startUs = startUs;
    this.jobs.add(job);
    if (this.nest !== null && this.nest.als !== null) {
      // §4.14 step 5: a parent whose children (submitted in its synchronous part) are outstanding takes no place.
      job.key = taskKey(att, t, gen);
      this.byKey.set(job.key, job);
      job.held = !this.nest.waiting(job.key);
    }
    this.loop.asyncStarted(job.held);
    if (deadlineMs > 0) job.timer = setTimeout(job.onDeadline, deadlineMs, deadlineMs);
    adopt(thenable).then(job.onFulfilled, job.onRejected);
  }

  /**
   * A job is over (settled, past its deadline, or abandoned elsewhere: outcome -1, nothing to
   * complete): give its place back and complete its token. Once per job.
   */
  finish(job: AsyncJob, outcome: number, value: unknown): void {
    if (job.done) return;
    job.done = true;
    if (job.timer !== null) clearTimeout(job.timer);
    job.timer = null;
    this.jobs.delete(job);
    if (job.key >= 0) this.byKey.delete(job.key);
    // Its run time before its completion is published (§2.5); none for a job abandoned elsewhere.
    if (this.metrics !== null && outcome >= 0) this.metrics.ended(job.id, job.producer, job.startUs, this.metrics.now());
    this.loop.asyncFinished(job.att, job.t, job.gen, outcome, value, job.held);
  }

  /**
   * §4.14 step 5: the running parent `key` now waits for children of its own (gives its
   * asyncConcurrency place back), or no longer does (takes one again). A parent still in its
   * synchronous part is not a job yet: start() reads nest.waiting() instead.
   */
  parentWaiting(key: number, waiting: boolean): void {
    const job = this.byKey.get(key);
    if (job === undefined || job.done || job.held !== waiting) return;
    job.held = !waiting;
    this.loop.placeChanged(job.held);
  }

  /**
   * Jobs whose token is no longer RUNNING|this worker with their generation were abandoned by
   * another thread (a forced cancel resolves at once and leaves the task running): they stop
   * counting. Runs when the limit is reached, and on every heartbeat timer (loop.ts BEAT_MS).
   */
  sweep(): void {
    const i32 = this.mem.i32;
    for (const job of this.jobs) {
      if (!isRunningOn(i32, this.mem.tokenWord(job.att, job.t), job.gen, this.w)) this.finish(job, -1, undefined);
    }
  }
}

/** One async task in flight on this worker; finishes once (AsyncJobs.finish). */
class AsyncJob {
  done = false;
  timer: NodeJS.Timeout | null = null;
  /** Holds an asyncConcurrency place (false while it waits for children of its own, §4.14 step 5). */
  held = true;
  /** Its task key (nest.ts) when nested tasks are on, else -1. */
  key = -1;
  /** Task id, producer index and start (µs since the epoch), for its run time (metrics, §2.5). */
  id = 0;
  producer = 0;
  startUs = 0;
  constructor(private readonly jobs: AsyncJobs, readonly att: number, readonly t: number, readonly gen: number) {}
  readonly onFulfilled = (v: unknown): void => { this.jobs.finish(this, O_FULFILLED, v); };
  readonly onRejected = (e: unknown): void => { this.jobs.finish(this, O_REJECTED, e); };
  readonly onDeadline = (ms: number): void => {
    // A reason, as every 'abandoned' completion carries one: clipped to travel inline (cells.ts).
    this.jobs.finish(this, O_ABANDONED, clipReason(`deadline of ${ms} ms exceeded (async task left running, its result ignored)`));
  };
}

/**
 * A native promise that adopts `x` as Promise resolution does: reads `then` once (a throw
 * rejects), calls it in a later job (a throw after a settle is ignored), adopts nested
 * thenables, settles once. Never throws, and never reads `x.constructor` (Promise.resolve does).
 */
async function adopt(x: unknown): Promise<unknown> {
  return x;
}
