/**
 * The packed words of shared memory (src/shm/words/*): for each, the masks partition the word
 * (no overlap, their union is exactly the bits used, each field's maximum round-trips), encode
 * and decode are inverses, and each transition changes only what it names (and nothing when it
 * loses).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  TK_ABANDONED, TK_DONE, TK_FREE, TK_GEN_MASK, TK_GEN_MAX, TK_PENDING, TK_RETRACTED, TK_RUNNING, TK_STATE_MASK, TK_WORKER_MASK,
  TK_WORKER_MAX, abandonRunning, claimRun, forceFree, free, genOf, isRunningOn, loadState, markDone, markPending, nextGen, retract,
  settleAbandoned, stateOf, tokenWord, workerOf,
} from '../../src/shm/words/token.js';
import {
  CF_BUFFER, CF_RETRYABLE, CF_SPILLED, CF_TOMBSTONE, CF_WEIGHT_MASK, CF_WEIGHT_MAX, CK_LOW_MASK, CK_TAG_MASK, CK_TAG_MAX, kindWord,
  lowOf, submissionLow, tagOf, weightOf,
} from '../../src/shm/words/cell.js';
import { GATE_FIELD_MAX, GATE_INFLIGHT_MASK, GATE_TOKENS_MASK, inflightOf, pack, tokensOf, withInflight } from '../../src/shm/words/gate.js';
import {
  A_ACTIVE, A_CLAIMING, A_CLOSING, A_FREE, A_STATE_MASK, activate, claim, close, isActive, isFree, release,
} from '../../src/shm/words/attachment.js';
import { WAKER_PARKED, WAKER_RUNNING, WAKER_SPINNING } from '../../src/shm/waker.js';
import { CAPACITY_REASONS, REASONS, REJECTIONS, REJECT_REASONS, S_ADMITTED, S_REJECTED, S_RESOLVED } from '../../src/admission/reasons.js';
import * as reasons from '../../src/admission/reasons.js';
import { OUTCOMES, O_ABANDONED, O_FULFILLED, O_REJECTED, O_RETRACTED } from '../../src/admission/outcomes.js';
import { STAT_WORDS } from '../../src/shm/layout.js';

/** Masks partition `used`: pairwise disjoint, union exactly `used`. */
function expectPartition(masks: Record<string, number>, used: number): void {
  const entries = Object.entries(masks);
  let union = 0;
  for (let i = 0; i < entries.length; i++) {
    for (let j = i + 1; j < entries.length; j++) {
      expect((entries[i]![1] & entries[j]![1]) >>> 0, `${entries[i]![0]} overlaps ${entries[j]![0]}`).toBe(0);
    }
    expect(entries[i]![1], `${entries[i]![0]} is empty`).not.toBe(0);
    union |= entries[i]![1];
  }
  expect(union >>> 0).toBe(used >>> 0);
}

const cell = (v = 0): Int32Array => Int32Array.of(v);
const gens = fc.integer({ min: 0, max: TK_GEN_MAX });
const workers = fc.integer({ min: 0, max: TK_WORKER_MAX });
const states = fc.constantFrom(TK_FREE, TK_PENDING, TK_RUNNING, TK_RETRACTED, TK_DONE, TK_ABANDONED);

