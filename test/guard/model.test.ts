/**
 * The breaker (src/admission/guard.ts over words/breaker.ts) against a sequential reference
 * model written from docs/design.md §4.16, on a VirtualClock: for any sequence of submits,
 * outcomes (fulfilled, failed, retracted), clock advances, isolations and releases, every
 * decision (pass / reject / probe), every outcome's verdict (none / tripped / under-open) and the
 * breaker's state, probe counts, window counts and since are the model's.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { VirtualClock } from '../../src/index.js';
import {
  GUARD_PASS, GUARD_REJECT, OC_NONE, OC_TRIPPED, OC_UNDER_OPEN, guardAdmit, guardIsolate, guardOutcome, guardRelease, guardReturnProbe,
  type GuardConfig,
} from '../../src/admission/guard.js';
import { elapsedMs, failsOf, okOf, probesOf, sinceMsOf, stateOf, totalOf, whyOf, WHY_NAMES } from '../../src/shm/words/breaker.js';

const CLOSED = 0, OPEN = 1, HALF = 2, ISOLATED = 3;
void OC_UNDER_OPEN; // the model returns it by value (2)

/** The reference: plain fields, full-width times, rounds numbered (no epochs, no CAS). */
class Model {
  st = CLOSED; probes = 0; ok = 0; fails = 0; total = 0; since = 0; why = 'window'; round = 0;
  transitions: string[] = [];
  constructor(readonly c: GuardConfig) {}
  private go(st: number, why: string, now: number): void {
    this.transitions.push(`${this.st}->${st}:${why}`);
    this.st = st; this.probes = 0; this.ok = 0; this.fails = 0; this.total = 0; this.since = now; this.why = why; this.round++;
  }
  /** -2 reject, -1 pass, else the round the probe belongs to (>= 0). */
  admit(now: number): number {
    for (;;) {
      if (this.st === CLOSED) return -1;
      if (this.st === ISOLATED) return -2;
      const miss = this.c.enforce ? -2 : -1;
      if (this.st === OPEN) {
        if (now - this.since < this.c.coolDownMs) return miss;
        this.go(HALF, 'cool-down-over', now);
        continue;
      }
      if (this.probes + this.ok < this.c.probes) { this.probes++; return this.round; }
      if (now - this.since < this.c.coolDownMs) return miss;
      this.go(HALF, 'probe-round-expired', now);
    }
  }
  returnProbe(round: number): void { if (this.st === HALF && round === this.round && this.probes > 0) this.probes--; }
  outcome(now: number, failed: boolean, ran: boolean, probeRound: number): number {
    if (probeRound >= 0 && this.st === HALF && probeRound === this.round) {
      if (!ran) { this.probes--; return OC_NONE; }
      if (failed) { this.go(OPEN, 'probe-failed', now); return OC_TRIPPED; }
      this.probes--; this.ok++;
      if (this.ok >= this.c.probes) this.go(CLOSED, 'probes-succeeded', now);
      return OC_NONE;
    }
    if (this.st !== CLOSED) return OC_UNDER_OPEN;
    if (probeRound >= 0 || !ran) return OC_NONE;
    if (now - this.since >= this.c.windowMs) { this.fails = 0; this.total = 0; this.since = now; this.why = 'window'; this.round++; }
    if (this.total === 255) { this.total >>>= 1; this.fails >>>= 1; }
    this.total++;
    if (failed) this.fails++;
    if (this.fails > 0 && this.total >= this.c.minVolume && this.fails * 1e6 >= this.c.ratioPpm * this.total) { this.go(OPEN, 'failure-ratio', now); return OC_TRIPPED; }
    return OC_NONE;
  }
  isolate(now: number): void { if (this.st !== ISOLATED) this.go(ISOLATED, 'isolated', now); }
  release(now: number): boolean { if (this.st !== ISOLATED) return false; this.go(CLOSED, 'released', now); return true; }
}

type Op =
  | { k: 'submit' } | { k: 'resolve'; pick: number; outcome: 'ok' | 'fail' | 'retract' } | { k: 'advance'; ms: number }
  | { k: 'isolate' } | { k: 'release' } | { k: 'refused'; pick: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.constant({ k: 'submit' as const }) },
  { weight: 6, arbitrary: fc.record({ k: fc.constant('resolve' as const), pick: fc.nat(), outcome: fc.constantFrom('ok' as const, 'fail' as const, 'fail' as const, 'retract' as const) }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 3000 }) }) },
  { weight: 1, arbitrary: fc.constant({ k: 'isolate' as const }) },
  { weight: 1, arbitrary: fc.constant({ k: 'release' as const }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('refused' as const), pick: fc.nat() }) },
);

const config: fc.Arbitrary<GuardConfig> = fc.record({
  ratioPpm: fc.oneof(fc.constantFrom(0, 250_000, 500_000, 1_000_000), fc.integer({ min: 0, max: 1_000_000 })),
  minVolume: fc.integer({ min: 1, max: 4 }),
  windowMs: fc.integer({ min: 1, max: 4000 }),
  coolDownMs: fc.integer({ min: 1, max: 2000 }),
  probes: fc.integer({ min: 1, max: 3 }),
  enforce: fc.boolean(),
});

