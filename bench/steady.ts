// Steady state: (e) allocation over a long run through the callback path: heap before/after and
// GCs per 100k tasks; (f) idle cost: process CPU while a started runtime sits idle after its
// spin budget. One runtime (2 workers, the callback rows' shape) serves both.
import { PerformanceObserver, performance, type PerformanceEntry } from 'node:perf_hooks';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { CALLBACK_OPTIONS, callbackSession, startSluiceReady } from './e2e/sluice.js';
import { fmt } from './report.js';
import { pipelined } from './workload.js';

export interface AllocResult {
  tasks: number;
  /** How the heap was measured: after a forced gc ('gc()'), or as found ('no gc'). */
  gc: 'gc()' | 'no gc';
  heapBeforeMiB: number;
  heapAfterMiB: number;
  growthMiB: number;
  gcs: number;
  gcsPer100k: number;
  /** GC count by kind (minor = scavenge, major = mark-sweep-compact, ...). */
  gcKinds: Record<string, number>;
  gcPauseMs: number;
  tasksPerSec: number;
}

export interface IdleResult {
  seconds: number;
  /** Process CPU (all threads) ÷ wall, in % of one core. */
  cpuPercent: number;
  /** The same before the runtime was started (this process, idle, for half as long). */
  baselinePercent: number;
  workersParked: number;
  workers: number;
}

export interface SteadyResult {
  alloc: AllocResult | null;
  idle: IdleResult | null;
  errors: string[];
}

const MiB = 1 << 20;
const GC_KINDS: Record<number, string> = { 1: 'minor', 2: 'major', 4: 'incremental', 8: 'weakcb' };

/** A gc() function: the --expose-gc global, or the same function obtained at run time. */
export function findGc(): (() => void) | null {
  const g = (globalThis as { gc?: () => void }).gc;
  if (typeof g === 'function') return g;
  try {
    v8.setFlagsFromString('--expose-gc');
    return runInNewContext('gc') as () => void;
  } catch {
    return null;
  }
}

function heapMiB(gc: (() => void) | null): number {
  gc?.();
  gc?.();
  return process.memoryUsage().heapUsed / MiB;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** CPU of the whole process (every thread) while this thread sleeps, in % of one core. */
async function idleCpu(seconds: number): Promise<number> {
  const c0 = process.cpuUsage();
  const w0 = performance.now();
  await sleep(seconds * 1000);
  const c = process.cpuUsage(c0);
  return ((c.user + c.system) / ((performance.now() - w0) * 1000)) * 100;
}

export async function runSteady(quick: boolean, log: (m: string) => void): Promise<SteadyResult> {
  const tasks = quick ? 200_000 : 1_000_000;
  const idleSeconds = quick ? 2 : 5;
  const errors: string[] = [];
  const baselinePercent = await idleCpu(idleSeconds / 2);
  const rt = await startSluiceReady(CALLBACK_OPTIONS);
  let alloc: AllocResult | null = null;
  let idle: IdleResult | null = null;
  try {
    const s = callbackSession(rt, rt.producer('steady'));
    const id = (i: number): number => i;
    try {
      log(`[steady] ${tasks} tasks through submitCallback (allocation)`);
      await pipelined(s, 'inc', 50_000, id); // warm-up: JIT, pump, token table
      const gc = findGc();
      const entries: PerformanceEntry[] = [];
      const obs = new PerformanceObserver((list) => entries.push(...list.getEntries()));
      obs.observe({ entryTypes: ['gc'] });
      const before = heapMiB(gc);
      const t0 = performance.now();
      const r = await pipelined(s, 'inc', tasks, id);
      const t1 = performance.now();
      await sleep(10); // gc entries are delivered asynchronously
      obs.disconnect();
      const after = heapMiB(gc);
      if (r.sum !== (tasks * (tasks + 1)) / 2) throw new Error(`wrong results: sum ${r.sum}`);
      const during = entries.filter((e) => e.startTime >= t0 && e.startTime <= t1);
      const gcKinds: Record<string, number> = {};
      for (const e of during) {
        const kind = GC_KINDS[(e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind ?? 0] ?? 'other';
        gcKinds[kind] = (gcKinds[kind] ?? 0) + 1;
      }
      alloc = {
        tasks, gc: gc === null ? 'no gc' : 'gc()', heapBeforeMiB: before, heapAfterMiB: after, growthMiB: after - before,
        gcs: during.length, gcsPer100k: (during.length / tasks) * 100_000, gcKinds,
        gcPauseMs: during.reduce((sum, e) => sum + e.duration, 0), tasksPerSec: (tasks / r.wallMs) * 1000,
      };
    } catch (err) {
      errors.push(`allocation: ${err instanceof Error ? err.message : String(err)}`);
    }
    log(`[steady] idle for ${idleSeconds} s`);
    await sleep(100); // past the spin budget (workers 50 µs, the pump's too): everyone parks
    const cpuPercent = await idleCpu(idleSeconds);
    const workers = rt.stats().workers;
    idle = { seconds: idleSeconds, cpuPercent, baselinePercent, workersParked: workers.filter((w) => w.parked).length, workers: workers.length };
  } finally {
    await rt.close();
  }
  return { alloc, idle, errors };
}

export function steadyLines(r: SteadyResult): string[] {
  const a = r.alloc;
  const i = r.idle;
  const kinds = a ? Object.entries(a.gcKinds).map(([k, n]) => `${n} ${k}`).join(', ') || 'none' : '';
  return [
    a
      ? `allocation: ${a.tasks} tasks via submitCallback at ${fmt(a.tasksPerSec, 0)} tasks/s; heap ${fmt(a.heapBeforeMiB, 2)} → ${fmt(a.heapAfterMiB, 2)} MiB ` +
        `(${a.gc === 'gc()' ? 'after a forced gc' : 'no forced gc'}), growth ${fmt(a.growthMiB, 3)} MiB; ${a.gcs} GCs during the run ` +
        `(${kinds}; ${fmt(a.gcPauseMs, 1)} ms paused) = ${fmt(a.gcsPer100k, 2)} per 100k tasks`
      : 'allocation: not measured',
    i
      ? `idle: ${i.seconds} s after the spin budget, ${i.workersParked}/${i.workers} workers parked: process CPU ${fmt(i.cpuPercent, 3)} % of one core ` +
        `(the same process before starting the runtime: ${fmt(i.baselinePercent, 3)} %)`
      : 'idle: not measured',
    ...r.errors.map((e) => `error: ${e}`),
  ];
}
