/**
 * Shutdown (docs/design.md §4.7): drain, close and detach, and a failed start's teardown.
 * Idempotent through the runtime handle (one `closing` promise), bounded by `timeoutMs`, never
 * hangs on a thread stuck in a native call. Owner: the handle's thread; the runtime state word
 * is written by the starting thread only (RUNNING -> DRAINING -> CLOSED).
 */
import type { Worker } from 'node:worker_threads';
import {
  A_STATE, Memory, RT_CLOSED, RT_RUNNING, RT_DRAINING, W_KILL_ATT, W_KILL_GEN, W_KILL_TOKEN, W_RUN_ATT, W_RUN_GEN, W_RUN_TOKEN, W_WAKER,
} from '../shm/layout.js';
import { release as releaseAttachment } from '../shm/words/attachment.js';
import { wake } from '../shm/waker.js';
import { R_CLOSED } from '../admission/reasons.js';
import { AbortedError, ConfigError, WorkerStartError, describe } from '../errors.js';
import { snapshot } from './options.js';
import { offAbort, onAbort, signalReason } from './user-code.js';
import type { Attachment } from './submit/attachment.js';
import { abandonRemaining, abandonRunning, retractPending } from './submit/cancel.js';
import type { Supervisor } from './supervisor/supervisor.js';
import type { ProducerInfo } from '../trace/file.js';
import type { Recording } from './recording.js';
import type { RunQueue } from './run-queue.js';

/** After terminate(), how long close (or a failed start) waits for a thread's exit before giving up on it (design 4.7). */
export const STOP_GRACE_MS = 1000;
/** A failed start lets the other workers finish loading before they go (design 4.7), at most this long. */
export const START_SETTLE_MS = 2000;

/** What shutdown needs of a runtime handle. */
export interface ShutdownHost {
  readonly mem: Memory;
  readonly att: Attachment;
  readonly supervisor: Supervisor | null;
  readonly runQueue: RunQueue;
  readonly recordEvent: (message: string) => void;
  /** The recording (Runtime.start({ trace })), closed at step 7. */
  readonly recording: Recording | null;
  /** The producer table for the recording's trailer. */
  readonly traceProducers?: () => ProducerInfo[];
}

/**
 * destroy() (§4.7, "Destroy"): fired, it cuts every wait of a shutdown short: no more waiting for
 * tasks to finish or workers to exit by themselves. Once fired, it stays fired.
 */
export class Hurry {
  fired = false;
  readonly promise: Promise<false>;
  private res!: (v: false) => void;
  constructor() { this.promise = new Promise<false>((r) => { this.res = r; }); }
  fire(): void {
    this.fired = true;
    this.res(false);
  }
}

/** §4.7 steps 1-7: the starting thread's close(), or its destroy() (`hurry` fired: no waiting). */
export async function shutdown(h: ShutdownHost, timeoutMs: number, hurry: Hurry): Promise<void> {
  const i32 = h.mem.i32;
  const deadline = performance.now() + timeoutMs;
  // 1. Stop admission: every submit from now on is rejected 'draining'.
  Atomics.compareExchange(i32, h.mem.stateWord, RT_RUNNING, RT_DRAINING);
  // 2. Waiting rt.run() calls were never admitted: reject them.
  h.runQueue.flush();
  // 3. Let admitted tasks finish, within the timeout (destroy: not at all).
  const drained = hurry.fired ? false : await quiesce(h, timeoutMs, hurry);
  // 4. Retract what has not started (its cell stays in the ring; the worker skips it).
  if (!drained) retractPending(h.att);
  // 5. Closed: workers exit when their ring is empty; wake every parked one so it notices.
  //    From here a worker's exit is the end of its slot, not a crash to recover from.
  const supervisor = h.supervisor!;
  supervisor.stop();
  Atomics.store(i32, h.mem.stateWord, RT_CLOSED);
  for (let w = 0; w < h.mem.layout.workers; w++) wake(i32, h.mem.workerWord(w, W_WAKER));
  //    A worker still busy is terminated; one that does not exit even then is inside a native
  //    call (execSync, a blocking fs call), which terminate() cannot interrupt: close stops
  //    waiting for it after STOP_GRACE_MS, reports it and unrefs it (it ends when the call returns).
  //    destroy: every worker is terminated at once (an idle one may have exited by itself first).
  //    So is one whose running task was cancelled with force but whose kill request the
  //    watchdog (stopped above) had not acted on yet: nobody waits for that task any more.
  //    A worker still starting (start resolves on the first ready one, §4.7) is first let finish
  //    loading sluice's own modules (bounded), destroy or not: cut off mid-import, a thread leaks
  //    the descriptors of its reads in flight (as in a failed start, abortStart).
  const stopped = await Promise.all(supervisor.workers.map(async (wk, w) => {
    if (wk === null) return true;
    await settled(supervisor.ownModules[w], START_SETTLE_MS);
    return exited(wk, hurry.fired || killPending(h.mem, w) ? 0 : Math.max(0, deadline - performance.now()) + 1000, hurry);
  }));
  stopped.forEach((ok, w) => {
    if (!ok) {
      h.recordEvent(`worker ${w} did not stop within ${STOP_GRACE_MS} ms of being terminated (blocked outside JavaScript?); it will end when its native call returns`);
    }
  });
  // 6. Whatever still ran when the workers were stopped is abandoned; other threads' tokens
  //    that no worker will complete are completed for them (retracted or abandoned).
  supervisor.resolveOrphans();
  h.att.drain.drain();
  abandonRemaining(h.att, 'the runtime closed while the task was running');
  // 7. Release: timers, this thread's attachment, and a recording's file (its last records and trailer).
  h.att.dispose();
  await h.recording?.close(h.traceProducers?.());
}

