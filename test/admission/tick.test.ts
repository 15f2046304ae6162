/**
 * The admission tick (docs/design.md 4.11): a clock with turnResolution is read once for up to
 * 64 rate-limited decisions of one event-loop turn, never reused across turns, and a refusal for
 * rate is only ever decided at a fresh reading. A clock without it is read at every decision.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Runtime, type Clock, type Token } from '../../src/index.js';
import { ADMISSION_TASKS, Holds } from '../helpers/admission.js';
import { TICK_REUSE } from '../../src/admission/tick.js';

/** A hand-driven clock that counts its readings. */
class CountingClock implements Clock {
  t = 0;
  reads = 0;
  constructor(readonly turnResolution: boolean) {}
  now(): number {
    this.reads++;
    return this.t;
  }
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

interface Env { rt: Runtime; clock: CountingClock }

let coarse: Env;
let fine: Env;
let holds: Holds;

async function env(turnResolution: boolean): Promise<Env> {
  const clock = new CountingClock(turnResolution);
  const rt = await Runtime.start({
    tasks: ADMISSION_TASKS, workers: 1, globalSlots: 256, ringCapacity: 256, asyncConcurrency: 256, clock,
    spinUs: 0, affinity: false,
  });
  return { rt, clock };
}

beforeAll(async () => {
  holds = new Holds();
  [coarse, fine] = await Promise.all([env(true), env(false)]);
});

afterAll(async () => {
  await Promise.all([coarse?.rt.close(), fine?.rt.close()]);
  holds?.close();
});

/** Submit n hold tasks in one synchronous stretch; returns the decisions and the keys to release. */
function burst(e: Env, name: string, n: number): { decisions: string[]; tokens: Token[]; keys: number[] } {
  const p = e.rt.producer(name);
  const decisions: string[] = [];
  const tokens: Token[] = [];
  const keys: number[] = [];
  for (let i = 0; i < n; i++) {
    const key = holds.key();
    const a = p.submit('hold', key);
    decisions.push(a.admitted ? 'admitted' : a.reason);
    if (a.admitted) {
      tokens.push(a);
      keys.push(key);
    }
  }
  return { decisions, tokens, keys };
}

async function settle(b: { tokens: Token[]; keys: number[] }): Promise<void> {
  for (const k of b.keys) holds.release(k);
  await Promise.all(b.tokens);
}

describe('admission tick', () => {
  it('a turn-resolution clock is read once per 64 rate-limited decisions of one synchronous stretch', async () => {
    const { rt, clock } = coarse;
    rt.producer('reuse', { rate: 1000, burst: 200, slots: 200 });
    const before = clock.reads;
    const b = burst(coarse, 'reuse', 130);
    expect(b.decisions.every((d) => d === 'admitted')).toBe(true);
    expect(clock.reads - before).toBe(Math.ceil(130 / TICK_REUSE)); // decisions 1, 65 and 129 at 64
    await settle(b);
  });

  it('a clock without turn resolution is read at every rate-limited decision', async () => {
    const { rt, clock } = fine;
    rt.producer('every', { rate: 1000, burst: 200, slots: 200 });
    const before = clock.reads;
    const b = burst(fine, 'every', 130);
    expect(clock.reads - before).toBe(130);
    await settle(b);
  });

  it('producers without a rate never read the clock to decide', async () => {
    const { rt, clock } = fine;
    rt.producer('unrated', { slots: 50 });
    const before = clock.reads;
    const b = burst(fine, 'unrated', 60);
    expect(b.decisions.filter((d) => d === 'producer-slots')).toHaveLength(10);
    expect(clock.reads).toBe(before);
    await settle(b);
  });

  it('a refusal for rate is decided at a fresh reading, never at a reused one', async () => {
    const { rt, clock } = coarse;
    rt.producer('fresh', { rate: 1000, burst: 2, slots: 10 });
    const p = rt.producer('fresh');
    const keys = [holds.key(), holds.key(), holds.key(), holds.key()];
    const first = [p.submit('hold', keys[0]), p.submit('hold', keys[1])];
    expect(first.map((a) => a.admitted)).toEqual([true, true]);
    // One token's worth of time passes inside the same stretch: the reused reading says the
    // bucket is empty, the clock says one token is there.
    clock.t += 1000;
    const reads = clock.reads;
    const third = p.submit('hold', keys[2]);
    expect(third.admitted).toBe(true);
    expect(clock.reads).toBe(reads + 1);
    const fourth = p.submit('hold', keys[3]);
    expect(fourth.admitted ? 'admitted' : fourth.reason).toBe('rate');
    await settle({ tokens: [...first, third].filter((a): a is Token => a.admitted), keys: keys.slice(0, 3) });
  });

  it('a later turn never decides at an earlier turn\'s reading, even while the pump is still polling', async () => {
    // A spin budget of a second keeps this thread's pump polling (scheduled, not parked) across
    // the turns below, so only the pump tick's expiry makes the next decision read the clock.
    const clock = new CountingClock(true);
    const rt = await Runtime.start({ tasks: ADMISSION_TASKS, workers: 1, clock, spinUs: 1_000_000, affinity: false });
    try {
      rt.producer('turns', { rate: 1000, burst: 2, slots: 10 });
      const p = rt.producer('turns');
      const k1 = holds.key();
      const a = p.submit('hold', k1);
      expect(a.admitted).toBe(true);
      await turn();
      await turn();
      // One token is left, so the decision below admits whichever reading it uses: only the
      // count of readings shows whether it read the clock.
      clock.t += 1000;
      const reads = clock.reads;
      const k2 = holds.key();
      const b = p.submit('hold', k2);
      expect(b.admitted).toBe(true);
      expect(clock.reads).toBe(reads + 1);
      await settle({ tokens: [a, b].filter((x): x is Token => x.admitted), keys: [k1, k2] });
    } finally {
      await rt.close();
    }
  });
});
