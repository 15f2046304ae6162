/**
 * Tick clocks. A tick is one microsecond. Admission reads the clock only for producers that
 * have a rate limit, and only through this interface, so tests and replay can drive it by hand.
 */

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
  private readonly offset: number;
  private last = 0;
  readonly turnResolution = true;

  /** epochMicros: a hrtimeMicros() reading taken by the thread that started the runtime. */
  constructor(epochMicros: number) {
    this.offset = hrtimeMicros() - performance.now() * 1000 - epochMicros;
  }

  now(): number {
    const t = Math.floor(performance.now() * 1000 + this.offset);
    // Calibration differs by a few microseconds between threads; never step backwards here.
    if (t > this.last) this.last = t;
    return this.last;
  }
}

export function hrtimeMicros(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/** A clock that moves only when told to. For tests and deterministic replay. */
export class VirtualClock implements Clock {
  private t: number;
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
