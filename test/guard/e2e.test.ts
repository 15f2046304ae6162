// The Guard House end to end, with real workers (docs/design.md §4.16): a task that starts
// failing trips its breaker, further submits are rejected 'quarantined' with since and why,
// after the cool-down half-open probes succeed and it closes; the call that tripped it is
// quarantined with its arguments and can be re-submitted; a healthy task runs on throughout.
// The admission clock is a VirtualClock: the cool-down passes when the test says so.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, RejectedError, Runtime, VirtualClock, type Rejection, type Token } from '../../src/index.js';
import { main } from '../../src/cli/sluice.js';

/** Run the sluice CLI in-process; its output lines and exit status. */
async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (s) => { out += `${s}\n`; }, err: (s) => { err += `${s}\n`; } });
  return { code, out, err };
}

const tasks = new URL('../fixtures/guard-tasks.mjs', import.meta.url);

describe('Guard House, end to end', () => {
  it('trips, rejects with since/why, recovers through probes, quarantines and re-submits', async () => {
    const clock = new VirtualClock(5_000_000); // 5000 ms
    const flag = new Int32Array(new SharedArrayBuffer(4));
    const rt = await Runtime.start({ tasks, workers: 2, clock, taskData: { flaky: flag } });
    try {
      const flaky = rt.task('flaky', { guard: { minVolume: 4, failureRatio: 0.5, windowMs: 60_000, coolDownMs: 1_000, probes: 2 } });
      const p = rt.producer('default');
      expect(rt.guard.state('flaky')!.state).toBe('closed');
      expect(rt.guard.state('inc')).toBeNull(); // no guard, not isolated

      // It starts failing: four failures in the window trip it (the fourth is the one that trips).
      Atomics.store(flag, 0, 1);
      for (let n = 0; n < 4; n++) {
        const t = p.submit(flaky, n) as Token;
        expect(t.admitted).toBe(true);
        await expect(t).rejects.toThrow(`flaky ${n} failed`);
      }
      expect(rt.guard.state('flaky')).toMatchObject({ state: 'open', why: 'failure-ratio', since: 5000 });

      // Open: rejected at admission, saying since when and why; a healthy task runs on.
      const r = p.submit(flaky, 99) as Rejection;
      expect(r).toMatchObject({ admitted: false, reason: 'quarantined', task: 'flaky', breaker: 'open', since: 5000, why: 'failure-ratio' });
      // rt.run fails at once (not a capacity reason), naming the task and its breaker, not the runtime.
      const refused = await rt.run(flaky, 97).then(() => null, (e: unknown) => e);
      expect(refused).toBeInstanceOf(RejectedError);
      expect(refused).toMatchObject({ reason: 'quarantined', message: "task 'flaky' is quarantined: its breaker is open (failure-ratio)" });
      expect(await rt.run('inc', 1)).toBe(2);
      clock.advance(999_000); // 1 ms short of the cool-down
      expect((p.submit(flaky, 98) as Rejection).reason).toBe('quarantined');

      // The cool-down is over: half-open admits two probes, refuses a third; both succeed: closed.
      clock.advance(1_000);
      Atomics.store(flag, 0, 0);
      const a = p.submit(flaky, 10) as Token;
      const b = p.submit(flaky, 11) as Token;
      expect(a.admitted && b.admitted).toBe(true);
      expect(p.submit(flaky, 12)).toMatchObject({ reason: 'quarantined', breaker: 'half-open', why: 'cool-down-over', since: 6000 });
      expect(rt.guard.state('flaky')).toMatchObject({ state: 'half-open', probesInFlight: 2 });
      expect(await a).toBe(10); // (one drain may resolve both)
      expect(await b).toBe(11);
      expect(rt.guard.state('flaky')).toMatchObject({ state: 'closed', why: 'probes-succeeded' });

      // The call that tripped it was kept, with its arguments and provenance.
      const q = rt.quarantine.list();
      expect(q).toHaveLength(1);
      expect(q[0]).toMatchObject({ task: 'flaky', producer: 'default', payload: 3, outcome: 'rejected', why: 'tripped', error: 'Error: flaky 3 failed' });
      // Saved, it is what `sluice quarantine list FILE` reads.
      const dir = mkdtempSync(join(tmpdir(), 'sluice-q-'));
      try {
        expect(rt.quarantine.save(join(dir, 'q.bin'))).toBe(1);
        const listed = await cli('quarantine', 'list', join(dir, 'q.bin'));
        expect(listed.code).toBe(0);
        expect(listed.out).toMatch(/1 quarantined call/);
        expect(listed.out).toMatch(new RegExp(`${q[0]!.id}\\s+flaky\\s+default\\s+${q[0]!.tokenId}\\s.*rejected\\s+tripped\\s+'?Error: flaky 3 failed'?\\s+3`));
        const json = await cli('quarantine', 'list', join(dir, 'q.bin'), '--json');
        expect(JSON.parse(json.out)).toMatchObject([{ id: q[0]!.id, task: 'flaky', payload: 3 }]);
        writeFileSync(join(dir, 'junk'), 'not a quarantine');
        expect((await cli('quarantine', 'list', join(dir, 'junk'))).code).toBe(2);
        expect((await cli('quarantine', 'list', join(dir, 'missing'))).code).toBe(2);
        expect((await cli('quarantine', 'show', join(dir, 'q.bin'))).code).toBe(2);
        expect((await cli('quarantine', '--help')).out).toMatch(/usage: sluice quarantine list FILE/);
        expect((await cli('demo', 'guard', '--help')).out).toMatch(/usage: sluice demo guard/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
      const again = rt.quarantine.resubmit(q[0]!.id) as Token;
      expect(again.admitted).toBe(true);
      expect(await again).toBe(3);
      expect(rt.quarantine.list()).toHaveLength(0);
      expect(() => rt.quarantine.resubmit(q[0]!.id)).toThrow(ConfigError); // twice
      expect(() => rt.quarantine.resubmit('q999')).toThrow(ConfigError); // forged
      expect(() => rt.quarantine.resubmit({} as never)).toThrow(ConfigError);

      // Health, summed over threads: 4 failed + 3 fulfilled flaky calls; every inc fulfilled.
      const st = rt.stats().tasks.find((x) => x.name === 'flaky')!;
      expect(st).toMatchObject({ calls: 7, outcomes: { fulfilled: 3, rejected: 4, retracted: 0, abandoned: 0 }, health: 'failing' });
      expect(st.runTime.count).toBe(7);
      expect(st.breaker).toMatchObject({ state: 'closed', config: { minVolume: 4, failureRatio: 0.5, probes: 2, mode: 'enforce' } });
      expect(rt.stats().tasks.find((x) => x.name === 'inc')).toMatchObject({ calls: 1, health: 'excellent', breaker: null });
      expect(rt.stats().producers[0]!.rejected.quarantined).toBe(4); // three submits and the rt.run above
      // An async task's run time is counted when its promise settles.
      expect(await rt.run('asyncInc', 1)).toBe(2);
      expect(rt.stats().tasks.find((x) => x.name === 'asyncInc')!.runTime.count).toBe(1);

      // An operator isolates a task without a guard; release ends it.
      expect(rt.guard.isolate('inc', 'maintenance')).toBe('closed');
      expect(p.submit('inc', 1)).toMatchObject({ reason: 'quarantined', breaker: 'isolated', why: 'isolated', task: 'inc' });
      await expect(rt.run('inc', 1)).rejects.toThrow("task 'inc' is quarantined: its breaker is isolated (isolated)");
      expect(rt.guard.state('inc')).toMatchObject({ state: 'isolated', note: 'maintenance' });
      expect(rt.guard.release('inc')).toBe(true);
      expect(rt.guard.release('inc')).toBe(false);
      expect(await rt.run('inc', 2)).toBe(3);
    } finally {
      await rt.close();
    }
  });
});
