/**
 * Issue 17, the public surface at run time: token.state never goes backwards, Token.value /
 * error / result(), producer.limits (and ProducerStats.limits) round-trip into rt.producer(),
 * and the renamed `spin` option. (What the compiler sees is test/types.test.ts.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, Producer, RetractedError, Runtime, type ProducerLimits, type Token } from '../src/index.js';
import { Signals } from './helpers/signals.js';

const tasks = new URL('./fixtures/surface-tasks.mjs', import.meta.url);

describe('the public surface at run time', () => {
  let rt: Runtime;
  let sig: Signals;
  beforeAll(async () => {
    rt = await Runtime.start({ tasks, workers: 1, globalSlots: 32 });
    sig = new Signals();
  });
  afterAll(async () => {
    sig.close();
    await rt.close();
  });

  it("token.state never goes back to 'pending': it stays 'running' after the task finished, until the completion is drained", async () => {
    const executed = rt.stats().workers[0]!.executed;
    const a = rt.producer('states').submit<number>(rt.task('busy'), 200);
    if (!a.admitted) throw new Error(`not admitted: ${a.reason}`);
    // Synchronously (this thread's pump cannot drain meanwhile): record every state change until
    // the worker has finished the task and published its completion, then look a while longer.
    const seen: string[] = [a.state];
    const look = (): void => { const s = a.state; if (s !== seen[seen.length - 1]) seen.push(s); };
    const until = Date.now() + 5_000;
    // executed counts a task when it starts; parked: the worker finished it and found nothing else.
    const finished = (): boolean => { const w = rt.stats().workers[0]!; return w.executed === executed + 1 && w.parked; };
    while (!finished() && Date.now() < until) look();
    expect(finished()).toBe(true);
    const done = Date.now() + 20;
    while (Date.now() < done) look();
    expect(seen).toEqual(seen[0] === 'pending' ? ['pending', 'running'] : ['running']);
    expect(seen).toContain('running'); // 200 ms of work: it was seen running
    expect(a.outcome).toBeUndefined();
    expect(await a).toBe(200);
    expect(a.state).toBe('resolved');
  });

  it('value, error and result(): typed value when fulfilled, the error otherwise', async () => {
    const p = rt.producer('values');
    const ok = p.submit<number>(rt.task('inc'), 1) as Token<number>;
    expect(ok.value).toBeUndefined();
    expect(ok.error).toBeUndefined();
    expect(() => ok.result()).toThrow(ConfigError);
    expect(await ok).toBe(2);
    expect(ok.value).toBe(2);
    expect(ok.error).toBeUndefined();
    expect(ok.result()).toBe(2);

    const bad = p.submit(rt.task('fail'), 'boom') as Token;
    await bad.then(() => {}, () => {});
    expect(bad.outcome).toBe('rejected');
    expect(bad.value).toBeUndefined();
    expect(bad.error).toBeInstanceOf(TypeError);
    expect(() => bad.result()).toThrow(TypeError);

    const block = p.submit(rt.task('blockUntil'), 'v2') as Token;
    await sig.started('v2');
    const later = p.submit(rt.task('inc'), 1) as Token;
    expect(later.cancel()).toBe(true);
    expect(later.outcome).toBe('retracted');
    expect(later.error).toBeInstanceOf(RetractedError);
    expect(later.error).toBe(later.error); // made once
    await expect(later.promise()).rejects.toBe(later.error);
    expect(() => later.result()).toThrow(RetractedError);
    sig.release('v2');
    await block;
  });

  it('producer.limits and ProducerStats.limits round-trip: passing them back to rt.producer() finds the same producer', async () => {
    const cases: [string, ProducerLimits | undefined, object][] = [
      ['rated', { rate: 100, burst: 7, slots: 3 }, { rate: 100, burst: 7, slots: 3 }],
      ['rate-default-burst', { rate: 100_000 }, { rate: 100_000, burst: 65535, slots: 32 }],
      ['unrated', { slots: 5 }, { slots: 5 }],
      ['infinite-rate', { rate: Infinity, slots: 6 }, { slots: 6 }],
      ['defaults', undefined, { slots: 32 }],
    ];
    for (const [name, given, want] of cases) {
      const p = rt.producer(name, given);
      expect(p.limits).toEqual(want);
      expect(Object.isFrozen(p.limits)).toBe(true);
      expect(rt.producer(name, p.limits)).toBe(p);
      expect(rt.producer(name, { ...p.limits })).toBe(p);
      const s = rt.stats().producers.find((x) => x.name === name)!;
      expect(s.limits).toEqual(want);
      expect(p.stats().limits).toEqual(want);
      expect(rt.producer(name, s.limits)).toBe(p);
    }
    // The same limits from another thread's view (a fresh handle) register nothing new.
    const remote = await Runtime.attach(rt.handle);
    try {
      for (const [name] of cases) {
        const mine = rt.producer(name);
        const theirs = remote.producer(name, mine.limits);
        expect(theirs.limits).toEqual(mine.limits);
        expect(theirs).toBeInstanceOf(Producer);
      }
      expect(remote.stats().producers.length).toBe(rt.stats().producers.length);
    } finally {
      await remote.close();
    }
    // Different limits are still refused.
    expect(() => rt.producer('unrated', { slots: 4 })).toThrow(ConfigError);
    expect(() => rt.producer('rated', { slots: 3 })).toThrow(ConfigError);
  });

  it("'spin' was renamed 'spinUs': the old name is refused with a ConfigError that names the new one", async () => {
    await expect(Runtime.start({ tasks, workers: 1, spin: 50 } as never)).rejects.toThrow(ConfigError);
    await expect(Runtime.start({ tasks, workers: 1, spin: 50 } as never)).rejects.toThrow(/'spin' was renamed 'spinUs'/);
  });

});
