/**
 * The Guard House's breaker protocol (docs/design.md §4.16): what a submit asks of a task's
 * breaker (guardAdmit, §4.16 steps 1-3), what a resolve tells it (guardOutcome, steps 4-6), and
 * the operator's isolate/release (step 7). Every decision is a CAS on the task's breaker word
 * (shm/words/breaker.ts) at a reading of the runtime clock the caller passes (ticks, µs): no
 * timer moves a breaker. Any thread; nothing here allocates.
 *
 * Its config (GuardConfig) is stored in the task's guard block once (first writer wins: a second,
 * different config is a ConfigError) and cached by each thread (readGuardConfig).
 */
import {
  G_CFG, G_CFG_BUSY, G_CFG_NONE, G_CFG_READY, G_COOL_MS, G_MODE, G_PROBES, G_RATIO, G_VOLUME, G_WINDOW_MS, type Memory,
} from '../shm/layout.js';
import {
  BR_CLOSED, BR_HALF_OPEN, BR_ISOLATED, BR_MAX_MS, BR_OPEN, BR_PROBES_MAX, count, elapsedMs, epochOf, expireRound, failsOf,
  halfOpen, isolate, okOf, probeFailed, probesOf, probeSucceeded, release, returnProbe, sinceEpochOf, sinceMsOf, stampSince, stateOf,
  takeProbe, totalOf, trip, WHY_COOL_DOWN, WHY_FAILURE_RATIO, WHY_ISOLATED, WHY_NONE, WHY_PROBE_FAILED, WHY_PROBES_SUCCEEDED,
  WHY_RELEASED, WHY_ROUND_EXPIRED, counted, fresh,
} from '../shm/words/breaker.js';
import { ConfigError, describe } from '../errors.js';

/** A breaker's configuration, as stored (ratio in parts per million). */
export interface GuardConfig {
  /** Trip when failed / outcomes in the window >= this (parts per million, 0..1e6), with at least one failure. */
  readonly ratioPpm: number;
  /** Outcomes the window must hold before it may trip (1..255). */
  readonly minVolume: number;
  readonly windowMs: number;
  readonly coolDownMs: number;
  /** Probes a half-open round admits (1..15); all must succeed to close. */
  readonly probes: number;
  /** false: 'observe' (transitions computed and recorded, nothing rejected). */
  readonly enforce: boolean;
}

/** The user's form (RuntimeOptions.guard, TaskOptions.guard). */
export interface GuardOptions {
  /** Failure ratio in [0, 1] that trips the breaker (failed / outcomes in the window). Default 0.5. */
  failureRatio?: number;
  /** Outcomes in the window before it may trip, 1..255. Default 20. */
  minVolume?: number;
  /** The window's length in ms, 1..2^22 (a tumbling window). Default 10000. */
  windowMs?: number;
  /** How long an open breaker rejects before half-open, in ms, 1..2^22. Default 5000. */
  coolDownMs?: number;
  /** Probes a half-open round admits (all must succeed to close), 1..15. Default 3. */
  probes?: number;
  /** 'enforce' (default): an open breaker rejects 'quarantined'. 'observe': it never rejects (states still computed and recorded). */
  mode?: 'enforce' | 'observe';
}

const KEYS = ['failureRatio', 'minVolume', 'windowMs', 'coolDownMs', 'probes', 'mode'] as const;

/**
 * @internal Guard options, each read once (a getter that throws, a Proxy, null: ConfigError), checked.
 * `where` names the caller in messages.
 */
