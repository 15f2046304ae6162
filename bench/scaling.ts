// Scaling: (1) throughput and latency vs producer threads (1, 2, 4 threads, each
// Runtime.attach(rt.handle) + submitCallback, see threads/producer.ts) for 1 and 2 workers;
// (2) cost vs payload size (an echo task: the payload travels in, the same bytes come back).
// Shapes as the "sluice callback" row: globalSlots 1024, ringCapacity 512, ≤ 1024 in flight.
import type { Worker } from 'node:worker_threads';
import { CALLBACK_OPTIONS, callbackSession, startSluiceReady } from './e2e/sluice.js';
import { call, spawnTs } from './e2e/spawn.js';
import { fmt, table } from './report.js';
import { median, summarize } from './stats.js';
import { C_INLINE_BYTES } from '../src/shm/layout.js';
import type { ProducerReply, ProducerRequest } from './threads/protocol.js';
import { MAX_IN_FLIGHT, pipelined, sequential } from './workload.js';

export const PRODUCER_THREADS = [1, 2, 4] as const;
export const WORKER_COUNTS = [1, 2] as const;
export const PAYLOAD_BYTES = [8, 64, 512, 4096, 16384, 65536] as const;

export interface ThreadPoint {
  workers: number;
  producers: number;
  tasksPerSec: number;
  /** Median over reps of tasks/s ÷ tasks/s with 1 producer thread (same runtime, same rep). */
  vsOne: number;
  p50: number;
  p99: number;
}

export interface PayloadPoint {
  bytes: number;
  /** Carried in the ring cell (≤ C_INLINE_BYTES) rather than spilled to the arena. */
  inline: boolean;
  tasksPerSec: number;
  /** Median over reps of tasks/s ÷ tasks/s at 8 B (same rep). */
  vsSmallest: number;
  p50: number;
  p99: number;
  /**
   * Submits refused for lack of room per 1000 tasks (median over reps); at these sizes that is
   * the submitter's spill arena being full ('arena-full') or a full ring ('ring-full').
   */
  refusedPer1k: number;
}

export interface ScalingResult {
  sizes: { tasks: number; latency: number; payloadTasks: number; payloadBytesBudget: number; reps: number };
  threads: ThreadPoint[];
  payload: PayloadPoint[];
  errors: string[];
}

