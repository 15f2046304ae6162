/**
 * The submit path calls into its runtime handle through methods every runtime of the process
 * shares (runtime.ts ProducerLink and RunQueueLink, the pump's DrainListener), never through a
 * closure made per runtime: a call site V8 optimized for one runtime's closure was deoptimized
 * when a second runtime started ("wrong call target") and again when the first was collected
 * (docs/performance.md, tenth session).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Runtime } from '../src/index.js';

const tasks = new URL('./fixtures/tasks.mjs', import.meta.url);

type Internals = {
  att: { pump: { onDrained: object } };
  runQueue: { host: { submit: unknown; outstanding: unknown } };
};
type ProducerInternals = { host: { resolveTask: unknown } };

describe('one call target per call site for every runtime of the process', () => {
  let a: Runtime;
  let b: Runtime;
  beforeAll(async () => {
    [a, b] = await Promise.all([Runtime.start({ tasks, workers: 1 }), Runtime.start({ tasks, workers: 1 })]);
  });
  afterAll(async () => {
    await Promise.all([a.close(), b.close()]);
  });

  it('producers resolve task names through a shared method', async () => {
    const pa = a.producer('x') as unknown as ProducerInternals;
    const pb = b.producer('x') as unknown as ProducerInternals;
    expect(pa.host).not.toBe(pb.host);
    expect(pa.host.resolveTask).toBe(pb.host.resolveTask);
    // And it resolves against its own runtime.
    await expect(a.producer('x').submit('inc', 1)).resolves.toBe(2);
    await expect(b.producer('x').submit('inc', 2)).resolves.toBe(3);
  });

  it("rt.run's queue submits and counts through shared methods, and the pump reports to the runtime itself", async () => {
    const ia = a as unknown as Internals;
    const ib = b as unknown as Internals;
    expect(ia.runQueue.host).not.toBe(ib.runQueue.host);
    expect(ia.runQueue.host.submit).toBe(ib.runQueue.host.submit);
    expect(ia.runQueue.host.outstanding).toBe(ib.runQueue.host.outstanding);
    expect(ia.att.pump.onDrained).toBe(a);
    expect(await Promise.all([a.run('inc', 10), b.run('inc', 20)])).toEqual([11, 21]);
  });
});
