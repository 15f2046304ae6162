/**
 * The early spawn (docs/design.md §4.7 step 0 ("Start")): Runtime.start creates its workers'
 * threads as soon as its options are checked, before the shared memory, the affinity plan and the
 * supervisor exist, and sends each thread the rest of its WorkerData as its first message once
 * they do. A worker thread spends tens of ms in Node's own start-up and in loading sluice's
 * modules before it needs any of that, and what the starting thread did before the spawn (~10 ms
 * here) was on the critical path of the first result (docs/performance.md, eighteenth session).
 *
 * Owner: the starting thread. A slot's thread is taken once, by the supervisor's first spawn of
 * that slot (supervisor.ts `spawn`); a replacement is spawned with its whole WorkerData as before.
 * Until it is taken, what the thread does ('error', 'exit') is kept here and handed over with it,
 * so nothing it did while nobody listened is lost; a start that fails before it is taken sends it
 * `abort` instead (`abort()`), and the thread exits by itself once it has loaded its modules.
 */
import { Worker, type WorkerOptions } from 'node:worker_threads';

/** An early thread's workerData: the task data a task module reads at its load; the rest comes by message. */
export interface DeferredData {
  sluiceWorker: true;
  deferred: true;
  taskData: unknown;
}

/** The first message an early thread gets (worker/main.ts): its WorkerData without taskData, or abort. */
export type StartMessage = { type: 'start'; data: Record<string, unknown> } | { type: 'start'; abort: true };

/** A slot's early thread, or why `new Worker` threw, and what it did before it was taken. */
export interface EarlyThread {
  /** null: `new Worker` threw `error`. */
  worker: Worker | null;
  error: unknown;
  /** The thread's 'error' before it was taken (the first), or undefined. */
  failed: Error | undefined;
  /** Its exit code, if it ended before it was taken. */
  exitCode: number | undefined;
}

interface Slot extends EarlyThread {
  taken: boolean;
  onError: (err: Error) => void;
  onExit: (code: number) => void;
}

export class EarlySpawn {
  private readonly slots: Slot[] = [];

  constructor(entry: URL, count: number, options: Pick<WorkerOptions, 'resourceLimits' | 'execArgv' | 'env'>, taskData: unknown) {
    for (let w = 0; w < count; w++) {
      const slot: Slot = {
        worker: null, error: undefined, failed: undefined, exitCode: undefined, taken: false,
        onError: (err) => { slot.failed ??= err; },
        onExit: (code) => { slot.exitCode = code; },
      };
      try {
        const workerData: DeferredData = { sluiceWorker: true, deferred: true, taskData };
        slot.worker = new Worker(entry, {
          workerData, stdout: true, stderr: true, resourceLimits: options.resourceLimits,
          ...(options.execArgv === undefined ? {} : { execArgv: options.execArgv }), ...(options.env === undefined ? {} : { env: options.env }),
        });
        slot.worker.on('error', slot.onError);
        slot.worker.once('exit', slot.onExit);
      } catch (err) {
        slot.error = err; // handed to the supervisor's spawn of this slot, which fails as if it had thrown there
      }
      this.slots.push(slot);
    }
  }

  /**
   * Slot w's early thread for its first spawn, once (undefined: none, or already taken). The
   * provisional listeners are removed: the caller listens from now on, and replays `failed` and
   * `exitCode` if the thread got there first.
   */
  take(w: number): EarlyThread | undefined {
    const slot = this.slots[w];
    if (slot === undefined || slot.taken) return undefined;
    slot.taken = true;
    slot.worker?.off('error', slot.onError);
    slot.worker?.off('exit', slot.onExit);
    return slot;
  }

  /** @internal Slot w's thread while it is not taken (test/early-spawn.test.ts), else null. */
  peek(w: number): Worker | null {
    const slot = this.slots[w];
    return slot === undefined || slot.taken ? null : slot.worker;
  }

  /**
   * A start that failed before the supervisor took these threads: each one not taken is sent
   * `abort` (it ends by itself once its modules are loaded: terminated mid-import it would leak
   * the descriptors of its reads in flight) and unref'd. Returns the threads still running, for
   * the caller to await (shutdown.ts `exited`).
   */
  abort(): Worker[] {
    const left: Worker[] = [];
    for (const slot of this.slots) {
      if (slot.taken || slot.worker === null) continue;
      slot.taken = true;
      const worker = slot.worker;
      worker.off('error', slot.onError);
      worker.on('error', () => undefined); // a thread failing as it goes: nobody is left to tell
      worker.stdout.resume();
      worker.stderr.resume();
      if (slot.exitCode !== undefined) continue;
      const message: StartMessage = { type: 'start', abort: true };
      worker.postMessage(message);
      worker.unref();
      left.push(worker);
    }
    return left;
  }
}
