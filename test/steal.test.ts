// Work stealing (docs/design.md 4.2a): an idle worker runs the queued tasks of a sibling that is
// inside a task, within the task's weight class, and every task still runs exactly once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ConfigError, Runtime, type Producer, type RuntimeOptions, type Token } from '../src/index.js';
import { Signals } from './helpers/signals.js';

const tasks = new URL('./fixtures/tasks.mjs', import.meta.url);

function admitted<T>(a: ReturnType<Producer['submit']>): Token<T> {
  if (!a.admitted) throw new Error(`not admitted: ${a.reason}`);
  return a as Token<T>;
}

/**
 * A two-worker runtime with both workers blocked in `blockUntil`: `first` (the first core's,
 * where ties go) on keys[0], `second` on keys[1]. Nothing can leave either ring until a key is
 * released, except by stealing.
 */
async function blocked(sig: Signals, keys: [string, string], options: Partial<RuntimeOptions> = {}) {
  const rt = await Runtime.start({ tasks, workers: 2, ...options });
  await rt.allWorkersReady(); // routing sends work to ready workers only: both must be
  const [first, second] = rt.handle.chains[3]! as [number, number];
  const p = rt.producer('p');
  // One at a time: once keys[0] has started, `first` counts as occupied, so keys[1] goes to
  // `second` (submitted together, both could land on `first` while it is between pop and run).
  const blockers: Token<string>[] = [];
  for (const k of keys) {
    blockers.push(admitted<string>(p.submit(rt.task('blockUntil'), k)));
    await sig.started(k);
  }
  const ids = rt.stats().workers.map((w) => w.threadId);
  return { rt, p, blockers, first, second, ids };
}

/** Waits (turn by turn, no timer) until worker w's ring reads empty. */
async function ringEmpty(rt: Runtime, w: number): Promise<void> {
  while (rt.stats().workers[w]!.queued > 0) await new Promise((r) => setImmediate(r));
}

describe('work stealing', () => {
  let sig: Signals;
  beforeAll(() => { sig = new Signals(); });
  afterAll(() => sig.close());

  it('tasks queued behind a blocked worker run on the idle one while it stays blocked, each once', async () => {
    const { rt, p, blockers, first, second, ids } = await blocked(sig, ['hol-a', 'hol-b']);
    try {
      // Both busy: routing alternates the shorts between the two rings (ties to `first`).
      const shorts = Array.from({ length: 10 }, () => admitted<number>(p.submit(rt.task('whereRan'), 0)));
      expect(rt.stats().workers.map((w) => w.queued)).toEqual([5, 5]);
      sig.release('hol-b');
      // Resolves only if `second` ran the five shorts queued behind the still-blocked `first`.
      const ran = await Promise.all(shorts);
      expect(ran).toEqual(Array(10).fill(ids[second]));
      expect(blockers[0]!.state).toBe('running');
      const s = rt.stats().workers;
      expect(s[second]!.stolen).toBe(5);
      expect(s[first]!.stolen).toBe(0);
      sig.release('hol-a');
      expect(await Promise.all(blockers)).toEqual(['hol-a', 'hol-b']);
      // `first` skips the five stolen cells: nothing ran twice, nothing is left behind.
      await ringEmpty(rt, first);
      expect(await rt.run('inc', 1)).toBe(2);
      const after = rt.stats();
      expect(after.workers.reduce((a, w) => a + w.executed, 0)).toBe(2 + 10 + 1);
      expect(after.global.inFlight).toBe(0);
    } finally {
      sig.release('hol-a');
      sig.release('hol-b');
      await rt.close();
    }
  });

  it('steal: false keeps every task on the worker it was routed to', async () => {
    await expect(Runtime.start({ tasks, workers: 2, steal: 'yes' as unknown as boolean })).rejects.toBeInstanceOf(ConfigError);
    const { rt, p, blockers, first, second, ids } = await blocked(sig, ['nosteal-a', 'nosteal-b'], { steal: false });
    try {
      const shorts = Array.from({ length: 10 }, () => admitted<number>(p.submit(rt.task('whereRan'), 0)));
      // Even indices went to `first` (ties), odd ones to `second`.
      sig.release('nosteal-b');
      expect(await Promise.all(shorts.filter((_, i) => i % 2 === 1))).toEqual(Array(5).fill(ids[second]));
      await ringEmpty(rt, second);
      expect(rt.stats().workers[first]!.queued).toBe(5);
      expect(shorts.filter((t, i) => i % 2 === 0 && t.state === 'pending')).toHaveLength(5);
      sig.release('nosteal-a');
      expect(await Promise.all(shorts.filter((_, i) => i % 2 === 0))).toEqual(Array(5).fill(ids[first]));
      await Promise.all(blockers);
      expect(rt.stats().workers.map((w) => w.stolen)).toEqual([0, 0]);
    } finally {
      sig.release('nosteal-a');
      sig.release('nosteal-b');
      await rt.close();
    }
  });

  it('a worker never steals a task outside its weight class chain', async () => {
    const { rt, p, blockers, first, second, ids } = await blocked(sig, ['weight-a', 'weight-b']);
    try {
      expect(rt.handle.chains[1]).toEqual([second]); // medium: never the first core's worker
      const medium = Array.from({ length: 4 }, () => admitted<number>(p.submit(rt.task('whereRan', { weight: 'medium' }), 0)));
      expect(rt.stats().workers[second]!.queued).toBe(4);
      // Free `first`: it runs two unclassed tasks, then spins idle next to a sibling that is
      // inside a task with four cells queued, which it would take at once if their class allowed.
      sig.release('weight-a');
      await blockers[0];
      expect(await rt.run<number>('whereRan', 0)).toBe(ids[first]);
      expect(await rt.run<number>('whereRan', 0)).toBe(ids[first]);
      expect(rt.stats().workers[second]!.queued).toBe(4);
      sig.release('weight-b');
      expect(await Promise.all(medium)).toEqual(Array(4).fill(ids[second]));
      expect(rt.stats().workers[first]!.stolen).toBe(0);
    } finally {
      sig.release('weight-a');
      sig.release('weight-b');
      await rt.close();
    }
  });
});

