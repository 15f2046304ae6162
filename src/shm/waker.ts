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
 * Whichever runs second sees the other's write. Asymmetric form (submission rings, layout.ts
 * plainPublish): the publish is a plain store, and the consumer runs the process barrier
 * between its PARKED store and the re-check (worker/loop.ts; docs/design.md §3.2). Atomics.wait(word, PARKED) sleeps only while the
 * word still reads PARKED, so a wake that lands between the re-check and the wait returns at once.
 *
 * Two ways to sleep on the word. A thread that may not block its event loop uses
 * Atomics.waitAsync. A thread that may block (parkSync) uses the native futex when this thread
 * has one installed (useNativeFutex: the addon's FUTEX_WAIT/FUTEX_WAKE on the word itself), else
 * Atomics.wait. Both compare the word with PARKED atomically with going to sleep. The waker does
 * not know which kind sleeps: it notifies V8's waiters and, when that woke nobody, issues a
 * native wake as well (a stray native wake with no sleeper costs one syscall).
 *
 * Why native: V8's Atomics.wait/notify go through its futex emulation (a process-wide mutex and
 * a condition variable per waiter); a wake through it costs ~2 µs more per side here
 * (docs/performance.md). The price: a thread inside the futex syscall does not see
 * worker.terminate() or process exit. So whoever terminates a worker wakes it too, the runtime
 * wakes its workers when the process exits, and as a backstop a native sleep lasts at most
 * NATIVE_SLICE_MS at a time and goes back to JavaScript between slices.
 * A thread that wakes without a native futex installed still wakes a native sleeper, only
 * late: at the end of its current slice, when it sees the word RUNNING.
 */
import { loadAcquire } from './order.js';

export const WAKER_RUNNING = 0;
export const WAKER_SPINNING = 1;
export const WAKER_PARKED = 2;

/** The native futex pair (the addon's; src/runtime/native/affinity.ts nativeFutex()). */
export interface NativeFutex {
  /** Sleeps while i32[index] === expected, at most timeoutMs: 0 woken (or spurious), 1 not equal, 2 timed out. */
  futexWait(i32: Int32Array, index: number, expected: number, timeoutMs: number): number;
  /** Wakes up to count native sleepers on i32[index]; returns how many. */
  futexWake(i32: Int32Array, index: number, count: number): number;
}

/**
 * Longest single native sleep: how late a sleeping thread would see terminate() or process exit
 * if nobody woke it (the runtime does: src/runtime/supervisor/). Each slice that ends costs a
 * wake-up of an idle CPU, which on a VM is dear: 50 ms slices took an idle runtime from ~0.1 to
 * ~0.4 % of a core here.
 */
export const NATIVE_SLICE_MS = 1000;
const FUTEX_TIMED_OUT = 2;

/** This thread's native futex (module state is per thread), or null: V8's wait/notify only. */
let native: NativeFutex | null = null;
let sliceMs = NATIVE_SLICE_MS;

/**
 * Installs this thread's native futex (null removes it). The runtime installs it in every thread
 * it runs in (workers, attachments, the supervisor) when the addon has it and SLUICE_NO_FUTEX is
 * not 1. `slice` (tests) shortens the longest single sleep.
 */
export function useNativeFutex(f: NativeFutex | null, slice = NATIVE_SLICE_MS): void {
  native = f;
  sliceMs = slice;
}

/** §3.2 step 4. Producer side: wake the consumer sleeping on `word` if it is parked. Returns whether it did. */
export function wake(i32: Int32Array, word: number): boolean {
  if (loadAcquire(i32, word) !== WAKER_PARKED) return false;
  if (Atomics.compareExchange(i32, word, WAKER_PARKED, WAKER_RUNNING) !== WAKER_PARKED) return false;
  // A V8 waiter (Atomics.wait or waitAsync) counts in notify's result; a native sleeper does not.
  if (Atomics.notify(i32, word, 1) === 0 && native !== null) native.futexWake(i32, word, 1);
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
    const f = native;
    if (f === null) Atomics.wait(this.i32, this.word, WAKER_PARKED, timeoutMs);
    else {
      // Native, in slices: back in JavaScript between them, where terminate() can act.
      const end = timeoutMs === Infinity ? Infinity : performance.now() + timeoutMs;
      for (let left = timeoutMs; ;) {
        const slice = sliceMs;
        if (f.futexWait(this.i32, this.word, WAKER_PARKED, Math.min(left, slice)) !== FUTEX_TIMED_OUT) break;
        // Still PARKED: sleep on. RUNNING: a thread without a native futex woke us (late).
        if (left <= slice || Atomics.load(this.i32, this.word) !== WAKER_PARKED) break;
        if (end !== Infinity) left = end - performance.now();
      }
    }
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
