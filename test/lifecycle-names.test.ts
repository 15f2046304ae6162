// Issue 19 item 7, lifecycle names: rt.resume() after drain(), rt.destroy() (retract queued,
// abandon running, stop), close() options validated, and the workers' execArgv / env
// (docs/design.md 4.7 "Resume" and "Destroy"). Interleavings are forced with the BroadcastChannel
// signals of test/fixtures/tasks.mjs (blockUntil): no sleeps.
import { SHARE_ENV } from 'node:worker_threads';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { AbandonedError, ConfigError, RejectedError, RetractedError, Runtime, WorkerStartError, type Token } from '../src/index.js';
import { Signals } from './helpers/signals.js';

const tasks = new URL('./fixtures/lifecycle-names-tasks.mjs', import.meta.url);
const signals = new Signals();
afterAll(() => signals.close());

const outcomeOf = async (p: PromiseLike<unknown>): Promise<string> => {
  try {
    return `fulfilled: ${JSON.stringify(await p)}`;
  } catch (err) {
    return `rejected: ${(err as Error).name}`;
  }
};

describe('rt.resume()', () => {
  it('after drain(): admission opens again, stats say running, and a submit is admitted and runs', async () => {
    const rt = await Runtime.start({ tasks, workers: 1, warmUp: false });
    try {
      const p = rt.producer('p');
      await rt.drain();
      expect(rt.stats().state).toBe('draining');
      expect(p.submit('inc', 1)).toMatchObject({ admitted: false, reason: 'draining' });
      await expect(rt.run('inc', 1)).rejects.toMatchObject({ reason: 'draining' });
      rt.resume();
      expect(rt.stats().state).toBe('running');
      const a = p.submit('inc', 41);
      expect(a.admitted).toBe(true);
      expect(await (a as Token<unknown>)).toBe(42);
      expect(await rt.run('inc', 1)).toBe(2);
      rt.resume(); // running already: nothing to do
      expect(rt.stats().state).toBe('running');
      // And the cycle repeats.
      await rt.drain();
      rt.resume();
      expect(await rt.run('inc', 2)).toBe(3);
    } finally {
      await rt.close();
    }
  });

  it('during a drain() that waits for a running task: admitted again at once; the drain resolves once nothing is outstanding', async () => {
    const rt = await Runtime.start({ tasks, workers: 1, warmUp: false });
    try {
      const blocked = rt.producer('p').submit('blockUntil', 'resume-during-drain');
      expect(blocked.admitted).toBe(true);
      await signals.started('resume-during-drain');
      let drained = false;
      const drain = rt.drain().then(() => { drained = true; });
      rt.resume();
      const b = rt.producer('p').submit('inc', 1);
      expect(b.admitted).toBe(true);
      expect(drained).toBe(false);
      signals.release('resume-during-drain');
      await drain;
      expect(await (b as Token<unknown>)).toBe(2);
      expect(rt.stats().global.inFlight).toBe(0);
    } finally {
      await rt.close();
    }
  });

  it('after close() or destroy() (begun or done) it throws a ConfigError and the runtime stays closed', async () => {
    for (const end of ['close', 'destroy'] as const) {
      const rt = await Runtime.start({ tasks, workers: 1, warmUp: false });
      const closing = rt[end]();
      expect(() => rt.resume()).toThrow(ConfigError); // begun
      await closing;
      expect(() => rt.resume()).toThrow(/closed/); // done
      expect(rt.stats().state).toBe('closed');
      expect(rt.producer('p').submit('inc', 1)).toMatchObject({ admitted: false, reason: 'closed' });
    }
  });

  it('on an attached handle it resumes that handle only (mirroring drain), and throws once the handle is closed', async () => {
    const rt = await Runtime.start({ tasks, workers: 1, warmUp: false });
    try {
      const remote = await Runtime.attach(rt.handle);
      await remote.drain();
      expect(remote.producer('p').submit('inc', 1)).toMatchObject({ admitted: false, reason: 'draining' });
      expect(rt.producer('p').submit('inc', 1).admitted).toBe(true); // the runtime never stopped
      remote.resume();
      expect(await remote.run('inc', 9)).toBe(10);
      // The runtime drained: resuming the handle does not reopen the runtime's admission.
      await rt.drain();
      remote.resume();
      expect(remote.producer('p').submit('inc', 1)).toMatchObject({ admitted: false, reason: 'draining' });
      rt.resume();
      expect(await remote.run('inc', 1)).toBe(2);
      await remote.close();
      expect(() => remote.resume()).toThrow(ConfigError);
    } finally {
      await rt.close();
    }
  });
});

