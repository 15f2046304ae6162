/**
 * Test-only switches, kept off the hot path: pause points (hooks.ts) and crash injection for
 * testHooks runtimes, and the "gates off" benchmark row. Nothing here is exported by the package.
 */
import type { Memory } from '../../shm/layout.js';
import type { Supervisor } from '../supervisor/supervisor.js';
import type { Attachment } from '../submit/attachment.js';
import type { Producer } from '../producer.js';
import type { Runtime } from '../runtime.js';
import { Hooks } from './hooks.js';
import type { Seam } from '../../trace/seam.js';

/** @internal Test-only controls (Runtime.start({ testHooks: true })). */
export class Testing {
  readonly hooks: Hooks;
  constructor(mem: Memory, private readonly supervisor: Supervisor) {
    this.hooks = new Hooks(mem);
  }
  /** Terminate worker slot w's thread, as a crash would (the slot is respawned). */
  killWorker(w: number, reason = `worker ${w} was killed by a test`): void {
    this.supervisor.terminate(w, { reason, retryable: true });
  }
  /** Look for dead attached threads now instead of at the next liveness tick. */
  checkAttachments(): void { this.supervisor.checkAttachments(); }
}

/**
 * @internal The "gates off" benchmark (bench/gates.ts; not exported from the package): this
 * thread's submits for `producer` skip admission steps 2-3 (no token, no slot, no global count)
 * and their completions give nothing back. Its tasks are invisible to every limit and to
 * close()'s wait for the global count. Deliberately not part of Testing: a testHooks runtime
 * takes a slower submit path (its pause points), which would be charged to the gates.
 */
export function ungateForBenchmark(rt: Runtime, producer: Producer): void {
  (rt as unknown as { att: Attachment }).att.ungated[producer.index] = 1;
}

/**
 * @internal Listen to this thread's decisions and the supervisor's through the recording seam
 * (src/trace/seam.ts), or stop (null). Test-only: the recorder installs its own listeners.
 */
export function listen(rt: Runtime, seam: Seam | null): void {
  const internals = rt as unknown as { att: Attachment; supervisor: Supervisor | null };
  internals.att.seam = seam;
  if (internals.supervisor !== null) internals.supervisor.seam = seam;
}
