// Size cliffs (issue 19 item 6): what works with piscina must not fall off a cliff here.
// - 100k rt.run calls made at once (none awaited before the next) all complete: the wait line
//   has no practical limit by default (runQueueLimit 2^31-1) and is O(1) per call.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RejectedError, Runtime } from '../src/index.js';

const tasks = new URL('./fixtures/tasks.mjs', import.meta.url);

describe('rt.run: 100k calls without awaiting each', () => {
  let rt: Runtime;
  beforeAll(async () => { rt = await Runtime.start({ tasks, workers: 2 }); });
  afterAll(async () => { await rt.close(); });

  it('all complete, in order of their values, past the old 65,536 limit', async () => {
    const n = 100_000;
    const calls: Promise<number>[] = [];
    for (let i = 0; i < n; i++) calls.push(rt.run<number>('inc', i));
    expect(rt.runQueue.length).toBeGreaterThan(65_536); // more wait than the old default allowed
    const values = await Promise.all(calls);
    expect(values.length).toBe(n);
    for (let i = 0; i < n; i++) if (values[i] !== i + 1) expect(values[i]).toBe(i + 1);
    expect(rt.runQueue.length).toBe(0);
    expect(rt.stats().global.inFlight).toBe(0);
  }, 60_000);

  it('an explicit runQueueLimit still bounds the line', async () => {
    const small = await Runtime.start({ tasks, workers: 1, globalSlots: 1, runQueueLimit: 2 });
    try {
      const calls = [0, 1, 2].map((i) => small.run<number>('inc', i));
      const extra = small.run('inc', 3);
      await expect(extra).rejects.toBeInstanceOf(RejectedError);
      await expect(extra).rejects.toMatchObject({ reason: 'queue-full' });
      expect(await Promise.all(calls)).toEqual([1, 2, 3]);
    } finally {
      await small.close();
    }
  });
});
