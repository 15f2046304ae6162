/**
 * Calling user code from inside sluice (docs/design.md 4.12, "Containment").
 *
 * Every function a user hands us (event listeners, submitCallback callbacks, an AbortSignal's
 * listeners, getters on options and values, thenables) is hostile territory: it may throw, throw
 * a value whose own getters throw, or never return. The rule: call user code only after our
 * books are exact (slots released, token resolved, windows left), through callUser(), so that
 * whatever it throws is reported as an uncaught exception on a later tick and never unwinds
 * through sluice's own frames (the pump, close, another callback).
 */

import * as types from 'node:util/types'; // not node:util: a worker need not load util.js (start-up)

/** Report `err` as an uncaught exception, from a fresh tick: nothing of ours is on that stack. */
export function reportUncaught(err: unknown): void {
  process.nextTick(rethrow, err);
}

function rethrow(err: unknown): never {
  throw err;
}

/** Call a user function; a throw is reported as uncaught (reportUncaught) and never propagates. */
export function callUser(fn: (...args: never[]) => unknown, ...args: unknown[]): void {
  try {
    (fn as (...a: unknown[]) => unknown)(...args);
  } catch (err) {
    reportUncaught(err);
  }
}

// ---- AbortSignals, through the intrinsic methods (captured at module load) ----
// A signal may be an AbortSignal whose class or prototype overrides `aborted`, `reason`,
// addEventListener or removeEventListener to throw or lie. sluice never calls those: it reads
// and listens through the methods of AbortSignal.prototype and EventTarget.prototype as they
// were when this module loaded. On anything that is not a real AbortSignal the getter throws
// (a brand check): callers do that check before they take anything.

const apply = Reflect.apply;
const isProxy = types.isProxy;
const abortedGetter = Object.getOwnPropertyDescriptor(AbortSignal.prototype, 'aborted')!.get!;
const reasonGetter = Object.getOwnPropertyDescriptor(AbortSignal.prototype, 'reason')!.get!;
const addListener = EventTarget.prototype.addEventListener;
const removeListener = EventTarget.prototype.removeEventListener;

/**
 * Whether `v` is a real AbortSignal: not a Proxy (whose traps could answer the check and then
 * throw later), and accepted by the intrinsic `aborted` getter. Runs no user code.
 */
export function isAbortSignal(v: unknown): v is AbortSignal {
  if (v === null || typeof v !== 'object' || isProxy(v)) return false;
  try {
    apply(abortedGetter, v, []);
    return true;
  } catch {
    return false;
  }
}

/** signal.aborted, intrinsically. Only for a value isAbortSignal() accepted. */
export function signalAborted(signal: AbortSignal): boolean {
  return apply(abortedGetter, signal, []) as boolean;
}

/** signal.reason, intrinsically. */
export function signalReason(signal: AbortSignal): unknown {
  return apply(reasonGetter, signal, []);
}

/**
 * What an aborted signal makes a submit throw (an already-aborted signal) and a waiting
 * rt.run reject with (an abort while it waits): the signal's reason, or an AbortError
 * DOMException when the reason is undefined.
 */
export function abortReason(signal: AbortSignal): unknown {
  return signalReason(signal) ?? new DOMException('submit aborted', 'AbortError');
}

/** signal.addEventListener('abort', fn, { once: true }), intrinsically. */
export function onAbort(signal: AbortSignal, fn: () => void): void {
  apply(addListener, signal, ['abort', fn, { once: true }]);
}

/** signal.removeEventListener('abort', fn), intrinsically; never throws. */
export function offAbort(signal: AbortSignal, fn: () => void): void {
  try {
    apply(removeListener, signal, ['abort', fn]);
  } catch (err) {
    reportUncaught(err);
  }
}
