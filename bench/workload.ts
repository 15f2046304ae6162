// The workload of ANCHORS.md, written once against a minimal callback interface every row implements.
import { performance } from 'node:perf_hooks';
import { readFileSync } from 'node:fs';
import { summarize, type LatencySummary } from './stats.js';

/**
 * Task exports of fixtures/tasks.mjs the drivers use (echo: sluice rows only; the structured
 * ones, which return a small array or a plain object: bench/harness.ts). A Session hands the
 * task's value to `done` as it came back: a number for inc/spin50, an array or object otherwise.
 */
export const TASK_NAMES = ['inc', 'spin50', 'echo', 'incArr', 'incObj', 'spinArr', 'spinObj'] as const;
export type TaskName = (typeof TASK_NAMES)[number];
export type Kind = 'throughput' | 'latency' | 'cpu';
export const WORKERS = 2;
export const MAX_IN_FLIGHT = 1024;
export const SPIN_US = 50;

/** One opened pool (or baseline), fresh for each measurement. */
export interface Session {
  /**
   * Starts one task and calls `done` or `fail` when it settles (never synchronously).
   * Returns false when refused for lack of capacity: the driver retries after a completion.
   */
  start(task: TaskName, arg: number, done: (value: number) => void, fail: (err: unknown) => void): boolean;
  /** A blocking round trip; when present the latency driver uses it instead of `start`. */
  roundTrip?(arg: number): number;
  close(): Promise<void>;
}

export interface RowDef {
  name: string;
  kinds: readonly Kind[];
  open(): Promise<Session>;
}

/** Adapts a promise-returning `run` (every pool's API) to a Session. */
export function promiseSession(
  run: (task: TaskName, arg: number) => PromiseLike<number>,
  close: () => PromiseLike<unknown>,
): Session {
  return {
    start(task, arg, done, fail) {
      run(task, arg).then(done, fail);
      return true;
    },
    async close() {
      await close();
    },
  };
}

/** Version of an installed package, read from its package.json. */
export function pkgVersion(name: string): string {
  const url = new URL(`../node_modules/${name}/package.json`, import.meta.url);
  return (JSON.parse(readFileSync(url, 'utf8')) as { version: string }).version;
}

export const fixture = (file: string): URL => new URL(`./fixtures/${file}`, import.meta.url);

export interface Pipelined {
  wallMs: number;
  sum: number;
}

/** Runs n tasks with at most `window` in flight; task i gets arg(i). */
export function pipelined(
  s: Session,
  task: TaskName,
  n: number,
  arg: (i: number) => number,
  window = MAX_IN_FLIGHT,
  /** The number a result adds to `sum` (a structured result's field); default: the result itself. */
  extract?: (value: unknown) => number,
): Promise<Pipelined> {
  return new Promise((resolve, reject) => {
    let next = 0;
    let inFlight = 0;
    let completed = 0;
    let sum = 0;
    let failed = false;
    const t0 = performance.now();
    const fail = (err: unknown): void => {
      if (!failed) reject(err);
      failed = true;
    };
    const done = (v: number): void => {
      sum += extract === undefined ? v : extract(v);
      inFlight--;
      if (++completed === n) resolve({ wallMs: performance.now() - t0, sum });
      else pump();
    };
    const pump = (): void => {
      try {
        while (next < n && inFlight < window && !failed) {
          inFlight++;
          if (!s.start(task, arg(next), done, fail)) {
            inFlight--;
            if (inFlight === 0) setImmediate(pump); // nothing will complete to retry us
            return;
          }
          next++;
        }
      } catch (err) {
        fail(err);
      }
    };
    pump();
  });
}

/** Runs n tasks (trivial unless told) strictly one at a time; returns round trips in µs. */
export function sequential(s: Session, n: number, task: TaskName = 'inc'): Promise<number[]> {
  const samples: number[] = [];
  if (s.roundTrip) {
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      s.roundTrip(i);
      samples.push((performance.now() - t0) * 1000);
    }
    return Promise.resolve(samples);
  }
  return new Promise((resolve, reject) => {
    let t0 = 0;
    const done = (): void => {
      samples.push((performance.now() - t0) * 1000);
      if (samples.length === n) resolve(samples);
      else next();
    };
    const next = (): void => {
      try {
        t0 = performance.now();
        if (!s.start(task, samples.length, done, reject)) setImmediate(next);
      } catch (err) {
        reject(err);
      }
    };
    next();
  });
}

export interface Sizes {
  throughput: number;
  latency: number;
  cpu: number;
  warmup: number;
  /**
   * Round trips before a latency measurement. The tail is judged "under steady load": freshly
   * started workers JIT-compile their loop for the first ~2000 round trips (p50 falls from ~7 to
   * ~2.5 µs over them here), so every row gets this many first, pools alike.
   */
  latencyWarmup: number;
}

export type Measurement =
  | { kind: 'throughput'; tasksPerSec: number; wallMs: number; n: number }
  | ({ kind: 'latency' } & LatencySummary)
  | { kind: 'cpu'; efficiency: number; wallMs: number; busyUs: number; n: number };

/** Warms the session up with the same shape of work, then measures one kind. */
export async function measure(s: Session, kind: Kind, sizes: Sizes): Promise<Measurement> {
  const id = (i: number): number => i;
  if (kind === 'throughput') {
    await pipelined(s, 'inc', sizes.warmup, id);
    const n = sizes.throughput;
    const r = await pipelined(s, 'inc', n, id);
    if (r.sum !== (n * (n + 1)) / 2) throw new Error(`wrong results: sum ${r.sum}`);
    return { kind, tasksPerSec: (n / r.wallMs) * 1000, wallMs: r.wallMs, n };
  }
  if (kind === 'latency') {
    await sequential(s, sizes.latencyWarmup);
    return { kind, ...summarize(await sequential(s, sizes.latency)) };
  }
  const spin = (): number => SPIN_US;
  await pipelined(s, 'spin50', Math.ceil(sizes.warmup / 4), spin);
  const r = await pipelined(s, 'spin50', sizes.cpu, spin);
  return { kind, efficiency: r.sum / (r.wallMs * 1000 * WORKERS), wallMs: r.wallMs, busyUs: r.sum, n: sizes.cpu };
}

let hung = false;

/** Whether any withTimeout() fired (its work may still hold threads: the run then exits explicitly). */
export const anyHung = (): boolean => hung;

/** p, or a rejection once ms have passed (recorded by anyHung()). */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      hung = true;
      reject(new Error(`${what}: timed out after ${ms} ms`));
    }, ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}