/**
 * An attached handle's close(): its own drain, then its slot is freed (§4.7, attached). Its
 * destroy() (`hurry` fired): no drain; its queued tasks are retracted and its running ones
 * abandoned as cancel({ force: true }) does (§4.5 step 3: only their workers are replaced).
 */
export async function detach(h: ShutdownHost, timeoutMs: number, hurry: Hurry): Promise<void> {
  h.att.halted = R_CLOSED; // this handle admits no more (design 4.7); the runtime carries on
  h.runQueue.flush(true);
  // Timed out: what has not started never will (retracted). A task still running keeps its
  // token, and the slot stays this thread's until it resolves: freeing it now would hand a
  // live token table to the next attach. (If this thread ends first, the supervisor's liveness
  // check reclaims the slot, 4.9.)
  if (hurry.fired || !(await ownQuiesce(h.att, timeoutMs, hurry))) retractPending(h.att);
  if (hurry.fired) abandonRunning(h.att);
  const release = (): void => {
    h.att.dispose();
    releaseAttachment(h.mem.i32, h.mem.attachWord(h.att.index, A_STATE));
  };
  if (h.att.outstanding === 0) release();
  else void h.att.table.whenIdle().then(release);
}

/** Whether worker w has a forced-cancel kill request for the task its run record names (the watchdog's test, §4.8). */
function killPending(mem: Memory, w: number): boolean {
  const i32 = mem.i32;
  const base = mem.workerWord(w, 0);
  const kill = Atomics.load(i32, base + W_KILL_TOKEN);
  return kill !== 0 && kill === Atomics.load(i32, base + W_RUN_TOKEN)
    && i32[base + W_KILL_ATT] === i32[base + W_RUN_ATT] && i32[base + W_KILL_GEN] === i32[base + W_RUN_GEN];
}

/** Wait until no task is admitted-and-unresolved anywhere, or the timeout, or `hurry`; returns whether it was the first. */
export async function quiesce(h: ShutdownHost, timeoutMs: number, hurry?: Hurry): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  if (!(await ownQuiesce(h.att, timeoutMs, hurry))) return false;
  while (Atomics.load(h.mem.i32, h.mem.globalWord) !== 0) {
    if (performance.now() >= deadline || hurry?.fired === true) return false;
    await new Promise((r) => setTimeout(r, 1)); // other threads' tokens: poll (close is not a hot path)
  }
  return true;
}

/** Wait until nothing this thread admitted is outstanding, or the timeout, or `hurry`; returns whether it was the first. */
export async function ownQuiesce(att: Attachment, timeoutMs: number, hurry?: Hurry): Promise<boolean> {
  if (att.outstanding === 0) return true;
  if (hurry?.fired === true) return false;
  const all = att.table.whenIdle().then(() => true);
  const cut: Promise<boolean>[] = hurry === undefined ? [] : [hurry.promise];
  if (timeoutMs === Infinity) return Promise.race([all, ...cut]);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((r) => { timer = setTimeout(() => r(false), timeoutMs); });
  const done = await Promise.race([all, timedOut, ...cut]);
  clearTimeout(timer);
  return done;
}

