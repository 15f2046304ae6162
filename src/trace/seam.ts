/**
 * The recording seam: the one narrow interface the runtime calls at each decision point
 * (../shared/DESIGN.md §2, §5a). Every argument is an integer the caller already holds, so a
 * call allocates nothing; what a listener does with it (a 64-byte record in this thread's
 * flight-recorder ring, a metric) is its business.
 *
 * Free when nothing listens: each thread holds `seam: Seam | null` and every call site is
 * `if (seam !== null) seam.x(...)`, one load and a predictable branch (docs/performance.md,
 * "The recording seam", has the paired A/B). A listener runs on the deciding thread, inside the
 * protocol step that decided, and must therefore be ours, never user code: it must not throw,
 * block, allocate per call, or touch the runtime's shared words.
 *
 * Who calls what (each call cites the step that decided):
 *   submitting thread  admitted, rejected (§4.1), resolved (§4.3 step 7, §4.5, §4.7),
 *                      cancelled (§4.5), retried (§4.8 retries)
 *   worker             started (§4.2 steps 2-4, §4.2a step 5 when stolen), ran (§4.3 step 5)
 *   supervisor         workerDied, respawned, retired (§4.8), frozen, reconciled (§4.10)
 *   operator           admin (§4.17: an action from sluice/observe's dashboard, on the starting thread)
 *   any thread         breaker (§4.16: whichever thread's CAS moved a task's breaker)
 * Token identity is (attachment, index, generation); `task` is the task id; `producer` the
 * producer index; `worker` a worker slot; -1 where none applies.
 */
export interface Seam {
  /**
   * §4.1 step 5: admitted and published to `worker`'s ring. `packed` and `global`: the gate words
   * after the CASes. `parent`: the token that submitted it (lineage), packed as a record's TOKEN
   * word (attachment << 16 | index), and its generation; -1, -1 when not submitted by a task.
   */
  admitted(
    producer: number, task: number, att: number, token: number, gen: number, worker: number, packed: number, global: number,
    parent: number, parentGen: number,
  ): void;
  /** §4.1 steps 1-4: refused with `reason` (admission/reasons.ts index), nothing taken. The gate words as seen. */
  rejected(producer: number, task: number, att: number, reason: number, packed: number, global: number): void;
  /**
   * §4.2 step 2 (or §4.2a step 5): `worker` won the PENDING -> RUNNING CAS on the cell of `task`
   * from `producer`, copied the payload out and is about to run it (§4.2 step 4); `startMs`: the
   * run's start as the worker read it (`performance.now()`), so a recorder need not read a clock.
   */
  started(att: number, token: number, gen: number, worker: number, stolen: boolean, task: number, producer: number, startMs: number): void;
  /**
   * §4.3 step 5: `worker`'s run of the token ended with `outcome` (the worker's side; the owner's
   * resolve follows); `endMs`: the run's end as the worker read it, as `startMs`.
   */
  ran(att: number, token: number, gen: number, worker: number, outcome: number, endMs: number): void;
  /**
   * §4.3 step 7 (and every other resolve): the token resolved with `outcome` (admission/outcomes.ts index).
   * `batch` >= 0: one drain chunk's resolves, made in one synchronous stretch, carry the same number; -1 otherwise.
   */
  resolved(att: number, token: number, gen: number, producer: number, outcome: number, batch: number): void;
  /** §4.5: token.cancel() won its CAS (`force`: it was running and was abandoned). */
  cancelled(att: number, token: number, gen: number, force: boolean): void;
  /** §4.8, retries: the token was re-pushed with generation `gen` to `worker`'s ring. */
  retried(att: number, token: number, gen: number, worker: number): void;
  /** §4.8 step 1: worker slot `worker`'s thread ended (`retryable`: a crash, not a deadline). */
  workerDied(worker: number, retryable: boolean): void;
  /** §4.8 step 6: a replacement thread is started for slot `worker` (recorded before it can take a task). */
  respawned(worker: number): void;
  /** §4.8 step 7: slot `worker` kept dying and was retired. */
  retired(worker: number): void;
  /** The 'clear' timer brought `producer`'s bucket up to a fresh reading (§4.11), outside any submit. */
  refilled(producer: number): void;
  /** §4.10 step 1: the freeze word is set and no live thread is inside a window. */
  frozen(): void;
  /** §4.10 steps 3-5: reconciled the dead workers and attachments (counts), then unfroze. */
  reconciled(deadWorkers: number, deadAttachments: number): void;
  /**
   * §4.17 step 4: operator `session` (a dashboard connection) took action `action` (index into
   * trace/records.ts ADMIN_ACTIONS) on `task` and/or the token (att, token, gen), -1 where none;
   * `ok`: it took effect (drained, resumed, retracted, isolated, released).
   */
  admin(action: number, session: number, task: number, att: number, token: number, gen: number, ok: boolean): void;
  /**
   * §4.16: task `task`'s breaker moved from state `from` to `to` (shm/words/breaker.ts BR_*),
   * for `why` (WHY_*), at admission tick `tick` (µs, the runtime clock the decision read).
   */
  breaker(task: number, from: number, to: number, why: number, tick: number): void;
}
