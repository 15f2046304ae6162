/**
 * Observers: what src/observe (the dashboard) may see and do on the starting thread, without
 * reaching into the runtime's internals. Nothing here is on a hot path when nobody observes.
 *
 *   - listen: a listener on this thread's recording seam (src/trace/seam.ts) and the
 *     supervisor's, beside the recorder when there is one (a tee). With no observer the seam is
 *     what it was (null when not recording): free when nothing listens (§7.1).
 *   - queued: the tokens of this thread that are still pending (admitted, not started), read
 *     from their token words with loads only (the candidates an operator may retract).
 *   - admin: record an operator's action through the seam (§4.17 step 4), so the recorder and
 *     every observer see it with its provenance.
 *
 * Owner: the thread that started the runtime (its attachment and supervisor). A listener is ours
 * (the seam's rules: never throws, never blocks, allocates nothing per call).
 */
import { TK_PENDING } from '../shm/words/token.js';
import type { Seam } from '../trace/seam.js';
import type { Supervisor } from './supervisor/supervisor.js';
import type { Attachment } from './submit/attachment.js';

/** @internal One pending token of this thread: its key and its producer. */
export interface QueuedToken { attachment: number; index: number; generation: number; producer: number }

/** @internal What rt._observer() gives src/observe. */
export interface ObserverPort {
  /** This thread's attachment index (the `attachment` of its tokens' keys). */
  readonly attachment: number;
  /** Token indices of this thread (a listener may preallocate per index). */
  readonly tokenCapacity: number;
  /** Add a seam listener; returns the function that removes it (idempotent). */
  listen(listener: Seam): () => void;
  /** Up to `max` pending tokens of this thread, lowest index first. */
  queued(max: number): QueuedToken[];
  /** Record operator action `action` (ADMIN_ACTIONS index) by `session` on task/token; `ok`: it took effect. */
  admin(action: number, session: number, task: number, att: number, token: number, gen: number, ok: boolean): void;
}

/** The seam a thread holds while observers listen: the recorder first (if any), then each listener. */
class Tee implements Seam {
  readonly listeners: Seam[] = [];
  constructor(readonly primary: Seam | null) {}
  admitted(producer: number, task: number, att: number, token: number, gen: number, worker: number, packed: number, global: number, parent: number, parentGen: number): void {
    if (this.primary !== null) this.primary.admitted(producer, task, att, token, gen, worker, packed, global, parent, parentGen);
    for (const l of this.listeners) l.admitted(producer, task, att, token, gen, worker, packed, global, parent, parentGen);
  }
  rejected(producer: number, task: number, att: number, reason: number, packed: number, global: number): void {
    if (this.primary !== null) this.primary.rejected(producer, task, att, reason, packed, global);
    for (const l of this.listeners) l.rejected(producer, task, att, reason, packed, global);
  }
  started(att: number, token: number, gen: number, worker: number, stolen: boolean, task: number, producer: number, startMs: number): void {
    if (this.primary !== null) this.primary.started(att, token, gen, worker, stolen, task, producer, startMs);
    for (const l of this.listeners) l.started(att, token, gen, worker, stolen, task, producer, startMs);
  }
  ran(att: number, token: number, gen: number, worker: number, outcome: number, endMs: number): void {
    if (this.primary !== null) this.primary.ran(att, token, gen, worker, outcome, endMs);
    for (const l of this.listeners) l.ran(att, token, gen, worker, outcome, endMs);
  }
  resolved(att: number, token: number, gen: number, producer: number, outcome: number, batch: number): void {
    if (this.primary !== null) this.primary.resolved(att, token, gen, producer, outcome, batch);
    for (const l of this.listeners) l.resolved(att, token, gen, producer, outcome, batch);
  }
  cancelled(att: number, token: number, gen: number, force: boolean): void {
    if (this.primary !== null) this.primary.cancelled(att, token, gen, force);
    for (const l of this.listeners) l.cancelled(att, token, gen, force);
  }
  retried(att: number, token: number, gen: number, worker: number): void {
    if (this.primary !== null) this.primary.retried(att, token, gen, worker);
    for (const l of this.listeners) l.retried(att, token, gen, worker);
  }
  workerDied(worker: number, retryable: boolean): void {
    if (this.primary !== null) this.primary.workerDied(worker, retryable);
    for (const l of this.listeners) l.workerDied(worker, retryable);
  }
  respawned(worker: number): void {
    if (this.primary !== null) this.primary.respawned(worker);
    for (const l of this.listeners) l.respawned(worker);
  }
  retired(worker: number): void {
    if (this.primary !== null) this.primary.retired(worker);
    for (const l of this.listeners) l.retired(worker);
  }
  refilled(producer: number): void {
    if (this.primary !== null) this.primary.refilled(producer);
    for (const l of this.listeners) l.refilled(producer);
  }
  frozen(): void {
    if (this.primary !== null) this.primary.frozen();
    for (const l of this.listeners) l.frozen();
  }
  reconciled(deadWorkers: number, deadAttachments: number): void {
    if (this.primary !== null) this.primary.reconciled(deadWorkers, deadAttachments);
    for (const l of this.listeners) l.reconciled(deadWorkers, deadAttachments);
  }
  breaker(task: number, from: number, to: number, why: number, tick: number): void {
    if (this.primary !== null) this.primary.breaker(task, from, to, why, tick);
    for (const l of this.listeners) l.breaker(task, from, to, why, tick);
  }
  admin(action: number, session: number, task: number, att: number, token: number, gen: number, ok: boolean): void {
    if (this.primary !== null) this.primary.admin(action, session, task, att, token, gen, ok);
    for (const l of this.listeners) l.admin(action, session, task, att, token, gen, ok);
  }
}

/** @internal The observer port of the starting thread (or of an attached handle: no supervisor). */
export function observerPort(att: Attachment, supervisor: Supervisor | null): ObserverPort {
  const setSeam = (s: Seam | null): void => {
    att.seam = s;
    if (supervisor !== null) supervisor.seam = s;
  };
  return {
    attachment: att.index,
    tokenCapacity: att.table.tokens.length,
    listen(listener: Seam): () => void {
      // Between two turns of this thread's event loop: no decision of this thread is half made.
      const cur = att.seam;
      const tee = cur instanceof Tee ? cur : new Tee(cur);
      tee.listeners.push(listener);
      setSeam(tee);
      let on = true;
      return () => {
        if (!on) return;
        on = false;
        const i = tee.listeners.indexOf(listener);
        if (i >= 0) tee.listeners.splice(i, 1);
        if (tee.listeners.length === 0 && att.seam === tee) setSeam(tee.primary);
      };
    },
    queued(max: number): QueuedToken[] {
      const out: QueuedToken[] = [];
      const table = att.table;
      for (let t = 0; t < table.tokens.length && out.length < max; t++) {
        const token = table.tokens[t];
        const live = token !== undefined || table.callbacks[t] !== undefined;
        if (!live || att.tokenState(t) !== TK_PENDING) continue;
        // A token that declared retries reads PENDING again when re-pushed: it has started once.
        if (token !== undefined && token.state !== 'pending') continue;
        out.push({
          attachment: att.index, index: t, generation: table.gens[t]!,
          producer: token !== undefined ? token._producer : table.cbProducers[t]!,
        });
      }
      return out;
    },
    admin(action: number, session: number, task: number, a: number, token: number, gen: number, ok: boolean): void {
      const seam = att.seam;
      if (seam !== null) seam.admin(action, session, task, a, token, gen, ok);
    },
  };
}
