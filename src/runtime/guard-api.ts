/**
 * The Guard House's public side (docs/design.md §4.16): per-task health in rt.stats().tasks,
 * the operator's rt.guard (isolate, release, state), and the quarantine (rt.quarantine): failed
 * calls of guarded tasks kept with their arguments, on the thread whose handle resolved them.
 */
import { v8 } from '../builtins.js';
import { writeFileSync } from 'node:fs';
import { G_BREAKER, G_SINCE, HL_CALLS, HL_OUTCOME, RN_COUNT, RN_MAX_US, RN_SUM_F64, type Memory } from '../shm/layout.js';
import {
  elapsedMs, failsOf, okOf, probesOf, sinceMsOf, STATE_NAMES, stateOf, totalOf, WHY_NAMES, whyOf, type BreakerState,
} from '../shm/words/breaker.js';
import { type GuardOptions, guardIsolate, guardOptionsOf, guardRelease, readGuardConfig } from '../admission/guard.js';
import { OUTCOMES, type Outcome } from '../admission/outcomes.js';
import type { Admission, Producer } from './producer.js';
import type { Seam } from '../trace/seam.js';
import { ConfigError, describe, printableName } from '../errors.js';

/** How a task function is doing, from its success rate (fulfilled / (fulfilled + rejected + abandoned)). */
export type HealthClass = 'excellent' | 'good' | 'poor' | 'failing' | 'idle';

/** Thresholds of the classification: > 95% excellent, >= 80% good, >= 50% poor, below failing; no finished run: idle. */
export function classify(fulfilled: number, failed: number): HealthClass {
  const n = fulfilled + failed;
  if (n === 0) return 'idle';
  const r = fulfilled / n;
  return r > 0.95 ? 'excellent' : r >= 0.8 ? 'good' : r >= 0.5 ? 'poor' : 'failing';
}

/** A task's breaker, as rt.guard.state() and rt.stats().tasks report it. */
export interface BreakerStats {
  state: BreakerState;
  /** When the state began (closed: when its window began), ms on the runtime clock. */
  since: number;
  /** Why it is in that state ('window' for a closed breaker's window roll). */
  why: string;
  /** The operator's note given to rt.guard.isolate() on this handle, else null. */
  note: string | null;
  /** Half-open: probes in flight, and probes of this round that succeeded. */
  probesInFlight: number;
  probesSucceeded: number;
  /** Closed: failed / all outcomes counted in the current window. */
  windowFailures: number;
  windowTotal: number;
  /** Its config (null: no guard, only an operator's isolation applies). */
  config: Required<GuardOptions> | null;
}

/** One task function in rt.stats().tasks. */
export interface TaskStats {
  name: string;
  /** Admitted calls, all threads. */
  calls: number;
  /** Resolved calls by outcome, all threads. */
  outcomes: Record<Outcome, number>;
  /** fulfilled / (fulfilled + rejected + abandoned), null before any finished. */
  successRate: number | null;
  health: HealthClass;
  /** Run time on the workers (µs): runs counted, their sum, the longest, and the mean (null without runs). */
  runTime: { count: number; totalUs: number; maxUs: number; meanUs: number | null };
  /** Its breaker: null when it has no guard and is not isolated. */
  breaker: BreakerStats | null;
}

/** @internal The breaker of task `id` now (tick: a reading of the runtime clock, µs). */
export function breakerStats(mem: Memory, id: number, tick: number, note: string | null): BreakerStats | null {
  const i32 = mem.i32;
  const b = Atomics.load(i32, mem.guardWord(id, G_BREAKER));
  const s = Atomics.load(i32, mem.guardWord(id, G_SINCE));
  const cfg = readGuardConfig(mem, id);
  if (cfg === null && b === 0) return null;
  const nowMs = Math.floor(tick / 1000);
  return {
    state: STATE_NAMES[stateOf(b)]!, since: nowMs - elapsedMs(sinceMsOf(s), nowMs), why: WHY_NAMES[whyOf(s)]!, note,
    probesInFlight: probesOf(b), probesSucceeded: okOf(b), windowFailures: failsOf(b), windowTotal: totalOf(b),
    config: cfg === null ? null : guardOptionsOf(cfg),
  };
}

