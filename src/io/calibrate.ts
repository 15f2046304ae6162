/**
 * I/O calibration (`sluice/io`, `sluice calibrate-io DIR`): measure write+fsync latency and
 * throughput on the user's storage at increasing concurrency (1, 2, 4, ... up to a maximum), and
 * recommend an I/O class limit where throughput stops growing.
 *
 * Little's law: concurrency = throughput x latency. While the device has parallelism to spare,
 * more writers in flight raise throughput and latency stays flat; past the knee, throughput is
 * flat and every extra writer only adds queueing latency. The knee rule used here: the smallest
 * level whose throughput is within 5% of the best level's. Each level also reports the
 * concurrency Little's law gives back from its measurements (ops/s x mean latency), which stays
 * close to the level while writers are really in flight.
 *
 * The writes go through Node's fs, so they run on libuv's thread pool like a task's would: the
 * curve is what this process can get with its pool size (UV_THREADPOOL_SIZE, default 4). To
 * measure the storage itself beyond that, run it with a larger UV_THREADPOOL_SIZE.
 *
 * Not loaded by the runtime: only what imports 'sluice/io' (or runs the command) loads it.
 */
import { randomFillSync } from 'node:crypto';
import { constants, promises as fsp } from 'node:fs';
import { join, resolve } from 'node:path';
import { AbortedError, ConfigError, describe } from '../errors.js';
import { libuvPoolSize } from '../runtime/io-class.js';
import { snapshot } from '../runtime/options.js';
import { isAbortSignal, signalAborted, signalReason } from '../runtime/user-code.js';

export interface CalibrateIoOptions {
  /** Bytes per write (each write is one file written, fsynced, closed). Default 262144 (256 KiB); 1 to 2^30. */
  bytes?: number;
  /** The highest concurrency measured: levels are 1, 2, 4, ... up to it (it is always the last). Default 64; 1 to 1024. */
  maxConcurrency?: number;
  /** How long each level runs, in ms (every writer completes at least one write). Default 2000; 1 to 600000. */
  durationMs?: number;
  /** Called after each level with what was measured so far (e.g. a progress line). */
  onLevel?: (level: IoLevel, index: number, of: number) => void;
  /** Aborting stops the calibration: its files are removed and the promise rejects with AbortedError. */
  signal?: AbortSignal;
}

/** One concurrency level of the curve. */
export interface IoLevel {
  concurrency: number;
  /** Writes completed (each: open, write `bytes`, fsync, close). */
  ops: number;
  seconds: number;
  opsPerSec: number;
  /** Throughput in MB/s (10^6 bytes). */
  mbPerSec: number;
  /** Latency of one write, in ms. */
  latencyMs: { mean: number; p50: number; p95: number; p99: number; max: number };
  /** Little's law from the measurements: opsPerSec x mean latency (s); close to `concurrency` while writers overlap. */
  littleConcurrency: number;
}

export interface IoCalibration {
  dir: string;
  bytes: number;
  durationMs: number;
  /** libuv's thread pool size this process runs with (UV_THREADPOOL_SIZE, default 4): fs calls beyond it queue. */
  poolSize: number;
  levels: IoLevel[];
  /** The recommended limit: one of the levels' concurrency (the knee). */
  recommended: number;
  /** The knee rule, in words. */
  rule: string;
}

export const KNEE_FRACTION = 0.95;

function intOpt(where: string, key: string, v: unknown, dflt: number, min: number, max: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new ConfigError(`${where}: ${key} must be an integer from ${min} to ${max}; got ${describe(v)}`);
  }
  return v;
}

/** The levels measured: powers of two below `max`, then `max`. */
export function levelsUpTo(max: number): number[] {
  const out: number[] = [];
  for (let c = 1; c < max; c *= 2) out.push(c);
  out.push(max);
  return out;
}

/** The knee: the smallest concurrency whose throughput is within 5% of the best. */
export function knee(levels: readonly Pick<IoLevel, 'concurrency' | 'mbPerSec'>[]): number {
  const best = Math.max(...levels.map((l) => l.mbPerSec));
  return levels.find((l) => l.mbPerSec >= KNEE_FRACTION * best)!.concurrency;
}

function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

/** Check DIR: an existing, writable directory (ConfigError otherwise). */
async function checkDir(where: string, dir: unknown): Promise<string> {
  if (typeof dir !== 'string' || dir.length === 0) throw new ConfigError(`${where}: dir must be a non-empty path; got ${describe(dir)}`);
  const abs = resolve(dir);
  let st;
  try {
    st = await fsp.stat(abs);
  } catch (cause) {
    throw new ConfigError(`${where}: ${abs} does not exist`, { cause });
  }
  if (!st.isDirectory()) throw new ConfigError(`${where}: ${abs} is not a directory`);
  try {
    await fsp.access(abs, constants.W_OK);
  } catch (cause) {
    throw new ConfigError(`${where}: ${abs} is not writable`, { cause });
  }
  return abs;
}

