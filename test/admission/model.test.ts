/**
 * Admission against a sequential reference model (test/helpers/admission.ts), with a real
 * Runtime, a VirtualClock and completions the test controls (the `hold` fixture task).
 *
 * With ringCapacity >= nextPow2(globalSlots) and asyncConcurrency >= globalSlots, a ring can
 * never be full, so every decision is a pure function of the gate counters, the clock and the
 * order of submissions and completions: design.md §5 invariants 2, 3, 4 and 5.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Runtime, VirtualClock, type Producer, type Token } from '../../src/index.js';
import { nextPow2 } from '../../src/shm/layout.js';
import { effectiveLimits } from '../../src/runtime/registry.js';
import {
  ADMISSION_TASKS, GateModel, Holds, decisionOf, gateSnapshot, type LimitsSpec, type ProducerModel,
} from '../helpers/admission.js';

const G = 5;

let rt: Runtime;
let clock: VirtualClock;
let holds: Holds;

beforeAll(async () => {
  clock = new VirtualClock();
  holds = new Holds();
  rt = await Runtime.start({
    tasks: ADMISSION_TASKS, workers: 2, globalSlots: G, ringCapacity: nextPow2(G), asyncConcurrency: G, clock,
    spinUs: 0, maxProducers: 4096, maxAttachments: 1, affinity: false,
  });
});

afterAll(async () => {
  await rt?.close();
  holds?.close();
});

/** Move the clock to the next whole second, so E(t) - E(t0) does not depend on where earlier tests left it. */
function alignClock(): void {
  clock.set((Math.floor(clock.now() / 1_000_000) + 1) * 1_000_000);
}

interface Held { key: number; token: Token; model: ProducerModel }

/** One run: producers registered now, then the ops, checking every step against the model. */
class Session {
  readonly model = new GateModel(G);
  readonly producers: Producer[];
  readonly models: ProducerModel[];
  readonly held: Held[] = [];
  readonly decisions: string[] = [];
  private readonly hold = rt.task('hold');

  constructor(tag: string, specs: LimitsSpec[]) {
    const now = clock.now();
    this.producers = specs.map((s, i) => rt.producer(`${tag}-${i}`, s));
    this.models = specs.map((s, i) => this.model.producer(`${tag}-${i}`, s, now));
    this.producers.forEach((p, i) => expect(p.limits).toEqual(effectiveLimits(this.models[i]!.limits)));
    expect(rt.stats().global.inFlight).toBe(0);
    this.check();
  }

  submit(i: number): string {
    const p = this.producers[i]!;
    const m = this.models[i]!;
    const key = holds.key();
    const before = gateSnapshot(rt);
    const a = p.submit(this.hold, key);
    const after = gateSnapshot(rt);
    const want = this.model.submit(m, clock.now());
    const got = decisionOf(a);
    this.decisions.push(got);
    // (c) the decision is the model's.
    expect(got, `submit #${this.decisions.length} on ${p.name}`).toBe(want);
    if (a.admitted) {
      this.held.push({ key, token: a, model: m });
    } else {
      // (b) a rejection changes nothing but its own rejection counter.
      const expected = structuredClone(before);
      expected.producers[p.name]!.rejected[a.reason]++;
      expect(after).toEqual(expected);
    }
    this.check();
    return got;
  }

  /** Release the k-th held task (mod the number held) and wait for its token to resolve. */
  async complete(k: number): Promise<void> {
    if (this.held.length === 0) return;
    const [h] = this.held.splice(k % this.held.length, 1);
    holds.release(h!.key);
    expect(await h!.token).toBe(h!.key);
    this.model.complete(h!.model);
    this.check();
  }

  advance(ticks: number): void {
    clock.advance(ticks);
    this.check();
  }

  /** (a) limits hold, and every counter is the model's. */
  check(): void {
    const now = clock.now();
    this.producers.forEach((p, i) => {
      const m = this.models[i]!;
      const s = p.stats();
      expect({
        inFlight: s.inFlight, tokens: s.tokens, admitted: s.admitted, rejected: s.rejected, resolved: s.resolved,
      }, p.name).toEqual({
        inFlight: m.inFlight, tokens: m.tokensAt(now), admitted: m.admitted,
        rejected: { ...m.rejected, 'ring-full': 0, 'arena-full': 0, 'no-workers': 0, draining: 0, closed: 0, quarantined: 0, 'io-class': 0 },
        resolved: { fulfilled: m.fulfilled, rejected: 0, retracted: 0, abandoned: 0 },
      });
      expect(s.inFlight).toBeLessThanOrEqual(m.limits.slots);
    });
    const g = rt.stats().global;
    expect(g.inFlight).toBe(this.model.global);
    expect(g.inFlight).toBeLessThanOrEqual(G);
  }

  /** (d) complete everything still held; then every in-flight counter is zero. */
  async finish(): Promise<void> {
    while (this.held.length > 0) await this.complete(0);
    for (const p of this.producers) expect(p.stats().inFlight).toBe(0);
    expect(rt.stats().global.inFlight).toBe(0);
  }