/** @internal rt.stats().tasks: every task's health, summed over every thread's row (loads only). */
export function taskStats(mem: Memory, names: readonly string[], tick: number, notes: ReadonlyMap<number, string>): TaskStats[] {
  const i32 = mem.i32;
  const f64 = mem.f64;
  const L = mem.layout;
  return names.map((name, id) => {
    let calls = 0;
    const outcomes = Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as Record<Outcome, number>;
    for (let a = 0; a < L.maxAttachments; a++) {
      calls += i32[mem.healthWord(a, id, HL_CALLS)]!;
      OUTCOMES.forEach((o, k) => { outcomes[o] += i32[mem.healthWord(a, id, HL_OUTCOME + k)]!; });
    }
    let count = 0;
    let totalUs = 0;
    let maxUs = 0;
    for (let w = 0; w < L.workers; w++) {
      count += i32[mem.runTimeWord(w, id, RN_COUNT)]!;
      maxUs = Math.max(maxUs, i32[mem.runTimeWord(w, id, RN_MAX_US)]!);
      totalUs += f64[mem.runTimeWord(w, id, RN_SUM_F64) >> 1]!;
    }
    const failed = outcomes.rejected + outcomes.abandoned;
    const done = outcomes.fulfilled + failed;
    return {
      name, calls, outcomes, successRate: done === 0 ? null : outcomes.fulfilled / done, health: classify(outcomes.fulfilled, failed),
      runTime: { count, totalUs, maxUs, meanUs: count === 0 ? null : totalUs / count },
      breaker: breakerStats(mem, id, tick, notes.get(id) ?? null),
    };
  });
}


/** One quarantined call (rt.quarantine.list()). */
export interface QuarantineEntry {
  /** Its id in this handle's quarantine ('q' and a number): what resubmit takes. */
  readonly id: string;
  readonly task: string;
  /** The producer that submitted it. */
  readonly producer: string;
  /** Its Token's id (-1: submitted with submitCallback) and the generation it last ran with. */
  readonly tokenId: number;
  readonly generation: number;
  /** When it resolved, µs on the runtime clock. */
  readonly tick: number;
  readonly outcome: 'rejected' | 'abandoned';
  /** 'tripped': its failure opened the breaker; 'under-open': it failed while the breaker was open, half-open or isolated. */
  readonly why: 'tripped' | 'under-open';
  /** What it threw, in one line (name and message; never runs its getters). */
  readonly error: string;
  /** Its payload, as submitted (the arguments), kept for review and resubmit. */
  readonly payload: unknown;
}

/** How many calls a handle's quarantine keeps; when full, the oldest is dropped (and counted). */
export const QUARANTINE_LIMIT = 256;

/** @internal The summary of a thrown value: own data properties only (no getter, no Proxy trap runs). */
export function errorSummary(v: unknown): string {
  try {
    if (v instanceof Error) {
      const own = (o: unknown, k: string): unknown => (o !== null && (typeof o === 'object' || typeof o === 'function') ? Object.getOwnPropertyDescriptor(o, k)?.value : undefined);
      const proto: unknown = Object.getPrototypeOf(v);
      const name = own(v, 'name') ?? own(proto, 'name') ?? own(own(proto, 'constructor'), 'name');
      const msg = own(v, 'message');
      return `${typeof name === 'string' ? name.slice(0, 64) : 'Error'}: ${typeof msg === 'string' ? msg.slice(0, 200) : '(no message)'}`;
    }
    if (typeof v === 'string') return v.slice(0, 200);
  } catch { /* a Proxy: say only what it is */ }
  return describe(v);
}

/** The saved form (rt.quarantine.save, `sluice quarantine list FILE`). */
export interface QuarantineFile {
  kind: 'sluice-quarantine';
  version: 1;
  savedAt: string;
  dropped: number;
  entries: QuarantineEntry[];
}

/** rt.quarantine: this handle's quarantined calls (bounded, QUARANTINE_LIMIT; oldest dropped). */
export class Quarantine {
  /** @internal */ private readonly entries: QuarantineEntry[] = [];
  /** @internal */ private seq = 0;
  /** Entries dropped because the quarantine was full (oldest first). */
  dropped = 0;

  /** @internal */
  constructor(
    /** @internal */ private readonly names: readonly string[],
    /** @internal */ private readonly producerName: (index: number) => string,
    /** @internal */ private readonly submit: (task: string, payload: unknown, producer: Producer | string) => Admission,
  ) {}

  /** @internal The sink the resolve path feeds (guard-house.ts QuarantineFeed): stores only. */
  readonly feed = (task: number, producer: number, tokenId: number, gen: number, tick: number, outcome: number, value: unknown, payload: unknown, why: 'tripped' | 'under-open'): void => {
    if (this.entries.length >= QUARANTINE_LIMIT) {
      this.entries.shift();
      this.dropped++;
    }
    this.entries.push(Object.freeze({
      id: `q${++this.seq}`, task: this.names[task]!, producer: this.producerName(producer), tokenId, generation: gen, tick,
      outcome: outcome === 3 ? 'abandoned' : 'rejected', why, error: errorSummary(value), payload,
    }));
  };

