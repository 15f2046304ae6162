/**
 * The Guard House with the runtime's default guard and the recorder on: every task gets the
 * default (first wins: a different rt.task guard is a ConfigError); each breaker transition is
 * one BREAKER record (task, from, to, why, at the decision's tick) in the saved trace, which
 * `sluice trace show` prints; 'observe' mode computes the states and rejects nothing.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, Runtime, VirtualClock, type Token } from '../../src/index.js';
import { readTrace } from '../../src/trace/file.js';
import { RecordKind } from '../../src/trace/records.js';
import { main } from '../../src/cli/sluice.js';

const tasks = new URL('../fixtures/guard-tasks.mjs', import.meta.url);

describe('Guard House: the runtime default, observe mode, recorded transitions', () => {
  it('records each transition with its why and tick; observe mode never rejects', async () => {
    const clock = new VirtualClock(2_000_000);
    const flag = new Int32Array(new SharedArrayBuffer(4));
    const rt = await Runtime.start({
      tasks, workers: 1, clock, taskData: { flaky: flag }, trace: { mode: 'flight' },
      guard: { minVolume: 2, failureRatio: 1, coolDownMs: 100, probes: 1, mode: 'observe' },
    });
    const dir = mkdtempSync(join(tmpdir(), 'sluice-guard-'));
    try {
      expect(rt.guard.state('inc')!.config).toMatchObject({ minVolume: 2, probes: 1, mode: 'observe' });
      expect(() => rt.task('inc', { guard: { probes: 2 } })).toThrow(ConfigError);
      Atomics.store(flag, 0, 1);
      for (let n = 0; n < 2; n++) await expect(rt.run('flaky', n)).rejects.toThrow();
      expect(rt.guard.state('flaky')).toMatchObject({ state: 'open', why: 'failure-ratio' });
      // Observe: open, yet admitted (not as a probe); its failure is kept as failed under an open breaker.
      const t = rt.producer('default').submit('flaky', 7) as Token;
      expect(t.admitted).toBe(true);
      await expect(t).rejects.toThrow('flaky 7 failed');
      expect(rt.quarantine.list().map((e) => [e.payload, e.why])).toEqual([[1, 'tripped'], [7, 'under-open']]);
      clock.advance(100_000);
      Atomics.store(flag, 0, 0);
      expect(await rt.run('flaky', 8)).toBe(8); // the probe: half-open, then closed
      expect(rt.guard.state('flaky')).toMatchObject({ state: 'closed', why: 'probes-succeeded' });

      const file = join(dir, 'guard.trace');
      rt.saveTrace(file);
      const f = readTrace(file);
      const flakyId = rt.names.indexOf('flaky');
      const moves = f.records.filter((r) => r.kind === RecordKind.BREAKER).map((r) => [r.task, r.k0, r.k1, r.aux, r.tick]);
      // closed -> open (failure-ratio) at 2000 ms; open -> half-open (cool-down-over), half-open -> closed (probes-succeeded) at 2100 ms.
      expect(moves).toEqual([[flakyId, 0, 1, 1, 2_000_000], [flakyId, 1, 2, 4, 2_100_000], [flakyId, 2, 0, 5, 2_100_000]]);
      let out = '';
      expect(await main(['trace', 'show', file], { out: (s) => { out += `${s}\n`; }, err: () => {} })).toBe(0);
      expect(out).toMatch(/BREAKER/);
      expect(await main(['trace', 'export', file, '--chrome', join(dir, 'guard.json')], { out: () => {}, err: () => {} })).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await rt.close();
    }
  });
});
