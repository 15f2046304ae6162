/**
 * Park/unpark over one shared state word.
 *
 *   RUNNING --(no work)--> SPINNING --(spin budget spent)--> PARKED --(wake; CAS)--> RUNNING
 *
 * The consumer (the only thread that sleeps on this word) stores RUNNING, SPINNING and PARKED:
 * a plain store suffices, because the only other write to the word is a producer's
 * PARKED -> RUNNING CAS, which cannot happen before PARKED is stored. A producer that sees PARKED CASes it to RUNNING and only the winner
 * of that CAS calls Atomics.notify: one syscall per sleep, none per push.
 *
 * No lost wake-up: the producer publishes its item (seq-cst store) and then reads the state;
 * the consumer stores PARKED (seq-cst) and then re-checks its queue before sleeping.
 * Whichever runs second sees the other's write. Atomics.wait(word, PARKED) sleeps only while the
 * word still reads PARKED, so a wake that lands between the re-check and the wait returns at once.
 */

export const WAKER_RUNNING = 0;
export const WAKER_SPINNING = 1;
export const WAKER_PARKED = 2;

/** Producer side: wake the consumer sleeping on `word` if it is parked. Returns whether it did. */
export function wake(i32: Int32Array, word: number): boolean {
  if (Atomics.load(i32, word) !== WAKER_PARKED) return false;
  if (Atomics.compareExchange(i32, word, WAKER_PARKED, WAKER_RUNNING) !== WAKER_PARKED) return false;
  Atomics.notify(i32, word, 1);
  return true;
}

/** Consumer side. One per sleeping thread and word; not shared between threads. */
export class Waker {
  constructor(readonly i32: Int32Array, readonly word: number) {}

  /** The consumer found no work and starts its bounded spin. */
  spinning(): void { Atomics.store(this.i32, this.word, WAKER_SPINNING); }

  /** The consumer found work (while spinning, or after a wake). */
  running(): void { Atomics.store(this.i32, this.word, WAKER_RUNNING); }

  /**
   * Announce sleep. The caller MUST re-check its queue after this returns and, if work is
   * there, call running() instead of sleeping.
   */
  announcePark(): void { Atomics.store(this.i32, this.word, WAKER_PARKED); }

  /**
   * Block the calling thread until woken (or timeoutMs passes). Only for threads with nothing
   * else to do: a blocked thread runs no microtasks, timers or I/O.
   */
  parkSync(timeoutMs = Infinity): void {
    Atomics.wait(this.i32, this.word, WAKER_PARKED, timeoutMs);
    // Timed out or spurious: the state may still read PARKED. Either way we are awake now.
    Atomics.store(this.i32, this.word, WAKER_RUNNING);
  }

  /**
   * Park without blocking the event loop: resolves when woken (or after timeoutMs). Used by the
   * main thread and by workers with async tasks in flight.
   */
  parkAsync(timeoutMs = Infinity): Promise<unknown> | null {
    const r = Atomics.waitAsync(this.i32, this.word, WAKER_PARKED, timeoutMs);
    if (!r.async) {
      Atomics.store(this.i32, this.word, WAKER_RUNNING);
      return null;
    }
    return r.value;
  }
}