/** close()/drain() options: timeoutMs, an integer number of ms (drain also takes Infinity, its default). */
export function closeTimeout(where: string, options: unknown, dflt: number): number {
  const o = snapshot(where, 'options', options, ['timeoutMs']);
  const v = o.timeoutMs;
  if (v === undefined) return dflt;
  if (v === Infinity && dflt === Infinity) return v;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 2 ** 31 - 1) {
    throw new ConfigError(`${where}: timeoutMs must be an integer from 0 to ${2 ** 31 - 1} (ms)${dflt === Infinity ? ' or Infinity' : ''}; got ${describe(v)}`);
  }
  return v + 0;
}

/**
 * Resolve true when the worker exits; terminate it if it has not within `ms`. terminate() stops
 * JavaScript (a loop, Atomics.wait) but not a native call (execSync, a blocking fs call): a
 * thread inside one exits only when the call returns. So if it has not exited STOP_GRACE_MS
 * after terminate(), resolve false and unref it: it holds up neither the caller nor the event
 * loop (though Node still joins it when the process exits: design 4.7).
 */
export function exited(worker: Worker, ms: number, hurry?: Hurry): Promise<boolean> {
  return new Promise((resolve) => {
    if (worker.threadId === -1) return resolve(true);
    let grace: NodeJS.Timeout | undefined;
    let ended = false;
    const stop = (): void => {
      // Once: the timer, or destroy() (hurry) cutting the wait short, whichever comes first.
      if (ended || grace !== undefined) return;
      clearTimeout(timer);
      worker.terminate().catch(() => {});
      grace = setTimeout(() => {
        worker.unref();
        resolve(false);
      }, STOP_GRACE_MS);
    };
    const timer = setTimeout(stop, ms);
    void hurry?.promise.then(stop);
    worker.once('exit', () => {
      ended = true;
      clearTimeout(timer);
      clearTimeout(grace);
      resolve(true);
    });
  });
}

/** Start() timed out (startTimeoutMs): carries the WorkerStartError to report. */
export class StartTimeout {
  constructor(readonly error: WorkerStartError) {}
}

/** `p`, or a StartTimeout after `ms`, or an AbortedError when `signal` aborts; the timer and listener go either way. */
export function bounded<T>(p: Promise<T>, ms: number, signal: AbortSignal | undefined): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const done = (): void => {
      clearTimeout(timer);
      if (signal !== undefined) offAbort(signal, aborted);
    };
    const aborted = (): void => {
      done();
      reject(new AbortedError('Runtime.start was aborted', { cause: signalReason(signal!) }));
    };
    const timer = setTimeout(() => {
      done();
      reject(new StartTimeout(new WorkerStartError(
        `the workers did not become ready within ${ms} ms (startTimeoutMs): does the task module have a top-level await that never settles?`,
      )));
    }, ms);
    if (signal !== undefined) onAbort(signal, aborted);
    p.then((v) => { done(); resolve(v); }, (err: unknown) => { done(); reject(err); });
  });
}

/**
 * A failed start (design 4.7): no worker may outlive it, and no file descriptor. A thread
 * terminated while it loads modules leaks the descriptors of the reads it has in flight
 * (counted in /proc/self/fd: one per worker cut off mid-import), so each is first let finish
 * loading sluice's own modules (up to START_SETTLE_MS), then the task module for up to
 * `settleMs`: closed and woken, a ready worker exits by itself, and one whose import failed
 * exits anyway. Then whatever is left (a top-level await that never settles) is terminated; one
 * stuck in a native call is unref'd.
 */
export async function abortStart(mem: Memory, supervisor: Supervisor, settleMs: number): Promise<void> {
  supervisor.stop();
  Atomics.store(mem.i32, mem.stateWord, RT_CLOSED);
  for (let w = 0; w < mem.layout.workers; w++) wake(mem.i32, mem.workerWord(w, W_WAKER));
  await Promise.all(supervisor.workers.map(async (wk, w) => {
    if (wk === null) return;
    // Never cut a thread off while it loads sluice's own modules (bounded: START_SETTLE_MS).
    await settled(supervisor.ownModules[w], START_SETTLE_MS);
    await exited(wk, settleMs);
  }));
}

/** `p` (undefined: at once), or `ms`, whichever comes first; the timer goes either way. */
async function settled(p: Promise<void> | undefined, ms: number): Promise<void> {
  if (p === undefined) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p, new Promise<void>((r) => { timer = setTimeout(r, ms); })]);
  clearTimeout(timer);
}
