// rt.cancelToken(key) (issue 22; docs/design.md §4.5 step 2, §4.17 step 3): retracting a pending
// token by its key, the path the dashboard's "kill" takes. A blocked worker (workers: 1) holds the
// only runner, so every later submit stays pending until the test releases it: no timing involved.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, RetractedError, Runtime, type Token } from '../src/index.js';
import { heldRuntime, type Signals } from './helpers/signals.js';

const tasks = new URL('./fixtures/tasks.mjs', import.meta.url);

describe('rt.cancelToken(key)', () => {
  let rt: Runtime;
  let sig: Signals;
  let blocker: Token;
  let end: () => Promise<void>;
  beforeAll(async () => {
    ({ rt, sig, blocker, end } = await heldRuntime({ globalSlots: 64, steal: false }, 'p'));
  });
  afterAll(() => end());

  it('retracts a pending Token: resolved retracted at once, its slots back; the running one is refused', async () => {
    const p = rt.producer('p');
    const before = rt.stats().global.inFlight;
    const t = p.submit(rt.task('inc'), 1) as Token;
    expect(t.state).toBe('pending');
    expect(rt.cancelToken(t.key)).toBe(true);
    expect(t.state).toBe('resolved');
    expect(t.outcome).toBe('retracted');
    expect(t.error).toBeInstanceOf(RetractedError);
    expect(rt.stats().global.inFlight).toBe(before);
    // Once resolved, the same key retracts nothing (and its index's next generation is another token).
    expect(rt.cancelToken(t.key)).toBe(false);
    expect(blocker.state).toBe('running');
    expect(rt.cancelToken(blocker.key)).toBe(false); // never forces
    expect(blocker.state).toBe('running');
  });

  it('retracts a pending submitCallback admission: the callback gets a RetractedError, once', async () => {
    const p = rt.producer('p');
    const got: unknown[] = [];
    expect(p.submitCallback(rt.task('inc'), 1, (err) => { got.push(err); }, 5)).toBeNull();
    // The callback path has no Token: its key is the one the dashboard lists (the pending tokens of this thread).
    const queued = rt._observer().queued(64);
    expect(queued).toHaveLength(1);
    const k = queued[0]!;
    expect(rt.cancelToken({ attachment: k.attachment, index: k.index, generation: k.generation })).toBe(true);
    expect(got).toHaveLength(1);
    expect(got[0]).toBeInstanceOf(RetractedError);
    expect(rt.cancelToken({ attachment: k.attachment, index: k.index, generation: k.generation })).toBe(false);
    expect(got).toHaveLength(1);
  });

  it('a wrong generation, index or attachment retracts nothing (property: only the exact key of a pending token does)', () => {
    const p = rt.producer('p');
    const live = [0, 1, 2].map((i) => p.submit(rt.task('inc'), i) as Token);
    fc.assert(fc.property(
      fc.record({ attachment: fc.integer({ min: 0, max: 20 }), index: fc.integer({ min: 0, max: 200 }), generation: fc.integer({ min: 0, max: 1 << 20 }) }),
      (key) => {
        const exact = live.some((t) => t.key.attachment === key.attachment && t.key.index === key.index && t.key.generation === key.generation);
        fc.pre(!exact);
        return rt.cancelToken(key) === false;
      },
    ));
    expect(live.map((t) => t.state)).toEqual(['pending', 'pending', 'pending']);
    for (const t of live) expect(rt.cancelToken(t.key)).toBe(true);
    expect(live.map((t) => t.outcome)).toEqual(['retracted', 'retracted', 'retracted']);
  });

  it('bad keys are ConfigErrors, nothing retracted', () => {
    const t = rt.producer('p').submit(rt.task('inc'), 1) as Token;
    const bad: unknown[] = [undefined, null, 42, 'x', [], { attachment: 0, index: t.key.index }, { ...t.key, generation: -1 },
      { ...t.key, index: 1.5 }, { ...t.key, extra: 1 }, { ...t.key, attachment: '0' }];
    for (const b of bad) expect(() => rt.cancelToken(b as never)).toThrow(ConfigError);
    expect(t.state).toBe('pending');
    expect(t.cancel()).toBe(true);
  });
});
