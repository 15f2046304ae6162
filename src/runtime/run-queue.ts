/**
 * `rt.run`'s FIFO wait for capacity (docs/design.md §4.6). A capacity rejection does not fail a
 * run: the call waits here, up to its limit of waiting calls, and is re-submitted from the head
 * after each drained batch (§4.6 step 3) or, when capacity is held by other threads, every 1 ms
 * (§4.6 step 4). Owner: the handle's thread; nothing here is shared memory.
 */
import type { ParsedSubmit } from './producer.js';
import type { TaskRef } from './task.js';
import { type RunSink, capture, captured } from './token.js';
import { CAPACITY_REASONS, type Rejection } from '../admission/reasons.js';
import { RejectedError, runRejected } from '../errors.js';
import { abortReason, offAbort, onAbort, reportUncaught, signalAborted } from './user-code.js';

/**
 * One rt.run call: the resolving functions of the promise it returned, and what it submits.
 * Made at the call, submitted at once (§4.6 step 1) and, refused for capacity, queued as it is.
 * Once admitted, the task's resolve settles it directly (Producer._submitRun): one promise per
 * call, waiting or not.
 */
export class RunCall implements RunSink {
  /** Its signal's abort listener while it waits (§4.6 step 6), else null. */
  onAbort: (() => void) | null = null;
  /** Aborted while it waited: already rejected, skipped when it reaches the head. */
  gone = false;
  readonly resolve: (v: unknown) => void;
  readonly reject: (e: unknown) => void;
  /** The promise rt.run returns; settled only through resolve/reject. */
  readonly promise: Promise<unknown>;
  constructor(
    readonly task: TaskRef,
    public payload: unknown,
    /** Read and checked once, at rt.run(): re-submits never read the caller's object again. */
    readonly options: ParsedSubmit | undefined,
  ) {
    this.promise = new Promise(capture); // the shared executor: no closure per call
    this.resolve = captured.res!;
    this.reject = captured.rej!;
    captured.res = captured.rej = null;
  }
}

/** What the queue needs of its runtime handle. */
export interface RunQueueHost {
  /** Submit the call on the default producer (§4.1, Producer._submitRun): null when admitted. */
  submit(call: RunCall): Rejection | null;
  /** This thread's live admissions (a drain will come while any are outstanding). */
  outstanding(): number;
}

/**
 * The line: an array consumed from `head` (a shift of a large array moves every element: 100k
 * waiters took O(n^2)), compacted once the consumed part is the larger half. An aborted waiter
 * is marked `gone` and skipped at the head, so leaving the line is O(1) too.
 */
const COMPACT_AT = 1024;

const CLOSED: Rejection = Object.freeze({ admitted: false as const, reason: 'closed' as const });

export class RunQueue {
  private waiters: (RunCall | undefined)[] = [];
  private head = 0;
  /** Waiters in line (not gone). */
  private live = 0;
  private timer: NodeJS.Timeout | null = null;
  private flushing = false;
  private again = false;
  /** Detached (an attached handle's close): every later flush rejects 'closed'. */
  private closed = false;

  constructor(private readonly host: RunQueueHost, readonly limit: number) {}

  get length(): number { return this.live; }

  /** The first waiter in line (skipping the gone), or undefined. */
  private first(): RunCall | undefined {
    const q = this.waiters;
    while (this.head < q.length && q[this.head]!.gone) q[this.head++] = undefined;
    return q[this.head];
  }

  /** Take the first waiter out of the line (first() returned it). */
  private shift(): void {
    const q = this.waiters;
    q[this.head++] = undefined;
    this.live--;
    if (this.head >= COMPACT_AT && this.head * 2 >= q.length) {
      this.waiters = q.slice(this.head);
      this.head = 0;
    }
  }