describe('token state word (words/token.ts)', () => {
  it('generation | worker | state partition all 32 bits', () => {
    expectPartition({ gen: TK_GEN_MASK, worker: TK_WORKER_MASK, state: TK_STATE_MASK }, 0xffffffff);
  });

  it("each field's maximum round-trips", () => {
    const w = tokenWord(TK_GEN_MAX, TK_WORKER_MAX, TK_STATE_MASK);
    expect([genOf(w), workerOf(w), stateOf(w)]).toEqual([TK_GEN_MAX, TK_WORKER_MAX, TK_STATE_MASK]);
    expect(nextGen(TK_GEN_MAX)).toBe(0);
  });

  it('encode and decode are inverses', () => {
    fc.assert(fc.property(gens, workers, states, (g, w, s) => {
      const word = tokenWord(g, w, s);
      expect([genOf(word), workerOf(word), stateOf(word)]).toEqual([g, w, s]);
    }));
  });

  it('markPending writes PENDING with the generation and worker 0', () => {
    fc.assert(fc.property(gens, (g) => {
      const i32 = cell();
      markPending(i32, 0, g);
      expect(i32[0]).toBe(tokenWord(g, 0, TK_PENDING));
    }));
  });

  it('claimRun: PENDING(gen) -> RUNNING|w, generation kept; on anything else it loses and writes nothing', () => {
    fc.assert(fc.property(gens, workers, gens, workers, states, (g, w, g0, w0, s0) => {
      const before = tokenWord(g0, s0 === TK_PENDING ? 0 : w0, s0);
      const i32 = cell(before);
      const won = claimRun(i32, 0, g, w);
      expect(won).toBe(before === tokenWord(g, 0, TK_PENDING));
      expect(i32[0]).toBe(won ? tokenWord(g, w, TK_RUNNING) : before);
    }));
  });

  it('retract: PENDING(gen) -> RETRACTED(gen) only; exactly one of claimRun and retract wins', () => {
    fc.assert(fc.property(gens, workers, fc.boolean(), (g, w, claimFirst) => {
      const i32 = cell(tokenWord(g, 0, TK_PENDING));
      const a = claimFirst ? claimRun(i32, 0, g, w) : retract(i32, 0, g);
      const b = claimFirst ? retract(i32, 0, g) : claimRun(i32, 0, g, w);
      expect(a).toBe(true);
      expect(b).toBe(false);
      expect(i32[0]).toBe(claimFirst ? tokenWord(g, w, TK_RUNNING) : tokenWord(g, 0, TK_RETRACTED));
    }));
  });

  it('markDone and abandonRunning: RUNNING|w(gen) -> DONE|w / ABANDONED|w; exactly one wins; wrong gen or worker writes nothing', () => {
    fc.assert(fc.property(gens, workers, fc.boolean(), (g, w, doneFirst) => {
      const i32 = cell(tokenWord(g, w, TK_RUNNING));
      expect(markDone(i32, 0, nextGen(g), w) || abandonRunning(i32, 0, g, (w + 1) & TK_WORKER_MAX)).toBe(false);
      expect(i32[0]).toBe(tokenWord(g, w, TK_RUNNING));
      const a = doneFirst ? markDone(i32, 0, g, w) : abandonRunning(i32, 0, g, w);
      const b = doneFirst ? abandonRunning(i32, 0, g, w) : markDone(i32, 0, g, w);
      expect([a, b]).toEqual([true, false]);
      expect(i32[0]).toBe(tokenWord(g, w, doneFirst ? TK_DONE : TK_ABANDONED));
    }));
  });

  it('settleAbandoned: ABANDONED|w(gen) -> DONE|w only', () => {
    fc.assert(fc.property(gens, workers, states, (g, w, s) => {
      const before = tokenWord(g, w, s);
      const i32 = cell(before);
      expect(settleAbandoned(i32, 0, nextGen(g))).toBe(false);
      const won = settleAbandoned(i32, 0, g);
      expect(won).toBe(s === TK_ABANDONED);
      expect(i32[0]).toBe(won ? tokenWord(g, w, TK_DONE) : before);
    }));
  });

  it('forceFree: RUNNING|w(gen) -> FREE, returning w; anything else: -1 and unchanged', () => {
    fc.assert(fc.property(gens, workers, states, (g, w, s) => {
      const before = tokenWord(g, w, s);
      const i32 = cell(before);
      expect(forceFree(i32, 0, nextGen(g))).toBe(-1);
      const r = forceFree(i32, 0, g);
      expect(r).toBe(s === TK_RUNNING ? w : -1);
      expect(i32[0]).toBe(s === TK_RUNNING ? TK_FREE : before);
    }));
  });

  it('free, loadState and isRunningOn', () => {
    fc.assert(fc.property(gens, workers, states, (g, w, s) => {
      const i32 = cell(tokenWord(g, w, s));
      expect(loadState(i32, 0)).toBe(s);
      expect(isRunningOn(i32, 0, g, w)).toBe(s === TK_RUNNING);
      free(i32, 0);
      expect(i32[0]).toBe(TK_FREE);
    }));
  });
});

describe('cell kind word (words/cell.ts)', () => {
  it('low | tag | flags | weight partition the bits used (30 and 31 unused)', () => {
    expectPartition({
      low: CK_LOW_MASK, tag: CK_TAG_MASK, spilled: CF_SPILLED, tombstone: CF_TOMBSTONE, buffer: CF_BUFFER,
      weight: CF_WEIGHT_MASK, retryable: CF_RETRYABLE,
    }, 0x3fffffff);
  });

  it('encode and decode are inverses, each field to its maximum', () => {
    const flags = fc.subarray([CF_SPILLED, CF_TOMBSTONE, CF_BUFFER, CF_RETRYABLE]).map((f) => f.reduce((a, b) => a | b, 0));
    fc.assert(fc.property(
      fc.integer({ min: 0, max: CK_LOW_MASK }), fc.integer({ min: 0, max: CK_TAG_MAX }), fc.integer({ min: 0, max: CF_WEIGHT_MAX }), flags,
      (id, tag, weight, f) => {
        const kind = kindWord(submissionLow(id, weight), tag, f);
        expect([lowOf(kind), tagOf(kind), weightOf(kind), kind & (CF_SPILLED | CF_TOMBSTONE | CF_BUFFER | CF_RETRYABLE)]).toEqual([id, tag, weight, f]);
      },
    ));
  });
});

