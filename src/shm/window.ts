/**
 * The window/freeze protocol (docs/design.md 4.10), both sides, one copy each.
 *
 * A thread that moves a shared counter or claims a ring cell does so inside its *window*: a flag
 * word of its own (layout.ts A_WINDOW for an attachment, W_WINDOW for a worker) that only it
 * writes. The freezer (the supervisor, on the starting thread) sets the freeze word (layout.ts
 * ST_FREEZE) and waits until no live thread's flag is set; then no live thread is between a claim
 * and its publish, nor between moving a token word and the counters that go with it, and what a
 * dead thread left half done can be reconciled from the words alone.
 *
 * Why it is safe (Dekker): the thread stores its flag, then loads the freeze word; the freezer
 * stores the freeze word, then loads the flags. Neither load may be ordered before its side's
 * store, so at least one of them sees the other's store: either the thread sees the freeze and
 * backs out, or the freezer sees the flag and waits. Two ways to get that order:
 *
 *   symmetric   both stores are Atomics.store (sequentially consistent: on x86 an xchg, which
 *               also waits for every earlier store of the thread to leave its store buffer).
 *   asymmetric  (layout.ts H_BARRIER, when this process has membarrier(2): runtime/native/affinity.ts
 *               processBarrier)
 *               the thread's flag store is a plain store, and the freezer, after its
 *               sequentially consistent freeze store, runs a process barrier: every CPU that runs
 *               a thread of this process executes a full memory barrier before it returns. A
 *               thread whose flag store precedes its barrier has that store visible when the
 *               freezer scans; one whose flag store follows it loads the freeze word after its
 *               barrier, when the freezer's store is already visible, so it sees the freeze.
 *               The window's hot side, entered once or twice per task on every thread, then pays
 *               one plain store; the freezer (a thread died: rare) pays a few microseconds to tens
 *               of microseconds of inter-processor interrupts. test/explore/models/window.ts
 *               checks it with store buffers.
 *
 * The loads need only acquire order (order.ts). Leaving stores 0 with release order: everything
 * the window covered is visible before the flag reads 0, and a freezer that still reads 1 only
 * waits. Hot-path cost per outermost window: one flag store (an xchg symmetric, a plain move
 * asymmetric), one acquire load and one release store (plain moves on x86); nested windows only
 * count.
 */
import { loadAcquire, storeRelease } from './order.js';

/** Thread side. One per thread and flag word; used only by the thread that owns the flag. */
export class ThreadWindow {
  /** Nesting depth: only the outermost enter/leave touches shared memory. */
  private depth = 0;

  /**
   * `plain`: the asymmetric protocol (the freezer runs a process barrier: layout.ts H_BARRIER),
   * so the flag is stored with a plain store; otherwise with Atomics.store.
   */
  constructor(private readonly i32: Int32Array, readonly flagW: number, private readonly freezeW: number, readonly plain = false) {}

  /**
   * 4.10 step 1, entering: store the flag, then read the freeze word (Dekker). Frozen: store 0,
   * wait for the freezer to finish (microseconds; a 5 ms cap per wait), retry.
   */
  enter(): void {
    if (this.depth++ > 0) return;
    if (this.plain) this.i32[this.flagW] = 1;
    else Atomics.store(this.i32, this.flagW, 1);
    if (loadAcquire(this.i32, this.freezeW) !== 0) this.frozen();
  }

  /** Out of line (the fast path above stays small enough to inline): back out, wait, retry. */
  private frozen(): void {
    const i32 = this.i32;
    do {
      Atomics.store(i32, this.flagW, 0);
      Atomics.wait(i32, this.freezeW, 1, 5);
      Atomics.store(i32, this.flagW, 1);
    } while (loadAcquire(i32, this.freezeW) !== 0);
  }

  /** 4.10 step 1, leaving: the outermost leave stores 0. */
  leave(): void {
    if (--this.depth === 0) storeRelease(this.i32, this.flagW, 0);
  }
}

/**
 * Freezer side, 4.10 step 2: store freeze = 1, then wait until `liveInWindow()` is false (the
 * caller's predicate: some *live* thread's flag is set; a dead thread's flag may stay 1 forever
 * and must be ignored by it). True once quiescent, the freeze held: the caller reconciles, then
 * calls unfreeze. False, and unfrozen, if a live thread stays inside a window past `timeoutMs`:
 * retry later. Only the supervisor freezes, and never from inside one of its own thread's windows.
 * `barrier`: the process barrier of the asymmetric protocol (the threads store their flags
 * plainly), run after the freeze store and before the first scan; required whenever any thread
 * stores its flag plainly. If it reports failure nothing is promised, so the freeze is given up
 * (false, unfrozen) as after a timeout.
 */
export function freeze(i32: Int32Array, freezeW: number, liveInWindow: () => boolean, timeoutMs = 1000, barrier: (() => boolean) | null = null): boolean {
  Atomics.store(i32, freezeW, 1);
  if (barrier !== null && !barrier()) {
    unfreeze(i32, freezeW);
    return false;
  }
  const until = performance.now() + timeoutMs;
  const nap = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    if (!liveInWindow()) return true;
    if (performance.now() > until) {
      unfreeze(i32, freezeW);
      return false;
    }
    Atomics.wait(nap, 0, 0, 0.05);
  }
}

/** 4.10 step 5's end: clear the freeze word and wake the threads waiting to enter a window. */
export function unfreeze(i32: Int32Array, freezeW: number): void {
  Atomics.store(i32, freezeW, 0);
  Atomics.notify(i32, freezeW);
}

/** Whether flag word `flagW` is set (the freezer's read of one thread's window flag). */
export function inWindow(i32: Int32Array, flagW: number): boolean {
  return Atomics.load(i32, flagW) !== 0;
}
