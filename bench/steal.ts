// Work stealing (docs/design.md 4.2a): what it buys and what it costs, on two runtimes that
// differ only in `steal`, run alternately so each rep gives an on ÷ off ratio.
//   buys:  bursts of one long task (1 ms) and 31 trivial ones, submitted at once. Routing spreads
//          a burst over both workers, so without stealing the trivial tasks routed behind the long
//          one wait for it; with it, the other worker takes them once its own are done.
//          Measured: each trivial task's wait from the burst's submit to its start in a worker
//          (p50, p99; timeOrigin + now() on both sides), and the wall. The wait, not the round
//          trip: on 2 CPUs the main thread shares a CPU with a busy worker and sees results late
//          either way.
//   costs: trivial-task throughput (the callback path, 100k tasks), where nothing should be stolen.
import { performance } from 'node:perf_hooks';
import type { Runtime } from '../src/index.js';
import { CALLBACK_OPTIONS, callbackSession, startSluiceReady } from './e2e/sluice.js';
import { fmt, table } from './report.js';
import { median, summarize } from './stats.js';
import { measure, type Sizes } from './workload.js';

const LONG_US = 1000;
const BURST = 32;

export interface StealSide {
  /** Trivial tasks of the bursts: µs from the burst's submit to the task's start in a worker. */
  p50: number;
  p99: number;
  mixMs: number;
  /** Tasks stolen during the bursts. */
  stolen: number;
  /** Trivial-task throughput, callback path. */
  tasksPerSec: number;
}

export interface StealResult {
  /** Bursts per measurement. */
  bursts: number;
  reps: number;
  on: StealSide;
  off: StealSide;
  /** Medians of per-rep ratios, on ÷ off. */
  p50Ratio: number;
  p99Ratio: number;
  mixRatio: number;
  throughputRatio: number;
  perRep: { on: StealSide; off: StealSide }[];
}

/**
 * The mix, in bursts: one long task, then BURST - 1 trivial ones, submitted at once; the next
 * burst when all have completed. Routing spreads a burst over the workers, so some trivial tasks
 * land behind the long one. Returns the trivial tasks' latencies and the wall.
 */
function runMix(rt: Runtime, bursts: number): Promise<{ lat: number[]; ms: number }> {
  const p = rt.producer('mix');
  const long = rt.task('spin50');
  const short = rt.task('startedAt');
  const lat: number[] = [];
  return new Promise((resolve, reject) => {
    let left = 0;
    let burst = 0;
    let sentAt = 0;
    const t0 = performance.now();
    const cb = (err: unknown, v: unknown, i: number): void => {
      if (err !== undefined) return reject(err);
      if (i !== 0) lat.push(((v as number) - sentAt) * 1000);
      if (--left > 0) return;
      if (++burst === bursts) resolve({ lat, ms: performance.now() - t0 });
      else send();
    };
    const send = (): void => {
      sentAt = performance.timeOrigin + performance.now();
      for (let i = 0; i < BURST; i++) {
        const r = i === 0 ? p.submitCallback(long, LONG_US, cb, 0) : p.submitCallback(short, i, cb, i);
        if (r !== null) return reject(new Error(`burst task refused: ${r.reason}`));
        left++;
      }
    };
    send();
  });
}

async function side(rt: Runtime, n: number, sizes: Sizes): Promise<StealSide> {
  const before = rt.stats().workers.reduce((a, w) => a + w.stolen, 0);
  const mix = await runMix(rt, n);
  const stolen = rt.stats().workers.reduce((a, w) => a + w.stolen, 0) - before;
  const s = summarize(mix.lat);
  const t = await measure(callbackSession(rt, rt.producer('trivial')), 'throughput', sizes);
  return { p50: s.p50, p99: s.p99, mixMs: mix.ms, stolen, tasksPerSec: t.kind === 'throughput' ? t.tasksPerSec : NaN };
}

export async function runSteal(quick: boolean, reps: number, sizes: Sizes, log: (m: string) => void): Promise<StealResult> {
  const n = quick ? 30 : 100;
  const on = await startSluiceReady({ ...CALLBACK_OPTIONS, steal: true });
  const off = await startSluiceReady({ ...CALLBACK_OPTIONS, steal: false });
  try {
    await runMix(on, 10);
    await runMix(off, 10);
    const perRep: StealResult['perRep'] = [];
    for (let rep = 1; rep <= reps; rep++) {
      log(`[steal ${rep}/${reps}] steal on, then off`);
      const first = rep % 2 === 1;
      const a = await side(first ? on : off, n, sizes);
      const b = await side(first ? off : on, n, sizes);
      perRep.push(first ? { on: a, off: b } : { on: b, off: a });
    }
    const med = (k: keyof StealSide, s: 'on' | 'off'): number => median(perRep.map((r) => r[s][k]));
    const sideOf = (s: 'on' | 'off'): StealSide => ({
      p50: med('p50', s), p99: med('p99', s), mixMs: med('mixMs', s), stolen: med('stolen', s), tasksPerSec: med('tasksPerSec', s),
    });
    const ratioOf = (k: keyof StealSide): number => median(perRep.map((r) => r.on[k] / r.off[k]));
    return {
      bursts: n, reps, on: sideOf('on'), off: sideOf('off'),
      p50Ratio: ratioOf('p50'), p99Ratio: ratioOf('p99'), mixRatio: ratioOf('mixMs'), throughputRatio: ratioOf('tasksPerSec'), perRep,
    };
  } finally {
    await on.close();
    await off.close();
  }
}

export function stealTable(r: StealResult): string {
  const row = (name: string, s: StealSide): string[] => [
    name, fmt(s.p50, 1), fmt(s.p99, 0), fmt(s.mixMs, 1), fmt(s.stolen, 0), fmt(s.tasksPerSec, 0),
  ];
  return [
    `stealing (docs/design.md 4.2a): ${r.bursts} bursts of one ${LONG_US / 1000} ms task and ${BURST - 1} trivial ones, each burst submitted at once; ` +
      `then 100k trivial tasks (callback path); medians of ${r.reps} alternating reps`,
    table(
      ['steal', 'trivial wait p50 µs', 'wait p99 µs', 'bursts ms', 'stolen', 'trivial tasks/s'],
      [row('on (default)', r.on), row('off', r.off)],
    ),
    `on ÷ off (median of per-rep ratios): trivial wait p50 ${fmt(r.p50Ratio, 2)}, p99 ${fmt(r.p99Ratio, 2)}, bursts' wall ${fmt(r.mixRatio, 2)}, trivial throughput ${fmt(r.throughputRatio, 2)}`,
  ].join('\n');
}
