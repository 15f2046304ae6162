// The one-task poll (docs/design.md 4.4 step 0): a thread with exactly one task outstanding
// polls for its result before giving its event loop a turn, within bounds.
//
// Whether a poll finds a result in time is a race with the worker, so these tests remove the
// race: they wait (spinning, synchronously) until the result is published before they await.
// Whether the awaiter then resumed without an event-loop turn is observed with a setImmediate
// queued before the submit: it runs first if and only if the event loop had a turn.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Runtime, type Token } from '../src/index.js';
import { internals } from '../src/runtime/testing/testing.js';
import type { Attachment } from '../src/runtime/submit/attachment.js';

const tasks = new URL('./fixtures/tasks.mjs', import.meta.url);

const attOf = (rt: Runtime): Attachment => internals(rt).att;

/** Spin until `count` completions are published and not yet drained (no event-loop turn meanwhile). */
function waitPublished(rt: Runtime, count = 1): void {
  const att = attOf(rt);
  while (!att.completions.readable((att.drain.head + count - 1) | 0));
}

/** Lets the pump see nothing outstanding and go idle, so the next submit schedules it afresh. */
async function settle(rt: Runtime): Promise<void> {
  await attOf(rt).table.whenIdle();
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
}

/**
 * Queues an immediate, submits inc(41), waits until its result is published, then awaits it.
 * The returned order says whether the awaiter resumed before the event loop had a turn.
 */
async function awaitPublished(rt: Runtime, producer: string): Promise<string[]> {
  const order: string[] = [];
  setImmediate(() => order.push('turn'));
  const t = tokenOf<number>(rt.producer(producer).submit(rt.task('inc'), 41));
  waitPublished(rt);
  expect(await t).toBe(42);
  order.push('resumed');
  return order;
}

function tokenOf<T>(a: ReturnType<ReturnType<Runtime['producer']>['submit']>): Token<T> {
  if (!a.admitted) throw new Error(`not admitted: ${a.reason}`);
  return a as Token<T>;
}

