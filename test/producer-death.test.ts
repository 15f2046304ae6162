// Producer death at an arbitrary instruction (docs/design.md 4.9-4.10): V8 can terminate a
// thread between any two operations, so recovery may not depend on where it stopped. Each
// round kills a flooding producer thread at a random instant; afterwards no ring is stalled,
// every counter balances, and the attachment slot is free again.
import { describe, expect, it } from 'vitest';
import { Worker } from 'node:worker_threads';
import { Runtime } from '../src/index.js';
import { prng } from './stress/chaos-lib.js';
import { A_STATE, A_WINDOW, Memory } from '../src/shm/layout.js';

const tasks = new URL('./fixtures/tasks.mjs', import.meta.url);
const bootstrap = new URL('./fixtures/ts-bootstrap.mjs', import.meta.url);
const entry = new URL('./fixtures/flood-forever.ts', import.meta.url).href;
const seed = Number(process.env.SLUICE_DEATH_SEED ?? 4242);

/** Wait for a condition the runtime must reach by itself; fail with a state dump if it never does. */
async function until(cond: () => boolean, explain: () => string): Promise<void> {
  const deadline = performance.now() + 15_000;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(explain());
    await new Promise((r) => setTimeout(r, 2));
  }
}

function dump(rt: Runtime, mem: Memory): string {
  const L = mem.layout;
  const lines = [JSON.stringify({ global: rt.stats().global, events: rt.stats().events.slice(-4) })];
  for (let a = 0; a < L.maxAttachments; a++) {
    const states: Record<number, number> = {};
    for (let t = 0; t < L.tokenCapacity; t++) {
      const w = Atomics.load(mem.i32, mem.tokenWord(a, t));
      if (w !== 0) states[w & 7] = (states[w & 7] ?? 0) + 1;
    }
    lines.push(`attachment ${a}: state ${Atomics.load(mem.i32, mem.attachWord(a, A_STATE))} window ${Atomics.load(mem.i32, mem.attachWord(a, A_WINDOW))} tokens ${JSON.stringify(states)}`);
  }
  for (let r = 0; r < L.workers + L.maxAttachments; r++) {
    const head = r < L.workers ? Atomics.load(mem.i32, mem.workerWord(r, 1)) : Atomics.load(mem.i32, mem.attachWord(r - L.workers, 2));
    lines.push(`ring ${r}: head ${head} tail ${Atomics.load(mem.i32, mem.tailWord(r))}`);
  }
  lines.push(JSON.stringify(rt.stats().workers[0]));
  return lines.join('\n');
}

describe('producer thread terminated at a random instant', () => {
  it(`(seed ${seed}) 25 rounds: no stalled ring, no leaked slot, books balanced, slot reusable`, async () => {
    const rand = prng(seed);
    const rt = await Runtime.start({ tasks, workers: 1, globalSlots: 64, maxAttachments: 3, testHooks: true });
    const mem = new Memory(rt.handle.sab);
    let inWindow = 0;
    try {
      for (let round = 0; round < 25; round++) {
        const thread = new Worker(bootstrap, { workerData: { entry, handle: rt.handle } });
        await new Promise((r) => thread.once('message', r)); // it is flooding now
        // A random instant into the flood: busy-wait a random number of microseconds.
        const killAt = performance.now() + rand() * 3;
        while (performance.now() < killAt);
        await thread.terminate();
        for (let a = 1; a < 3; a++) if (Atomics.load(mem.i32, mem.attachWord(a, A_WINDOW)) === 1) inWindow++;
        rt.testing!.checkAttachments();
        // Its admitted tasks still run; the supervisor drains their results.
        await until(() => rt.stats().global.inFlight === 0, () => `round ${round}: global never drained\n${dump(rt, mem)}`);
        const s = rt.stats();
        const doomed = s.producers.find((p) => p.name === 'doomed')!;
        expect(doomed.inFlight, `round ${round}`).toBe(0);
        const resolved = doomed.resolved.fulfilled + doomed.resolved.rejected + doomed.resolved.retracted + doomed.resolved.abandoned;
        // The dead thread's books are closed once its last task drained (a submit it died in
        // counts as not admitted).
        await until(
          () => rt.stats().producers.find((p) => p.name === 'doomed')!.admitted === resolved,
          () => `round ${round}: books never closed\n${dump(rt, mem)}`,
        );
        // One worker, one ring: a stalled cell would block this.
        expect(await rt.run<number>('inc', round), `round ${round}`).toBe(round + 1);
      }
      expect(rt.stats().global.inFlight).toBe(0);
      // The rounds did kill it inside its windows (most of its time is spent there).
      expect(inWindow).toBeGreaterThan(0);
    } finally {
      await rt.close();
    }
  }, 120_000);
});
