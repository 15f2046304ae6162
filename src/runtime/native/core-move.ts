/**
 * Pump step 2a (docs/design.md §4.4 step 2a): if this thread runs on the CPU of an awake
 * (spinning or running) pinned worker, and may run on a CPU that no awake pinned worker owns,
 * move there: narrow this thread's affinity to those CPUs (the kernel migrates the thread before
 * the call returns), then restore the mask at once. The thread is never left pinned.
 *
 * Why: the kernel does not know a spinning worker's CPU is spoken for. When the worker parks
 * (e.g. through one of this thread's GC pauses) its CPU goes idle and the idle balancer pulls
 * this thread onto it; once the worker wakes, both stay there (the worker is pinned, this
 * thread is cache-hot), a round trip costs two context switches (~20 µs instead of ~3), and
 * it lasts until the periodic balancer separates them, tens of ms later.
 *
 * What it returns tells the pump whether to `sched_yield` (§4.4 step 2): only while this thread
 * still shares its CPU with an awake worker (it could not move, or every CPU it may use has one),
 * or cannot tell (no addon, a CPU past 31, an affinity the OS refused to change, an awake worker
 * not pinned to one CPU). A yield is a system call, ~2.5 µs on this project's VM, and gives the
 * CPU to a thread sharing it; with no awake worker on this CPU there is none of ours to give it
 * to, and the yield only delays the pump's next look (docs/performance.md, sixteenth session).
 *
 * Reads (plain and atomic loads only): each worker's W_CPU_MASK and waker word. Writes nothing
 * shared. Owner: one attachment's thread. The answer is advisory, as routing's reads are: a worker
 * may wake or park right after the look, and a stale answer costs one needless yield or one
 * missed one, until the pump's next tick looks again. A worker being woken already reads RUNNING
 * (the waker's CAS precedes its wake call, shm/waker.ts), so it counts as awake.
 */
import { W_CPU_MASK, W_WAKER, type Memory } from '../../shm/layout.js';
import { WAKER_PARKED } from '../../shm/waker.js';
import { loadAffinity } from './affinity.js';

export class CoreMover {
  private readonly addon = loadAffinity().addon;
  /** Bit mask of the CPUs this thread may use (CPUs 0..31); null until first needed, 0 once the OS refused. */
  private allowedMask: number | null = null;
  /** How often this thread was moved off an awake worker's CPU (diagnostics). */
  moves = 0;

  constructor(private readonly mem: Memory) {}

  /** Whether the addon is there (without it there is nothing to do). */
  get available(): boolean { return this.addon !== null; }

  /**
   * Step 2a. True when this thread is still on an awake pinned worker's CPU afterwards, or the
   * answer is unknown (the caller then yields, as it always did): no addon, a CPU past 31, an
   * awake worker that is not pinned to one CPU (`affinity: false`, a pin that failed: it may be
   * on this CPU). False when every worker is parked, or every awake one is pinned elsewhere
   * (this thread was not on one's CPU, or has just moved off).
   */
  leaveBusyCore(): boolean {
    const addon = this.addon;
    if (addon === null) return true;
    const mem = this.mem;
    const i32 = mem.i32;
    let busy = 0;
    let unpinned = false; // an awake worker whose CPU we cannot know
    for (let w = 0; w < mem.layout.workers; w++) {
      if (Atomics.load(i32, mem.workerWord(w, W_WAKER)) === WAKER_PARKED) continue;
      const m = Atomics.load(i32, mem.workerWord(w, W_CPU_MASK));
      if (m === 0 || (m & (m - 1)) !== 0) unpinned = true; // unpinned, or pinned to several CPUs
      else busy |= m;
    }
    if (busy === 0) return unpinned; // no awake pinned worker: nowhere to leave
    const cpu = addon.currentCpu();
    if (cpu >= 32) return true; // past the masks' 32 bits: cannot tell
    if ((busy & (1 << cpu)) === 0) return unpinned;
    try {
      this.allowedMask ??= maskOf(addon.getAffinity());
      if ((this.allowedMask & ~busy) === 0) return true; // nowhere to go: every CPU of ours is busy (or the OS refused before)
      const allowed = addon.getAffinity(); // read again: only now is it worth an allocation
      this.allowedMask = maskOf(allowed);
      const target = allowed.filter((c) => c >= 32 || (busy & (1 << c)) === 0);
      if (target.length === 0) return true;
      try {
        addon.setAffinity(target);
      } finally {
        addon.setAffinity(allowed);
      }
      this.moves++;
      return unpinned;
    } catch {
      this.allowedMask = 0; // the OS refuses: never try again (and the pump carries on)
      return true;
    }
  }
}

function maskOf(cpus: readonly number[]): number {
  let m = 0;
  for (const c of cpus) if (c < 32) m |= 1 << c;
  return m;
}