describe('producer gate word (words/gate.ts)', () => {
  it('tokens | in flight partition all 32 bits', () => {
    expectPartition({ tokens: GATE_TOKENS_MASK, inflight: GATE_INFLIGHT_MASK }, 0xffffffff);
  });

  it('pack, tokensOf and inflightOf are inverses up to GATE_FIELD_MAX; withInflight changes only in flight', () => {
    const field = fc.integer({ min: 0, max: GATE_FIELD_MAX });
    fc.assert(fc.property(field, field, field, (t, n, m) => {
      const w = pack(t, n);
      expect([tokensOf(w), inflightOf(w)]).toEqual([t, n]);
      expect(withInflight(w, m)).toBe(pack(t, m));
    }));
  });
});

describe('attachment state word (words/attachment.ts)', () => {
  it('the states fit the state mask and are distinct', () => {
    const all = [A_FREE, A_CLAIMING, A_ACTIVE, A_CLOSING];
    expect(new Set(all).size).toBe(4);
    for (const s of all) expect(s & ~A_STATE_MASK).toBe(0);
  });

  it('claim, activate, close, release: each transition from its state only', () => {
    const i32 = cell(A_FREE);
    expect(claim(i32, 0)).toBe(true);
    expect(i32[0]).toBe(A_CLAIMING);
    expect(claim(i32, 0)).toBe(false); // one winner per slot
    expect(close(i32, 0)).toBe(false); // CLAIMING is not judged by liveness
    activate(i32, 0);
    expect(isActive(i32, 0)).toBe(true);
    expect(claim(i32, 0)).toBe(false);
    expect(close(i32, 0)).toBe(true);
    expect(i32[0]).toBe(A_CLOSING);
    expect(close(i32, 0)).toBe(false); // exactly one reconciler
    release(i32, 0);
    expect(isFree(i32, 0)).toBe(true);
  });
});

describe('waker state word (shm/waker.ts)', () => {
  it('three distinct states', () => {
    expect(new Set([WAKER_RUNNING, WAKER_SPINNING, WAKER_PARKED]).size).toBe(3);
  });
});

describe('rejection reasons and outcomes: one table each', () => {
  it('every R_* code is its reason index, and the capacity set is the table\'s', () => {
    const codes: Record<string, number> = {
      rate: reasons.R_RATE, 'producer-slots': reasons.R_PRODUCER_SLOTS, 'global-slots': reasons.R_GLOBAL_SLOTS,
      'ring-full': reasons.R_RING_FULL, 'arena-full': reasons.R_ARENA_FULL, 'no-workers': reasons.R_NO_WORKERS,
      draining: reasons.R_DRAINING, closed: reasons.R_CLOSED, quarantined: reasons.R_QUARANTINED, 'io-class': reasons.R_IO_CLASS,
    };
    expect(Object.keys(codes).sort()).toEqual([...REJECT_REASONS].sort());
    for (const [name, code] of Object.entries(codes)) expect(REJECT_REASONS[code]).toBe(name);
    expect([...CAPACITY_REASONS]).toEqual(REASONS.filter((r) => r.capacity).map((r) => r.name));
    expect(reasons.ADMITTED).toBeLessThan(0);
  });

  it('the preallocated Rejections are frozen, one per reason, by code', () => {
    expect(Object.isFrozen(REJECTIONS)).toBe(true);
    REJECT_REASONS.forEach((r, i) => {
      expect(REJECTIONS[i]).toEqual({ admitted: false, reason: r });
      expect(Object.isFrozen(REJECTIONS[i])).toBe(true);
    });
  });

  it('every O_* code is its outcome index', () => {
    expect([O_FULFILLED, O_REJECTED, O_RETRACTED, O_ABANDONED].map((o) => OUTCOMES[o])).toEqual(['fulfilled', 'rejected', 'retracted', 'abandoned']);
  });

  it('the stats offsets do not overlap and fit the block', () => {
    expect(S_ADMITTED).toBe(0);
    expect(S_REJECTED).toBe(S_ADMITTED + 1);
    expect(S_RESOLVED).toBe(S_REJECTED + REJECT_REASONS.length);
    expect(S_RESOLVED + OUTCOMES.length).toBeLessThanOrEqual(STAT_WORDS);
  });
});

