// The recorder's budgets (issue 18), paired: three runtimes that differ only in `trace` -- off,
// a flight recorder (`{ mode: 'flight' }`, default records) and a full recording to a file --
// all up for the whole section (default options, 2 workers), measured in rounds whose order
// rotates (each runs first, second and third equally often). Per round and runtime:
//   throughput  `tasks` trivial tasks through producer.submit + Token, ≤ 1024 in flight
//               (the main table's submit/token row), tasks/s and the main thread's CPU per task
//   latency     `trips` sequential round trips (submit, await the Token), p50
// Ratios are per round, to off in the same round; the figures are their medians. Wall
// throughput on this shared 2-CPU VM swings by ±30% between 0.1 s runs, and three threads share
// two CPUs, so the main thread's CPU per task (Linux schedstat) is reported too: most of the
// recorder's work is there (its SUBMIT_ROUTED and RELEASE frames, the route's copy, the file's
// drainer), and it does not depend on how the threads were scheduled.
// The file runtime's recording grows to ~0.5 GB in a full run (~70 MB quick) in os.tmpdir(); it is
// deleted at the end.
// Also stated: frames per task (a 64-byte record each; the file's size ÷ 64 ÷ tasks) and the
// records per second the recording sustained at the median round.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Runtime } from '../src/index.js';
import { startSluiceReady, tokenSession } from './e2e/sluice.js';
import { threadCpuNs } from './gates.js';
import { RECORD_BYTES } from '../src/trace/records.js';
import { fmt } from './report.js';
import { median, percentile, sorted } from './stats.js';
import { pipelined, sequential, type Session } from './workload.js';

const CONFIGS = ['off', 'flight', 'file'] as const;
type Config = (typeof CONFIGS)[number];

export interface RecorderSide {
  /** Median tasks/s over the rounds. */
  tasksPerSec: number;
  /** Median main-thread CPU ns per task over the rounds (null off Linux). */
  mainCpuNsPerTask: number | null;
  /** Median of the rounds' sequential p50 (µs). */
  p50: number;
}

export interface RecorderResult {
  rounds: number;
  tasks: number;
  trips: number;
  off: RecorderSide;
  flight: RecorderSide;
  file: RecorderSide;
  /** Medians of per-round ratios to off: throughput (≥ 0.85 flight, ≥ 0.7 file), p50 (≤ 1.15 flight). */
  flightThroughput: number;
  fileThroughput: number;
  flightP50: number;
  fileP50: number;
  flightThroughputRatios: number[];
  fileThroughputRatios: number[];
  /** 64-byte frames the full recording wrote per task (its file's size ÷ 64 ÷ tasks run on it). */
  framesPerTask: number;
  bytesPerRecord: number;
  /** Frames per second the flight recorder / the file sustained at their median throughput. */
  flightRecordsPerSec: number;
  fileRecordsPerSec: number;
}

