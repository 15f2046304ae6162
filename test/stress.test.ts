import { describe, expect, it } from 'vitest';
import { Runtime, type Token } from '../src/index.js';
import { produceInc, runProducerThread } from './helpers/produce.js';

const tasks = new URL('./fixtures/tasks.mjs', import.meta.url);


describe('multi-thread stress', () => {
  it('4 attached producer threads plus main, 200k tasks each, 2 workers: every token resolves exactly once with the right value, counters zero at quiescence', async () => {
    const N = 200_000;
    const rt = await Runtime.start({ tasks, workers: 2, globalSlots: 512, ringCapacity: 256 });
    rt.producer('shared', { slots: 300 });
    const results = await Promise.all([
      produceInc(rt, 'main', N, 256, 0),
      ...[1, 2, 3, 4].map((k) => runProducerThread({ handle: rt.handle, count: N, window: 128, producer: k % 2 ? 'shared' : `own-${k}`, base: k * 1e6 })),
    ]);
    for (const r of results) {
      expect(r.wrong).toBe(0);
      expect(r.admitted).toBe(N);
      expect(r.ok).toBe(N);
    }
    const s = rt.stats();
    expect(s.global.inFlight).toBe(0);
    let admitted = 0, fulfilled = 0;
    for (const p of s.producers) {
      expect(p.inFlight).toBe(0);
      admitted += p.admitted;
      fulfilled += p.resolved.fulfilled;
      expect(p.resolved.rejected + p.resolved.retracted + p.resolved.abandoned).toBe(0);
    }
    expect(admitted).toBe(5 * N);
    expect(fulfilled).toBe(5 * N);
    expect(s.workers.reduce((a, w) => a + w.executed, 0)).toBe(5 * N);
    await rt.close();
  });

  it('thousands of burst/silence cycles with parking consumers lose no wake-up', async () => {
    // spin 0: every silence parks the workers and the main thread's pump, so each burst must
    // wake them through the PARKED -> RUNNING CAS. A lost wake-up hangs: the test timeout fails it.
    const rt = await Runtime.start({ tasks, workers: 2, spinUs: 0 });
    const p = rt.producer('bursty');
    const inc = rt.task('inc');
    const CYCLES = 3000;
    let total = 0;
    for (let c = 0; c < CYCLES; c++) {
      const burst = 1 + (c % 7);
      const tokens: Token<number>[] = [];
      for (let i = 0; i < burst; i++) {
        const a = p.submit<number>(inc, i);
        expect(a.admitted).toBe(true);
        if (a.admitted) tokens.push(a.token);
      }
      const values = await Promise.all(tokens);
      expect(values).toEqual(tokens.map((_, i) => i + 1));
      total += burst;
      // Silence: let every consumer reach PARKED before the next burst (they park at once with spin 0).
      if (c % 50 === 0) await new Promise((r) => setImmediate(r));
    }
    const s = rt.stats();
    expect(s.producers.find((x) => x.name === 'bursty')!.resolved.fulfilled).toBe(total);
    // The test exercised the parked path: between bursts the workers did go to sleep.
    expect(s.workers.reduce((a, w) => a + w.parks, 0)).toBeGreaterThan(0);
    await rt.close();
  });
});
