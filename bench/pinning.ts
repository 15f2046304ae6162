// Pinning (issue 4): a CPU-bound mix, pipelined: 70% light tasks (~20 µs, weight 'light') and
// 30% heavy (~200 µs, weight 'heavy'), on a runtime with affinity 'auto' (workers pinned to cores
// when the native addon is present) and one with affinity: false. Both runtimes stay up for the
// whole section and the two run alternately, so each rep gives a pinned ÷ unpinned ratio.
import type { Runtime, TaskRef } from '../src/index.js';
import { callbackSession, startSluiceReady } from './e2e/sluice.js';
import { fmt, table } from './report.js';
import { median } from './stats.js';
import { WORKERS, pipelined, type Session } from './workload.js';

const LIGHT_US = 20;
const HEAVY_US = 200;
/** Task i is heavy when i % 10 < 3. */
const spinFor = (i: number): number => (i % 10 < 3 ? HEAVY_US : LIGHT_US);

export interface PinningSide {
  tasksPerSec: number;
  /** Σ µs measured inside the workers ÷ (wall × workers). */
  efficiency: number;
}

export interface PinningResult {
  tasks: number;
  reps: number;
  pinned: boolean;
  /** Why the 'auto' runtime is not pinned (null when it is). */
  reason: string | null;
  cpus: (number[] | null)[];
  auto: PinningSide;
  off: PinningSide;
  /** Median of per-rep tasks/s ratios, pinned ÷ unpinned. */
  ratio: number;
  perRep: { auto: PinningSide; off: PinningSide }[];
}

function mixSession(rt: Runtime): Session {
  const light: TaskRef = rt.task('spin50', { weight: 'light' });
  const heavy: TaskRef = rt.task('spin50', { weight: 'heavy' });
  return callbackSession(rt, rt.producer('mix'), { ref: (_task, us) => (us === HEAVY_US ? heavy : light) });
}

async function runMix(s: Session, n: number): Promise<PinningSide> {
  const r = await pipelined(s, 'spin50', n, spinFor);
  return { tasksPerSec: (n / r.wallMs) * 1000, efficiency: r.sum / (r.wallMs * 1000 * WORKERS) };
}

export async function runPinning(quick: boolean, reps: number, log: (m: string) => void): Promise<PinningResult> {
  const tasks = quick ? 1_500 : 5_000;
  const auto = await startSluiceReady({ affinity: 'auto' });
  const off = await startSluiceReady({ affinity: false });
  try {
    const sessions = { auto: mixSession(auto), off: mixSession(off) };
    await runMix(sessions.auto, 200);
    await runMix(sessions.off, 200);
    const perRep: PinningResult['perRep'] = [];
    for (let rep = 1; rep <= reps; rep++) {
      log(`[pinning ${rep}/${reps}] affinity 'auto', then false`);
      const a = await runMix(sessions.auto, tasks);
      const o = await runMix(sessions.off, tasks);
      perRep.push({ auto: a, off: o });
    }
    const side = (k: 'auto' | 'off'): PinningSide => ({
      tasksPerSec: median(perRep.map((r) => r[k].tasksPerSec)),
      efficiency: median(perRep.map((r) => r[k].efficiency)),
    });
    return {
      tasks, reps, pinned: auto.affinity.pinned, reason: auto.affinity.reason,
      cpus: auto.stats().workers.map((w) => w.cpus),
      auto: side('auto'), off: side('off'),
      ratio: median(perRep.map((r) => r.auto.tasksPerSec / r.off.tasksPerSec)),
      perRep,
    };
  } finally {
    await Promise.all([auto.close(), off.close()]);
  }
}

export function pinningTable(r: PinningResult): string {
  const where = r.pinned ? `pinned to CPUs ${r.cpus.map((c) => (c ? c.join('+') : '?')).join(', ')}` : `not pinned: ${r.reason}`;
  return [
    `pinning: ${r.tasks} tasks, 70% ~${LIGHT_US} µs 'light' + 30% ~${HEAVY_US} µs 'heavy', pipelined; medians of ${r.reps} reps (affinity 'auto': ${where})`,
    table(
      ['affinity', 'tasks/s', 'CPU eff.', '× unpinned'],
      [
        ["'auto'", fmt(r.auto.tasksPerSec, 0), fmt(r.auto.efficiency, 2), fmt(r.ratio, 2)],
        ['false', fmt(r.off.tasksPerSec, 0), fmt(r.off.efficiency, 2), '1.00'],
      ],
    ),
  ].join('\n');
}