/**
 * Measure DIR's storage (see the module comment). Every file it writes is in a fresh
 * subdirectory of DIR, removed at the end, also on error or abort.
 */
export async function calibrateIo(dir: string, options?: CalibrateIoOptions): Promise<IoCalibration> {
  const where = 'calibrateIo';
  const o = snapshot(where, 'options', options, ['bytes', 'maxConcurrency', 'durationMs', 'onLevel', 'signal']);
  const bytes = intOpt(where, 'bytes', o.bytes, 256 * 1024, 1, 2 ** 30);
  const maxConcurrency = intOpt(where, 'maxConcurrency', o.maxConcurrency, 64, 1, 1024);
  const durationMs = intOpt(where, 'durationMs', o.durationMs, 2000, 1, 600_000);
  const onLevel = o.onLevel;
  if (onLevel !== undefined && typeof onLevel !== 'function') throw new ConfigError(`${where}: onLevel must be a function; got ${describe(onLevel)}`);
  const signal = o.signal as AbortSignal | undefined;
  if (signal !== undefined && !isAbortSignal(signal)) throw new ConfigError(`${where}: signal must be an AbortSignal; got ${describe(signal)}`);
  const abs = await checkDir(where, dir);
  const aborted = (): void => {
    if (signal !== undefined && signalAborted(signal)) throw new AbortedError('calibrateIo was aborted', { cause: signalReason(signal) });
  };
  aborted();

  const data = Buffer.allocUnsafe(bytes);
  randomFillSync(data); // incompressible
  const work = await fsp.mkdtemp(join(abs, '.sluice-calibrate-io-'));
  const levels: IoLevel[] = [];
  try {
    const plan = levelsUpTo(maxConcurrency);
    for (let i = 0; i < plan.length; i++) {
      const c = plan[i]!;
      const lat: number[] = [];
      const start = performance.now();
      const end = start + durationMs;
      const writer = async (k: number): Promise<void> => {
        const file = join(work, `w${k}`);
        do {
          aborted();
          const t0 = performance.now();
          const fh = await fsp.open(file, 'w');
          try {
            await fh.write(data, 0, bytes, 0);
            await fh.sync();
          } finally {
            await fh.close();
          }
          lat.push(performance.now() - t0);
        } while (performance.now() < end);
      };
      await Promise.all(Array.from({ length: c }, (_, k) => writer(k)));
      const seconds = (performance.now() - start) / 1000;
      const sorted = Float64Array.from(lat).sort();
      const mean = lat.reduce((a, b) => a + b, 0) / lat.length;
      const opsPerSec = lat.length / seconds;
      const level: IoLevel = {
        concurrency: c, ops: lat.length, seconds, opsPerSec, mbPerSec: (lat.length * bytes) / seconds / 1e6,
        latencyMs: { mean, p50: percentile(sorted, 0.5), p95: percentile(sorted, 0.95), p99: percentile(sorted, 0.99), max: sorted[sorted.length - 1]! },
        littleConcurrency: opsPerSec * (mean / 1000),
      };
      levels.push(level);
      if (onLevel !== undefined) (onLevel as NonNullable<CalibrateIoOptions['onLevel']>)(level, i, plan.length);
    }
  } finally {
    await fsp.rm(work, { recursive: true, force: true });
  }
  return {
    dir: abs, bytes, durationMs, poolSize: libuvPoolSize(), levels, recommended: knee(levels),
    rule: `the smallest concurrency whose throughput is within ${Math.round((1 - KNEE_FRACTION) * 100)}% of the best level's`,
  };
}

/** The curve as a table (one line per level), then the recommendation. */
export function formatCalibration(r: IoCalibration): string[] {
  const f = (n: number, d = 1): string => n.toFixed(d);
  const head = ['conc', 'ops', 'ops/s', 'MB/s', 'p50 ms', 'p95 ms', 'p99 ms', 'L=X*W'];
  const rows = r.levels.map((l) => [
    String(l.concurrency), String(l.ops), f(l.opsPerSec), f(l.mbPerSec), f(l.latencyMs.p50, 2), f(l.latencyMs.p95, 2), f(l.latencyMs.p99, 2), f(l.littleConcurrency),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[], mark = ''): string => cells.map((c, i) => c.padStart(widths[i]!)).join('  ') + mark;
  const out = [
    `${r.dir}: ${r.bytes} bytes per write (write + fsync), ${r.durationMs} ms per level, libuv pool ${r.poolSize} threads`,
    line(head),
    ...rows.map((row, i) => line(row, r.levels[i]!.concurrency === r.recommended ? '  <- knee' : '')),
    `recommended limit: ${r.recommended} (${r.rule}); e.g. rt.task(name, { io: { limit: ${r.recommended} } })`,
  ];
  if (r.levels.some((l) => l.concurrency > r.poolSize)) {
    out.push(`note: levels above ${r.poolSize} queue for libuv's ${r.poolSize} threads (UV_THREADPOOL_SIZE); set it higher, before start, to measure or use more.`);
  }
  return out;
}
