/**
 * Cancel (docs/design.md §4.5) and the owner's part of shutdown (§4.7): resolving this thread's
 * tokens without a completion. Every state change is one named transition of the token word
 * (src/shm/words/token.ts), taken by CAS inside the thread's window together with the release
 * that follows it; the worker's PENDING → RUNNING CAS (§4.2 step 2) decides each race.
 * Owner: the attachment's thread.
 */
import { W_KILL_ATT, W_KILL_GEN, W_KILL_TOKEN } from '../../shm/layout.js';
import { forceFree, retract } from '../../shm/words/token.js';
import { O_ABANDONED, O_RETRACTED, type Token } from '../token.js';
import { AbandonedError, RetractedError } from '../../errors.js';
import type { Attachment } from './attachment.js';

/**
 * token.cancel(): §4.5 step 1, the token must be this thread's live one; step 2, retract it if
 * still pending; step 3, with force, abandon it while running and post a kill request (§4.8).
 */
export function cancel(att: Attachment, token: Token, force: boolean, why = 'cancelled with force while running'): boolean {
  if (token._outcome >= 0 || att.table.tokens[token._index] !== token) return false;
  let done: boolean;
  att.window.enter(); // the state CAS and the release that follows it, together
  try {
    done = cancelInWindow(att, token, force, why);
  } finally {
    att.window.leave();
  }
  if (!done) return false;
  // Books exact and the window left: now what may run user code (rt.run waiters, 'clear' edges).
  att.table.checkIdle();
  const after = att.pump.onDrained;
  if (after !== null) after.afterDrain();
  return true;
}

function cancelInWindow(att: Attachment, token: Token, force: boolean, why: string): boolean {
  const i32 = att.i32;
  const t = token._index;
  const w = att.tokenWordOf(t);
  if (retract(i32, w, token._gen)) { // §4.5 step 2
    if (att.seam !== null) att.seam.cancelled(att.index, t, token._gen, false);
    att.drain.resolve(token, O_RETRACTED, new RetractedError('task was cancelled before it started'));
  } else {
    if (!force) return false; // §4.5 step 3
    const worker = forceFree(i32, w, token._gen);
    if (worker < 0) return false; // not running (finishing: let it), or it finished meanwhile
    if (att.seam !== null) att.seam.cancelled(att.index, t, token._gen, true);
    att.drain.resolve(token, O_ABANDONED, new AbandonedError(why));
    postKill(att, worker, t, token._gen);
  }
  if (att.table.outstanding === 0) att.pump.wakeIfParked();
  return true;
}

/**
 * rt.cancelToken(key) (§4.5 step 1 by identity; the dashboard's kill, §4.17 step 3): token index `t` of this attachment, if it is live
 * with generation `gen` and still pending, is retracted exactly as token.cancel() would (Tokens)
 * or as close retracts a callback admission (§4.7). Never forces: a running task is untouched.
 * Only the owner thread calls this (it alone resolves its tokens); returns whether it retracted.
 */
export function cancelByKey(att: Attachment, t: number, gen: number): boolean {
  const table = att.table;
  if (t < 0 || t >= table.tokens.length || table.gens[t] !== gen) return false;
  const token = table.tokens[t];
  if (token !== undefined) return token._gen === gen && cancel(att, token, false);
  if (table.callbacks[t] === undefined) return false;
  let done = false;
  att.window.enter(); // the state CAS and the release that follows it, together (§4.5 step 2)
  try {
    if (retract(att.i32, att.tokenWordOf(t), gen)) {
      if (att.seam !== null) att.seam.cancelled(att.index, t, gen, false);
      att.drain.resolveCallback(t, O_RETRACTED, new RetractedError('task was cancelled before it started'));
      if (table.outstanding === 0) att.pump.wakeIfParked();
      done = true;
    }
  } finally {
    att.window.leave();
  }
  if (!done) return false;
  table.checkIdle();
  att.drain.runLate(); // the callback, after the books (user code)
  const after = att.pump.onDrained;
  if (after !== null) after.afterDrain();
  return true;
}

/** §4.5 step 3: ask the supervisor to stop worker `worker` if it still runs token t of generation gen (§4.8). */
function postKill(att: Attachment, worker: number, t: number, gen: number): void {
  const i32 = att.i32;
  const kw = att.mem.workerWord(worker, 0);
  i32[kw + W_KILL_ATT] = att.index;
  i32[kw + W_KILL_GEN] = gen;
  Atomics.store(i32, kw + W_KILL_TOKEN, t + 1);
}

/**
 * §4.7, an attached handle's destroy(): after retractPending, abandon what still runs, Tokens
 * and callbacks alike, as cancel({ force: true }) does (§4.5 step 3).
 */
export function abandonRunning(att: Attachment): void {
  const table = att.table;
  for (const token of table.tokens) if (token !== undefined) cancel(att, token, true);
  for (let t = 0; t < table.callbacks.length; t++) {
    if (table.callbacks[t] === undefined) continue;
    att.window.enter();
    try {
      const gen = table.gens[t]!;
      const worker = forceFree(att.i32, att.tokenWordOf(t), gen);
      if (worker >= 0) {
        att.drain.resolveCallback(t, O_ABANDONED, new AbandonedError('the runtime handle was destroyed while the task was running'));
        postKill(att, worker, t, gen);
      }
    } finally {
      att.window.leave();
    }
  }
  table.checkIdle();
  att.drain.runLate();
}

/** §4.7, close timed out: retract everything of this thread that has not started (Tokens and callbacks). */
export function retractPending(att: Attachment): void {
  const table = att.table;
  for (const token of table.tokens) if (token !== undefined) token.cancel();
  for (let t = 0; t < table.callbacks.length; t++) {
    if (table.callbacks[t] === undefined) continue;
    att.window.enter();
    try {
      if (retract(att.i32, att.tokenWordOf(t), table.gens[t]!)) {
        att.drain.resolveCallback(t, O_RETRACTED, new RetractedError('the runtime closed before the task started'));
      }
    } finally {
      att.window.leave();
    }
  }
  table.checkIdle();
  att.drain.runLate();
}

/** §4.7, workers stopped: whatever is still outstanding ran when they stopped. */
export function abandonRemaining(att: Attachment, reason: string): void {
  const table = att.table;
  for (const token of table.tokens) if (token !== undefined) att.drain.resolve(token, O_ABANDONED, new AbandonedError(reason));
  for (let t = 0; t < table.callbacks.length; t++) {
    if (table.callbacks[t] !== undefined) att.drain.resolveCallback(t, O_ABANDONED, new AbandonedError(reason));
  }
  table.checkIdle();
  att.drain.runLate();
}
