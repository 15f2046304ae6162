/**
 * Producer isolation (design.md §5 invariant 6): a producer flooding far beyond its quota does
 * not change another producer's admission decisions, as long as their limits partition the
 * global ceiling (slotsA + slotsB <= globalSlots).
 *
 * Method: the same deterministic schedule for producer B (submits at fixed virtual times, and
 * completions of B's own tasks at fixed points) runs twice, on two runtimes with their own
 * VirtualClock: once alone, once with producer A flooding around every step of B's (100x its
 * quota of submits, holding what it gets, releasing some of it now and then). B's decisions
 * must be identical.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Runtime, VirtualClock, type Producer, type Token } from '../../src/index.js';
import { nextPow2 } from '../../src/shm/layout.js';
import { ADMISSION_TASKS, Holds, decisionOf, type LimitsSpec } from '../helpers/admission.js';

const G = 6;
const FLOOD_FACTOR = 100;

type Step = { advance: number; action: 'submit' } | { advance: number; action: 'complete'; k: number };

interface Scenario {
  b: LimitsSpec & { slots: number };
  a: LimitsSpec & { slots: number };
  steps: Step[];
  /** A releases half of what it holds before B's step i when i % aReleaseEvery === 0. */
  aReleaseEvery: number;
}

interface Outcome {
  decisions: string[];
  b: { admitted: number; rejected: Record<string, number>; tokens: number | null };
  a: { admitted: number; rejected: number } | null;
}

interface Env { rt: Runtime; clock: VirtualClock }

let alone: Env;
let flooded: Env;
let holds: Holds;
let runs = 0;

async function env(): Promise<Env> {
  const clock = new VirtualClock();
  const rt = await Runtime.start({
    tasks: ADMISSION_TASKS, workers: 2, globalSlots: G, ringCapacity: nextPow2(G), asyncConcurrency: G, clock,
    spinUs: 0, maxProducers: 4096, maxAttachments: 1, affinity: false,
  });
  await rt.allWorkersReady(); // the held tasks below need both workers (start resolves on the first)
  return { rt, clock };
}

beforeAll(async () => {
  holds = new Holds();
  [alone, flooded] = await Promise.all([env(), env()]);
});

afterAll(async () => {
  await Promise.all([alone?.rt.close(), flooded?.rt.close()]);
  holds?.close();
});

interface Held { key: number; token: Token }

async function release(list: Held[], n = list.length): Promise<void> {
  const out = list.splice(0, n);
  for (const h of out) holds.release(h.key);
  for (const h of out) expect(await h.token).toBe(h.key);
}

/** Run B's schedule on `e`, with A flooding if `withA`. */
async function play({ rt, clock }: Env, s: Scenario, withA: boolean, tag: string): Promise<Outcome> {
  // Whole seconds: E(t) - E(t0) is then the same on both clocks, and so are the ms boundaries.
  clock.set((Math.floor(clock.now() / 1_000_000) + 1) * 1_000_000);
  expect(rt.stats().global.inFlight).toBe(0);
  const hold = rt.task('hold');
  const B = rt.producer(`${tag}-B`, s.b);
  const A: Producer | null = withA ? rt.producer(`${tag}-A`, s.a) : null;
  const heldA: Held[] = [];
  const heldB: Held[] = [];
  const decisions: string[] = [];
  const quota = s.a.slots + (s.a.burst ?? 0);
  const flood = (): void => {
    for (let i = 0; i < FLOOD_FACTOR * quota; i++) {
      const key = holds.key();
      const a = A!.submit(hold, key);
      if (a.admitted) heldA.push({ key, token: a });
    }
  };
  try {
    for (const [i, step] of s.steps.entries()) {
      clock.advance(step.advance);
      if (A !== null) {
        flood();
        if (i % s.aReleaseEvery === 0) await release(heldA, Math.ceil(heldA.length / 2));
        flood();
      }
      if (step.action === 'submit') {
        const key = holds.key();
        const a = B.submit(hold, key);
        decisions.push(decisionOf(a));
        if (a.admitted) heldB.push({ key, token: a });
      } else if (heldB.length > 0) {
        const [h] = heldB.splice(step.k % heldB.length, 1);
        await release([h!]);
      }
      if (A !== null) flood();
    }
    const b = B.stats();
    const a = A?.stats();
    return {
      decisions,
      b: { admitted: b.admitted, rejected: b.rejected, tokens: b.tokens },
      a: a ? { admitted: a.admitted, rejected: Object.values(a.rejected).reduce((x, y) => x + y, 0) } : null,
    };
  } finally {
    await release(heldA);
    await release(heldB);
  }
}