describe('one-task poll (pump step 0)', () => {
  let rt: Runtime;
  beforeAll(async () => {
    rt = await Runtime.start({ tasks, workers: 2 });
  });
  afterAll(async () => {
    await rt.close();
  });

  it('an awaited token that is the only one outstanding resumes without an event-loop turn', async () => {
    const att = attOf(rt);
    const bound = att.pump.pollTurnMs;
    att.pump.pollTurnMs = Infinity; // the result is published before the await: only the turn bound could interfere
    try {
      await settle(rt);
      const order = await awaitPublished(rt, 'one');
      expect(order).toEqual(['resumed']);
      await new Promise((r) => setImmediate(r));
      expect(order).toEqual(['resumed', 'turn']);
    } finally {
      att.pump.pollTurnMs = bound;
    }
  });

  it('rt.run of a lone task polls for its result before returning: awaiting it resumes without an event-loop turn', async () => {
    const att = attOf(rt);
    const [bound, ms] = [att.pump.pollTurnMs, att.pump.pollOneMs];
    // No race with the worker: the poll inside rt.run lasts until the result is in.
    att.pump.pollTurnMs = Infinity;
    att.pump.pollOneMs = 60_000;
    try {
      await settle(rt);
      const order: string[] = [];
      setImmediate(() => order.push('turn'));
      expect(await rt.run<number>('inc', 41)).toBe(42);
      order.push('resumed');
      expect(order).toEqual(['resumed']);
      // Two outstanding: rt.run does not poll (the second call returns at once, unsettled).
      await settle(rt);
      const other = tokenOf<number>(rt.producer('two-run').submit(rt.task('inc'), 1));
      const p = rt.run<number>('inc', 2);
      expect(att.outstanding).toBeGreaterThan(0);
      expect(await Promise.all([p, other])).toEqual([3, 2]);
    } finally {
      att.pump.pollTurnMs = bound;
      att.pump.pollOneMs = ms;
    }
  });

  it('does not poll with two tasks outstanding: the awaiter waits for a turn', async () => {
    await settle(rt);
    const p = rt.producer('two');
    const order: string[] = [];
    setImmediate(() => order.push('turn'));
    const a = tokenOf<number>(p.submit(rt.task('inc'), 1));
    const b = tokenOf<number>(p.submit(rt.task('inc'), 2));
    waitPublished(rt, 2);
    expect(await a).toBe(2);
    order.push('resumed');
    expect(order).toEqual(['turn', 'resumed']);
    expect(await b).toBe(3);
  });

  it('gives the event loop a turn within POLL_TURN_MS however many sequential awaits find their result', async () => {
    await settle(rt);
    const p = rt.producer('loop');
    let turned = false;
    setImmediate(() => { turned = true; });
    let i = 0;
    // Every result is published before its await, so without the bound no await would ever
    // yield and this loop would run to its cap; with it the immediate runs after ~1 ms.
    while (!turned && i < 200_000) {
      const t = tokenOf<number>(p.submit(rt.task('inc'), i));
      waitPublished(rt);
      expect(await t).toBe(i + 1);
      i++;
    }
    expect(turned).toBe(true);
  });

  it('a token awaited inside a callback (a drain is running) resolves', async () => {
    await settle(rt);
    const p = rt.producer('nested');
    const value = await new Promise<number>((resolve, reject) => {
      const r = p.submitCallback(rt.task('inc'), 1, (err, v) => {
        if (err) return reject(err);
        const t = tokenOf<number>(p.submit(rt.task('inc'), v as number));
        t.then(resolve, reject);
      });
      if (r !== null) reject(new Error(`refused: ${r.reason}`));
    });
    expect(value).toBe(3);
  });

  it('a sequential loop of callbacks (each submits the next) runs every callback once, in order', async () => {
    await settle(rt);
    const p = rt.producer('cb-loop');
    const n = 3000;
    const seen: number[] = [];
    await new Promise<void>((resolve, reject) => {
      const next = (i: number): void => {
        const r = p.submitCallback(rt.task('inc'), i, (err, v) => {
          if (err) return reject(err);
          seen.push(v as number);
          if (i + 1 === n) resolve();
          else next(i + 1);
        });
        if (r !== null) reject(new Error(`refused: ${r.reason}`));
      };
      next(0);
    });
    expect(seen).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    expect(p.stats().inFlight).toBe(0);
  });

  it('property: any mix of awaited, unawaited, callback and cancelled submits resolves each exactly once', async () => {
    const p = rt.producer('mix');
    await fc.assert(fc.asyncProperty(
      fc.array(fc.constantFrom('await', 'await', 'await', 'fire', 'callback', 'cancel'), { minLength: 1, maxLength: 60 }),
      async (steps) => {
        let callbacks = 0;
        let callbacksExpected = 0;
        const fired: Array<Promise<unknown>> = [];
        for (let i = 0; i < steps.length; i++) {
          const step = steps[i]!;
          if (step === 'callback') {
            callbacksExpected++;
            const r = p.submitCallback(rt.task('inc'), i, (err, v) => {
              expect(err).toBeUndefined();
              expect(v).toBe(i + 1);
              callbacks++;
            });
            expect(r).toBeNull();
            continue;
          }
          const t = tokenOf<number>(p.submit(rt.task('inc'), i));
          if (step === 'await') expect(await t).toBe(i + 1);
          else if (step === 'fire') fired.push(t.then((v) => expect(v).toBe(i + 1)));
          else if (t.cancel()) await expect(t).rejects.toThrow();
          else expect(await t).toBe(i + 1);
        }
        await Promise.all(fired);
        await attOf(rt).table.whenIdle();
        expect(callbacks).toBe(callbacksExpected);
        expect(attOf(rt).table.outstanding).toBe(0);
        expect(p.stats().inFlight).toBe(0);
      },
    ), { numRuns: 60 });
  });
});

describe('one-task poll: off with spin 0', () => {
  it('spin 0: a published result still waits for an event-loop turn', async () => {
    const rt = await Runtime.start({ tasks, workers: 1, spinUs: 0 });
    try {
      expect(attOf(rt).pump.pollOneMs).toBe(0);
      expect(await awaitPublished(rt, 'parked')).toEqual(['turn', 'resumed']);
    } finally {
      await rt.close();
    }
  });
});