describe('rt.destroy()', () => {
  it('retracts the queued, abandons the running (its worker terminated), rejects waiting rt.run calls; each resolves exactly once', async () => {
    const rt = await Runtime.start({ tasks, workers: 1, warmUp: false, globalSlots: 6 });
    const p = rt.producer('p');
    const running = p.submit('blockUntil', 'never-released-1') as Token<unknown>;
    expect(running.admitted).toBe(true);
    await signals.started('never-released-1');
    const queued = [1, 2, 3].map((x) => p.submit('inc', x) as Token<unknown>);
    expect(queued.every((t) => t.admitted)).toBe(true);
    const calls: string[] = [];
    expect(p.submitCallback('inc', 5, (err) => { calls.push(err instanceof Error ? err.name : 'ok'); }, 1)).toBeNull();
    // Fill the global slots so one rt.run waits for capacity.
    expect(p.submit('inc', 6).admitted).toBe(true);
    const waiting = rt.run('inc', 7);
    const waited = waiting.catch((err: unknown) => err);
    expect(rt.stats().global.inFlight).toBe(6);

    const d = rt.destroy();
    expect(rt.destroy()).toBe(d); // idempotent: the same promise
    await d;
    expect(await outcomeOf(running)).toBe('rejected: AbandonedError');
    expect(running.error).toBeInstanceOf(AbandonedError);
    for (const t of queued) {
      expect(t.outcome).toBe('retracted');
      expect(t.error).toBeInstanceOf(RetractedError);
    }
    expect(calls).toEqual(['RetractedError']);
    expect(await waited).toBeInstanceOf(RejectedError);
    expect(rt.stats().state).toBe('closed');
    expect(rt.stats().global.inFlight).toBe(0);
    expect(p.stats().resolved).toMatchObject({ abandoned: 1, retracted: 5, fulfilled: 0 });
    expect(p.submit('inc', 1)).toMatchObject({ admitted: false, reason: 'closed' });
    await rt.close(); // afterwards like close: idempotent, the same shutdown
    await rt.destroy();
    expect(calls).toEqual(['RetractedError']); // still exactly once
  });

  it('during a close() that waits for a running task: cuts it short; both resolve, the task abandoned', async () => {
    const rt = await Runtime.start({ tasks, workers: 1, warmUp: false });
    const t = rt.producer('p').submit('blockUntil', 'never-released-2') as Token<unknown>;
    await signals.started('never-released-2');
    const closing = rt.close({ timeoutMs: 600_000 });
    let closed = false;
    void closing.then(() => { closed = true; });
    await new Promise((r) => setImmediate(r));
    expect(closed).toBe(false); // waiting for the task (for up to ten minutes)
    const d = rt.destroy();
    await Promise.all([closing, d]);
    expect(t.outcome).toBe('abandoned');
    expect(rt.stats().state).toBe('closed');
  });

  it('on an attached handle: its queued are retracted, its running abandoned (only that worker replaced); the runtime carries on', async () => {
    const rt = await Runtime.start({ tasks, workers: 2, warmUp: false });
    try {
      const remote = await Runtime.attach(rt.handle);
      const rp = remote.producer('r');
      const running = rp.submit(remote.task('blockUntil', { weight: 'heavy' }), 'never-released-3') as Token<unknown>;
      await signals.started('never-released-3');
      const cb: string[] = [];
      expect(rp.submitCallback('blockUntil', 'never-released-4', (err) => { cb.push(err instanceof Error ? err.name : 'ok'); })).toBeNull();
      await signals.started('never-released-4');
      const d = remote.destroy();
      expect(remote.destroy()).toBe(d);
      await d;
      expect(running.outcome).toBe('abandoned');
      expect(cb).toEqual(['AbandonedError']);
      expect(rp.submit('inc', 1)).toMatchObject({ admitted: false, reason: 'closed' });
      // The runtime carries on (its workers replaced).
      expect(await rt.run('inc', 1)).toBe(2);
      expect(rt.stats().state).toBe('running');
    } finally {
      await rt.close();
    }
  });
});

