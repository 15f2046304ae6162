/**
 * The token bucket (bucket.ts) and the gate functions (gate.ts) over a bare Memory: no runtime,
 * no threads. Producers are registered with lookupOrRegister, the way Runtime.producer does.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { earnedBy, earnedMod32, fillTicks } from '../../src/admission/bucket.js';
import {
  ADMITTED, ProducerGate, R_GLOBAL_SLOTS, R_PRODUCER_SLOTS, R_RATE, admitGlobal, admitProducer, inflightOf, pack, refill, releaseSlots,
  rollbackProducer, tokensOf, type Limits,
} from '../../src/admission/gate.js';
import { Memory, P_PACKED } from '../../src/shm/layout.js';
import { lookupOrRegister, registeredProducers, type ProducerLimits } from '../../src/runtime/registry.js';
import { ConfigError } from '../../src/errors.js';
import { exactEarned } from '../helpers/admission.js';
import { VirtualClock } from '../../src/admission/clock.js';
import { TickSource } from '../../src/admission/tick.js';
import { wasmDecide } from '../../src/admission/wasm-gate.js';

const MAX_RATE = 2 ** 31 - 1;
const T_MAX = 2 ** 50;

function bareMemory(globalSlots = 64): Memory {
  return Memory.create({
    workers: 1, ringCapacity: 2, globalSlots, maxProducers: 8, maxAttachments: 1, spillBytes: 1024, taskCount: 0,
    spinMicros: 0, asyncLimit: 1,
  });
}

interface Bare { mem: Memory; i32: Int32Array; p: number; limits: Limits; word: number }

function registered(limits: ProducerLimits, now = 0, globalSlots = 64): Bare {
  const mem = bareMemory(globalSlots);
  const r = lookupOrRegister(mem, 'p', limits, now);
  return { mem, i32: mem.i32, p: r.index, limits: r.limits, word: mem.producerWord(r.index, P_PACKED) };
}

const word = (b: Bare): number => Atomics.load(b.i32, b.word);
const tokens = (b: Bare): number => tokensOf(word(b));
const inflight = (b: Bare): number => inflightOf(word(b));

/** Take `n` tokens (and slots) without refilling, as n admissions at the registration tick would. */
function consume(b: Bare, n: number): void {
  let admitted = 0;
  for (let i = 0; i < n; i++) if (admitProducer(b.i32, b.word, b.limits) === ADMITTED) admitted++;
  expect(admitted).toBe(n);
}

/** min(burst, start + E(to) - E(from)): the bucket the design promises after refilling from `from` to `to`. */
function promised(limits: Limits, start: number, from: number, to: number): number {
  const more = exactEarned(to, limits.rate) - exactEarned(from, limits.rate);
  return Number(BigInt(start) + more < BigInt(limits.burst) ? BigInt(start) + more : BigInt(limits.burst));
}

/** rate, burst and a consumption that leaves the bucket anywhere from full to empty. */
const rated = fc.record({
  rate: fc.oneof(fc.integer({ min: 1, max: 5_000 }), fc.integer({ min: 1, max: MAX_RATE })),
  burst: fc.integer({ min: 1, max: 0xffff }),
}).chain((l) => fc.record({ rate: fc.constant(l.rate), burst: fc.constant(l.burst), used: fc.integer({ min: 0, max: l.burst }) }));

/** Strictly increasing refill points after t0, ending at the last one. */
const splits = (unit: number) =>
  fc.array(fc.integer({ min: 1, max: 3_000_000 / unit }), { minLength: 1, maxLength: 12 }).map((steps) => {
    const pts: number[] = [];
    let t = 0;
    for (const s of steps) pts.push((t += s * unit));
    return pts;
  });

