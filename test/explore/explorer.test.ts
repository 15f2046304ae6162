// The explorer itself: it enumerates exactly the interleavings combinatorics predicts, the
// reduction keeps one order of commuting steps, and it reports a deadlock and a violated
// invariant with the schedule that reached it.
import { describe, expect, it } from 'vitest';
import { add, explore, ExplorationError, load, store, until, wait, notify, type Actor, type Model } from './explorer.js';

/** n actors, each doing k steps on word `wordOf(actor)`. */
function counters(n: number, k: number, wordOf: (a: number) => number): Model<null> {
  return {
    name: `counters(${n}x${k})`,
    setup: () => {
      const mem = new Int32Array(8);
      const actors = Array.from({ length: n }, (_, a) => ({
        name: `A${a}`,
        run: (function* (): Actor { for (let i = 0; i < k; i++) yield add(wordOf(a), 1, 'add'); })(),
      }));
      return { mem, state: null, actors };
    },
    finals: [{ name: 'sum', check: (m) => (m.reduce((x, y) => x + y, 0) === n * k ? null : 'lost add') }],
  };
}

describe('explorer', () => {
  it('without reduction it runs every interleaving: (2+2)!/(2!2!) = 6, (3x2) = 90', () => {
    expect(explore(counters(2, 2, () => 0), { por: false }).schedules).toBe(6);
    expect(explore(counters(3, 2, () => 0), { por: false }).schedules).toBe(90);
  });

  it('with reduction, steps on different words commute: one schedule', () => {
    const r = explore(counters(3, 2, (a) => a));
    expect(r.schedules).toBe(1);
    expect(r.exhaustive).toBe(true);
  });

  it('with reduction, conflicting steps keep every order (same 90 traces on one word)', () => {
    expect(explore(counters(3, 2, () => 0)).schedules).toBe(90);
  });

  it('a preemption bound prunes, and says so', () => {
    const r = explore(counters(3, 2, () => 0), { por: false, preemptions: 0 });
    expect(r.schedules).toBe(6); // one per order of the three actors run to completion
    expect(r.pruned).toBeGreaterThan(0);
    expect(r.exhaustive).toBe(false);
  });

  it('a wait that nobody notifies is reported as a deadlock, with the schedule', () => {
    const m: Model<null> = {
      name: 'lost-notify',
      setup: () => {
        const mem = new Int32Array(2);
        return {
          mem, state: null,
          actors: [
            { name: 'sleeper', run: (function* (): Actor { yield wait(0, 0, 'sleep while w0 == 0'); })() },
            { name: 'setter', run: (function* (): Actor { yield store(0, 1, 'set w0'); })() }, // no notify
          ],
        };
      },
    };
    let err: unknown;
    try { explore(m); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(ExplorationError);
    expect((err as ExplorationError).invariant).toBe('no deadlock');
    expect((err as ExplorationError).message).toContain('sleeper asleep in sleep while w0 == 0');
  });

  it('wait/notify: a notify after the set wakes the sleeper in every order', () => {
    const m: Model<null> = {
      name: 'notify',
      setup: () => {
        const mem = new Int32Array(2);
        return {
          mem, state: null,
          actors: [
            { name: 'sleeper', run: (function* (): Actor { while ((yield load(0, 'check')) === 0) yield wait(0, 0, 'sleep'); })() },
            { name: 'setter', run: (function* (): Actor { yield store(0, 1, 'set'); yield notify(0, 1, 'notify'); })() },
            { name: 'poller', run: (function* (): Actor { yield until([0], (mm) => mm[0] === 1, 'poll'); })() },
          ],
        };
      },
    };
    const r = explore(m, { por: false });
    expect(r.exhaustive).toBe(true);
    expect(r.schedules).toBeGreaterThan(5);
  });
});

// ---- the reduction against the full interleaving space, on the real models ----

import { ringModel } from './models/ring.js';
import { wakerModel } from './models/waker.js';
import { tokenModel } from './models/token.js';
import { windowModel } from './models/window.js';
import { gateModel } from './models/gate.js';

/** Every state (memory and ghost state) the exploration reaches. */
function states<S>(model: Model<S>, por: boolean): { set: Set<string>; schedules: number } {
  const set = new Set<string>();
  const r = explore(model, { por }, (m, s) => {
    set.add(`${m.join(',')}|${JSON.stringify(s, (_k, v: unknown) => (v instanceof Map ? [...v] : v))}`);
  });
  return { set, schedules: r.schedules };
}

describe('explorer: the sleep-set reduction', () => {
  const unrated = (slots: number) => ({ limits: { rate: 0, burst: 0, slots } });
  // Small enough for the full space (no reduction) to be explored too.
  const cases: Array<[string, Model<any>]> = [
    ['ring cap 2, 2 producers x 1 item', ringModel({ capacity: 2, items: [1, 1] })],
    ['waker, 1 producer x 1 item', wakerModel({ items: [1] })],
    ['token, owner and worker', tokenModel({ thief: false })],
    ['window, 1 submitter x 2 windows, 1 freeze', windowModel({ submitters: 1, rounds: 2, freezes: 1 })],
    ['window with store buffers, 1 submitter x 1 window, 1 freeze', windowModel({ submitters: 1, rounds: 1, freezes: 1, order: 'tso' })],
    ['gate, 2 submitters, slots 1, global 1', gateModel({ producers: [unrated(1)], globalLimit: 1, submitters: [{ producer: 0, rounds: 1 }, { producer: 0, rounds: 1 }] })],
  ];
  for (const [name, model] of cases) {
    it(`reaches exactly the states the full interleaving space reaches: ${name}`, () => {
      const full = states(model, false);
      const reduced = states(model, true);
      expect(reduced.schedules).toBeLessThanOrEqual(full.schedules);
      expect([...full.set].filter((x) => !reduced.set.has(x))).toEqual([]);
      expect(reduced.set.size).toBe(full.set.size);
    });
  }

  it('is deterministic: the same model explored twice gives the same report', () => {
    expect(explore(tokenModel({ thief: true }))).toEqual(explore(tokenModel({ thief: true })));
  });
});

describe('explorer: word transition specs (the src/shm/words/ plug-in point)', () => {
  it('an atomic write outside the word\'s legal transitions is a violation named after the word', () => {
    const m: Model<null> = {
      name: 'flip',
      setup: () => ({
        mem: new Int32Array(1), state: null,
        actors: [
          { name: 'up', run: (function* (): Actor { yield add(0, 1, 'add 1'); })() },
          { name: 'down', run: (function* (): Actor { yield add(0, -1, 'sub 1'); })() },
        ],
      }),
      words: [{ name: 'counter', covers: (w) => w === 0, legal: (b, a) => a >= 0 && Math.abs(a - b) === 1 }],
    };
    let err: unknown;
    try { explore(m); } catch (e) { err = e; }
    expect((err as ExplorationError).invariant).toBe('counter: only legal transitions');
    expect((err as ExplorationError).detail).toBe('down changed w0 from 0 to -1');
  });
});

describe('explorer: replay', () => {
  it('a reported schedule, given back as the prefix, reproduces the same failure at the same step', async () => {
    const { wakerModel: wm } = await import('./models/waker.js');
    const m = wm({ items: [1], bug: 'no-recheck-after-park' });
    let first: ExplorationError | null = null;
    try { explore(m); } catch (e) { first = e as ExplorationError; }
    let again: ExplorationError | null = null;
    try { explore(m, { prefix: first!.schedule }); } catch (e) { again = e as ExplorationError; }
    expect(again!.schedule).toEqual(first!.schedule);
    expect(again!.message).toBe(first!.message);
  });
});
