// A half-open probe taken at admission goes back to its round when a later gate refuses the
// submit (docs/design.md §4.16; Producer.undo): here the task's own I/O class is full. Without
// the give-back the round would count a probe that never runs, and refuse the next caller.
import { describe, expect, it } from 'vitest';
import { Runtime, VirtualClock, type Token } from '../../src/index.js';
import { BroadcastChannel } from 'node:worker_threads';

const tasks = new URL('../fixtures/guard-tasks.mjs', import.meta.url);

describe('Guard House and I/O classes together', () => {
  it('a probe whose submit the I/O class refuses is given back to the half-open round', async () => {
    const clock = new VirtualClock(1_000_000);
    const rt = await Runtime.start({ tasks, workers: 2, clock });
    const channel = new BroadcastChannel('sluice-test');
    try {
      const gated = rt.task('gated', { io: { limit: 1 }, guard: { minVolume: 1, failureRatio: 1, coolDownMs: 1, windowMs: 1000, probes: 2 } });
      const p = rt.producer('p');
      await expect(p.submit(gated, 'fail') as Token).rejects.toThrow('gated failed');
      expect(rt.guard.state('gated')).toMatchObject({ state: 'open' });
      clock.advance(2_000); // past the cool-down: the next submit opens a half-open round of 2 probes
      const holder = p.submit(gated, 'hold-io') as Token; // probe 1: runs, and holds the class's one slot
      expect(holder.admitted).toBe(true);
      expect(rt.guard.state('gated')).toMatchObject({ state: 'half-open', probesInFlight: 1 });
      // Probe 2 is taken, then the I/O class refuses: the probe goes back.
      expect(p.submit(gated, 'x')).toMatchObject({ admitted: false, reason: 'io-class' });
      expect(rt.guard.state('gated')).toMatchObject({ state: 'half-open', probesInFlight: 1 });
      channel.postMessage('hold-io');
      expect(await holder).toBe('hold-io');
      // The round's second probe is still there to take.
      const second = p.submit(gated, 'second') as Token;
      expect(second.admitted).toBe(true);
      channel.postMessage('second');
      expect(await second).toBe('second');
      expect(rt.guard.state('gated')).toMatchObject({ state: 'closed', why: 'probes-succeeded' });
    } finally {
      channel.close();
      await rt.close();
    }
  }, 60_000);
});
