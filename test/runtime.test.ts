import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Runtime, UnknownTaskError, PayloadError, ConfigError } from '../src/index.js';
import { releaseAllAtExit } from '../src/runtime/supervisor/supervisor.js';
import { internals } from '../src/runtime/testing/testing.js';

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

  it('the callback path delivers each result exactly once to its callback, with its tag, and no Token', async () => {
    const p = rt.producer('cb');
    const inc = rt.task('inc');
    const got = new Map<number, unknown>();
    let errors = 0;
    await new Promise<void>((resolve) => {
      const cb = (err: unknown, value: number, tag: number): void => {
        if (err) errors++;
        expect(got.has(tag)).toBe(false);
        got.set(tag, value);
        if (got.size === 1000) resolve();
      };
      for (let i = 0; i < 1000; i++) {
        const r = p.submitCallback(inc, i, cb, i);
        if (r !== null) rt.run('inc', i).then((v) => cb(null, v as number, i)); // capacity: take the waiting path
      }
    });
    expect(errors).toBe(0);
    for (let i = 0; i < 1000; i++) expect(got.get(i)).toBe(i + 1);
    const failed = await new Promise<unknown>((resolve) => p.submitCallback(rt.task('fail'), 'cb-boom', (err) => resolve(err)));
    expect((failed as Error).message).toBe('cb-boom');
    expect(p.stats().inFlight).toBe(0);
  });

  it('a callback that throws: the error is uncaught, the other callbacks still run, and nothing is lost', () => {
    const fixture = fileURLToPath(new URL('./fixtures/throwing-callback.ts', import.meta.url));
    const r = spawnSync(process.execPath, ['--import', 'tsx', fixture], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { got: number; errors: string[]; inFlight: number; after: number };
    expect(out.got).toBe(30);
    expect(out.errors.sort()).toEqual(Array.from({ length: 10 }, (_, k) => `thrown by callback ${k * 3}`).sort());
    expect(out.inFlight).toBe(0);
    expect(out.after).toBe(42);
  });

  for (const wasm of [true, false]) {
    it(`the gates ${wasm ? 'take the WebAssembly path' : 'fall back to JavaScript with SLUICE_NO_WASM=1'}, in the starting thread and in an attached one`, () => {
      const fixture = fileURLToPath(new URL('./fixtures/attached-gate-path.ts', import.meta.url));
      const env = { ...process.env, SLUICE_NO_WASM: wasm ? '' : '1' };
      const r = spawnSync(process.execPath, ['--import', 'tsx', fixture], { encoding: 'utf8', timeout: 60_000, env });
      expect(r.status, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout) as { main: string; attached: string; sum: number; inFlight: number };
      const path = wasm ? 'wasm' : 'js';
      expect(out).toEqual({ main: path, attached: path, sum: 2 * (4950 + 100), inFlight: 0 });
    });
  }

  it('bad options are ConfigErrors', async () => {
    await expect(Runtime.start({ tasks, ringCapacity: 3 })).rejects.toThrow(ConfigError);
    await expect(Runtime.start({ tasks, bogus: 1 } as never)).rejects.toThrow(ConfigError);
  });
});

describe('process exit with the runtime still open', () => {
  it("wakes every parked worker, which exits by itself (a worker asleep in the native futex would hold Node's teardown)", async () => {
    const rt = await Runtime.start({ tasks, workers: 2 });
    try {
      await rt.run(rt.task('inc'), 1);
      // Past the spin budget both workers sleep; poll the stats until they say so.
      while (!rt.stats().workers.every((w) => w.parked)) await new Promise((r) => setTimeout(r, 5));
      const threads = internals(rt).supervisor!.workers.map((t) => t!);
      const exits = threads.map((t) => new Promise<number>((resolve) => t.once('exit', resolve)));
      releaseAllAtExit(); // what the runtime's process.on('exit') listener runs
      // Nobody else wakes them: without the wake they would sleep on, slice after slice.
      expect(await Promise.all(exits)).toEqual([0, 0]);
    } finally {
      await rt.close();
    }
  }, 30_000);
});