describe('earnedBy: E(t) = floor(t * rate / 1e6)', () => {
  it('is exact (equal to the BigInt quotient) wherever E(t) is a safe integer, t <= 2^50, rate < 2^31', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: MAX_RATE }).chain((rate) => {
          // The largest t <= 2^50 whose E(t) is still <= 2^53 - 1.
          const tMax = Number((BigInt(Number.MAX_SAFE_INTEGER) * 1_000_000n) / BigInt(rate));
          return fc.tuple(fc.constant(rate), fc.integer({ min: 0, max: Math.min(T_MAX, tMax) }));
        }),
        ([rate, t]) => {
          expect(earnedBy(t, rate)).toBe(Number(exactEarned(t, rate)));
        },
      ),
      { numRuns: 5000 },
    );
    // Boundaries: the last tick before a token, the tick of it, whole seconds.
    for (const [t, rate] of [[999_999, 1], [1_000_000, 1], [333_333, 3], [333_334, 3], [0, MAX_RATE], [1, MAX_RATE], [4_194_303, MAX_RATE]]) {
      expect(earnedBy(t!, rate!)).toBe(Number(exactEarned(t!, rate!)));
    }
  });

  it('earnedMod32 agrees with the exact E(t) modulo 2^32 (what P_EARNED stores) for every t <= 2^50 and rate <= 2^31 - 1', () => {
    expect(earnedMod32(2 ** 50, MAX_RATE)).toBe(Number(BigInt.asIntN(32, exactEarned(2 ** 50, MAX_RATE))));
    fc.assert(
      fc.property(fc.integer({ min: 0, max: T_MAX }), fc.integer({ min: 1, max: MAX_RATE }), (t, rate) => {
        expect(earnedMod32(t, rate)).toBe(Number(BigInt.asIntN(32, exactEarned(t, rate))));
      }),
      { numRuns: 5000 },
    );
  });

  it('is monotone in t: a later tick never has fewer tokens earned, t <= 2^50, rate < 2^31', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: T_MAX }), fc.integer({ min: 0, max: 10_000_000 }), fc.integer({ min: 1, max: MAX_RATE }),
        (t, dt, rate) => {
          const t2 = Math.min(T_MAX, t + dt);
          expect(earnedBy(t2, rate)).toBeGreaterThanOrEqual(earnedBy(t, rate));
          expect(earnedBy(t + 1, rate)).toBeGreaterThanOrEqual(earnedBy(t, rate));
        },
      ),
      { numRuns: 5000 },
    );
  });

  it('fillTicks(rate, burst) ticks always earn at least burst tokens (an empty bucket is full again)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 40 }), fc.integer({ min: 1, max: MAX_RATE }), fc.integer({ min: 1, max: 0xffff }), (t, rate, burst) => {
        const f = fillTicks(rate, burst);
        expect(exactEarned(t + f, rate) - exactEarned(t, rate)).toBeGreaterThanOrEqual(BigInt(burst));
        // ...and it is the least such span from a whole second.
        expect(exactEarned(f - 1, rate)).toBeLessThan(BigInt(burst));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('refill: integer-quantized, capped at burst', () => {
  it('a new producer starts with a full bucket and nothing in flight', () => {
    const b = registered({ rate: 10, burst: 7, slots: 3 }, 123_456);
    expect(tokens(b)).toBe(7);
    expect(inflight(b)).toBe(0);
  });

  /** Refilling once at the end, or at every point of a split, gives the same tokens: E(end) - E(t0), capped. */
  const splitRefills = (t0s: fc.Arbitrary<number>, unit: number, numRuns: number): void => {
    fc.assert(
      fc.property(rated, t0s, splits(unit), ({ rate, burst, used }, t0, pts) => {
        const once = registered({ rate, burst, slots: 0xffff }, t0);
        const split = registered({ rate, burst, slots: 0xffff }, t0);
        consume(once, used);
        consume(split, used);
        const end = t0 + pts[pts.length - 1]!;
        refill(once.i32, once.mem, once.p, once.limits, end);
        for (const t of pts) refill(split.i32, split.mem, split.p, split.limits, t0 + t);
        const want = promised(once.limits, burst - used, t0, end);
        expect(tokens(once)).toBe(want);
        expect(tokens(split)).toBe(want);
        expect(inflight(split)).toBe(used);
      }),
      { numRuns },
    );
  };

  it('gives exactly E(now) - E(last) tokens, capped at burst, however the ticks are split into refills (whole-ms refill points)', () => {
    splitRefills(fc.integer({ min: 0, max: 2 ** 20 }).map((ms) => ms * 1000), 1000, 400);
  });

  it('gives exactly E(now) - E(last) tokens, capped at burst, however the ticks are split into refills (any tick)', () => {
    const once = registered({ rate: 5000, burst: 10, slots: 100 }, 1999);
    const split = registered({ rate: 5000, burst: 10, slots: 100 }, 1999);
    consume(once, 10);
    consume(split, 10);
    refill(once.i32, once.mem, once.p, once.limits, 3000);
    refill(split.i32, split.mem, split.p, split.limits, 2500);
    refill(split.i32, split.mem, split.p, split.limits, 3000);
    expect(tokens(split)).toBe(6);
    expect(tokens(once)).toBe(6);
    splitRefills(fc.integer({ min: 0, max: 2 ** 30 }), 1, 1000);
  });

  it('refilling again at the same tick, or at an earlier tick of the same ms, adds nothing', () => {
    const b = registered({ rate: 100_000, burst: 50, slots: 100 }, 0);
    consume(b, 50);
    refill(b.i32, b.mem, b.p, b.limits, 200);
    expect(tokens(b)).toBe(20);
    refill(b.i32, b.mem, b.p, b.limits, 200);
    expect(tokens(b)).toBe(20);
    refill(b.i32, b.mem, b.p, b.limits, 150); // another thread whose clock reads a little behind
    expect(tokens(b)).toBe(20);
    refill(b.i32, b.mem, b.p, b.limits, 210);
    expect(tokens(b)).toBe(21);
  });

  it('refilling at an earlier tick in the previous ms (a thread whose clock is a little behind) adds nothing', () => {
    const b = registered({ rate: 1000, burst: 50, slots: 100 }, 0);
    consume(b, 50);
    refill(b.i32, b.mem, b.p, b.limits, 20_000);
    expect(tokens(b)).toBe(20);
    refill(b.i32, b.mem, b.p, b.limits, 19_999);
    expect(tokens(b)).toBe(20);
    refill(b.i32, b.mem, b.p, b.limits, 21_000);
    expect(tokens(b)).toBe(21);
  });

  it('tokens never exceed burst and in flight never exceeds slots, under any mix of refills, admissions and rollbacks', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('refill' as const), ms: fc.integer({ min: 0, max: 5_000 }) }),
      fc.record({ kind: fc.constant('admit' as const) }),
      fc.record({ kind: fc.constant('rollback' as const) }),
      fc.record({ kind: fc.constant('release' as const) }),
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20_000 }), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 40 }), fc.array(op, { maxLength: 200 }),
        (rate, burst, slots, ops) => {
          const b = registered({ rate, burst, slots }, 0);
          let now = 0;
          let held = 0;
          for (const o of ops) {
            if (o.kind === 'refill') refill(b.i32, b.mem, b.p, b.limits, (now += o.ms * 1000));
            else if (o.kind === 'admit') { if (admitProducer(b.i32, b.word, b.limits) === ADMITTED) held++; }
            else if (held > 0 && o.kind === 'rollback') { rollbackProducer(b.i32, b.word, b.limits); held--; }
            else if (held > 0 && o.kind === 'release') { Atomics.sub(b.i32, b.word, 1); held--; }
            expect(tokens(b)).toBeLessThanOrEqual(burst);
            expect(tokens(b)).toBeGreaterThanOrEqual(0);
            expect(inflight(b)).toBe(held);
            expect(inflight(b)).toBeLessThanOrEqual(slots);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('producer gate: admitProducer / rollbackProducer', () => {
  it('takes one token and one slot together in a single step', () => {
    const b = registered({ rate: 10, burst: 5, slots: 3 });
    expect(admitProducer(b.i32, b.word, b.limits)).toBe(ADMITTED);
    expect(word(b)).toBe(pack(4, 1));
  });

  it('without a rate it takes only a slot, and tokens stay 0', () => {
    const b = registered({ slots: 2 });
    expect(word(b)).toBe(pack(0, 0));
    expect(admitProducer(b.i32, b.word, b.limits)).toBe(ADMITTED);
    expect(admitProducer(b.i32, b.word, b.limits)).toBe(ADMITTED);
    expect(word(b)).toBe(pack(0, 2));
    expect(admitProducer(b.i32, b.word, b.limits)).toBe(R_PRODUCER_SLOTS);
    expect(word(b)).toBe(pack(0, 2));
  });

  it('rejects "rate" on an empty bucket and "producer-slots" at the slot limit, changing nothing; rate is checked first', () => {
    const b = registered({ rate: 10, burst: 2, slots: 2 });
    consume(b, 2);
    const full = word(b);
    expect(full).toBe(pack(0, 2));
    expect(admitProducer(b.i32, b.word, b.limits)).toBe(R_RATE); // both limits hit: rate wins
    expect(word(b)).toBe(full);
    const c = registered({ rate: 10, burst: 5, slots: 2 });
    consume(c, 2);
    expect(admitProducer(c.i32, c.word, c.limits)).toBe(R_PRODUCER_SLOTS);
    expect(word(c)).toBe(pack(3, 2));
    const d = registered({ rate: 10, burst: 2, slots: 5 });
    consume(d, 2);
    expect(admitProducer(d.i32, d.word, d.limits)).toBe(R_RATE);
    expect(word(d)).toBe(pack(0, 2));
  });

  it('rollbackProducer restores the gate word exactly as it was before the admission', () => {
    fc.assert(
      fc.property(
        fc.option(fc.integer({ min: 1, max: 1_000_000 }), { nil: undefined }), fc.integer({ min: 1, max: 0xffff }), fc.integer({ min: 1, max: 0xffff }),
        fc.integer({ min: 0, max: 0xffff }),
        (rate, burst, slots, k) => {
          const b = registered(rate === undefined ? { slots } : { rate, burst, slots });
          consume(b, Math.min(k, slots - 1, rate === undefined ? Infinity : burst - 1));
          const before = word(b);
          expect(admitProducer(b.i32, b.word, b.limits)).toBe(ADMITTED);
          expect(word(b)).not.toBe(before);
          rollbackProducer(b.i32, b.word, b.limits);
          expect(word(b)).toBe(before);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('rollbackProducer never lifts tokens above burst when the bucket refilled to burst meanwhile', () => {
    const b = registered({ rate: 1000, burst: 3, slots: 5 }, 0);
    consume(b, 1);
    expect(word(b)).toBe(pack(2, 1));
    refill(b.i32, b.mem, b.p, b.limits, 10_000); // 10 tokens earned: capped at 3
    expect(word(b)).toBe(pack(3, 1));
    rollbackProducer(b.i32, b.word, b.limits);
    expect(word(b)).toBe(pack(3, 0));
  });
});

describe('global gate: admitGlobal / releaseSlots', () => {
  it('admits below the limit, and at the limit returns false without changing the count', () => {
    const mem = bareMemory(3);
    const g = mem.globalWord;
    for (let i = 0; i < 3; i++) expect(admitGlobal(mem.i32, g, 3)).toBe(true);
    expect(Atomics.load(mem.i32, g)).toBe(3);
    expect(admitGlobal(mem.i32, g, 3)).toBe(false);
    expect(admitGlobal(mem.i32, g, 3)).toBe(false);
    expect(Atomics.load(mem.i32, g)).toBe(3);
  });

  it('releaseSlots gives back exactly one producer slot and one global slot, and leaves tokens alone', () => {
    const b = registered({ rate: 100, burst: 4, slots: 4 });
    const g = b.mem.globalWord;
    for (let i = 0; i < 3; i++) {
      expect(admitProducer(b.i32, b.word, b.limits)).toBe(ADMITTED);
      expect(admitGlobal(b.i32, g, 10)).toBe(true);
    }
    expect(word(b)).toBe(pack(1, 3));
    releaseSlots(b.i32, b.word, g);
    expect(word(b)).toBe(pack(1, 2));
    expect(Atomics.load(b.i32, g)).toBe(2);
    releaseSlots(b.i32, b.word, g);
    releaseSlots(b.i32, b.word, g);
    expect(word(b)).toBe(pack(1, 0));
    expect(Atomics.load(b.i32, g)).toBe(0);
  });
});

describe('guesses: the expected value of each CAS is only a hint', () => {
  /** Limits (rate or none, burst, slots) and a global ceiling, as the gate properties draw them. */
  const limitArbs = [
    fc.option(fc.integer({ min: 1, max: 20_000 }), { nil: undefined }), fc.integer({ min: 1, max: 30 }),
    fc.integer({ min: 1, max: 30 }), fc.integer({ min: 1, max: 40 }),
  ] as const;
  const specOf = (rate: number | undefined, burst: number, slots: number): ProducerLimits =>
    rate === undefined ? { slots } : { rate, burst, slots };
  /** Another thread moved the words: this thread's guesses are stale (any values at all). */
  const scramble = fc.record({ kind: fc.constant('scramble' as const), p: fc.integer(), g: fc.integer() });

  interface Twins { rate: number | undefined; globalSlots: number; plain: Bare; other: Bare }
  /**
   * For any limits and op list: one producer registered twice, in two memories, so the same ops
   * can run the reference way on `plain` and the way under test on `other`.
   */
  function twinProperty<Op>(op: fc.Arbitrary<Op>, numRuns: number, run: (t: Twins, ops: Op[]) => void): void {
    fc.assert(
      fc.property(...limitArbs, fc.array(op, { maxLength: 150 }), (rate, burst, slots, globalSlots, ops) => {
        const spec = specOf(rate, burst, slots);
        run({ rate, globalSlots, plain: registered(spec, 0, globalSlots), other: registered(spec, 0, globalSlots) }, ops);
      }),
      { numRuns },
    );
  }

  it('with any guesses, every gate step decides and writes exactly what it does with none', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('refill' as const), ms: fc.integer({ min: 0, max: 3_000 }) }),
      fc.record({ kind: fc.constant('admit' as const) }),
      fc.record({ kind: fc.constant('rollback' as const) }),
      fc.record({ kind: fc.constant('release' as const) }),
      scramble,
    );
    twinProperty(op, 500, ({ globalSlots, plain, other: guessed }, ops) => {
      const guess = new Int32Array(2); // [0] the producer word, [1] the global word
      const g = plain.mem.globalWord;
      let now = 0;
      let held = 0;
      for (const o of ops) {
        if (o.kind === 'scramble') {
          guess[0] = o.p;
          guess[1] = o.g;
        } else if (o.kind === 'refill') {
          now += o.ms * 1000;
          refill(plain.i32, plain.mem, plain.p, plain.limits, now);
          refill(guessed.i32, guessed.mem, guessed.p, guessed.limits, now, guess, 0);
        } else if (o.kind === 'admit') {
          const a = admitProducer(plain.i32, plain.word, plain.limits);
          expect(admitProducer(guessed.i32, guessed.word, guessed.limits, guess, 0)).toBe(a);
          if (a === ADMITTED) {
            const ga = admitGlobal(plain.i32, g, globalSlots);
            expect(admitGlobal(guessed.i32, g, globalSlots, guess, 1)).toBe(ga);
            if (ga) held++;
            else {
              rollbackProducer(plain.i32, plain.word, plain.limits);
              rollbackProducer(guessed.i32, guessed.word, guessed.limits, guess, 0);
            }
          }
        } else if (held > 0 && o.kind === 'rollback') {
          Atomics.sub(plain.i32, g, 1);
          Atomics.sub(guessed.i32, g, 1);
          rollbackProducer(plain.i32, plain.word, plain.limits);
          rollbackProducer(guessed.i32, guessed.word, guessed.limits, guess, 0);
          held--;
        } else if (held > 0 && o.kind === 'release') {
          releaseSlots(plain.i32, plain.word, g);
          releaseSlots(guessed.i32, guessed.word, g, guess, 0, 1);
          held--;
        }
        expect(word(guessed)).toBe(word(plain));
        expect(Atomics.load(guessed.i32, g)).toBe(Atomics.load(plain.i32, g));
        expect(inflight(guessed)).toBe(held);
      }
    });
  });

  for (const path of ['WebAssembly', 'JavaScript'] as const) {
    it(`ProducerGate.admitWithGlobal (steps 2-3 in one call, ${path} path) decides and writes exactly what the separate steps do`, () => {
      const op = fc.oneof(
        fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 3_000 }) }),
        fc.record({ kind: fc.constant('submit' as const) }),
        fc.record({ kind: fc.constant('release' as const) }),
        scramble,
      );
      twinProperty(op, 400, ({ rate, globalSlots, plain, other: fused }, ops) => {
        const fast = path === 'WebAssembly' ? wasmDecide(fused.mem.wasm) : null;
        if (path === 'WebAssembly') expect(fast).not.toBeNull();
        const clock = new VirtualClock(0);
        const P = fused.mem.layout.maxProducers;
        const guess = new Int32Array(fused.mem.sab, fused.mem.guessByte(0), P + 1);
        const gate = new ProducerGate(fused.i32, fused.mem, fused.p, fused.limits, guess, new TickSource(clock), fast);
        const g = plain.mem.globalWord;
        let held = 0;
        for (const o of ops) {
          if (o.kind === 'advance') clock.advance(o.ms * 1000);
          else if (o.kind === 'scramble') {
            guess[fused.p] = o.p;
            guess[P] = o.g;
          } else if (o.kind === 'submit') {
            if (rate !== undefined) refill(plain.i32, plain.mem, plain.p, plain.limits, clock.now());
            let expected = admitProducer(plain.i32, plain.word, plain.limits);
            if (expected === ADMITTED && !admitGlobal(plain.i32, g, globalSlots)) {
              rollbackProducer(plain.i32, plain.word, plain.limits);
              expected = R_GLOBAL_SLOTS;
            }
            expect(gate.admitWithGlobal(g, globalSlots, P)).toBe(expected);
            if (expected === ADMITTED) held++;
          } else if (held > 0) {
            releaseSlots(plain.i32, plain.word, g);
            releaseSlots(fused.i32, fused.word, g, guess, fused.p, P);
            held--;
          }
          expect(word(fused)).toBe(word(plain));
          expect(Atomics.load(fused.i32, g)).toBe(Atomics.load(plain.i32, g));
        }
      });
    });
  }

  it('a thread that is the only writer keeps its guesses exact', () => {
    const b = registered({ rate: 1000, burst: 8, slots: 4 }, 0);
    const g = b.mem.globalWord;
    const guess = new Int32Array(2);
    guess[0] = Atomics.load(b.i32, b.word); // as after the first (learning) CAS
    for (let i = 0; i < 3; i++) {
      expect(admitProducer(b.i32, b.word, b.limits, guess, 0)).toBe(ADMITTED);
      expect(admitGlobal(b.i32, g, 10, guess, 1)).toBe(true);
      expect(guess[0]).toBe(word(b));
      expect(guess[1]).toBe(Atomics.load(b.i32, g));
    }
    releaseSlots(b.i32, b.word, g, guess, 0, 1);
    refill(b.i32, b.mem, b.p, b.limits, 5_000, guess, 0);
    expect(guess[0]).toBe(word(b));
    expect(guess[1]).toBe(Atomics.load(b.i32, g));
  });
});