  /**
   * §4.6 step 2: wait in line, or 'queue-full' beyond the limit. Step 6: a signal that is
   * already aborted rejects without queuing (as submit throws for it); one that aborts while the
   * call waits rejects it at once and takes it out of the line.
   */
  enqueue(w: RunCall): Promise<unknown> {
    const signal = w.options?.signal;
    if (signal !== undefined && signalAborted(signal)) return Promise.reject(abortReason(signal));
    if (this.live >= this.limit) {
      return Promise.reject(new RejectedError('queue-full', `rt.run() wait queue is full (${this.limit}); raise runQueueLimit`));
    }
    this.waiters.push(w);
    this.live++;
    if (signal !== undefined) this.watch(w, signal);
    this.poll();
    return w.promise;
  }

  /**
   * §4.6 step 6. The listener runs inside signal.abort() (the caller's stack): it only takes the
   * waiter out of the line and rejects it. While the waiter is being submitted (flushOnce), a
   * payload getter may abort it: then it is left in place and flushOnce settles it (an admitted
   * token sees the abort itself and is retracted; a refused one is rejected there).
   */
  private watch(w: RunCall, signal: AbortSignal): void {
    const fn = (): void => {
      w.onAbort = null;
      if (this.submitting === w || w.gone) return;
      w.gone = true; // skipped when it reaches the head
      w.payload = undefined; // not held until then
      this.live--;
      w.reject(abortReason(signal));
    };
    w.onAbort = fn;
    try {
      onAbort(signal, fn);
    } catch (err) {
      w.onAbort = null;
      reportUncaught(err); // not expected (intrinsics on a brand-checked signal): it then waits unwatched
    }
  }

  /** The waiter leaves the line (admitted, rejected, or closed): its abort listener goes with it. */
  private unwatch(w: RunCall): void {
    const fn = w.onAbort;
    if (fn === null) return;
    w.onAbort = null;
    offAbort(w.options!.signal!, fn);
  }

  /** The waiter flushOnce is submitting (its abort listener then leaves it to flushOnce). */
  private submitting: RunCall | null = null;

  /**
   * §4.6 step 3. Not re-entrant: a submit in here raises edges, whose listeners (user code) may
   * call rt.run, drain or close, which flush again; that call is folded into this one (the loop
   * runs again), so no waiter is shifted twice or lost.
   */
  flush(close = false): void {
    if (close) this.closed = true;
    if (this.flushing) {
      this.again = true;
      return;
    }
    this.flushing = true;
    try {
      do {
        this.again = false;
        this.flushOnce(this.closed);
      } while (this.again);
    } finally {
      this.flushing = false;
    }
    this.poll();
  }

  private flushOnce(closed: boolean): void {
    for (let w = this.first(); w !== undefined; w = this.first()) {
      let a: Rejection | null;
      this.submitting = w;
      try {
        a = closed ? CLOSED : this.host.submit(w);
      } catch (err) {
        this.submitting = null;
        this.shift();
        this.unwatch(w);
        w.reject(err);
        continue;
      }
      this.submitting = null;
      if (a === null) {
        // Admitted: its resolve settles the call, exactly once (Producer._submitRun); a token
        // watches the signal itself from here (producer.ts watchQueue).
        this.shift();
        this.unwatch(w);
        w.payload = undefined; // not held by the call (a retry or a guard keeps its own reference)
      } else if (CAPACITY_REASONS.has(a.reason)) {
        const signal = w.options?.signal;
        if (signal === undefined || !signalAborted(signal)) break;
        this.shift(); // aborted while it was being submitted (a payload getter): settle it here
        this.unwatch(w);
        w.reject(abortReason(signal));
      } else {
        this.shift();
        this.unwatch(w);
        w.reject(runRejected(a));
      }
    }
  }

  /** §4.6 step 4: capacity held by other threads frees without waking this one: poll while anyone waits. */
  private poll(): void {
    if (this.live === 0 || this.host.outstanding() > 0 || this.timer !== null) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.flush();
    }, 1);
  }
}
