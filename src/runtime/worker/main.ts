/**
 * The worker thread's entry (a worker_threads entry point: runtime.ts and the supervisor spawn
 * this file, or main-dev.mjs from the TypeScript sources). It reads workerData, pins the thread,
 * records its native thread id and CPU mask (W_TID, W_CPU_MASK: written here, once, before the
 * loop starts), loads the task module, builds the loop (loop.ts, §4.2-§4.3) with its warm-up
 * pending (warm-up.ts, §4.2b), reports ready and starts the loop. A start that fails is posted
 * to the parent as an 'error' message (plain strings); a running loop that cannot go on posts
 * 'fatal' (loop.ts, §4.12 step 4).
 *
 * The worker's protocols, one file each: loop.ts (run, complete, park, heartbeat), steal.ts
 * (§4.2a), warm-up.ts (§4.2b), async-job.ts (§4.12 step 2).
 */
import type { TraceShare } from '../recording.js';
import { isMainThread, parentPort, threadId, workerData, type MessagePort } from 'node:worker_threads';
import { H_BARRIER, H_NAMES, Memory, W_CPU_MASK, W_TID } from '../../shm/layout.js';
import { useNativeFutex } from '../../shm/waker.js';
import { loadTaskModule } from '../tasks-module.js';
import { loadAffinity, nativeFutex, pinCurrentThread } from '../native/affinity.js';
import { WorkerLoop } from './loop.js';
import { WARM_UP_DELAY_MS, WARM_UP_TASKS, WarmUp } from './warm-up.js';
import { NEST, NestContext } from './nest.js';
import type { DeferredData, StartMessage } from '../supervisor/early.js';

export interface WorkerData {
  sluiceWorker: true;
  sab: SharedArrayBuffer;
  index: number;
  tasks: string;
  /** CPUs to pin this thread to (affinity), or null. */
  cpus: number[] | null;
  /** Runtime.start({ taskData }): read by task modules as `workerData.taskData`. */
  taskData: unknown;
  /**
   * Bit i set: this worker is in weight i's preference chain (routing.ts; bit 3: tasks without
   * a class), so it may steal such tasks. 0 when stealing is off (Runtime.start({ steal: false })).
   */
  stealMask: number;
  /** Run the warm-up (warm-up.ts, while idle after reporting ready): false for a replacement thread. */
  warmUp: boolean;
  /** The shared WebAssembly.Memory whose buffer `sab` is, or null: with `chains`, the attach handle of nested tasks (nest.ts). */
  memory: WebAssembly.Memory | null;
  /** The routing chains (routing.ts), as rt.handle carries them. */
  chains: number[][];
  /** The recording's region (Runtime.start({ trace })), or null: this worker records into its slot's ring. */
  trace: TraceShare | null;
  /** This thread's end of the large-value path's channel (codec.ts BigMessage; set by the supervisor at spawn). */
  bigPort?: MessagePort;
  /** The first sequence number of the results this thread sends by message (unique across the slot's threads). */
  seqBase?: number;
}

/** CPUs 0..31 as a bit mask (enough for stats on the machines this runs on; 0 if none fit). */
function cpuMask(cpus: readonly number[]): number {
  let m = 0;
  for (const c of cpus) if (c < 32) m |= 1 << c;
  return m;
}

