/**
 * I/O classes (docs/design.md §2.4, §4.1 step 3a): the class gate against a sequential reference
 * model for any interleaving of submits (refused by earlier gates, by the class, or admitted)
 * and completions, with a VirtualClock and completions the test controls (`hold`); the ring
 * refusing after the class gate admitted (rolled back exactly); the class words; the options
 * read once and checked (hostile values); the pool warning.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ConfigError, Runtime, VirtualClock, type IoClass, type Producer, type Token } from '../src/index.js';
import { IO_CLASS, IO_COUNT, IO_NAMED, IO_SLOTS, Memory, nextPow2 } from '../src/shm/layout.js';
import { IO_KEY_MASK, IO_LIMIT_MASK, IO_LIMIT_MAX, classWord, claimCustom, keyOf, limitOf } from '../src/shm/words/io.js';
import { DEFAULT_IO_LIMITS, admitIo, releaseIo } from '../src/admission/io-class.js';
import { libuvPoolSize, parseIo } from '../src/runtime/io-class.js';
import { Holds } from './helpers/admission.js';

const IO_TASKS = new URL('./fixtures/io-tasks.mjs', import.meta.url);

describe('the class word and the class gate on a bare word (words/io.ts, admission/io-class.ts)', () => {
  it('key | limit partition the word and round-trip at their maxima', () => {
    expect((IO_KEY_MASK & IO_LIMIT_MASK) >>> 0).toBe(0);
    expect((IO_KEY_MASK | IO_LIMIT_MASK) >>> 0).toBe(0xffffffff);
    fc.assert(fc.property(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: IO_LIMIT_MAX }), (k, l) => {
      const w = classWord(k, l);
      expect([keyOf(w), limitOf(w)]).toEqual([k, l]);
    }));
  });

  it('claimCustom: one CAS from 0; a claimed word never changes', () => {
    const i32 = new Int32Array(1);
    expect(claimCustom(i32, 0, classWord(3, 7))).toBe(classWord(3, 7));
    expect(claimCustom(i32, 0, classWord(4, 9))).toBe(classWord(3, 7));
    expect(i32[0]).toBe(classWord(3, 7));
  });

  it('admitIo/releaseIo: for any sequence of takes and gives, with any (stale) guesses, the count equals the model and never passes the limit', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 6 }),
      fc.array(fc.record({ take: fc.boolean(), guess: fc.integer({ min: -3, max: 10 }) }), { maxLength: 60 }),
      (limit, ops) => {
        const i32 = new Int32Array(1);
        const guess = new Int32Array(1);
        let model = 0;
        for (const op of ops) {
          guess[0] = op.guess; // a guess is only a hint: any value decides the same
          if (op.take) {
            const ok = admitIo(i32, 0, limit, guess, 0);
            expect(ok).toBe(model < limit);
            if (ok) model++;
          } else if (model > 0) {
            const mem = { i32, ioWord: () => 0 } as unknown as Memory;
            releaseIo(mem, 0, 1, guess);
            model--;
          }
          expect(i32[0]).toBe(model);
          expect(i32[0]).toBeLessThanOrEqual(limit);
        }
      },
    ));
  });
});

// ---------------------------------------------------------------------------------------------
// The gate in a runtime, against a sequential model.
// ---------------------------------------------------------------------------------------------

const G = 6;
let rt: Runtime;
let holds: Holds;
let mem: Memory;

beforeAll(async () => {
  holds = new Holds();
  rt = await Runtime.start({
    tasks: IO_TASKS, workers: 2, globalSlots: G, ringCapacity: nextPow2(G), asyncConcurrency: G, clock: new VirtualClock(),
    spinUs: 0, maxAttachments: 1, maxProducers: 4096, affinity: false, ioLimits: { slow: 2, moderate: 3 },
  });
  mem = new Memory(rt.handle.sab);
});

afterAll(async () => {
  await rt?.close();
  holds?.close();
});

/** The count word of a class, read directly, and as rt.stats() shows it. */
function countOf(cls: string): number {
  return rt.stats().io.find((c) => c.class === cls)!.inFlight;
}

