/**
 * The attachment state word (layout.ts A_STATE, one per attachment slot): who holds the slot.
 *
 *   31                                  2 1   0
 *   +-------------------------------------+-----+
 *   |               (zero)                |state|
 *   +-------------------------------------+-----+
 *
 *   FREE --claim (CAS)--> CLAIMING --activate--> ACTIVE --close (CAS)--> CLOSING --free--> FREE
 *   FREE --activateStarter--> ACTIVE (slot 0, the starting thread, before any other thread exists)
 *   CLAIMING / ACTIVE --free--> FREE (a failed attach gives its slot back; a detach once idle)
 *
 * Writers: the attaching thread (claim, activate; free on a failed attach or its detach), the
 * starting thread for slot 0, and the supervisor (close when the owner is gone, free once its
 * books are closed). The liveness check reads only ACTIVE slots: CLAIMING is a slot whose
 * identity words (A_TID, A_START) are not yet written, so it is never judged by the identity of
 * its previous, dead owner.
 */

export const A_FREE = 0;
export const A_ACTIVE = 1;
export const A_CLOSING = 2;
/** Claimed by an attaching thread that has not yet recorded its identity (liveness skips it). */
export const A_CLAIMING = 3;
export const A_STATE_MASK = 0x3;

/** FREE -> CLAIMING. Any attaching thread; the CAS picks one winner per slot. */
export function claim(i32: Int32Array, w: number): boolean {
  return Atomics.compareExchange(i32, w, A_FREE, A_CLAIMING) === A_FREE;
}

/**
 * CLAIMING -> ACTIVE, by the thread that won claim(), after it stored its identity: nobody else
 * writes a CLAIMING word, so a store suffices. Also slot 0's FREE -> ACTIVE at start, before any
 * other thread can see the memory.
 */
export function activate(i32: Int32Array, w: number): void {
  Atomics.store(i32, w, A_ACTIVE);
}

/**
 * §4.9 step 1. ACTIVE -> CLOSING. The supervisor, when the owner thread is gone: the CAS makes it the one
 * reconciler (docs/design.md 4.9 step 1).
 */
export function close(i32: Int32Array, w: number): boolean {
  return Atomics.compareExchange(i32, w, A_ACTIVE, A_CLOSING) === A_ACTIVE;
}

/**
 * -> FREE. The slot's holder: the owner giving back a slot it claimed (failed attach, detach
 * once nothing is outstanding), or the supervisor once a CLOSING slot's books are closed. The
 * holder is the only writer of a held slot's word, so a store suffices.
 */
export function release(i32: Int32Array, w: number): void {
  Atomics.store(i32, w, A_FREE);
}

export function isActive(i32: Int32Array, w: number): boolean { return Atomics.load(i32, w) === A_ACTIVE; }
export function isFree(i32: Int32Array, w: number): boolean { return Atomics.load(i32, w) === A_FREE; }
