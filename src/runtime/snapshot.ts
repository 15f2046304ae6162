/**
 * Stats: plain-object snapshots read from shared memory with loads only (stats never move a
 * counter). Each counter has one writer (docs/design.md §2.0); a snapshot is not atomic across
 * counters, so sums may be momentarily out of step while tasks are in flight.
 */
import {
  Memory, P_EARNED, P_PACKED, RT_DRAINING, RT_RUNNING, W_ASYNC_INFLIGHT, W_CPU_MASK, W_EXECUTED, W_FAILED, W_PARKS, W_RESTARTS,
  W_ROUTED_HEAVY, W_ROUTED_LIGHT, W_ROUTED_MEDIUM, W_STOLEN, W_THREAD_ID, W_TID, W_WAKER,
} from '../shm/layout.js';
import { WAKER_PARKED } from '../shm/waker.js';
import { inflightOf, tokensOf } from '../shm/words/gate.js';
import { earnedMod32 } from '../admission/bucket.js';
import { REJECT_REASONS, type RejectReason, S_ADMITTED, S_REJECTED, S_RESOLVED } from '../admission/reasons.js';
import { OUTCOMES, type Outcome } from '../admission/outcomes.js';
import { effectiveLimits, readLimits, registeredProducers } from './registry.js';
import { producerName } from './producer-name.js';
import type { Producer, ProducerStats, TaskLatency } from './producer.js';
import type { RuntimeStats, WorkerStats } from './runtime.js';
import type { Attachment } from './submit/attachment.js';
import { latencyPair, readMetrics, utilization } from './metrics.js';

/** Runtime.stats(): a plain-object snapshot, global, per producer, per worker. */
export function runtimeStats(
mem: Memory, att: Attachment, now: number, producers: ReadonlyMap<string, Producer>, events: readonly string[], names: readonly string[],
): Omit<RuntimeStats, 'io' | 'tasks'> & { taskLatency: (TaskLatency | null)[] } {
  const i32 = mem.i32;
  const L = mem.layout;
  const st = Atomics.load(i32, mem.stateWord);
  const registered = registeredProducers(mem);
  const m = readMetrics(mem, names, registered);
  const workers: WorkerStats[] = [];
  for (let w = 0; w < L.workers; w++) {
    workers.push({
      index: w,
      threadId: Atomics.load(i32, mem.workerWord(w, W_THREAD_ID)),
      tid: Atomics.load(i32, mem.workerWord(w, W_TID)),
      cpus: maskCpus(Atomics.load(i32, mem.workerWord(w, W_CPU_MASK))),
      routed: {
        heavy: i32[mem.workerWord(w, W_ROUTED_HEAVY)]!,
        medium: i32[mem.workerWord(w, W_ROUTED_MEDIUM)]!,
        light: i32[mem.workerWord(w, W_ROUTED_LIGHT)]!,
      },
      restarts: Atomics.load(i32, mem.workerWord(w, W_RESTARTS)),
      failed: Atomics.load(i32, mem.workerWord(w, W_FAILED)) === 1,
      executed: i32[mem.workerWord(w, W_EXECUTED)]!,
      queued: att.rings[w]!.size(),
      asyncInFlight: Atomics.load(i32, mem.workerWord(w, W_ASYNC_INFLIGHT)),
      parked: Atomics.load(i32, mem.workerWord(w, W_WAKER)) === WAKER_PARKED,
      parks: i32[mem.workerWord(w, W_PARKS)]!,
      stolen: i32[mem.workerWord(w, W_STOLEN)]!,
      utilization: m === null ? null : utilization(m.busyMs[w]!, m.windowStartUs, m.nowUs),
    });
  }
  return {
    state: st === RT_RUNNING ? 'running' : st === RT_DRAINING ? 'draining' : 'closed',
    global: { inFlight: Atomics.load(i32, mem.globalWord), limit: L.globalSlots },
    producers: registered.map((p) => {
      const mine = [...producers.values()].find((x) => x.index === p);
      const own = producerStats(mem, p, now);
      const h = m === null ? undefined : m.producers.get(own.name);
      return { ...own, saturated: mine?.saturated ?? false, latency: h === undefined ? null : latencyPair(h) };
    }),
    workers,
    events: [...events],
    // Per task id (the histograms' last one, '(other)', is shared by every id past it: none of those gets one).
    taskLatency: m === null ? [] : names.map((_, id) => (id < m.tasks.length - 1 || names.length <= m.tasks.length ? latencyPair(m.tasks[id]!) : null)),
    windowSeconds: m === null ? null : Math.max(0, m.nowUs - m.windowStartUs) / 1e6,
  };
}

/** @internal Counters of one producer summed over every attachment (thread). */
export function producerStats(mem: Memory, p: number, now: number): Omit<ProducerStats, 'saturated' | 'latency'> {
  const i32 = mem.i32;
  const limits = readLimits(mem, p);
  const rejected = Object.fromEntries(REJECT_REASONS.map((r) => [r, 0])) as Record<RejectReason, number>;
  const resolved = Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as Record<Outcome, number>;
  let admitted = 0;
  for (let a = 0; a < mem.layout.maxAttachments; a++) {
    admitted += i32[mem.statWord(a, p, S_ADMITTED)]!;
    REJECT_REASONS.forEach((r, i) => { rejected[r] += i32[mem.statWord(a, p, S_REJECTED + i)]!; });
    OUTCOMES.forEach((o, i) => { resolved[o] += i32[mem.statWord(a, p, S_RESOLVED + i)]!; });
  }
  const packed = Atomics.load(i32, mem.producerWord(p, P_PACKED));
  let tokens: number | null = null;
  if (limits.rate > 0) {
    // Report what a submit now would see, without refilling (stats never move counters).
    const e = earnedMod32(now, limits.rate);
    const pending = Math.max(0, (e - Atomics.load(i32, mem.producerWord(p, P_EARNED))) | 0);
    tokens = Math.min(limits.burst, tokensOf(packed) + pending);
  }
  return { name: producerName(mem, p), limits: effectiveLimits(limits), inFlight: inflightOf(packed), tokens, admitted, rejected, resolved };
}

function maskCpus(mask: number): number[] | null {
  if (mask === 0) return null;
  const out: number[] = [];
  for (let c = 0; c < 32; c++) if (mask & (1 << c)) out.push(c);
  return out;
}