describe('the class gate in a runtime', () => {
  it('named limits: ioLimits where given, the defaults elsewhere; a custom class appears once declared', () => {
    expect(rt.stats().io.slice(0, 4)).toEqual([
      { class: 'slow', limit: 2, inFlight: 0 }, { class: 'moderate', limit: 3, inFlight: 0 },
      { class: 'fast', limit: DEFAULT_IO_LIMITS.fast, inFlight: 0 }, { class: 'insane', limit: DEFAULT_IO_LIMITS.insane, inFlight: 0 },
    ]);
    const ref = rt.task('holdToo', { io: { limit: 1 } });
    expect(ref.io).toEqual({ limit: 1 });
    expect(Object.isFrozen(ref.io)).toBe(true);
    expect(rt.stats().io.find((c) => c.class === 'holdToo')).toEqual({ class: 'holdToo', limit: 1, inFlight: 0 });
    // The same task function, the same limit: the same class (no second slot).
    rt.task('holdToo', { io: { limit: 1 } });
    expect(rt.stats().io.filter((c) => c.class === 'holdToo')).toHaveLength(1);
    // Another limit for it: refused, nothing claimed.
    expect(() => rt.task('holdToo', { io: { limit: 2 } })).toThrow(ConfigError);
    expect(rt.stats().io.filter((c) => c.class === 'holdToo')).toEqual([{ class: 'holdToo', limit: 1, inFlight: 0 }]);
  });

  it('for any interleaving of submits (refused by the producer, the global, the class gate, or admitted) and completions, every decision and every count is the model\'s, and the books close at 0', async () => {
    const classes: (IoClass | null)[] = ['slow', 'moderate', null, { limit: 1 }];
    const limits = [2, 3, Infinity, 1];
    const names = ['slow', 'moderate', null, 'holdToo'];
    const refs = classes.map((c, i) => (i === 3 ? rt.task('holdToo', { io: c! }) : c === null ? rt.task('hold') : rt.task('hold', { io: c })));
    let run = 0;
    await fc.assert(fc.asyncProperty(
      fc.array(fc.oneof(
        fc.record({ op: fc.constant('submit' as const), p: fc.nat(2), c: fc.nat(3) }),
        fc.record({ op: fc.constant('complete' as const), j: fc.nat(20) }),
      ), { maxLength: 40 }),
      async (ops) => {
        run++;
        const producers: Producer[] = [1, 3, 6].map((slots, i) => rt.producer(`run${run}-${i}`, { slots }));
        const slots = [1, 3, 6];
        const pIn = [0, 0, 0];
        const cIn = [0, 0, 0, 0];
        let global = 0;
        const held: { key: number; token: Token; p: number; c: number }[] = [];
        const check = (): void => {
          for (let c = 0; c < 4; c++) if (names[c] !== null) expect(countOf(names[c]!), `class ${names[c]}`).toBe(cIn[c]);
          expect(rt.stats().global.inFlight).toBe(global);
          producers.forEach((p, i) => expect(p.stats().inFlight).toBe(pIn[i]));
        };
        for (const o of ops) {
          if (o.op === 'submit') {
            const want = pIn[o.p]! >= slots[o.p]! ? 'producer-slots' : global >= G ? 'global-slots' : cIn[o.c]! >= limits[o.c]! ? 'io-class' : 'admitted';
            const key = holds.key();
            const a = producers[o.p]!.submit(refs[o.c]!, key);
            expect(a.admitted ? 'admitted' : a.reason).toBe(want);
            if (a.admitted) {
              pIn[o.p]!++;
              cIn[o.c]!++;
              global++;
              held.push({ key, token: a, p: o.p, c: o.c });
            }
          } else if (held.length > 0) {
            const h = held.splice(o.j % held.length, 1)[0]!;
            holds.release(h.key);
            await h.token;
            pIn[h.p]!--;
            cIn[h.c]!--;
            global--;
          }
          check();
        }
        for (const h of held.splice(0)) holds.release(h.key);
        while (rt.stats().global.inFlight !== 0) await new Promise((r) => setImmediate(r));
        for (const c of ['slow', 'moderate', 'holdToo']) expect(countOf(c)).toBe(0);
        for (const p of producers) {
          const s = p.stats();
          expect(s.inFlight).toBe(0);
          expect(s.resolved.fulfilled).toBe(s.admitted);
        }
      },
    ), { numRuns: 25 });
  }, 60_000);

  it("a task without a class never touches the class words; its token's class word is 0", async () => {
    const before = Array.from({ length: IO_SLOTS }, (_, k) => Atomics.load(mem.i32, mem.ioWord(k, IO_COUNT)));
    const key = holds.key();
    const t = rt.producer('plain').submit(rt.task('hold'), key) as Token;
    expect(t.admitted).toBe(true);
    // Its index was used by classed tokens before (the property above): the submit wrote 0 over that.
    expect(mem.i32[mem.tokenIoWord(0, t._index)]).toBe(0);
    expect(Array.from({ length: IO_SLOTS }, (_, k) => Atomics.load(mem.i32, mem.ioWord(k, IO_COUNT)))).toEqual(before);
    holds.release(key);
    await t;
  });

  it("rt.run waits for room in a full class ('io-class' is a capacity reason) and runs once a slot is released", async () => {
    const slow = rt.task('hold', { io: 'slow' });
    const keys = [holds.key(), holds.key()];
    const held = keys.map((k) => rt.producer('run-fill').submit(slow, k) as Token);
    expect(held.every((t) => t.admitted)).toBe(true);
    expect(countOf('slow')).toBe(2);
    const k3 = holds.key();
    holds.release(k3); // its task completes as soon as it runs
    let done = false;
    const waiting = rt.run<number>(slow, k3).then((v) => { done = true; return v; });
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    expect(done).toBe(false); // still waiting: the class is full
    expect(countOf('slow')).toBe(2);
    holds.release(keys[0]!);
    expect(await waiting).toBe(k3);
    holds.release(keys[1]!);
    await Promise.all(held);
    while (rt.stats().global.inFlight !== 0) await new Promise((r) => setImmediate(r));
    expect(countOf('slow')).toBe(0);
  });

  it('a submit whose class slot was taken but whose ring is refused gives the class slot back (rollback of 3a, 3 and 2)', async () => {
    // One worker that runs one async task at a time, a ring of 2 cells: the third queued submit finds it full.
    const small = await Runtime.start({
      tasks: IO_TASKS, workers: 1, ringCapacity: 2, asyncConcurrency: 1, globalSlots: 16, spinUs: 0, affinity: false, maxAttachments: 1,
      steal: false, warmUp: false,
    });
    try {
      const p = small.producer('p');
      const ref = small.task('hold', { io: 'insane' });
      const keys = [holds.key(), holds.key(), holds.key()];
      const first = p.submit(ref, keys[0]) as Token;
      while (small.stats().workers[0]!.asyncInFlight !== 1) await new Promise((r) => setImmediate(r));
      const queued = [p.submit(ref, keys[1]), p.submit(ref, keys[2])] as Token[];
      expect(queued.every((t) => t.admitted)).toBe(true);
      const stats = (): unknown => { const s = small.stats(); return { io: s.io[3], global: s.global.inFlight, p: s.producers.find((x) => x.name === 'p')!.inFlight }; };
      const before = stats();
      expect(before).toEqual({ io: { class: 'insane', limit: 70, inFlight: 3 }, global: 3, p: 3 });
      const refused = p.submit(ref, holds.key());
      expect(refused.admitted ? 'admitted' : refused.reason).toBe('ring-full');
      expect(stats()).toEqual(before);
      keys.forEach((k) => holds.release(k));
      await Promise.all([first, ...queued]);
      while (small.stats().global.inFlight !== 0) await new Promise((r) => setImmediate(r));
      expect(small.stats().io[3]!.inFlight).toBe(0);
    } finally {
      await small.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Options: read once, checked, hostile values refused with nothing taken.
// ---------------------------------------------------------------------------------------------

describe('io options are checked (ConfigError, nothing claimed)', () => {
  const claimed = (): number => {
    let n = 0;
    for (let k = IO_NAMED; k < IO_SLOTS; k++) if (Atomics.load(mem.i32, mem.ioWord(k, IO_CLASS)) !== 0) n++;
    return n;
  };
  const bad: [string, unknown][] = [
    ['an unknown class', 'turbo'],
    ['a class name of another case', 'SLOW'],
    ['null', null],
    ['a number', 5],
    ['an array', ['slow']],
    ['limit 0', { limit: 0 }],
    ['a negative limit', { limit: -1 }],
    ['NaN', { limit: NaN }],
    ['Infinity', { limit: Infinity }],
    ['a non-integer limit', { limit: 1.5 }],
    ['a limit over the word (65535)', { limit: IO_LIMIT_MAX + 1 }],
    ['a string limit', { limit: '3' }],
    ['no limit', {}],
    ['an unknown key', { limit: 1, name: 'x' }],
    ['a getter that throws', { get limit(): number { throw new Error('boom'); } }],
    ['a Proxy whose traps throw', new Proxy({}, { ownKeys() { throw new Error('trap'); }, get() { throw new Error('trap'); } })],
    ['a Proxy with a limit', new Proxy({ limit: 1 }, {})],
    ['a symbol', Symbol('slow')],
  ];
  for (const [what, io] of bad) {
    it(what, () => {
      const n = claimed();
      let err: unknown;
      try {
        rt.task('inc', { io: io as IoClass });
      } catch (e) {
        err = e;
      }
      if (what === 'a Proxy with a limit') {
        // A Proxy over a plain object reads like the object (its traps are user code, run once, guarded).
        expect(err).toBeUndefined();
        return;
      }
      expect(err, what).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).code).toBe('ERR_SLUICE_CONFIG');
      expect(claimed()).toBe(n);
    });
  }

  it('a getter is read exactly once', () => {
    let reads = 0;
    const io = { get limit(): number { reads++; return 1; } }; // inc's class has limit 1 (the Proxy case declared it)
    const ref = rt.task('inc', { io });
    expect(reads).toBe(1);
    expect(ref.io).toEqual({ limit: 1 });
  });

  it('parseIo names the known classes; ioLimits is checked at start', async () => {
    expect(() => parseIo('here', 'turbo')).toThrow(/known: slow, moderate, fast, insane/);
    for (const ioLimits of [{ slow: 0 }, { fast: 1.5 }, { insane: 65536 }, { turbo: 3 }, null, 'slow']) {
      await expect(Runtime.start({ tasks: IO_TASKS, workers: 1, ioLimits } as never)).rejects.toBeInstanceOf(ConfigError);
    }
  });
});

describe('the thread-pool warning (SLUICE_IO_POOL)', () => {
  it('libuvPoolSize reads UV_THREADPOOL_SIZE as libuv does', () => {
    expect(libuvPoolSize({})).toBe(4);
    expect(libuvPoolSize({ UV_THREADPOOL_SIZE: '16' })).toBe(16);
    expect(libuvPoolSize({ UV_THREADPOOL_SIZE: '0' })).toBe(1);
    expect(libuvPoolSize({ UV_THREADPOOL_SIZE: 'x' })).toBe(1);
    expect(libuvPoolSize({ UV_THREADPOOL_SIZE: '5000' })).toBe(1024);
    expect(libuvPoolSize({ UV_THREADPOOL_SIZE: '-3' })).toBe(1024);
    expect(libuvPoolSize({ UV_THREADPOOL_SIZE: '12abc' })).toBe(12);
  });

  it('is emitted once per runtime, at the first class whose limit exceeds the pool', async () => {
    const warnings: { code?: string; message: string }[] = [];
    const on = (w: Error & { code?: string }): void => { warnings.push({ code: w.code, message: w.message }); };
    process.on('warning', on);
    const r = await Runtime.start({ tasks: IO_TASKS, workers: 1, affinity: false, maxAttachments: 1, ioLimits: { slow: 2 }, warmUp: false });
    try {
      const pool = libuvPoolSize();
      r.task('hold', { io: 'slow' }); // 2: at most the pool (4 unless UV_THREADPOOL_SIZE says otherwise)
      r.task('hold', { io: 'insane' }); // 70
      r.task('hold', { io: 'fast' }); // 50: no second warning
      await new Promise((res) => setImmediate(res));
      const ours = warnings.filter((w) => w.code === 'SLUICE_IO_POOL');
      expect(ours).toHaveLength(pool >= 70 ? 0 : 1);
      if (pool < 70) expect(ours[0]!.message).toMatch(/insane admits 70 tasks .* thread pool of \d+ threads/);
    } finally {
      process.off('warning', on);
      await r.close();
    }
  });
});