describe('rt.destroy(), as a property', () => {
  it('whatever mix is queued, running or waiting, every token and callback resolves exactly once and the books close', async () => {
    let run = 0;
    await fc.assert(fc.asyncProperty(
      fc.array(fc.constantFrom('inc', 'block', 'callback', 'run'), { minLength: 1, maxLength: 24 }), fc.boolean(),
      async (ops, closeFirst) => {
        run++;
        const rt = await Runtime.start({ tasks, workers: 2, warmUp: false, globalSlots: 8 });
        const p = rt.producer('p');
        const settled: number[] = [];
        const calls: number[] = [];
        const outcomes: string[] = [];
        ops.forEach((op, i) => {
          settled.push(0);
          calls.push(0);
          if (op === 'run') {
            rt.run('inc', i).then(() => { settled[i]!++; }, () => { settled[i]!++; });
            return;
          }
          if (op === 'callback') {
            const r = p.submitCallback('inc', i, () => { calls[i]!++; }, i);
            if (r !== null) calls[i] = 1; // rejected at once: nothing owed
            return;
          }
          const a = p.submit(op === 'block' ? 'blockUntil' : 'inc', op === 'block' ? `never-${run}-${i}` : i);
          if (!a.admitted) { settled[i] = 1; return; }
          a.token.then(() => { settled[i]!++; outcomes.push('fulfilled'); }, (err: unknown) => { settled[i]!++; outcomes.push((err as Error).name); });
        });
        const closing = closeFirst ? rt.close({ timeoutMs: 600_000 }) : null;
        await rt.destroy();
        await closing;
        await new Promise((r) => setImmediate(r)); // the promise reactions queued by the last settles
        ops.forEach((op, i) => {
          if (op === 'callback') expect(calls[i], `callback ${i}`).toBe(1);
          else expect(settled[i], `${op} ${i}`).toBe(1);
        });
        expect(outcomes.every((o) => ['fulfilled', 'RetractedError', 'AbandonedError'].includes(o))).toBe(true);
        const st = rt.stats();
        expect(st.state).toBe('closed');
        expect(st.global.inFlight).toBe(0);
        const ps = p.stats();
        const resolved = Object.values(ps.resolved).reduce((x, y) => x + y, 0);
        expect(resolved).toBe(ps.admitted);
      },
    ), { numRuns: 8 });
  });
});

describe('rt.destroy() after an attached close() returned with a task still running', () => {
  it('abandons that task (its worker replaced) and frees the slot; the runtime carries on', async () => {
    const rt = await Runtime.start({ tasks, workers: 2, warmUp: false, maxAttachments: 2 });
    try {
      const remote = await Runtime.attach(rt.handle);
      const t = remote.producer('r').submit('blockUntil', 'never-released-5') as Token<unknown>;
      await signals.started('never-released-5');
      await remote.close({ timeoutMs: 0 });
      expect(t.state).toBe('running'); // close keeps a running task's token (and the slot) until it resolves
      await expect(Runtime.attach(rt.handle)).rejects.toThrow(/no free attachment slot/);
      await remote.destroy();
      expect(t.outcome).toBe('abandoned');
      // The slot was freed: another thread may attach.
      const again = await Runtime.attach(rt.handle);
      expect(await again.run('inc', 1)).toBe(2);
      await again.close();
      // At once, before the watchdog's next tick: close honours the pending kill request itself
      // (a close that waited for that worker would take its whole timeout, ten minutes here: the
      // test's own timeout is then the failure).
      await rt.close({ timeoutMs: 600_000 });
    } finally {
      await rt.close();
    }
  });
});