// ---- the breaker word and its since word (words/breaker.ts; the Guard House, design §4.16) ----
import * as br from '../../src/shm/words/breaker.js';

describe('breaker word (words/breaker.ts)', () => {
  it('state | probes | ok | epoch | fails | total partition all 32 bits; the since word too', () => {
    expectPartition({
      state: br.BR_STATE_MASK, probes: br.BR_PROBES_MASK, ok: br.BR_OK_MASK, epoch: br.BR_EPOCH_MASK, fails: br.BR_FAILS_MASK, total: br.BR_TOTAL_MASK,
    }, 0xffffffff);
    expectPartition({ ms: br.SN_MS_MASK, why: br.SN_WHY_MASK, epoch: br.SN_EPOCH_MASK }, 0xffffffff);
    expect(br.WHY_NAMES.length).toBe(8); // 3 bits
    expect(br.BR_MAX_MS * 2).toBe(br.SN_MS_MASK + 1); // elapsed times stay below half the ms field
  });

  it('counted: one more outcome, halving both counts first at 255; state and epoch untouched', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 63 }), fc.boolean(), (t, f0, e, failed) => {
      const f = Math.min(f0, t);
      const b = (t << br.BR_TOTAL_SHIFT) | (f << br.BR_FAILS_SHIFT) | (e << br.BR_EPOCH_SHIFT) | br.BR_CLOSED;
      const n = br.counted(b, failed);
      const [ft, ff] = t === 255 ? [t >>> 1, f >>> 1] : [t, f];
      expect([br.totalOf(n), br.failsOf(n), br.epochOf(n), br.stateOf(n)]).toEqual([ft + 1, ff + (failed ? 1 : 0), e, br.BR_CLOSED]);
    }));
  });

  it('each transition is one CAS from the word read: it changes what it names, and nothing when it loses', () => {
    const half = (probes: number, ok: number, e: number): number => (e << br.BR_EPOCH_SHIFT) | (ok << br.BR_OK_SHIFT) | (probes << br.BR_PROBES_SHIFT) | br.BR_HALF_OPEN;
    fc.assert(fc.property(fc.integer({ min: 0, max: 14 }), fc.integer({ min: 0, max: 14 }), fc.integer({ min: 0, max: 63 }), (p, ok, e) => {
      const b = half(p, ok, e);
      const w = cell(b);
      expect(br.takeProbe(w, 0, b)).toBe(true);
      expect(w[0]).toBe(half(p + 1, ok, e));
      expect(br.takeProbe(w, 0, b)).toBe(false); // lost: the word moved
      expect(w[0]).toBe(half(p + 1, ok, e));
      expect(br.returnProbe(w, 0, half(p + 1, ok, e))).toBe(true);
      expect(w[0]).toBe(b);
      if (p > 0) {
        expect(br.probeSucceeded(w, 0, b, false)).toBe(true);
        expect(w[0]).toBe(half(p - 1, ok + 1, e));
        w[0] = b;
      }
      const e1 = (e + 1) & 63;
      for (const [fn, to] of [[br.probeFailed, br.BR_OPEN], [br.expireRound, br.BR_HALF_OPEN], [br.isolate, br.BR_ISOLATED]] as const) {
        w[0] = b;
        expect(fn(w, 0, b)).toBe(true);
        expect(w[0]).toBe((e1 << br.BR_EPOCH_SHIFT) | to); // fresh: epoch + 1, nothing in flight, no counts
      }
      w[0] = b;
      expect(br.probeSucceeded(w, 0, b, true)).toBe(true);
      expect(w[0]).toBe((e1 << br.BR_EPOCH_SHIFT) | br.BR_CLOSED);
    }));
  });

  it('stampSince: the first stamp of an epoch wins; a stamp of the current epoch changes nothing', () => {
    const s = cell(br.sinceWord(3, br.WHY_NONE, 100));
    expect(br.stampSince(s, 0, 4, br.WHY_FAILURE_RATIO, 250)).toBe(br.sinceWord(4, br.WHY_FAILURE_RATIO, 250));
    expect(br.stampSince(s, 0, 4, br.WHY_COOL_DOWN, 999)).toBe(br.sinceWord(4, br.WHY_FAILURE_RATIO, 250));
    expect([br.sinceEpochOf(s[0]!), br.whyOf(s[0]!), br.sinceMsOf(s[0]!)]).toEqual([4, br.WHY_FAILURE_RATIO, 250]);
    expect(br.elapsedMs(250, 250 + br.SN_MS_MASK + 1 + 7)).toBe(7); // mod 2^23 ms
  });
});
