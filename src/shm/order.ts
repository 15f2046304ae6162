/**
 * Memory order on the hot paths (docs/design.md §1, last paragraphs): the two accesses the protocols need that
 * are weaker than a sequentially consistent read-modify-write, at the price each costs here.
 *
 *   loadAcquire(i32, w)       a load that no later load or store of this thread overtakes
 *   storeRelease(i32, w, v)   a store that overtakes no earlier load or store of this thread
 *
 * Every other shared access stays an Atomics call: a store that a later load of another word
 * must not overtake (the Dekker pairs: a window flag and the freeze word, §4.10; a published
 * cell and the consumer's waker word, and a waker's PARKED and its queue, §3.2) is
 * Atomics.store (the window flag may instead be a plain store when the freezer runs a process
 * barrier: window.ts, the asymmetric protocol), and every read-modify-write is an
 * Atomics.compareExchange/add/sub. Those are
 * what make the pairs sequentially consistent; the loads around them need only acquire order,
 * and the stores that use storeRelease (a token word going PENDING before the publish and FREE
 * once consumed, a window flag going 0, a ring's head moving forward, a worker's run record)
 * only release order.
 *
 * Why: V8 (Node 20's TurboFan) does not inline Atomics.load/store; each is a call into a
 * builtin that re-validates the typed array and the index, ~10-25 ns, where a plain element
 * access is one instruction. On the submitting thread they were ~15% of its CPU per trivial
 * task (docs/performance.md, eighth session).
 *
 * Where the plain form is right: x86-64 (and ia32). Its memory model (TSO) keeps loads in
 * program order with loads, stores with stores, and never lets a store overtake an earlier load:
 * every plain load already has acquire order and every plain store release order; the one
 * reordering TSO allows (a store followed by a load of another word) is exactly what the
 * Atomics.store / RMW of each Dekker pair forbids (they compile to xchg / lock cmpxchg, full
 * barriers). This is the standard mapping of C++ seq_cst onto x86 (seq_cst store = xchg, load =
 * mov), which is what Atomics.load itself compiles to there. And V8 emits a plain typed-array
 * element access as one aligned 32-bit move, in program order with the thread's other memory
 * accesses (typed-array loads and stores are on its effect chain), and does not cache one
 * across a call. A bounded spin that polls with plain loads therefore reads memory each
 * time it polls, and every spin here also calls the clock between rounds of polls.
 *
 * Elsewhere (arm64, where plain accesses may become visible out of order) both are the Atomics
 * calls: acquire and release are then the sequentially consistent forms, as before. So is
 * every platform under SLUICE_SEQ_CST=1 (test/shm/order.test.ts checks both mappings).
 */

/** Whether plain typed-array accesses have acquire/release order here (x86 TSO), and are used. */
export const PLAIN_ORDER = (process.arch === 'x64' || process.arch === 'ia32') && process.env.SLUICE_SEQ_CST !== '1';

function plainLoad(i32: Int32Array, w: number): number {
  return i32[w]!;
}
function plainStore(i32: Int32Array, w: number, v: number): void {
  i32[w] = v;
}
function atomicLoad(i32: Int32Array, w: number): number {
  return Atomics.load(i32, w);
}
function atomicStore(i32: Int32Array, w: number, v: number): void {
  Atomics.store(i32, w, v);
}

/** A load with acquire order (x86: a plain load; elsewhere Atomics.load). */
export const loadAcquire: (i32: Int32Array, w: number) => number = PLAIN_ORDER ? plainLoad : atomicLoad;
/** A store with release order (x86: a plain store; elsewhere Atomics.store). */
export const storeRelease: (i32: Int32Array, w: number, v: number) => void = PLAIN_ORDER ? plainStore : atomicStore;