describe('close() options', () => {
  it('close({ force: true }) and other unknown keys are a ConfigError, with nothing closed', async () => {
    const rt = await Runtime.start({ tasks, workers: 1, warmUp: false });
    try {
      await expect(rt.close({ force: true } as never)).rejects.toBeInstanceOf(ConfigError);
      await expect(rt.close({ force: true } as never)).rejects.toThrow(/unknown option 'force'/);
      await expect(rt.close({ timeoutMs: -1 })).rejects.toBeInstanceOf(ConfigError);
      await expect(rt.drain({ force: true } as never)).rejects.toBeInstanceOf(ConfigError);
      expect(rt.stats().state).toBe('running');
      expect(await rt.run('inc', 1)).toBe(2);
    } finally {
      await rt.close();
    }
  });
});

describe('workers: execArgv and env', () => {
  it('execArgv, env and resourceLimits reach every worker, replacements too', async () => {
    const rt = await Runtime.start({
      tasks, workers: 1, warmUp: false, execArgv: ['--no-deprecation'], env: { SLUICE_TEST_VAR: 'from-options' },
      resourceLimits: { maxOldGenerationSizeMb: 96 },
    });
    try {
      expect(await rt.run('execArgv')).toEqual(['--no-deprecation']);
      expect(await rt.run('env', 'SLUICE_TEST_VAR')).toEqual({ value: 'from-options', count: 1 });
      expect(await rt.run('oldGenerationMb')).toBe(96);
      await expect(rt.run('die')).rejects.toBeInstanceOf(AbandonedError);
      // The replacement thread (same slot) was started with the same options.
      expect(await rt.run('execArgv')).toEqual(['--no-deprecation']);
      expect(await rt.run('env', 'SLUICE_TEST_VAR')).toEqual({ value: 'from-options', count: 1 });
      expect(await rt.run('oldGenerationMb')).toBe(96);
      expect(rt.stats().workers[0]!.restarts).toBe(1);
    } finally {
      await rt.close();
    }
  });

  it('env: SHARE_ENV shares process.env with the workers; the env object is copied at start', async () => {
    const given: Record<string, string> = { SLUICE_TEST_VAR: 'a' };
    const rt = await Runtime.start({ tasks, workers: 1, warmUp: false, env: given });
    given.SLUICE_TEST_VAR = 'changed later';
    try {
      expect(await rt.run('env', 'SLUICE_TEST_VAR')).toMatchObject({ value: 'a' });
    } finally {
      await rt.close();
    }
    const shared = await Runtime.start({ tasks, workers: 1, warmUp: false, env: SHARE_ENV });
    try {
      expect(await shared.run('setEnv', ['SLUICE_TEST_SHARED', 'from-worker'])).toBe(true);
      expect(process.env.SLUICE_TEST_SHARED).toBe('from-worker');
    } finally {
      delete process.env.SLUICE_TEST_SHARED;
      await shared.close();
    }
  });

  it('bad execArgv or env is a ConfigError before anything starts; a flag Node refuses in a worker is a WorkerStartError', async () => {
    const bad: [string, unknown][] = [
      ['execArgv', '--no-deprecation'], ['execArgv', [1]], ['execArgv', null], ['env', null], ['env', ['A=1']], ['env', { A: 1 }],
      ['env', 'SHARE_ENV'], ['env', { get A() { throw new Error('boom'); } }],
    ];
    for (const [key, value] of bad) {
      await expect(Runtime.start({ tasks, workers: 1, [key]: value } as never), `${key}: ${String(value)}`).rejects.toBeInstanceOf(ConfigError);
    }
    await expect(Runtime.start({ tasks, workers: 1, env: { get A(): string { throw new Error('boom'); } } })).rejects.toMatchObject({ cause: { message: 'boom' } });
    await expect(Runtime.start({ tasks, workers: 1, warmUp: false, execArgv: ['--max-old-space-size=64'] })).rejects.toBeInstanceOf(WorkerStartError);
  });
});
