import { describe, expect, it } from 'vitest';
import { ConfigError, Runtime } from '../src/index.js';

const tasks = new URL('./fixtures/counting-tasks.mjs', import.meta.url);

describe('worker warm-up (docs/design.md 4.2b)', () => {
  for (const warmUp of [true, false]) {
    it(`warmUp: ${warmUp} -- no task of the module runs before the first submit, and the runtime starts empty`, async () => {
      const calls = new Int32Array(new SharedArrayBuffer(4));
      const rt = await Runtime.start({ tasks, workers: 2, warmUp, taskData: calls });
      try {
        expect(Atomics.load(calls, 0)).toBe(0);
        const s = rt.stats();
        expect(s.global.inFlight).toBe(0);
        for (const w of s.workers) expect([w.executed, w.queued, w.stolen, w.asyncInFlight]).toEqual([0, 0, 0, 0]);
        // Every payload type the warm-up cycles through, and some it does not, comes back intact.
        const values = [7, -1.25, 'text', undefined, null, true, { a: [1, 2] }, 2n ** 40n, new Uint8Array([1, 2, 3])];
        const got = await Promise.all(values.map((v) => rt.run(rt.task('counted'), v)));
        expect(got).toEqual(values);
        expect(Atomics.load(calls, 0)).toBe(values.length);
        const executed = rt.stats().workers.reduce((n, w) => n + w.executed, 0);
        expect(executed).toBe(values.length);
      } finally {
        await rt.close();
      }
    });
  }

  it('a warmUp that is not a boolean is a ConfigError', async () => {
    await expect(Runtime.start({ tasks, workers: 1, warmUp: 1 as never })).rejects.toThrow(ConfigError);
  });
});