export function parseGuard(where: string, v: unknown): GuardConfig {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ConfigError(`${where}: guard must be an object; got ${describe(v)}`);
  const o: Record<string, unknown> = {};
  try {
    for (const k of Object.keys(v)) {
      if (!(KEYS as readonly string[]).includes(k)) throw new ConfigError(`${where}: unknown guard option '${k.length <= 40 ? k : `${k.slice(0, 40)}...`}' (known: ${KEYS.join(', ')})`);
    }
    for (const k of KEYS) o[k] = (v as Record<string, unknown>)[k];
  } catch (cause) {
    if (cause instanceof ConfigError) throw cause;
    throw new ConfigError(`${where}: reading guard options threw`, { cause });
  }
  const ratio = o.failureRatio === undefined ? 0.5 : o.failureRatio;
  if (typeof ratio !== 'number' || !(ratio >= 0 && ratio <= 1)) throw new ConfigError(`${where}: guard.failureRatio must be a number in [0, 1]; got ${describe(o.failureRatio)}`);
  const int = (k: string, def: number, min: number, max: number): number => {
    const x = o[k] === undefined ? def : o[k];
    if (typeof x !== 'number' || !Number.isInteger(x) || x < min || x > max) throw new ConfigError(`${where}: guard.${k} must be an integer from ${min} to ${max}; got ${describe(o[k])}`);
    return x + 0;
  };
  const mode = o.mode === undefined ? 'enforce' : o.mode;
  if (mode !== 'enforce' && mode !== 'observe') throw new ConfigError(`${where}: guard.mode must be 'enforce' or 'observe'; got ${describe(o.mode)}`);
  return Object.freeze({
    ratioPpm: Math.round(ratio * 1e6),
    minVolume: int('minVolume', 20, 1, 255),
    windowMs: int('windowMs', 10_000, 1, BR_MAX_MS),
    coolDownMs: int('coolDownMs', 5_000, 1, BR_MAX_MS),
    probes: int('probes', 3, 1, BR_PROBES_MAX),
    enforce: mode === 'enforce',
  });
}

const same = (a: GuardConfig, b: GuardConfig): boolean =>
  a.ratioPpm === b.ratioPpm && a.minVolume === b.minVolume && a.windowMs === b.windowMs && a.coolDownMs === b.coolDownMs && a.probes === b.probes && a.enforce === b.enforce;

/** @internal Task `task`'s stored config, or null (none, or still being written). */
export function readGuardConfig(mem: Memory, task: number): GuardConfig | null {
  const i32 = mem.i32;
  if (Atomics.load(i32, mem.guardWord(task, G_CFG)) !== G_CFG_READY) return null;
  return Object.freeze({
    ratioPpm: i32[mem.guardWord(task, G_RATIO)]!, minVolume: i32[mem.guardWord(task, G_VOLUME)]!,
    windowMs: i32[mem.guardWord(task, G_WINDOW_MS)]!, coolDownMs: i32[mem.guardWord(task, G_COOL_MS)]!,
    probes: i32[mem.guardWord(task, G_PROBES)]!, enforce: i32[mem.guardWord(task, G_MODE)] === 1,
  });
}

/**
 * @internal Store `cfg` as task `task`'s guard, unless it has one: the first config wins (in every
 * thread); asking for a different one afterwards is a ConfigError, as for producer limits.
 */
export function storeGuardConfig(mem: Memory, task: number, name: string, cfg: GuardConfig): void {
  const i32 = mem.i32;
  const w = mem.guardWord(task, G_CFG);
  for (;;) {
    const s = Atomics.load(i32, w);
    if (s === G_CFG_READY) {
      const had = readGuardConfig(mem, task)!;
      if (!same(had, cfg)) throw new ConfigError(`task '${name}' already has a guard ${JSON.stringify(guardOptionsOf(had))}; asked for ${JSON.stringify(guardOptionsOf(cfg))} (the first wins)`);
      return;
    }
    if (s === G_CFG_BUSY) { Atomics.wait(i32, w, G_CFG_BUSY, 1); continue; }
    if (Atomics.compareExchange(i32, w, G_CFG_NONE, G_CFG_BUSY) !== G_CFG_NONE) continue;
    i32[mem.guardWord(task, G_RATIO)] = cfg.ratioPpm;
    i32[mem.guardWord(task, G_VOLUME)] = cfg.minVolume;
    i32[mem.guardWord(task, G_WINDOW_MS)] = cfg.windowMs;
    i32[mem.guardWord(task, G_COOL_MS)] = cfg.coolDownMs;
    i32[mem.guardWord(task, G_PROBES)] = cfg.probes;
    i32[mem.guardWord(task, G_MODE)] = cfg.enforce ? 1 : 0;
    Atomics.store(i32, w, G_CFG_READY);
    Atomics.notify(i32, w);
    return;
  }
}

