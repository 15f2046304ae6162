/**
 * The Guard House, one thread's side (docs/design.md §4.16): the breaker check on this thread's
 * submit path, the health counts and breaker feed on its resolve path, and the quarantine sink.
 * Shared state lives in the guard, health and run-time regions (layout.ts); this object holds
 * only this thread's caches (each task's guard config, read once it is ready: it never changes).
 */
import { BLOCK_WORDS, G_BREAKER, G_CFG, G_CFG_READY, MAX_TASKS, G_SINCE, HEALTH_WORDS, HL_CALLS, HL_OUTCOME, type Memory } from '../shm/layout.js';
import {
  type GuardConfig, GUARD_REJECT, guardAdmit, guardOutcome, guardReturnProbe, OC_NONE, OC_TRIPPED, readGuardConfig,
} from '../admission/guard.js';
import { OUTCOMES, O_ABANDONED, O_REJECTED, O_RETRACTED } from '../admission/outcomes.js';
import { BR_HALF_OPEN, BR_ISOLATED, elapsedMs, sinceMsOf, stateOf, WHY_NAMES, whyOf } from '../shm/words/breaker.js';
import type { Seam } from '../trace/seam.js';
import type { Clock } from '../admission/clock.js';
import { loadAcquire } from '../shm/order.js';

/** What the quarantine sink is told of a failed call of a guarded task (quarantine.ts keeps it). */
export interface QuarantineFeed {
  (task: number, producer: number, tokenId: number, gen: number, tick: number, outcome: number, value: unknown, payload: unknown, why: 'tripped' | 'under-open'): void;
}

export class GuardView {
  /** Word index of task 0's breaker word; task k's is base + k * BLOCK_WORDS (the submit path's one load). */
  readonly base: number;
  /** Word index of task 0's config state word (G_CFG): a task without a guard costs one load of it. */
  private readonly cfgBase: number;
  /** Word index of this attachment's task-0 calls counter. */
  readonly healthBase: number;
  /** Word index of this attachment's token 0's task word (layout.ts tokenTask): task | (probe epoch + 1) << 16. */
  readonly tokenTaskBase: number;
  /** Each task's config once seen ready (undefined: not yet seen; it may be stored later by any thread). */
  private readonly cfgs: Array<GuardConfig | undefined>;
  /** Set by the runtime handle that owns the quarantine (null: failed calls are not kept). */
  feed: QuarantineFeed | null = null;
  /** The tick of the last guard decision: the rejection's since is reconstructed from it. */
  private lastTick = 0;

  constructor(private readonly mem: Memory, att: number, private readonly clock: Clock, private readonly host: { readonly seam: Seam | null }) {
    this.base = mem.guardWord(0, G_BREAKER);
    this.cfgBase = mem.guardWord(0, G_CFG);
    this.healthBase = mem.healthWord(att, 0, HL_CALLS);
    this.tokenTaskBase = mem.tokenTaskWord(att, 0);
    this.cfgs = new Array<GuardConfig | undefined>(MAX_TASKS).fill(undefined);
  }

  /** Task `task`'s config, or null if it has none (yet). */
  config(task: number): GuardConfig | null {
    let c = this.cfgs[task];
    if (c === undefined) {
      const read = readGuardConfig(this.mem, task);
      if (read === null) return null;
      this.cfgs[task] = c = read;
    }
    return c;
  }

  /** Whether calls of `task` keep their payload (it has a guard: a failure may be quarantined). */
  keepsPayload(task: number): boolean {
    return this.cfgs[task] !== undefined || loadAcquire(this.mem.i32, this.cfgBase + task * BLOCK_WORDS) === G_CFG_READY;
  }

  /**
   * §4.16 steps 1-3, once the submit path's load found the breaker not closed: GUARD_PASS,
   * GUARD_REJECT, or a probe's round epoch.
   */
  admit(task: number, tick: number): number {
    this.lastTick = tick;
    const bw = this.base + task * BLOCK_WORDS;
    return guardAdmit(this.mem.i32, bw, bw + (G_SINCE - G_BREAKER), this.config(task), tick, task, this.host.seam);
  }