async function main(data: WorkerData): Promise<void> {
  const mem = new Memory(data.sab);
  // Pin before anything else can create threads from this one (they would inherit the mask).
  const affinity = loadAffinity();
  if (data.cpus !== null) {
    const pin = pinCurrentThread(data.cpus, affinity);
    if (!pin.pinned) throw new Error(`could not pin worker ${data.index} to CPUs ${data.cpus.join(',')}: ${pin.reason}`);
  }
  useNativeFutex(nativeFutex()); // parkSync sleeps in the native futex when the addon has one
  if (affinity.addon !== null) {
    Atomics.store(mem.i32, mem.workerWord(data.index, W_TID), affinity.addon.threadId());
    Atomics.store(mem.i32, mem.workerWord(data.index, W_CPU_MASK), cpuMask(affinity.addon.getAffinity()));
  }
  // Modules only some runtimes need, loaded now (start-up, docs/performance.md): metrics.ts with
  // metrics, recording.ts (options.ts, trace/*) with a recording.
  const metrics = mem.metrics ? new (await import('../metrics.js')).WorkerMetrics(mem, data.index) : null;
  const recording = data.trace === null ? null : await import('../recording.js');
  // sluice's own modules are loaded: a failed start may terminate this thread from here without
  // cutting off a read in flight (Runtime.start, abortStart).
  parentPort!.postMessage({ type: 'loading' });
  // §4.14 step 1: published before the task module loads, so its `import 'sluice/task'` finds it.
  // The handle's names are filled in once the module is loaded (they are its exports).
  const names: string[] = [];
  const nest = new NestContext(
    data.index, { kind: 'sluice-runtime', sab: data.sab, memory: data.memory, names, chains: data.chains, trace: data.trace }, mem,
  );
  (globalThis as Record<symbol, unknown>)[NEST] = nest;
  const mod = await loadTaskModule(data.tasks);
  claimTaskTable(mem, data.index, mod.names);
  names.push(...mod.names);
  const loop = new WorkerLoop(mem, data.index, mod.names.map((n) => mod.fns[n]!), data.stealMask, nest, metrics);
  // §4.2b step 1: the warm-up is only pending here (nothing built yet); the loop runs it while idle.
  if (data.warmUp) loop.warming = new WarmUp(WARM_UP_TASKS, mem.layout, mem.i32[H_BARRIER] === 1);
  if (data.trace !== null && recording !== null) {
    loop.seam = recording.seamFor(data.trace, recording.WRITER_WORKER, data.index, `worker ${data.index}`, threadId);
  }
  if (data.bigPort !== undefined) loop.useBigPort(data.bigPort, data.seqBase ?? 0);
  loop.startBeating();
  loop.warmFrom = performance.now() + WARM_UP_DELAY_MS; // §4.2b step 2
  parentPort!.postMessage({ type: 'ready', names: mod.names });
  loop.loop();
}

if (!isMainThread && parentPort !== null && (workerData as { sluiceWorker?: boolean } | null)?.sluiceWorker) {
  startData(workerData as WorkerData | DeferredData).then((data) => (data === null ? undefined : main(data))).catch((err: unknown) => {
    // Forwarded as plain strings (the start error's message names the module and the line).
    let error = { name: 'Error', message: 'the task module threw a value that cannot be inspected', stack: '' };
    try {
      const e = err instanceof Error ? err : null;
      error = { name: str(e?.name, 'Error'), message: str(e?.message, 'a non-Error value was thrown'), stack: str(e?.stack, '') };
    } catch { /* a hostile error object: the fallback above */ }
    parentPort!.postMessage({ type: 'error', error });
  });
}

/**
 * §4.7 step 0 ("Start"): a thread spawned early (supervisor/early.ts) has only its task data in
 * workerData and gets the rest as its first message, sent once the runtime's memory exists (by
 * then this thread has loaded its modules: it waits here at most for the starting thread's own
 * set-up). null: the start failed first (`abort`): return, and the thread ends by itself.
 */
function startData(wd: WorkerData | DeferredData): Promise<WorkerData | null> {
  if (!('deferred' in wd)) return Promise.resolve(wd);
  return new Promise((resolve) => {
    parentPort!.once('message', (m: StartMessage) => {
      resolve('abort' in m ? null : ({ ...m.data, taskData: wd.taskData } as WorkerData));
    });
  });
}

/**
 * The task table's hash (layout H_NAMES): the first thread to load the module publishes it, every
 * other one must match it. Runtime.start resolves on its first ready worker while the others
 * still load, and a replacement loads the module again: a module whose exports differ between
 * loads must not give a thread a table in which one id names another function.
 */
function claimTaskTable(mem: Memory, w: number, names: readonly string[]): void {
  let h = 0x811c9dc5;
  for (const n of names) {
    for (let i = 0; i < n.length; i++) h = Math.imul(h ^ n.charCodeAt(i), 0x01000193);
    h = Math.imul(h ^ 0xffff, 0x01000193); // between names (a collision: the supervisor compares the lists too)
  }
  h = h | 1; // never 0: 0 is "not yet published"
  const seen = Atomics.compareExchange(mem.i32, H_NAMES, 0, h);
  if (seen !== 0 && seen !== h) {
    throw new Error(
      `the workers disagree on the task module's exports: worker ${w} loaded [${names.join(', ')}], the runtime's other workers another list (exports that depend on the thread, the time, or a file that changed?)`,
    );
  }
}

function str(v: unknown, dflt: string): string {
  return typeof v === 'string' ? v : dflt;
}