async function both(s: Scenario): Promise<{ solo: Outcome; crowd: Outcome }> {
  const tag = `iso${++runs}`;
  const solo = await play(alone, s, false, tag);
  const crowd = await play(flooded, s, true, tag);
  return { solo, crowd };
}

const submitAt = (advance: number): Step => ({ advance, action: 'submit' });
const completeAt = (advance: number, k = 0): Step => ({ advance, action: 'complete', k });

describe('one producer flooding cannot change another producer\'s admission decisions', () => {
  it('an explicit schedule: B\'s decisions are the same alone and beside A flooding at 100x its quota', async () => {
    const s: Scenario = {
      b: { rate: 20, burst: 2, slots: 2 }, // one token per 50 ms
      a: { slots: 4 }, // 2 + 4 = G
      aReleaseEvery: 2,
      steps: [
        submitAt(0), submitAt(0), submitAt(0), // admitted, admitted, rate
        submitAt(50_000), // producer-slots (a token, but 2 of 2 in flight)
        completeAt(0), submitAt(0), submitAt(0), // admitted, rate
        completeAt(10_000, 1), completeAt(0), submitAt(100_000), submitAt(0), submitAt(0), // admitted, admitted, rate (before slots)
        completeAt(0), submitAt(39_999), submitAt(1), // rate (1 tick before the 4th token), admitted
      ],
    };
    const { solo, crowd } = await both(s);
    const expected = [
      'admitted', 'admitted', 'rate', 'producer-slots', 'admitted', 'rate', 'admitted', 'admitted', 'rate', 'rate', 'admitted',
    ];
    expect(solo.decisions).toEqual(expected);
    expect(crowd.decisions).toEqual(expected);
    expect(crowd.b).toEqual(solo.b);
    // A really flooded: it took its slots and was rejected far more often than admitted.
    expect(crowd.a!.admitted).toBeGreaterThanOrEqual(4);
    expect(crowd.a!.rejected).toBeGreaterThan(FLOOD_FACTOR * crowd.a!.admitted);
  });

  it('control: without a partition (slotsA + slotsB > globalSlots) the same flood does change B\'s decisions, so the comparison can see interference', async () => {
    const s: Scenario = {
      b: { slots: 3 },
      a: { slots: G },
      aReleaseEvery: 1000,
      steps: [submitAt(0), submitAt(1000), completeAt(0), submitAt(1000)],
    };
    const { solo, crowd } = await both(s);
    expect(solo.decisions).toEqual(['admitted', 'admitted', 'admitted']);
    expect(crowd.decisions).toEqual(['global-slots', 'global-slots', 'global-slots']);
  });

  it('for any limits that partition the global ceiling and any schedule of B\'s submits and completions, B\'s decisions and counters are identical with and without A flooding', async () => {
    const scenario: fc.Arbitrary<Scenario> = fc.integer({ min: 1, max: G - 1 }).chain((slotsB) =>
      fc.record({
        b: fc.oneof(
          fc.record({ rate: fc.integer({ min: 1, max: 50 }), burst: fc.integer({ min: 1, max: 4 }), slots: fc.constant(slotsB) }),
          fc.record({ slots: fc.constant(slotsB) }),
        ),
        a: fc.integer({ min: 1, max: G - slotsB }).chain((slotsA) => fc.oneof(
          fc.record({ slots: fc.constant(slotsA) }),
          fc.record({ rate: fc.integer({ min: 1, max: 1000 }), burst: fc.integer({ min: 1, max: 8 }), slots: fc.constant(slotsA) }),
        )),
        aReleaseEvery: fc.integer({ min: 1, max: 5 }),
        steps: fc.array(
          fc.record({
            advance: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 3_000 }), fc.integer({ min: 0, max: 200_000 })),
            action: fc.constantFrom('submit' as const, 'submit' as const, 'complete' as const),
            k: fc.nat(7),
          }).map((r): Step => (r.action === 'submit' ? { advance: r.advance, action: 'submit' } : r as Step)),
          { minLength: 1, maxLength: 30, size: 'max' },
        ),
      }));
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        const { solo, crowd } = await both(s);
        expect(crowd.decisions).toEqual(solo.decisions);
        expect(crowd.b).toEqual(solo.b);
      }),
      { numRuns: 30 },
    );
  });
});
