/**
 * Shared pieces of the admission tests (test/admission/*.test.ts):
 *   - the task module with test-controlled completions (`hold`) and the channel that releases them,
 *   - a sequential reference model of the gates, written from docs/design.md and not from the code,
 *   - stats snapshots that keep only what admission must leave untouched.
 */
import type { Limits } from '../../src/admission/gate.js';
import type { Runtime, RuntimeStats } from '../../src/index.js';

export const ADMISSION_TASKS = new URL('../fixtures/admission/tasks.mjs', import.meta.url);
export const CONTENDER = new URL('../fixtures/admission/contender.mjs', import.meta.url);
export const MONITOR = new URL('../fixtures/admission/monitor.mjs', import.meta.url);

/** Ticks per second (one tick = one microsecond), restated here so the model does not import the code under test. */
export const TPS = 1_000_000n;
export const GATE_FIELD = 0xffff;

/** E(t) = floor(t * rate / 1e6), exactly. */
export function exactEarned(t: number | bigint, rate: number | bigint): bigint {
  return (BigInt(t) * BigInt(rate)) / TPS;
}

// ---------------------------------------------------------------------------------------------
// Held tasks: the test decides when each one completes.
// ---------------------------------------------------------------------------------------------

let nextKey = 1; // unique per test process: a key is never reused, so a stale release cannot match

/**
 * Releases `hold(key)` tasks running in any worker of any runtime of this process. Each hold
 * task resolves with its own key when the test calls release(key), whether the task has
 * already started or not: a worker remembers releases it heard before the task started, and a
 * task that starts without one asks (`{ ask: key }`), and is answered if its key was released.
 * The asking is for a worker that joined the channel after the release was posted (a worker
 * still loading the task module when `Runtime.start` resolved on its first ready worker, or a
 * replacement): a BroadcastChannel delivers only to the channels that exist when it posts.
 */
export class Holds {
  private readonly channel = new BroadcastChannel('sluice-test-hold');
  private readonly released = new Set<number>();
  constructor() {
    this.channel.unref();
    this.channel.onmessage = (event: MessageEvent): void => {
      const key = (event.data as { ask?: unknown } | null)?.ask;
      if (typeof key === 'number' && this.released.has(key)) this.channel.postMessage({ release: key });
    };
  }
  key(): number { return nextKey++; }
  release(key: number): void {
    this.released.add(key);
    this.channel.postMessage({ release: key });
  }
  close(): void { this.channel.close(); }
}

// ---------------------------------------------------------------------------------------------
// The reference model: one sequential gate per producer plus the global count.
// ---------------------------------------------------------------------------------------------

export type Decision = 'admitted' | 'rate' | 'producer-slots' | 'global-slots';

export interface LimitsSpec {
  rate?: number;
  burst?: number;
  slots?: number;
}

/** The documented defaults: no rate = no bucket; burst defaults to min(rate, 65535); slots to min(globalSlots, 65535). */
export function normalizeSpec(spec: LimitsSpec, globalSlots: number): Limits {
  const rate = spec.rate ?? 0;
  return {
    rate,
    burst: rate === 0 ? 0 : spec.burst ?? Math.min(rate, GATE_FIELD),
    slots: spec.slots ?? Math.min(globalSlots, GATE_FIELD),
  };
}

export class ProducerModel {
  /** Bucket tokens as of the last refill. */
  tokens: number;
  /** E(t) at the last refill. */
  earned: bigint;
  inFlight = 0;
  admitted = 0;
  fulfilled = 0;
  readonly rejected: Record<Exclude<Decision, 'admitted'>, number> = { rate: 0, 'producer-slots': 0, 'global-slots': 0 };

  constructor(readonly name: string, readonly limits: Limits, registeredAt: number) {
    // The bucket starts full, anchored at the registration tick.
    this.tokens = limits.burst;
    this.earned = limits.rate > 0 ? exactEarned(registeredAt, limits.rate) : 0n;
  }

  /** What a submit at `now` would find in the bucket (null without a rate). */
  tokensAt(now: number): number | null {
    if (this.limits.rate === 0) return null;
    const more = exactEarned(now, this.limits.rate) - this.earned;
    return Number(BigInt(this.limits.burst) < BigInt(this.tokens) + more ? BigInt(this.limits.burst) : BigInt(this.tokens) + more);
  }
}

export class GateModel {
  global = 0;
  constructor(readonly globalSlots: number) {}

  producer(name: string, spec: LimitsSpec, now: number): ProducerModel {
    return new ProducerModel(name, normalizeSpec(spec, this.globalSlots), now);
  }

  /** Submit steps 2-3, sequentially: refill, producer gate (rate, then slots), global gate. */
  submit(p: ProducerModel, now: number): Decision {
    const { rate, slots } = p.limits;
    let d: Decision;
    if (rate > 0) {
      p.tokens = p.tokensAt(now)!;
      p.earned = exactEarned(now, rate);
    }
    if (rate > 0 && p.tokens === 0) d = 'rate';
    else if (p.inFlight >= slots) d = 'producer-slots';
    else if (this.global >= this.globalSlots) d = 'global-slots';
    else d = 'admitted';
    if (d === 'admitted') {
      if (rate > 0) p.tokens--;
      p.inFlight++;
      p.admitted++;
      this.global++;
    } else {
      p.rejected[d]++;
    }
    return d;
  }

  complete(p: ProducerModel): void {
    p.inFlight--;
    p.fulfilled++;
    this.global--;
  }
}

// ---------------------------------------------------------------------------------------------
// Snapshots
// ---------------------------------------------------------------------------------------------

export type GateSnapshot = {
  global: RuntimeStats['global'];
  producers: Record<string, Omit<RuntimeStats['producers'][number], 'saturated'>>;
};

/**
 * Every admission counter of the runtime: the global count and, per producer, tokens, in flight,
 * admitted, rejected and resolved counts. Left out: workers (their queues and executed counts
 * move on their own threads) and the per-handle `saturated` flag (an edge signal that a
 * rejection is documented to raise, not a counter).
 */
export function gateSnapshot(rt: Runtime): GateSnapshot {
  const s = rt.stats();
  const producers: GateSnapshot['producers'] = {};
  for (const { saturated: _saturated, ...rest } of s.producers) producers[rest.name] = rest;
  return { global: s.global, producers };
}

export function decisionOf(a: { admitted: boolean; reason?: string }): string {
  return a.admitted ? 'admitted' : a.reason!;
}