export async function runRecorder(quick: boolean, tasks: number, log: (m: string) => void): Promise<RecorderResult> {
  const rounds = quick ? 9 : 15;
  const trips = quick ? 1000 : 2000;
  const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-recorder-'));
  const file = join(dir, 'full.trace');
  const rts: Partial<Record<Config, Runtime>> = {};
  try {
    rts.off = await startSluiceReady();
    rts.flight = await startSluiceReady({ trace: { mode: 'flight' } });
    rts.file = await startSluiceReady({ trace: { mode: 'file', path: file } });
    const sessions = Object.fromEntries(CONFIGS.map((c) => [c, tokenSession(rts[c]!, rts[c]!.producer(`recorder-${c}`))])) as Record<Config, Session>;
    const ran: Record<Config, number> = { off: 0, flight: 0, file: 0 };
    const perSec: Record<Config, number[]> = { off: [], flight: [], file: [] };
    const cpu: Record<Config, number[]> = { off: [], flight: [], file: [] };
    const p50: Record<Config, number[]> = { off: [], flight: [], file: [] };
    const id = (i: number): number => i;
    const once = async (c: Config, keep: boolean): Promise<void> => {
      const c0 = threadCpuNs();
      const r = await pipelined(sessions[c], 'inc', tasks, id);
      const c1 = threadCpuNs();
      if (r.sum !== (tasks * (tasks + 1)) / 2) throw new Error(`recorder ${c}: wrong results (sum ${r.sum})`);
      const lat = await sequential(sessions[c], trips);
      ran[c] += tasks + trips;
      if (!keep) return;
      perSec[c].push((tasks / r.wallMs) * 1000);
      if (c0 !== null && c1 !== null) cpu[c].push((c1 - c0) / tasks);
      p50[c].push(percentile(sorted(lat), 0.5));
    };
    for (const c of CONFIGS) await once(c, false); // warm-up: each runtime's code paths compiled
    for (let round = 0; round < rounds; round++) {
      log(`[recorder ${round + 1}/${rounds}] recording off / flight / file, paired`);
      for (let k = 0; k < CONFIGS.length; k++) await once(CONFIGS[(round + k) % CONFIGS.length]!, true);
    }
    const side = (c: Config): RecorderSide => ({
      tasksPerSec: median(perSec[c]),
      mainCpuNsPerTask: cpu[c].length === rounds ? median(cpu[c]) : null,
      p50: median(p50[c]),
    });
    const per = (c: Config, xs: Record<Config, number[]>): number[] => xs[c].map((v, i) => v / xs.off[i]!);
    const flightThroughputRatios = per('flight', perSec);
    const fileThroughputRatios = per('file', perSec);
    for (const c of CONFIGS) await rts[c]!.close(); // the file is finished at close
    delete rts.off; delete rts.flight; delete rts.file;
    const framesPerTask = statSync(file).size / RECORD_BYTES / ran.file;
    const result: RecorderResult = {
      rounds, tasks, trips,
      off: side('off'), flight: side('flight'), file: side('file'),
      flightThroughput: median(flightThroughputRatios),
      fileThroughput: median(fileThroughputRatios),
      flightP50: median(per('flight', p50)),
      fileP50: median(per('file', p50)),
      flightThroughputRatios, fileThroughputRatios,
      framesPerTask,
      bytesPerRecord: RECORD_BYTES,
      flightRecordsPerSec: framesPerTask * median(perSec.flight),
      fileRecordsPerSec: framesPerTask * median(perSec.file),
    };
    return result;
  } finally {
    for (const c of CONFIGS) await rts[c]?.close().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
}

export const recorderLines = (r: RecorderResult): string[] => {
  const cpu = (s: RecorderSide): string => (s.mainCpuNsPerTask === null ? '' : `, main thread ${fmt(s.mainCpuNsPerTask, 0)} ns/task`);
  return [
    `recorder (issue 18), paired: recording off / flight / file on three runtimes, ${r.rounds} rounds of ${r.tasks.toLocaleString('en-US')} tasks (submit/token, ≤ 1024 in flight) + ${r.trips.toLocaleString('en-US')} sequential trips:`,
    ...CONFIGS.map((c) => `  ${c.padEnd(6)} ${fmt(r[c].tasksPerSec, 0)} tasks/s${cpu(r[c])}, sequential p50 ${fmt(r[c].p50, 2)} µs`),
    `  throughput ÷ off: flight ${fmt(r.flightThroughput, 3)} (per round ${r.flightThroughputRatios.map((x) => fmt(x, 2)).join(', ')}); file ${fmt(r.fileThroughput, 3)} (per round ${r.fileThroughputRatios.map((x) => fmt(x, 2)).join(', ')})`,
    `  sequential p50 ÷ off: flight ${fmt(r.flightP50, 3)}, file ${fmt(r.fileP50, 3)}`,
    `  ${fmt(r.framesPerTask, 2)} frames of ${r.bytesPerRecord} bytes per task; sustained: flight ${fmt(r.flightRecordsPerSec / 1e6, 2)} M records/s, file ${fmt(r.fileRecordsPerSec / 1e6, 2)} M records/s (${fmt((r.fileRecordsPerSec * r.bytesPerRecord) / 1e6, 0)} MB/s)`,
  ];
};