  returnProbe(task: number, epoch: number): void { guardReturnProbe(this.mem.i32, this.base + task * BLOCK_WORDS, epoch); }

  /**
   * For a 'quarantined' Rejection: hands `set` the breaker's state, since (ms on the runtime
   * clock, as of the last admit's tick) and why; nothing allocated (the strings are the tables').
   */
  describe(task: number, name: string, set: (task: string, state: 'open' | 'half-open' | 'isolated', since: number, why: string) => void): void {
    const i32 = this.mem.i32;
    const bw = this.base + task * BLOCK_WORDS;
    const b = loadAcquire(i32, bw);
    const s = loadAcquire(i32, bw + (G_SINCE - G_BREAKER));
    const nowMs = Math.floor(this.lastTick / 1000);
    const st = stateOf(b);
    set(name, st === BR_HALF_OPEN ? 'half-open' : st === BR_ISOLATED ? 'isolated' : 'open', nowMs - elapsedMs(sinceMsOf(s), nowMs), WHY_NAMES[whyOf(s)]!);
  }

  /**
   * §4.16 steps 4-6 and the health counts, on this thread's resolve path (drain.ts resolve): count
   * the outcome for `task`; a guarded task's outcome feeds its breaker; a failed one that
   * tripped it or resolved under a breaker that is not closed goes to the quarantine sink.
   * No user code: the sink only stores.
   */
  resolved(task: number, probe: number, outcome: number, producer: number, tokenId: number, gen: number, value: unknown, payload: unknown): void {
    const i32 = this.mem.i32;
    i32[this.healthBase + task * HEALTH_WORDS + HL_OUTCOME + outcome]!++;
    if (this.cfgs[task] === undefined && loadAcquire(i32, this.cfgBase + task * BLOCK_WORDS) !== G_CFG_READY) return; // no guard
    const cfg = this.config(task);
    if (cfg === null) return;
    const tick = this.clock.now();
    const failed = outcome === O_REJECTED || outcome === O_ABANDONED;
    const bw = this.base + task * BLOCK_WORDS;
    const r = guardOutcome(i32, bw, bw + (G_SINCE - G_BREAKER), cfg, tick, task, this.host.seam, failed, outcome !== O_RETRACTED, probe);
    if (failed && r !== OC_NONE && this.feed !== null) this.feed(task, producer, tokenId, gen, tick, outcome, value, payload, r === OC_TRIPPED ? 'tripped' : 'under-open');
  }
}

/**
 * §4.16, a dead owner's token resolved by the supervisor (§4.9 step 3, §4.10): its outcome is
 * counted on the dead attachment's health row (the supervisor is that row's writer once its
 * thread is dead), and a probe it held is given back to its round (its result died with the
 * owner: it decides nothing). Nothing is quarantined: the payload died with the owner.
 */
export function deadResolved(mem: Memory, a: number, t: number, outcome: number): void {
  const i32 = mem.i32;
  const v = i32[mem.tokenTaskWord(a, t)]!;
  const task = v & 0xffff;
  i32[mem.healthWord(a, task, HL_OUTCOME + outcome)]!++;
  const probe = (v >>> 16) - 1;
  if (probe >= 0) guardReturnProbe(i32, mem.guardWord(task, G_BREAKER), probe);
}

/** A dead attachment's books closed (§4.9 step 4): a call it died admitting counts as not admitted, so calls = resolved on its rows. */
export function deadBooks(mem: Memory, a: number): void {
  const i32 = mem.i32;
  for (let task = 0; task < MAX_TASKS; task++) {
    let resolved = 0;
    for (let o = 0; o < OUTCOMES.length; o++) resolved += i32[mem.healthWord(a, task, HL_OUTCOME + o)]!;
    i32[mem.healthWord(a, task, HL_CALLS)] = resolved;
  }
}

export { GUARD_REJECT };
