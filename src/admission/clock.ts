/**
 * Tick clocks. A tick is one microsecond. Admission reads the clock only for producers that
 * have a rate limit, and only through this interface, so tests and replay can drive it by hand.
 */

import { reportUncaught } from '../runtime/user-code.js';
import { ClockError } from '../errors.js';

export const TICKS_PER_SECOND = 1_000_000;

export interface Clock {
  /** Integer ticks since the runtime's epoch. Monotonic (never decreases in one thread). */
  now(): number;
  /**
   * Whether admission may decide several submits of one event-loop turn at one reading of this
   * clock (docs/design.md 4.11). Set by clocks whose reading costs more than a decision; clocks
   * that tests and replay advance by hand leave it unset and are read at every decision.
   */
  readonly turnResolution?: boolean;
}

/**
 * CLOCK_MONOTONIC in microseconds, shared by every thread: `performance.now()` is relative to
 * each thread's own start, so each thread calibrates its offset against process.hrtime once.
 */
export class MonotonicClock implements Clock {
  /** @internal */ private readonly offset: number;
  /** @internal */ private last = 0;
  readonly turnResolution = true;

  /**
   * epochMicros: where tick 0 is, in CLOCK_MONOTONIC microseconds (the runtime passes its own
   * epoch, read by the thread that started it); default: now.
   */
  constructor(epochMicros: number = hrtimeMicros()) {
    this.offset = hrtimeMicros() - performance.now() * 1000 - epochMicros;
  }

  now(): number { return this.at(performance.now()); }

  /**
   * @internal The tick of a `performance.now()` reading `ms` this thread made (a worker's recorder
   * dates a run's start and end by the loop's own readings, with no clock read of its own).
   */
  at(ms: number): number {
    const t = Math.floor(ms * 1000 + this.offset);
    // Calibration differs by a few microseconds between threads; never step backwards here.
    if (t > this.last) this.last = t;
    return this.last;
  }
}

/**
 * @internal A user's clock, as admission sees it (docs/design.md 4.11). now() is user code called inside
 * the admission window: it must never throw out of it (the window flag would stay set and block
 * crash recovery) nor hand the bucket NaN or a step backwards. A throw, a non-number, NaN,
 * Infinity or a reading below the last good one is replaced by the last good reading; the first
 * such failure is reported once, as an uncaught exception on a later tick (reportUncaught).
 * Readings are floored to integer ticks. The default MonotonicClock is never wrapped.
 */
export class GuardedClock implements Clock {
  readonly turnResolution: boolean;
  private last: number;
  private reported = false;

  /** `read` and `turnResolution` were read from `target` once, at start/attach; `first` is a good reading. */
  constructor(private readonly target: object, private readonly read: () => number, first: number, turnResolution: boolean) {
    this.last = first;
    this.turnResolution = turnResolution;
  }

  now(): number {
    let v: unknown;
    try {
      v = Reflect.apply(this.read, this.target, []);
    } catch (err) {
      this.fail('threw', err);
      return this.last;
    }
    if (typeof v !== 'number' || !(v >= this.last) || v === Infinity) {
      this.fail(typeof v !== 'number' || Number.isNaN(v) || v === Infinity ? 'returned a value that is not a finite number' : 'went backwards', undefined);
      return this.last;
    }
    this.last = Math.floor(v);
    return this.last;
  }

  private fail(what: string, cause: unknown): void {
    if (this.reported) return;
    this.reported = true;
    reportUncaught(new ClockError(`the admission clock's now() ${what}; admission uses its last good reading whenever it does`, cause === undefined ? undefined : { cause }));
  }
}

export function hrtimeMicros(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/** A clock that moves only when told to. For tests and deterministic replay. */
export class VirtualClock implements Clock {
  /** @internal */ private t: number;
  constructor(start = 0) {
    if (!Number.isSafeInteger(start) || start < 0) throw new RangeError('VirtualClock start must be a non-negative integer');
    this.t = start;
  }
  now(): number { return this.t; }
  advance(ticks: number): number {
    if (!Number.isSafeInteger(ticks) || ticks < 0) throw new RangeError('VirtualClock.advance takes a non-negative integer');
    this.t += ticks;
    return this.t;
  }
  set(t: number): void {
    if (!Number.isSafeInteger(t) || t < this.t) throw new RangeError('VirtualClock.set cannot move backwards');
    this.t = t;
  }
}