  /** The kept calls, oldest first (a fresh array of frozen entries). */
  list(): QuarantineEntry[] { return [...this.entries]; }

  /** How many are kept now. */
  get size(): number { return this.entries.length; }

  /**
   * Submit a kept call again, through normal admission (its breaker included), on `producer` (a
   * Producer handle or a producer name; default: the producer that submitted it). Admitted: the
   * entry leaves the quarantine and the Token is returned. Rejected: the entry stays, the
   * Rejection is returned. An id that is not in this quarantine (never was, or already
   * resubmitted, or cleared) is a ConfigError.
   */
  resubmit(id: string, producer?: Producer | string): Admission {
    if (typeof id !== 'string') throw new ConfigError(`rt.quarantine.resubmit: id must be a string; got ${describe(id)}`);
    const i = this.entries.findIndex((e) => e.id === id);
    if (i < 0) throw new ConfigError(`rt.quarantine.resubmit: no quarantined call ${printableName(id) || /^q\d{1,15}$/.test(id) ? `'${id}'` : `(${describe(id)})`} (never kept, already resubmitted, dropped or cleared)`);
    const e = this.entries[i]!;
    const a = this.submit(e.task, e.payload, producer ?? e.producer);
    if (a.admitted) {
      const j = this.entries.indexOf(e); // a payload getter may have re-entered (resubmit, clear)
      if (j >= 0) this.entries.splice(j, 1);
    }
    return a;
  }

  /** Forget every kept call; returns how many. */
  clear(): number {
    const n = this.entries.length;
    this.entries.length = 0;
    return n;
  }

  /**
   * Write the kept calls to `path` (node:v8 serialization: payloads keep their types), for
   * `sluice quarantine list FILE`. A payload that cannot be serialized is saved as its description.
   * Returns how many entries it wrote.
   */
  save(path: string): number {
    if (typeof path !== 'string' || path.length === 0) throw new ConfigError(`rt.quarantine.save: path must be a non-empty string; got ${describe(path)}`);
    const entries = this.entries.map((e) => {
      try {
        v8().serialize(e.payload);
        return { ...e };
      } catch {
        return { ...e, payload: `(not serializable: ${describe(e.payload)})` };
      }
    });
    const file: QuarantineFile = { kind: 'sluice-quarantine', version: 1, savedAt: new Date().toISOString(), dropped: this.dropped, entries };
    writeFileSync(path, v8().serialize(file));
    return entries.length;
  }
}

/** rt.guard: the operator's hand on a task's breaker. */
export class GuardControl {
  /** @internal Notes given to isolate() on this handle, by task id. */
  readonly notes = new Map<number, string>();

  /** @internal */
  constructor(
    /** @internal */ private readonly mem: Memory,
    /** @internal */ private readonly taskId: (task: unknown, where: string) => number,
    /** @internal */ private readonly now: () => number,
    /** @internal */ private readonly seam: () => Seam | null,
  ) {}

  /**
   * Isolate a task by hand: every submit of it is rejected 'quarantined' (why 'isolated'), in
   * every thread and in 'observe' mode too, until release(). Works on a task with no guard.
   * `why`: a note (a string of at most 200 characters) shown by state() on this handle. Returns
   * the state it left.
   */
  isolate(task: string | { readonly name: string }, why?: string): BreakerState {
    const id = this.taskId(task, 'rt.guard.isolate');
    if (why !== undefined && (typeof why !== 'string' || why.length > 200)) throw new ConfigError(`rt.guard.isolate: why must be a string of at most 200 characters; got ${describe(why)}`);
    const bw = this.mem.guardWord(id, G_BREAKER);
    const from = guardIsolate(this.mem.i32, bw, bw + (G_SINCE - G_BREAKER), this.now(), id, this.seam());
    if (why !== undefined) this.notes.set(id, why);
    return STATE_NAMES[from]!;
  }

  /** End an isolation: the breaker closes with an empty window. False if the task was not isolated. */
  release(task: string | { readonly name: string }): boolean {
    const id = this.taskId(task, 'rt.guard.release');
    const bw = this.mem.guardWord(id, G_BREAKER);
    const done = guardRelease(this.mem.i32, bw, bw + (G_SINCE - G_BREAKER), this.now(), id, this.seam());
    if (done) this.notes.delete(id);
    return done;
  }

  /** The task's breaker now (null: no guard and not isolated). */
  state(task: string | { readonly name: string }): BreakerStats | null {
    const id = this.taskId(task, 'rt.guard.state');
    return breakerStats(this.mem, id, this.now(), this.notes.get(id) ?? null);
  }
}

