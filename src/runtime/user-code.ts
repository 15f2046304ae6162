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