  /** After a failed step: release whatever is still held so the next run starts from zero. */
  async cleanup(): Promise<void> {
    const left = this.held.splice(0);
    for (const h of left) holds.release(h.key);
    await Promise.allSettled(left.map((h) => h.token.promise()));
  }
}

type Op = { kind: 'submit'; p: number } | { kind: 'complete'; k: number } | { kind: 'advance'; ticks: number };

const limitsSpec: fc.Arbitrary<LimitsSpec> = fc.oneof(
  // rate-limited, small buckets: rate rejections are common
  fc.record({ rate: fc.integer({ min: 1, max: 20 }), burst: fc.integer({ min: 1, max: 4 }), slots: fc.integer({ min: 1, max: G }) }),
  fc.record({ rate: fc.integer({ min: 1, max: 5_000 }), burst: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ rate: fc.integer({ min: 1, max: 10 }) }),
  // slots only, and unlimited (slots default to the global ceiling)
  fc.record({ slots: fc.integer({ min: 1, max: G }) }),
  fc.constant({}),
);

function ops(advance: fc.Arbitrary<number>): fc.Arbitrary<Op[]> {
  return fc.array(
    fc.oneof(
      { weight: 5, arbitrary: fc.record({ kind: fc.constant('submit' as const), p: fc.nat(7) }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('complete' as const), k: fc.nat(15) }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('advance' as const), ticks: advance }) },
    ),
    { minLength: 1, maxLength: 80, size: 'max' },
  );
}

let runs = 0;

async function runAgainstModel(specs: LimitsSpec[], steps: Op[]): Promise<void> {
  alignClock();
  const s = new Session(`m${++runs}`, specs);
  try {
    for (const op of steps) {
      if (op.kind === 'submit') s.submit(op.p % specs.length);
      else if (op.kind === 'complete') await s.complete(op.k);
      else s.advance(op.ticks);
    }
    await s.finish();
  } finally {
    await s.cleanup();
  }
}

describe('admission decisions equal a sequential model of the gates', () => {
  it('an explicit schedule reaches each gate (rate, producer-slots, global-slots) and is decided as documented', async () => {
    alignClock();
    const s = new Session('explicit', [{ rate: 10, burst: 2, slots: 3 }, { slots: 2 }, {}]);
    const [p1, p2, p3] = [0, 1, 2];
    expect(s.submit(p1)).toBe('admitted');
    expect(s.submit(p1)).toBe('admitted');
    expect(s.submit(p1)).toBe('rate'); // bucket empty
    s.advance(100_000); // 1 token earned (10/s)
    expect(s.submit(p1)).toBe('admitted');
    s.advance(200_000); // 2 more
    expect(s.submit(p1)).toBe('producer-slots'); // 3 of 3 in flight
    expect(s.submit(p2)).toBe('admitted');
    expect(s.submit(p2)).toBe('admitted');
    expect(s.submit(p2)).toBe('producer-slots');
    expect(s.submit(p3)).toBe('global-slots'); // 5 of 5 in flight
    await s.complete(0); // one of p1's
    expect(s.submit(p3)).toBe('admitted');
    expect(s.submit(p1)).toBe('global-slots'); // p1 has tokens and a slot; the global gate rolls it back
    expect(s.producers[p1]!.stats().tokens).toBe(2);
    await s.finish();
  });

  it('for any sequence of submits, completions and whole-ms clock steps: same decisions, counters within limits, rejections change nothing, zero at quiescence', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(limitsSpec, { minLength: 1, maxLength: 4 }),
        ops(fc.oneof(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 400 })).map((ms) => ms * 1000)),
        runAgainstModel,
      ),
      { numRuns: 50 },
    );
  });

  it('for any sequence of submits, completions and clock steps of any number of ticks: same decisions as the model', async () => {
    alignClock();
    const s = new Session('sub-ms', [{ rate: 5000, burst: 4, slots: 5 }]); // fillTicks = 800
    s.advance(999);
    for (let i = 0; i < 4; i++) expect(s.submit(0)).toBe('admitted');
    while (s.held.length > 0) await s.complete(0);
    expect(s.submit(0)).toBe('rate');
    s.advance(2); // 2 ticks, but into the next ms
    expect(s.submit(0)).toBe('admitted'); // E(t0 + 1001) - E(t0 + 999) = 1
    expect(s.submit(0)).toBe('rate'); // the runtime admits: its bucket was refilled to burst
    await s.finish();

    await fc.assert(
      fc.asyncProperty(
        fc.array(limitsSpec, { minLength: 1, maxLength: 4 }),
        ops(fc.oneof(fc.integer({ min: 0, max: 3_000 }), fc.integer({ min: 0, max: 400_000 }))),
        runAgainstModel,
      ),
      { numRuns: 50 },
    );
  });
});
