/**
 * The Guard House under contention (docs/design.md §4.16 step 3): four attached threads submit
 * to a half-open task at once; however their CASes interleave, the round admits exactly its
 * `probes` bound (no more), every other submit is refused 'quarantined', and once the probes
 * succeed the breaker closes. The books close: calls, outcomes and refusals add up.
 * Then the probe CAS alone, raced by four threads for 1500 fresh rounds: each round grants
 * exactly the bound and the word counts every probe granted (a load-then-store instead of the
 * CAS fails this within a few hundred rounds).
 */
import { describe, expect, it } from 'vitest';
import { Worker } from 'node:worker_threads';
import { BroadcastChannel } from 'node:worker_threads';
import { Runtime, VirtualClock } from '../../src/index.js';
import { BR_HALF_OPEN, BR_EPOCH_SHIFT, probesOf, sinceWord, WHY_COOL_DOWN } from '../../src/shm/words/breaker.js';
import type { GuardConfig } from '../../src/admission/guard.js';
import { message } from '../helpers/thread-message.js';

const tasks = new URL('../fixtures/guard-tasks.mjs', import.meta.url);
const PROBER = new URL('../fixtures/guard-prober.mjs', import.meta.url);
const RACER = new URL('../fixtures/guard-racer.mjs', import.meta.url);
const THREADS = 4;
const SUBMITS = 2000;
const PROBES = 3;


describe('Guard House: probes under contention from attached threads', () => {
  it('a half-open round never admits more probes than its bound', async () => {
    const rt = await Runtime.start({ tasks, workers: 4, clock: new VirtualClock(0), affinity: false });
    const channel = new BroadcastChannel('sluice-test');
    const workers: Worker[] = [];
    try {
      rt.task('gated', { guard: { minVolume: 1, failureRatio: 1, coolDownMs: 1, windowMs: 1000, probes: PROBES } });
      await expect(rt.run('gated', 'fail')).rejects.toThrow('gated failed');
      expect(rt.guard.state('gated')!.state).toBe('open');

      const control = new SharedArrayBuffer(4);
      for (let t = 0; t < THREADS; t++) {
        workers.push(new Worker(PROBER, { workerData: { handle: rt.handle, submits: SUBMITS, control, at: 1_000_000 } }));
      }
      await Promise.all(workers.map((w) => message(w, 'ready')));
      const submitted = workers.map((w) => message<{ admitted: number; rejected: Record<string, number> }>(w, 'submitted'));
      const done = workers.map((w) => message<{ values: string[] }>(w, 'done'));
      const ctl = new Int32Array(control);
      Atomics.store(ctl, 0, 1);
      Atomics.notify(ctl, 0);
      const reports = await Promise.all(submitted);

      const admitted = reports.reduce((n, r) => n + r.admitted, 0);
      expect(admitted).toBe(PROBES); // exactly the bound: some thread took each, none took more
      for (const r of reports) expect(r.admitted + (r.rejected.quarantined ?? 0)).toBe(SUBMITS);
      expect(rt.guard.state('gated')).toMatchObject({ state: 'half-open', probesInFlight: PROBES, probesSucceeded: 0 });

      channel.postMessage('hold'); // the probes finish and succeed
      const values = (await Promise.all(done)).flatMap((d) => d.values);
      expect(values).toEqual(Array(PROBES).fill('hold'));
      expect(rt.guard.state('gated')).toMatchObject({ state: 'closed', why: 'probes-succeeded', probesInFlight: 0 });
      const st = rt.stats();
      expect(st.tasks.find((x) => x.name === 'gated')).toMatchObject({ calls: 1 + PROBES, outcomes: { fulfilled: PROBES, rejected: 1 } });
      expect(st.producers.find((x) => x.name === 'probers')!.rejected.quarantined).toBe(THREADS * SUBMITS - PROBES);
    } finally {
      channel.close();
      await Promise.all(workers.map((w) => w.terminate()));
      await rt.close();
    }
  });
});

describe('Guard House: the probe CAS, raced round after round', () => {
  it('four threads calling guardAdmit at once are granted exactly the bound, every round', async () => {
    const ROUNDS = 1500;
    const cfg: GuardConfig = { ratioPpm: 500_000, minVolume: 1, windowMs: 1000, coolDownMs: 1000, probes: PROBES, enforce: true };
    const words = new SharedArrayBuffer(8);
    const i32 = new Int32Array(words);
    const control = new SharedArrayBuffer(12);
    const ctl = new Int32Array(control);
    const tick = 5_000_000; // 5000 ms: each round's half-open began now, so no round expires
    const racers = Array.from({ length: THREADS }, () => new Worker(RACER, { workerData: { words, control, rounds: ROUNDS, tries: 2, cfg, tick } }));
    try {
      await Promise.all(racers.map((w) => message(w, 'ready')));
      const finished = Promise.all(racers.map((w) => message(w, 'done')));
      const granted: number[] = [];
      for (let r = 1; r <= ROUNDS; r++) {
        const epoch = r & 63;
        i32[0] = (epoch << BR_EPOCH_SHIFT) | BR_HALF_OPEN; // a fresh round: nothing in flight
        i32[1] = sinceWord(epoch, WHY_COOL_DOWN, 5000);
        Atomics.store(ctl, GRANTED, 0);
        Atomics.store(ctl, DONE, 0);
        Atomics.store(ctl, ROUND, r);
        Atomics.notify(ctl, ROUND);
        while (Atomics.load(ctl, DONE) < THREADS) await Atomics.waitAsync(ctl, DONE, Atomics.load(ctl, DONE), 50).value;
        granted.push(Atomics.load(ctl, GRANTED));
        expect(probesOf(i32[0]!)).toBe(Atomics.load(ctl, GRANTED)); // the word counts every probe granted
      }
      await finished;
      // 8 tries a round for 3 probes: every round grants exactly 3, never more.
      expect(granted.filter((g) => g !== PROBES)).toEqual([]);
    } finally {
      await Promise.all(racers.map((w) => w.terminate()));
    }
  });
});

const ROUND = 0;
const GRANTED = 1;
const DONE = 2;