/** The user's form of a stored config. */
export function guardOptionsOf(c: GuardConfig): Required<GuardOptions> {
  return { failureRatio: c.ratioPpm / 1e6, minVolume: c.minVolume, windowMs: c.windowMs, coolDownMs: c.coolDownMs, probes: c.probes, mode: c.enforce ? 'enforce' : 'observe' };
}

/** Records a transition (the recording seam's `breaker`, or a test's). */
export type BreakerRecorder = { breaker(task: number, from: number, to: number, why: number, tick: number): void } | null;

/** guardAdmit's answers besides a probe's epoch (0..63). */
export const GUARD_PASS = -1;
export const GUARD_REJECT = -2;

/** The why a helper stamps for a state whose winner has not stamped it (words/breaker.ts stampSince). */
const HELP_WHY = [WHY_NONE, WHY_FAILURE_RATIO, WHY_COOL_DOWN, WHY_ISOLATED];

/** ms since the since word's state began, stamping it first (helping) if it belongs to another epoch. */
function age(i32: Int32Array, sw: number, b: number, nowMs: number): number {
  let s = Atomics.load(i32, sw);
  if (sinceEpochOf(s) !== epochOf(b)) s = stampSince(i32, sw, epochOf(b), HELP_WHY[stateOf(b)]!, nowMs);
  return elapsedMs(sinceMsOf(s), nowMs);
}

function moved(i32: Int32Array, sw: number, rec: BreakerRecorder, task: number, b: number, next: number, why: number, tick: number, nowMs: number): void {
  stampSince(i32, sw, epochOf(next), why, nowMs);
  if (rec !== null) rec.breaker(task, stateOf(b), stateOf(next), why, tick);
}

/**
 * §4.16 steps 1-3, on the submit path once the breaker word read not-closed (`b`): GUARD_PASS
 * (admit, not a probe), GUARD_REJECT ('quarantined'), or the epoch of the half-open round whose
 * probe this submit took (the caller gives it back with guardReturnProbe if a later gate
 * refuses). `cfg` null: no guard config (only isolation applies).
 */
export function guardAdmit(
  i32: Int32Array, bw: number, sw: number, cfg: GuardConfig | null, tick: number, task: number, rec: BreakerRecorder,
): number {
  const nowMs = Math.floor(tick / 1000);
  for (let b = Atomics.load(i32, bw); ; b = Atomics.load(i32, bw)) {
    const st = stateOf(b);
    if (st === BR_CLOSED) return GUARD_PASS;
    if (st === BR_ISOLATED) return GUARD_REJECT; // an operator's isolation rejects in 'observe' mode too
    if (cfg === null) return GUARD_PASS;
    const miss = cfg.enforce ? GUARD_REJECT : GUARD_PASS;
    if (st === BR_OPEN) {
      // §4.16 step 2: the cool-down over, the first submit to see it opens a half-open round.
      if (age(i32, sw, b, nowMs) < cfg.coolDownMs) return miss;
      if (halfOpen(i32, bw, b)) moved(i32, sw, rec, task, b, fresh(b, BR_HALF_OPEN), WHY_COOL_DOWN, tick, nowMs);
      continue;
    }
    // §4.16 step 3: half-open. A probe while the round has one left (in flight + succeeded < probes).
    if (probesOf(b) + okOf(b) < cfg.probes) {
      if (takeProbe(i32, bw, b)) return epochOf(b);
      continue;
    }
    // Every probe taken. A round older than a cool-down lost a probe (its thread died, it hangs): a new round.
    if (age(i32, sw, b, nowMs) < cfg.coolDownMs) return miss;
    if (expireRound(i32, bw, b)) moved(i32, sw, rec, task, b, fresh(b, BR_HALF_OPEN), WHY_ROUND_EXPIRED, tick, nowMs);
  }
}

/** §4.16 step 3: a probe taken in round `epoch` was not admitted after all (a later gate refused). */
export function guardReturnProbe(i32: Int32Array, bw: number, epoch: number): void {
  for (;;) {
    const b = Atomics.load(i32, bw);
    if (stateOf(b) !== BR_HALF_OPEN || epochOf(b) !== epoch || probesOf(b) === 0) return; // that round is over
    if (returnProbe(i32, bw, b)) return;
  }
}