describe('work stealing: exactly once (property, real threads)', () => {
  const stealTasks = new URL('./fixtures/steal-tasks.mjs', import.meta.url);
  const N = 4096;
  const exec = new SharedArrayBuffer(4 * N);
  const where = new SharedArrayBuffer(4 * N);
  const execs = new Int32Array(exec);
  let rt: Runtime;
  beforeAll(async () => {
    rt = await Runtime.start({ tasks: stealTasks, workers: 3, globalSlots: 1024, taskData: { exec, where } });
    await rt.allWorkersReady();
  });
  afterAll(async () => {
    // The schedules below made workers steal: the property was exercised, not skipped.
    expect(rt.stats().workers.reduce((a, w) => a + w.stolen, 0)).toBeGreaterThan(0);
    await rt.close();
  });

  it('for any mix of long and short tasks, with cancels racing the thieves, each token resolves once and each body runs once (or never, if retracted)', async () => {
    let base = 0;
    await fc.assert(fc.asyncProperty(
      fc.array(fc.record({ us: fc.constantFrom(0, 0, 0, 20, 300), cancel: fc.boolean() }), { minLength: 50, maxLength: 400 }),
      async (plan) => {
        if (base + plan.length > N) base = 0;
        execs.fill(0, base, base + plan.length);
        const p = rt.producer('prop');
        const ref = rt.task('work');
        const tokens = plan.map((t, i) => admitted<number>(p.submit(ref, [base + i, t.us])));
        const cancelled = tokens.map((t, i) => plan[i]!.cancel && t.cancel());
        const settled = await Promise.allSettled(tokens);
        settled.forEach((r, i) => {
          const id = base + i;
          if (cancelled[i]) {
            expect(tokens[i]!.outcome).toBe('retracted');
            expect(execs[id]).toBe(0);
          } else {
            expect(r).toEqual({ status: 'fulfilled', value: id + 1 });
            expect(execs[id]).toBe(1);
          }
        });
        base += plan.length;
        expect(rt.stats().global.inFlight).toBe(0);
      },
    ), { numRuns: 25 });
  }, 120_000);
});
