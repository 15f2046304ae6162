/**
 * A thread dies holding a half-open round's probes (docs/design.md §4.16, "What a thread's death
 * leaves"): the supervisor resolves its tokens in its place (§4.9), counts their outcomes on the
 * dead thread's health row, and gives the probes back to the round, so the breaker does not wait
 * for the round to expire; the dead thread's health books close (calls = resolved).
 */
import { describe, expect, it } from 'vitest';
import { BroadcastChannel, Worker } from 'node:worker_threads';
import { Runtime, VirtualClock, type Token } from '../../src/index.js';

const tasks = new URL('../fixtures/guard-tasks.mjs', import.meta.url);
const PROBER = new URL('../fixtures/guard-prober.mjs', import.meta.url);

/** Wait for a condition the runtime must reach by itself (the supervisor's recovery); fail with a dump if it never does. */
async function until(cond: () => boolean, explain: () => string): Promise<void> {
  const deadline = performance.now() + 15_000;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(explain());
    await new Promise((r) => setTimeout(r, 2));
  }
}

describe('Guard House: a thread dies holding probes', () => {
  it('its probes go back to the round and its outcomes are counted', async () => {
    const clock = new VirtualClock(1_000_000);
    const rt = await Runtime.start({ tasks, workers: 3, clock, maxAttachments: 3, testHooks: true, affinity: false });
    const channel = new BroadcastChannel('sluice-test');
    try {
      rt.task('gated', { guard: { minVolume: 1, failureRatio: 1, coolDownMs: 1, windowMs: 1000, probes: 3 } });
      await expect(rt.run('gated', 'fail')).rejects.toThrow('gated failed');
      const control = new SharedArrayBuffer(4);
      Atomics.store(new Int32Array(control), 0, 1); // GO at once
      const thread = new Worker(PROBER, { workerData: { handle: rt.handle, submits: 10, control, at: 2_000_000 } });
      const submitted = await new Promise<{ admitted: number }>((resolve, reject) => {
        thread.on('message', (m: { type: string; admitted: number }) => { if (m.type === 'submitted') resolve(m); });
        thread.once('error', reject);
      });
      expect(submitted.admitted).toBe(3);
      expect(rt.guard.state('gated')).toMatchObject({ state: 'half-open', probesInFlight: 3 });
      await thread.terminate(); // dies holding the round's three probes (running on the workers)
      rt.testing!.checkAttachments();
      channel.postMessage('hold'); // the probes finish; their results go to the dead thread's ring
      const dump = (): string => JSON.stringify({ guard: rt.guard.state('gated'), events: rt.stats().events.slice(-3) });
      await until(() => rt.guard.state('gated')!.probesInFlight === 0, dump);
      expect(rt.guard.state('gated')).toMatchObject({ state: 'half-open', probesSucceeded: 0 }); // given back, decided nothing
      await until(() => rt.stats().tasks.find((x) => x.name === 'gated')!.outcomes.fulfilled === 3, dump);
      // The round admits probes again at once (it did not expire: the clock has not moved past it).
      clock.set(2_000_000);
      const p = rt.producer('default');
      const again = [0, 1, 2].map((i) => p.submit('gated', `again-${i}`) as Token);
      expect(again.every((t) => t.admitted)).toBe(true);
      expect(p.submit('gated', 'one-too-many')).toMatchObject({ reason: 'quarantined', breaker: 'half-open' });
      for (let i = 0; i < 3; i++) channel.postMessage(`again-${i}`);
      expect(await Promise.all(again)).toEqual(['again-0', 'again-1', 'again-2']);
      expect(rt.guard.state('gated')).toMatchObject({ state: 'closed', why: 'probes-succeeded' });
      await until(() => rt.stats().tasks.find((x) => x.name === 'gated')!.calls === 7, dump);
      expect(rt.stats().tasks.find((x) => x.name === 'gated')).toMatchObject({ calls: 7, outcomes: { fulfilled: 6, rejected: 1 } });
    } finally {
      channel.close();
      await rt.close();
    }
  });
});