describe('limits: normalisation and validation', () => {
  const bad: Array<[string, unknown]> = [
    ['negative rate', { rate: -1 }],
    ['zero rate', { rate: 0 }],
    ['non-integer rate', { rate: 1.5 }],
    ['NaN rate', { rate: NaN }],
    ['string rate', { rate: '10' }],
    ['rate above 2^31 - 1', { rate: 2 ** 31 }],
    ['negative burst', { rate: 10, burst: -1 }],
    ['zero burst', { rate: 10, burst: 0 }],
    ['non-integer burst', { rate: 10, burst: 2.5 }],
    ['burst above 65535', { rate: 100_000, burst: 65_536 }],
    ['burst without a rate', { burst: 5 }],
    ['burst with an unlimited rate', { rate: Infinity, burst: 5 }],
    ['negative slots', { slots: -1 }],
    ['zero slots', { slots: 0 }],
    ['non-integer slots', { slots: 0.5 }],
    ['slots above 65535', { slots: 65_536 }],
    ['unknown key', { rate: 10, concurrency: 3 }],
    ['misspelt key', { slot: 3 }],
    ['limits that are not an object', 5],
  ];
  it.each(bad)('%s is a ConfigError, and registers nothing', (_name, limits) => {
    const mem = bareMemory();
    expect(() => lookupOrRegister(mem, 'p', limits as ProducerLimits, 0)).toThrow(ConfigError);
    expect(registeredProducers(mem)).toEqual([]);
  });

  it('defaults: no rate means no bucket; burst = min(rate, 65535); slots = min(globalSlots, 65535); rate Infinity = no rate', () => {
    const mem = bareMemory(40);
    expect(lookupOrRegister(mem, 'a', undefined, 0).limits).toEqual({ rate: 0, burst: 0, slots: 40 });
    expect(lookupOrRegister(mem, 'b', { rate: 12 }, 0).limits).toEqual({ rate: 12, burst: 12, slots: 40 });
    expect(lookupOrRegister(mem, 'c', { rate: 1_000_000 }, 0).limits).toEqual({ rate: 1_000_000, burst: 0xffff, slots: 40 });
    expect(lookupOrRegister(mem, 'd', { rate: Infinity, slots: 2 }, 0).limits).toEqual({ rate: 0, burst: 0, slots: 2 });
    expect(lookupOrRegister(mem, 'e', { rate: 2 ** 31 - 1, burst: 0xffff, slots: 0xffff }, 0).limits)
      .toEqual({ rate: 2 ** 31 - 1, burst: 0xffff, slots: 0xffff });
  });

  it('asking for an existing name with different explicit limits throws ConfigError and leaves the producer as it was', () => {
    const mem = bareMemory();
    const first = lookupOrRegister(mem, 'tenant', { rate: 10, burst: 5, slots: 3 }, 0);
    const w = mem.producerWord(first.index, P_PACKED);
    expect(admitProducer(mem.i32, w, first.limits)).toBe(ADMITTED);
    const before = Atomics.load(mem.i32, w);
    for (const other of [{ rate: 11, burst: 5, slots: 3 }, { rate: 10, burst: 4, slots: 3 }, { rate: 10, burst: 5, slots: 4 }, { slots: 3 }, {}]) {
      expect(() => lookupOrRegister(mem, 'tenant', other, 0)).toThrow(ConfigError);
    }
    expect(Atomics.load(mem.i32, w)).toBe(before);
    expect(registeredProducers(mem)).toEqual([first.index]);
  });

  it('asking again with no limits, or with limits that normalise to the same, finds the same producer', () => {
    const mem = bareMemory();
    const first = lookupOrRegister(mem, 'tenant', { rate: 10, slots: 3 }, 0);
    expect(lookupOrRegister(mem, 'tenant', undefined, 5_000_000)).toEqual(first);
    expect(lookupOrRegister(mem, 'tenant', { rate: 10, burst: 10, slots: 3 }, 0)).toEqual(first);
    const other = lookupOrRegister(mem, 'other', { slots: 1 }, 0);
    expect(other.index).not.toBe(first.index);
    expect(registeredProducers(mem)).toEqual([first.index, other.index]);
  });
});