interface Sample {
  tasksPerSec: number;
  p50: number;
  p99: number;
  refusedPer1k?: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Sends each thread its request, waits until all of them have counted in at the barrier, then
 * releases them together; resolves with every reply.
 */
async function together<R extends ProducerReply>(threads: readonly Worker[], req: (go: SharedArrayBuffer) => ProducerRequest): Promise<R[]> {
  const go = new SharedArrayBuffer(8);
  const w = new Int32Array(go);
  let failed: unknown = null;
  const replies = Promise.all(threads.map((t) => call<R>(t, req(go))));
  replies.catch((err: unknown) => (failed = err));
  while (Atomics.load(w, 1) < threads.length && failed === null) await sleep(1);
  Atomics.store(w, 0, 1);
  Atomics.notify(w, 0);
  return replies;
}

type Throughput = Extract<ProducerReply, { op: 'throughput' }>;
type Latency = Extract<ProducerReply, { op: 'latency' }>;

async function threadSample(threads: readonly Worker[], tasks: number, latency: number): Promise<Sample> {
  const p = threads.length;
  const n = Math.floor(tasks / p);
  const window = Math.floor(MAX_IN_FLIGHT / p);
  const tp = await together<Throughput>(threads, (go) => ({ op: 'throughput', go, n, window, warmup: 300 }));
  if (tp.some((r) => r.sum !== (n * (n + 1)) / 2)) throw new Error('producer threads: wrong results');
  const wall = Math.max(...tp.map((r) => r.end)) - Math.min(...tp.map((r) => r.start));
  const lat = await together<Latency>(threads, (go) => ({ op: 'latency', go, n: latency, warmup: 100 }));
  const s = summarize(lat.flatMap((r) => r.samples));
  return { tasksPerSec: ((n * p) / wall) * 1000, p50: s.p50, p99: s.p99 };
}

/** samples[rep][i] -> per-point medians, with the median per-rep ratio to point 0. */
function aggregate(samples: readonly Sample[][]): (Required<Sample> & { vsFirst: number })[] {
  const points = samples[0]?.length ?? 0;
  return Array.from({ length: points }, (_, i) => ({
    tasksPerSec: median(samples.map((r) => r[i]!.tasksPerSec)),
    vsFirst: median(samples.map((r) => r[i]!.tasksPerSec / r[0]!.tasksPerSec)),
    p50: median(samples.map((r) => r[i]!.p50)),
    p99: median(samples.map((r) => r[i]!.p99)),
    refusedPer1k: median(samples.map((r) => r[i]!.refusedPer1k ?? 0)),
  }));
}

async function producerScaling(sizes: ScalingResult['sizes'], log: (m: string) => void): Promise<ThreadPoint[]> {
  const max = Math.max(...PRODUCER_THREADS);
  const threads = await Promise.all(Array.from({ length: max }, () => spawnTs('producer')));
  const out: ThreadPoint[] = [];
  try {
    for (const workers of WORKER_COUNTS) {
      const rt = await startSluiceReady({ ...CALLBACK_OPTIONS, workers });
      try {
        await Promise.all(threads.map((t, i) => call(t, { op: 'attach', handle: rt.handle, name: `thread-${i}` })));
        const reps: Sample[][] = [];
        for (let rep = 1; rep <= sizes.reps; rep++) {
          const row: Sample[] = [];
          for (const p of PRODUCER_THREADS) {
            log(`[scaling ${rep}/${sizes.reps}] ${workers} worker(s), ${p} producer thread(s)`);
            row.push(await threadSample(threads.slice(0, p), sizes.tasks, sizes.latency));
          }
          reps.push(row);
        }
        await Promise.all(threads.map((t) => call(t, { op: 'detach' })));
        aggregate(reps).forEach((a, i) => {
          out.push({ workers, producers: PRODUCER_THREADS[i]!, tasksPerSec: a.tasksPerSec, vsOne: a.vsFirst, p50: a.p50, p99: a.p99 });
        });
      } finally {
        await rt.close();
      }
    }
  } finally {
    await Promise.all(threads.map((t) => t.terminate()));
  }
  return out;
}

async function payloadScaling(sizes: ScalingResult['sizes'], log: (m: string) => void): Promise<PayloadPoint[]> {
  const rt = await startSluiceReady(CALLBACK_OPTIONS);
  try {
    const producer = rt.producer('payload');
    const sessions = PAYLOAD_BYTES.map((bytes) => {
      const payload = new Uint8Array(bytes).fill(1);
      const n = Math.max(64, Math.min(sizes.payloadTasks, Math.floor(sizes.payloadBytesBudget / bytes)));
      return { bytes, n, s: callbackSession(rt, producer, { payload: () => payload, result: (v) => (v as Uint8Array).byteLength }) };
    });
    const id = (i: number): number => i;
    // A warm-up pass over every size first: otherwise the sizes measured first pay for the JIT.
    for (const { n, s } of sessions) await pipelined(s, 'echo', Math.min(n, 2_000), id);
    const refused = (): number => { const r = producer.stats().rejected; return r['ring-full'] + r['arena-full']; };
    const reps: Sample[][] = [];
    for (let rep = 1; rep <= sizes.reps; rep++) {
      const row: Sample[] = [];
      for (const { bytes, n, s } of sessions) {
        log(`[scaling ${rep}/${sizes.reps}] payload ${bytes} B`);
        const before = refused();
        const r = await pipelined(s, 'echo', n, id);
        if (r.sum !== n * bytes) throw new Error(`payload ${bytes} B: wrong results`);
        const refusedPer1k = ((refused() - before) / n) * 1000;
        await sequential(s, 50, 'echo');
        const lat = summarize(await sequential(s, sizes.latency, 'echo'));
        row.push({ tasksPerSec: (n / r.wallMs) * 1000, p50: lat.p50, p99: lat.p99, refusedPer1k });
      }
      reps.push(row);
    }
    return aggregate(reps).map((a, i) => ({
      bytes: PAYLOAD_BYTES[i]!, inline: PAYLOAD_BYTES[i]! <= C_INLINE_BYTES, tasksPerSec: a.tasksPerSec, vsSmallest: a.vsFirst,
      p50: a.p50, p99: a.p99, refusedPer1k: a.refusedPer1k,
    }));
  } finally {
    await rt.close();
  }
}

export async function runScaling(quick: boolean, log: (m: string) => void): Promise<ScalingResult> {
  const sizes = quick
    ? { tasks: 20_000, latency: 300, payloadTasks: 5_000, payloadBytesBudget: 32 << 20, reps: 2 }
    : { tasks: 60_000, latency: 1_000, payloadTasks: 20_000, payloadBytesBudget: 128 << 20, reps: 3 };
  const errors: string[] = [];
  const guarded = async <T>(what: string, f: () => Promise<T[]>): Promise<T[]> => {
    try {
      return await f();
    } catch (err) {
      errors.push(`${what}: ${err instanceof Error ? err.message : String(err)}`);
      log(`  failed: ${errors.at(-1)}`);
      return [];
    }
  };
  const threads = await guarded('producer threads', () => producerScaling(sizes, log));
  const payload = await guarded('payload size', () => payloadScaling(sizes, log));
  return { sizes, threads, payload, errors };
}

export const formatBytes = (b: number): string => (b >= 1024 ? `${b / 1024} KiB` : `${b} B`);

export function scalingTables(r: ScalingResult): string {
  const threads = table(
    ['workers', 'producer threads', 'tasks/s', '× 1 thread', 'p50 µs', 'p99 µs'],
    r.threads.map((t) => [String(t.workers), String(t.producers), fmt(t.tasksPerSec, 0), fmt(t.vsOne, 2), fmt(t.p50), fmt(t.p99)]),
  );
  const payload = table(
    ['payload (echo)', 'carried', 'tasks/s', '× 8 B', 'MiB/s each way', 'full-arena refusals / 1k', 'p50 µs', 'p99 µs'],
    r.payload.map((p) => [
      formatBytes(p.bytes),
      p.inline ? 'inline' : 'spilled',
      fmt(p.tasksPerSec, 0),
      fmt(p.vsSmallest, 2),
      fmt((p.tasksPerSec * p.bytes) / (1 << 20), 1),
      fmt(p.refusedPer1k, 1),
      fmt(p.p50),
      fmt(p.p99),
    ]),
  );
  const errors = r.errors.map((e) => `error: ${e}`);
  return [
    `scaling: ${r.sizes.tasks} tasks over all producer threads (≤ ${MAX_IN_FLIGHT} in flight in total), ${r.sizes.latency} round trips per thread run concurrently; medians of ${r.sizes.reps} reps`,
    threads,
    '',
    `payload size: Uint8Array echoed (inline ≤ ${C_INLINE_BYTES} B in the cell, larger spill to the 1 MiB arenas both ways); up to ${r.sizes.payloadTasks} tasks, ${r.sizes.latency} round trips; medians of ${r.sizes.reps} reps`,
    payload,
    ...errors,
  ].join('\n');
}
