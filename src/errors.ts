/**
 * Every error sluice throws or rejects with. Each has a stable `code`; match on it, not on
 * the message.
 */

import type { RejectReason, Rejection } from './admission/reasons.js';

/** Every `code` a sluice error carries, one per class. */
export type SluiceErrorCode =
  | 'ERR_SLUICE_CONFIG' | 'ERR_SLUICE_UNKNOWN_TASK' | 'ERR_SLUICE_PAYLOAD' | 'ERR_SLUICE_RETRACTED' | 'ERR_SLUICE_ABANDONED'
  | 'ERR_SLUICE_REJECTED' | 'ERR_SLUICE_WORKER_START' | 'ERR_SLUICE_ATTACH' | 'ERR_SLUICE_CLOCK' | 'ERR_SLUICE_ABORTED';

/**
 * Why rt.run() rejected with a RejectedError: a reason that does not pass with time ('draining',
 * 'closed', 'no-workers'), or 'queue-full' (runQueueLimit calls already wait).
 */
export type RunRejectReason = RejectReason | 'queue-full';

export class SluiceError extends Error {
  readonly code: SluiceErrorCode;
  constructor(code: SluiceErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** Options or limits that make no sense: reported at the call that passed them. */
export class ConfigError extends SluiceError {
  declare readonly code: 'ERR_SLUICE_CONFIG';
  /** `cause`: what a getter or Proxy trap threw while the option was read, when that is why. */
  constructor(message: string, options?: { cause?: unknown }) { super('ERR_SLUICE_CONFIG', message, options); }
}

/** `rt.task(name)` for a name the task module does not export. */
export class UnknownTaskError extends SluiceError {
  declare readonly code: 'ERR_SLUICE_UNKNOWN_TASK';
  constructor(readonly task: string, readonly available: readonly string[]) {
    super(
      'ERR_SLUICE_UNKNOWN_TASK',
      // The asked-for name is the user's value: quoted only when it looks like a name.
      `unknown task ${printableName(task) ? `'${task}'` : `(${describe(task)})`}; the task module exports: ${available.length ? available.join(', ') : '(no functions)'}`,
    );
  }
}

/** A payload (or result) that cannot be carried: not clonable, or larger than the spill arena. */
export class PayloadError extends SluiceError {
  declare readonly code: 'ERR_SLUICE_PAYLOAD';
  constructor(message: string, options?: { cause?: unknown }) { super('ERR_SLUICE_PAYLOAD', message, options); }
}

/** The token was retracted: cancelled before it started, or never run because of close. */
export class RetractedError extends SluiceError {
  declare readonly code: 'ERR_SLUICE_RETRACTED';
  constructor(message = 'task was retracted before it started') { super('ERR_SLUICE_RETRACTED', message); }
}

/** The task started but did not finish: its deadline passed or its worker died. */
export class AbandonedError extends SluiceError {
  declare readonly code: 'ERR_SLUICE_ABANDONED';
  constructor(message: string) { super('ERR_SLUICE_ABANDONED', message); }
}

/** `rt.run()` could not be queued or admitted: the runtime is draining/closed, or its wait queue is full. */
export class RejectedError extends SluiceError {
  declare readonly code: 'ERR_SLUICE_REJECTED';
  constructor(readonly reason: RunRejectReason, message: string) { super('ERR_SLUICE_REJECTED', message); }
}

/**
 * rt.run's (and a task's runtime.run's) error for a Rejection that does not pass with time (§4.6):
 * its reason; for 'quarantined', which task's breaker refused and in what state (the runtime
 * itself is fine).
 */
export function runRejected(r: Rejection): RejectedError {
  if (r.reason === 'quarantined') {
    const why = r.why === undefined ? '' : ` (${r.why})`;
    return new RejectedError('quarantined', `task '${r.task ?? '?'}' is quarantined: its breaker is ${r.breaker ?? 'open'}${why}`);
  }
  return new RejectedError(r.reason, `runtime is ${r.reason}`);
}

/** A worker failed to start (its task module threw on import, or could not be found). */
export class WorkerStartError extends SluiceError {
  declare readonly code: 'ERR_SLUICE_WORKER_START';
  constructor(message: string, options?: { cause?: unknown }) { super('ERR_SLUICE_WORKER_START', message, options); }
}

/** An attach handle that is not one, or a runtime with no free attachment slot. */
export class AttachError extends SluiceError {
  declare readonly code: 'ERR_SLUICE_ATTACH';
  constructor(message: string, options?: { cause?: unknown }) { super('ERR_SLUICE_ATTACH', message, options); }
}

/**
 * Reported (as an uncaught exception, once per clock) when a user clock's now() throws, returns
 * something that is not a finite number, or goes backwards; admission then uses the last good
 * reading (docs/design.md 4.11).
 */
export class ClockError extends SluiceError {
  declare readonly code: 'ERR_SLUICE_CLOCK';
  constructor(message: string, options?: { cause?: unknown }) { super('ERR_SLUICE_CLOCK', message, options); }
}

/**
 * An operation given an AbortSignal (Runtime.start({ signal })) was aborted; `cause` is the
 * signal's reason. Whatever the operation had started is torn down before it rejects.
 */
export class AbortedError extends SluiceError {
  declare readonly code: 'ERR_SLUICE_ABORTED';
  constructor(message: string, options?: { cause?: unknown }) { super('ERR_SLUICE_ABORTED', message, options); }
}

/** @internal Sluice's own error classes by name, so an error that crossed a thread comes back as itself. */
export const SLUICE_ERROR_CLASSES: Record<string, { prototype: SluiceError }> = {
  SluiceError, ConfigError, UnknownTaskError, PayloadError, RetractedError, AbandonedError, RejectedError,
  WorkerStartError, AttachError, ClockError, AbortedError,
};

/**
 * @internal §4.13 step 4. What a user value is, for an error message, without its contents: a message must never dump a
 * user's value (a payload holding process.env would print every variable), and must never run
 * user code (a getter, a Proxy trap, toString) while describing it. Never throws.
 */
export function describe(v: unknown): string {
  try {
    if (v === null) return 'null';
    const t = typeof v;
    if (t === 'string') return `a string (${(v as string).length} chars)`;
    if (t === 'number' || t === 'boolean' || t === 'undefined') return String(v);
    if (t === 'bigint') return 'a bigint';
    if (t === 'symbol') return 'a symbol';
    if (t === 'function') return 'a function';
    if (Array.isArray(v)) return `an array (${(v as unknown[]).length} items)`;
    return 'an object';
  } catch {
    return 'a value that cannot be inspected';
  }
}

/**
 * @internal What a value thrown while sluice read a user's value was, for a message ("reading it threw a
 * TypeError"), without running user code (no getter, no Proxy trap, no toString) and without its
 * text, which may quote the value; sluice's own errors give their message. Never throws.
 */
export function thrownText(err: unknown): string {
  try {
    if (err instanceof SluiceError) return err.message; // ours: its text is ours too
    if (err instanceof Error) {
      // Own data properties only: a descriptor's value never runs a getter.
      const proto: unknown = Object.getPrototypeOf(err);
      const own = (o: unknown, k: string): unknown => (o !== null && (typeof o === 'object' || typeof o === 'function') ? Object.getOwnPropertyDescriptor(o, k)?.value : undefined);
      const name = own(proto, 'name') ?? own(own(proto, 'constructor'), 'name');
      return `reading it threw ${typeof name === 'string' && name.length <= 64 ? `${/^[AEIOU]/.test(name) ? 'an' : 'a'} ${name}` : 'an error'}`;
    }
  } catch { /* a Proxy trap threw: say only what it is */ }
  return `reading it threw ${describe(err)}`;
}

/**
 * @internal A name a message may quote: an identifier of at most 64 characters (what task exports are
 * named). Anything else a caller passed as a name is described, not quoted.
 */
export function printableName(v: unknown): v is string {
  return typeof v === 'string' && v.length <= 64 && /^[\p{ID_Start}$_][\p{ID_Continue}$\u200c\u200d]*$/u.test(v);
}
