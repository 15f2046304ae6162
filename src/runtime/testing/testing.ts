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
  internals(rt).att.ungated[producer.index] = 1;
}

/**
 * @internal Listen to this thread's decisions and the supervisor's through the recording seam
 * (src/trace/seam.ts), or stop (null). Test-only: the recorder installs its own listeners.
 */
export function listen(rt: Runtime, seam: Seam | null): void {
  const { att, supervisor } = internals(rt);
  att.seam = seam;
  if (supervisor !== null) supervisor.seam = seam;
}

/** @internal What tests and benchmarks may look at inside a runtime handle: the one place that reaches in. */
export interface Internals {
  readonly mem: Memory;
  readonly att: Attachment;
  readonly supervisor: Supervisor | null;
}

/** @internal A runtime handle's internals (tests and bench only). */
export function internals(rt: Runtime): Internals {
  return rt as unknown as Internals;
}
