/**
 * Hostile input to the Guard House: guard options (ratios outside [0, 1], negative, NaN, huge or
 * fractional windows and probe counts, getters that throw, Proxies, null) are a ConfigError with
 * nothing stored; two configs of one task: the first wins, a different second is a ConfigError;
 * forged, foreign and twice-used quarantine ids; bad operator calls.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, Runtime, UnknownTaskError } from '../../src/index.js';

const tasks = new URL('../fixtures/guard-tasks.mjs', import.meta.url);
let rt: Runtime;
beforeAll(async () => { rt = await Runtime.start({ tasks, workers: 1, affinity: false }); });
afterAll(async () => { await rt?.close(); });

const bad: [string, unknown][] = [
  ['null', null], ['a number', 3], ['an array', []], ['a string', 'on'],
  ['ratio > 1', { failureRatio: 1.5 }], ['ratio < 0', { failureRatio: -0.1 }], ['ratio NaN', { failureRatio: NaN }], ['ratio as string', { failureRatio: '0.5' }],
  ['windowMs negative', { windowMs: -1 }], ['windowMs NaN', { windowMs: NaN }], ['windowMs huge', { windowMs: 2 ** 40 }], ['windowMs Infinity', { windowMs: Infinity }],
  ['windowMs 0', { windowMs: 0 }], ['coolDownMs fractional', { coolDownMs: 1.5 }], ['coolDownMs huge', { coolDownMs: 2 ** 23 }],
  ['probes fractional', { probes: 1.5 }], ['probes 0', { probes: 0 }], ['probes 16', { probes: 16 }], ['minVolume 256', { minVolume: 256 }],
  ['minVolume 0', { minVolume: 0 }], ['mode unknown', { mode: 'loud' }], ['unknown key', { ratio: 0.5 }],
  ['a throwing getter', { get failureRatio(): number { throw new Error('boom'); } }],
  ['a Proxy whose ownKeys throws', new Proxy({}, { ownKeys() { throw new Error('trap'); } })],
  ['a Proxy whose get throws', new Proxy({ probes: 1 }, { get() { throw new Error('trap'); } })],
];

describe('Guard House: hostile input', () => {
  it.each(bad)('rt.task(name, { guard: %s }) is a ConfigError and stores nothing', (_k, v) => {
    expect(() => rt.task('flaky', { guard: v as never })).toThrow(ConfigError);
    expect(rt.guard.state('flaky')).toBeNull();
  });

  it.each(bad)('Runtime.start({ guard: %s }) is a ConfigError before anything starts', async (_k, v) => {
    await expect(Runtime.start({ tasks, workers: 1, guard: v as never })).rejects.toThrow(ConfigError);
  });

  it('the first guard of a task wins; asking again the same is fine, differently a ConfigError', () => {
    rt.task('inc', { guard: { probes: 2 } });
    expect(() => rt.task('inc', { guard: { probes: 2 } })).not.toThrow();
    expect(() => rt.task('inc', { guard: { probes: 3 } })).toThrow(/already has a guard.*the first wins/);
    expect(rt.guard.state('inc')!.config).toMatchObject({ probes: 2, failureRatio: 0.5, minVolume: 20, windowMs: 10000, coolDownMs: 5000, mode: 'enforce' });
  });

  it('forged and foreign quarantine ids, bad operator calls', () => {
    for (const id of ['q1', 'q0', '', '__proto__', 'constructor', 'x'.repeat(10_000), 1, null, {}, Symbol('q')]) {
      expect(() => rt.quarantine.resubmit(id as never)).toThrow(ConfigError);
    }
    expect(() => rt.quarantine.save('' as never)).toThrow(ConfigError);
    expect(() => rt.guard.isolate('nope')).toThrow(UnknownTaskError);
    expect(() => rt.guard.isolate({ name: 'inc' } as never)).toThrow(ConfigError); // a look-alike TaskRef
    expect(() => rt.guard.isolate('inc', 5 as never)).toThrow(ConfigError);
    expect(() => rt.guard.isolate('inc', 'x'.repeat(201))).toThrow(ConfigError);
    expect(() => rt.guard.state(null as never)).toThrow(ConfigError);
    expect(rt.guard.state('inc')!.state).toBe('closed'); // nothing moved
  });
});