/** guardOutcome's answers. */
export const OC_NONE = 0;
/** This outcome opened the breaker (it tripped the window, or a probe failed). */
export const OC_TRIPPED = 1;
/** It resolved while the breaker was not closed and did not decide anything (open, isolated, another round's probe, not a probe). */
export const OC_UNDER_OPEN = 2;

/**
 * §4.16 steps 4-6, on the resolve path of a guarded task: `failed` (rejected or abandoned),
 * `ran` false for a retracted one (it never ran: it counts for nothing, a probe is given back),
 * `probe` the round epoch it was admitted as a probe in, or -1.
 */
export function guardOutcome(
  i32: Int32Array, bw: number, sw: number, cfg: GuardConfig, tick: number, task: number, rec: BreakerRecorder,
  failed: boolean, ran: boolean, probe: number,
): number {
  const nowMs = Math.floor(tick / 1000);
  for (;;) {
    const b = Atomics.load(i32, bw);
    const st = stateOf(b);
    if (probe >= 0 && st === BR_HALF_OPEN && epochOf(b) === probe) {
      // §4.16 step 5: a probe of the current round.
      if (!ran) {
        if (returnProbe(i32, bw, b)) return OC_NONE;
        continue;
      }
      if (failed) {
        if (!probeFailed(i32, bw, b)) continue;
        moved(i32, sw, rec, task, b, fresh(b, BR_OPEN), WHY_PROBE_FAILED, tick, nowMs);
        return OC_TRIPPED;
      }
      const closes = okOf(b) + 1 >= cfg.probes;
      if (!probeSucceeded(i32, bw, b, closes)) continue;
      if (closes) moved(i32, sw, rec, task, b, fresh(b, BR_CLOSED), WHY_PROBES_SUCCEEDED, tick, nowMs);
      return OC_NONE;
    }
    if (st !== BR_CLOSED) return OC_UNDER_OPEN; // §4.16 step 6
    if (probe >= 0 || !ran) return OC_NONE; // a probe of a round that closed; a retracted call
    // §4.16 step 4: count it in the window (a new window if this one is over), then trip?
    const roll = age(i32, sw, b, nowMs) >= cfg.windowMs;
    const next = counted(roll ? fresh(b, BR_CLOSED) : b, failed);
    const trips = failsOf(next) > 0 && totalOf(next) >= cfg.minVolume && failsOf(next) * 1e6 >= cfg.ratioPpm * totalOf(next);
    if (trips) {
      if (!trip(i32, bw, b)) continue;
      moved(i32, sw, rec, task, b, fresh(b, BR_OPEN), WHY_FAILURE_RATIO, tick, nowMs);
      return OC_TRIPPED;
    }
    if (!count(i32, bw, b, failed, roll)) continue;
    if (roll) stampSince(i32, sw, epochOf(next), WHY_NONE, nowMs);
    return OC_NONE;
  }
}

/** §4.16 step 7: an operator isolates the task (any state -> isolated). Returns the state it left. */
export function guardIsolate(i32: Int32Array, bw: number, sw: number, tick: number, task: number, rec: BreakerRecorder): number {
  for (;;) {
    const b = Atomics.load(i32, bw);
    if (stateOf(b) === BR_ISOLATED) return BR_ISOLATED;
    if (!isolate(i32, bw, b)) continue;
    moved(i32, sw, rec, task, b, fresh(b, BR_ISOLATED), WHY_ISOLATED, tick, Math.floor(tick / 1000));
    return stateOf(b);
  }
}

/** §4.16 step 7: an operator releases an isolated task (-> closed, empty window). False if it was not isolated. */
export function guardRelease(i32: Int32Array, bw: number, sw: number, tick: number, task: number, rec: BreakerRecorder): boolean {
  for (;;) {
    const b = Atomics.load(i32, bw);
    if (stateOf(b) !== BR_ISOLATED) return false;
    if (!release(i32, bw, b)) continue;
    moved(i32, sw, rec, task, b, fresh(b, BR_CLOSED), WHY_RELEASED, tick, Math.floor(tick / 1000));
    return true;
  }
}

export { BR_CLOSED, BR_OPEN, BR_HALF_OPEN, BR_ISOLATED };
