/**
 * Fruitless spinning after which a spinner (a worker polling its ring, a thread's pump polling
 * its completions) starts to yield its CPU with sched_yield. A peer on another core answers
 * within a few µs, so spinning hard that long costs nothing; a peer that shares this CPU needs
 * the CPU to answer at all. 5 µs is a guess: well under a futex wake (~45 µs here).
 */
export const YIELD_AFTER_MS = 0.005;
/**
 * Ring polls between two clock reads in a spin: performance.now() allocates a heap number per
 * call, and a spin that allocates collects garbage (and page-faults the young generation back
 * in) in the middle of a round trip. 64 polls take ~0.5 µs here.
 */
export const SPIN_POLLS = 64;
/**
 * The one-task poll (docs/design.md 4.4 step 0): a thread with exactly one task outstanding
 * polls its completion ring for up to min(spin, POLL_ONE_MS) before it gives its event loop a
 * turn to wait. A turn costs ~2 µs here, more than a trivial task's whole trip through a
 * spinning worker; a result later than this is left to the pump.
 */
export const POLL_ONE_MS = YIELD_AFTER_MS;
/**
 * How long one-task polls may keep a thread from its event loop. A result found by polling
 * resumes its awaiter in the same microtask checkpoint (or its callback in the same pump tick),
 * so a loop of sequential round trips would never give timers and I/O a turn: once this long
 * has passed since the pump's last turn, nothing polls until the next. 1 ms costs one turn
 * (~2 µs) per ms of back-to-back round trips, and bounds how late this thread's timers and I/O
 * can be made by it.
 */
export const POLL_TURN_MS = 1;
