import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Runtime, PayloadError, type Token } from '../src/index.js';

const tasks = new URL('./fixtures/tasks.mjs', import.meta.url);

describe('error containment and payloads', () => {
  let rt: Runtime;
  beforeAll(async () => { rt = await Runtime.start({ tasks, workers: 2, spillBytes: 1 << 16 }); });
  afterAll(async () => { await rt.close(); });

  it('a thrown Error comes back with its class, message, stack and own properties; the worker carries on', async () => {
    const a = rt.producer('e').submit(rt.task('fail'), 'boom') as Token;
    const err = await a.then(() => null, (e: unknown) => e);
    expect(a.outcome).toBe('rejected');
    expect(err).toBeInstanceOf(TypeError);
    expect((err as Error).message).toBe('boom');
    expect((err as Error).stack).toMatch(/fail/);
    expect((err as { code?: string }).code).toBe('E_TASK');
    expect((err as { detail?: unknown }).detail).toEqual({ n: 1 });
    expect(await rt.run('inc', 1)).toBe(2);
  });

  it('an async rejection resolves the token rejected', async () => {
    await expect(rt.run('asyncFail', 'late')).rejects.toThrow(RangeError);
  });

  it('a thrown non-Error value is delivered as is', async () => {
    await expect(rt.run('throwValue', 42)).rejects.toBe(42);
  });

  it('a result that cannot be cloned rejects that token with a PayloadError, nothing else', async () => {
    await expect(rt.run('returnsFunction')).rejects.toBeInstanceOf(PayloadError);
    expect(await rt.run('inc', 2)).toBe(3);
  });

  it('large values take the spill path both ways', async () => {
    const big = 'x'.repeat(40_000) + '✓';
    expect(await rt.run('echo', big)).toBe(big);
    const bytes = new Uint8Array(30_000).map((_, i) => i & 0xff);
    expect(await rt.run('echo', bytes)).toEqual(bytes);
    const obj = { list: Array.from({ length: 2000 }, (_, i) => ({ i })) };
    expect(await rt.run('echo', obj)).toEqual(obj);
    // Many at once: the arenas recycle.
    const many = await Promise.all(Array.from({ length: 200 }, (_, i) => rt.run('echo', 'y'.repeat(500 + i))));
    expect(many.map((s) => (s as string).length)).toEqual(Array.from({ length: 200 }, (_, i) => 500 + i));
  });

  it('a payload larger than the spill arena travels by message (largeValues, default); with largeValues: refuse it is a PayloadError at submit, every counter unchanged', async () => {
    const big = new Uint8Array(1 << 17).fill(5);
    expect(await rt.run('echo', big)).toEqual(big);
    const strict = await Runtime.start({ tasks, workers: 1, spillBytes: 1 << 16, largeValues: 'refuse' });
    try {
      const p = strict.producer('big');
      const before = JSON.stringify(strict.stats().global);
      expect(() => p.submit(strict.task('echo'), new Uint8Array(1 << 17))).toThrow(/spillBytes/);
      expect(JSON.stringify(strict.stats().global)).toBe(before);
      expect(p.stats().admitted).toBe(0);
    } finally {
      await strict.close();
    }
  });

  it('TypeScript task modules load through tsx', async () => {
    const ts = await Runtime.start({ tasks: new URL('./fixtures/tasks.ts', import.meta.url), workers: 1 });
    expect(await ts.run('double', 21)).toBe(42);
    expect(await ts.run('greet', 'ts')).toBe('hello ts');
    await ts.close();
    // Without any inherited flag (README, start-up under a loader): the worker loads tsx itself.
    const bare = await Runtime.start({ tasks: new URL('./fixtures/tasks.ts', import.meta.url), workers: 1, execArgv: [] });
    try {
      expect(await bare.run('double', 4)).toBe(8);
    } finally {
      await bare.close();
    }
  });
});