describe('breaker transitions equal the sequential reference model (§4.16)', () => {
  it('for any sequence of outcomes and clock advances', () => {
    // At most 30 operations: at most 60 transitions, below the 64 epochs a probe's round is told apart by.
    fc.assert(fc.property(config, fc.array(op, { maxLength: 30 }), fc.integer({ min: 0, max: 100_000 }), (cfg, ops, start) => {
      const clock = new VirtualClock(start * 1000);
      const i32 = new Int32Array(2);
      const log: string[] = [];
      const rec = { breaker: (_t: number, from: number, to: number, why: number): void => { log.push(`${from}->${to}:${WHY_NAMES[why]}`); } };
      const m = new Model(cfg);
      // The real since word starts at ms 0 of epoch 0; the model's window starts there too.
      const held: { epoch: number; round: number }[] = []; // admitted, unresolved: probe epoch/round or -1
      for (const o of ops) {
        const tick = clock.now();
        const now = Math.floor(tick / 1000);
        if (o.k === 'advance') clock.advance(o.ms * 1000);
        else if (o.k === 'submit' || o.k === 'refused') {
          const got = guardAdmit(i32, 0, 1, cfg, tick, 0, rec);
          const want = m.admit(now);
          expect(got === GUARD_REJECT ? 'reject' : got === GUARD_PASS ? 'pass' : 'probe').toBe(want === -2 ? 'reject' : want === -1 ? 'pass' : 'probe');
          if (got >= 0 && o.k === 'refused') {
            // A later gate refused it: the probe is given back.
            guardReturnProbe(i32, 0, got);
            m.returnProbe(want);
          } else if (got !== GUARD_REJECT) held.push({ epoch: got, round: want });
        } else if (o.k === 'resolve') {
          if (held.length === 0) continue;
          const [h] = held.splice(o.pick % held.length, 1);
          const failed = o.outcome === 'fail';
          const ran = o.outcome !== 'retract';
          const got = guardOutcome(i32, 0, 1, cfg, tick, 0, rec, failed, ran, h!.epoch);
          expect(got).toBe(m.outcome(now, failed, ran, h!.round));
        } else if (o.k === 'isolate') {
          guardIsolate(i32, 0, 1, tick, 0, rec);
          m.isolate(now);
        } else {
          expect(guardRelease(i32, 0, 1, tick, 0, rec)).toBe(m.release(now));
        }
        const b = i32[0]!;
        const s = i32[1]!;
        const nowMs = Math.floor(clock.now() / 1000);
        expect({
          st: stateOf(b), probes: probesOf(b), ok: okOf(b), fails: failsOf(b), total: totalOf(b),
          since: nowMs - elapsedMs(sinceMsOf(s), nowMs), why: WHY_NAMES[whyOf(s)],
        }).toEqual({ st: m.st, probes: m.probes, ok: m.ok, fails: m.fails, total: m.total, since: m.since, why: m.why });
        expect(log).toEqual(m.transitions); // every state change recorded once, in order, with its why
      }
    }), {
      numRuns: 4000,
      // Half-open rounds are rare in random sequences: these reach them (and the model decides the rest).
      examples: [
        [{ ratioPpm: 500_000, minVolume: 2, windowMs: 4000, coolDownMs: 10, probes: 3, enforce: true }, [
          { k: 'submit' }, { k: 'submit' }, { k: 'resolve', pick: 0, outcome: 'fail' }, { k: 'resolve', pick: 0, outcome: 'ok' },
          { k: 'advance', ms: 10 }, { k: 'submit' }, { k: 'submit' }, { k: 'submit' }, { k: 'submit' }, { k: 'refused', pick: 0 },
          { k: 'resolve', pick: 0, outcome: 'ok' }, { k: 'submit' }, { k: 'submit' }, { k: 'resolve', pick: 0, outcome: 'ok' },
          { k: 'resolve', pick: 0, outcome: 'retract' }, { k: 'submit' }, { k: 'resolve', pick: 0, outcome: 'ok' }, { k: 'resolve', pick: 0, outcome: 'ok' },
          { k: 'submit' }, { k: 'resolve', pick: 0, outcome: 'fail' },
        ], 0],
        [{ ratioPpm: 1_000_000, minVolume: 1, windowMs: 100, coolDownMs: 50, probes: 2, enforce: false }, [
          { k: 'submit' }, { k: 'resolve', pick: 0, outcome: 'fail' }, { k: 'advance', ms: 50 }, { k: 'submit' }, { k: 'submit' }, { k: 'submit' },
          { k: 'advance', ms: 49 }, { k: 'submit' }, { k: 'advance', ms: 1 }, { k: 'submit' }, { k: 'resolve', pick: 0, outcome: 'ok' },
          { k: 'resolve', pick: 0, outcome: 'ok' }, { k: 'resolve', pick: 0, outcome: 'fail' }, { k: 'isolate' }, { k: 'submit' }, { k: 'release' },
          { k: 'advance', ms: 100 }, { k: 'submit' }, { k: 'resolve', pick: 0, outcome: 'ok' },
        ], 3],
      ],
    });
  });
});
