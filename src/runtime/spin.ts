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
