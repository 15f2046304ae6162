import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Runtime, UnknownTaskError, PayloadError, ConfigError } from '../src/index.js';

const tasks = new URL('./fixtures/tasks.mjs', import.meta.url);

describe('runtime basics', () => {
  let rt: Runtime;
  beforeAll(async () => { rt = await Runtime.start({ tasks, workers: 2 }); });
  afterAll(async () => { await rt.close(); });

  it('runs a task and resolves its token fulfilled with the value', async () => {
    const a = rt.producer('p').submit(rt.task('inc'), 41);
    expect(a.admitted).toBe(true);
    if (!a.admitted) return;
    expect(await a.token).toBe(42);
    expect(a.token.state).toBe('resolved');
    expect(a.token.outcome).toBe('fulfilled');
  });

  it('rt.task on an unknown name throws a typed error listing the exports', () => {
    expect(() => rt.task('nope')).toThrow(UnknownTaskError);
    expect(() => rt.task('nope')).toThrow(/inc/);
  });

  it('a payload that cannot be cloned is a typed error and nothing is queued', () => {
    const p = rt.producer('p');
    const before = rt.stats().global.inFlight;
    expect(() => p.submit(rt.task('echo'), { f: () => 1 })).toThrow(PayloadError);
    expect(rt.stats().global.inFlight).toBe(before);
    expect(p.stats().admitted).toBeGreaterThanOrEqual(0);
  });

  it('bad options are ConfigErrors', async () => {
    await expect(Runtime.start({ tasks, ringCapacity: 3 })).rejects.toThrow(ConfigError);
    await expect(Runtime.start({ tasks, bogus: 1 } as never)).rejects.toThrow(ConfigError);
  });
});
