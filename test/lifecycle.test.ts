// Lifecycle edges (issue 16, classes 4, 5, 8): each case runs in a child process, where a hang
// or a failure to exit IS the failure (spawnSync's timeout, or the test's).
import { spawn, spawnSync } from 'node:child_process';
import { runChild } from './helpers/child.js';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/lifecycle/${name}`, import.meta.url));

/** Run a fixture to its end; it must exit by itself with status 0 (no process.exit in the fixtures). */
async function runToExit(name: string, ...args: string[]): Promise<Array<Record<string, unknown>>> {
  const r = await runChild(process.execPath, ['--import', 'tsx', fixture(name), ...args], { timeout: 60_000 });
  expect(r.signal, `${name} ${args.join(' ')} did not exit by itself\n${r.stdout}\n${r.stderr}`).toBeNull();
  expect(r.status, r.stderr).toBe(0);
  return r.stdout.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('a process that forgets close()', () => {
  it('exits by itself when the runtime is idle (nothing outstanding)', async () => {
    expect(await runToExit('forget-close.ts', 'idle')).toEqual([{ value: 2 }, { exit: true, inFlight: 0 }]);
  });

  for (const mode of ['token', 'callback', 'run']) {
    it(`stays alive while a task is outstanding (${mode}), then exits once it resolved`, async () => {
      // The value line proves the process lived until the task resolved; the exit line that it then ended.
      expect(await runToExit('forget-close.ts', mode)).toEqual([{ value: 300 }, { exit: true, inFlight: 0 }]);
    });
  }

  it('exits by itself after an attached thread used the runtime and ended without closing its handle', async () => {
    expect(await runToExit('forget-close.ts', 'attached')).toEqual([{ value: 42 }, { exit: true, inFlight: 0 }]);
  });

  it("the starting thread's close() completes an attached thread's tokens no worker will (running: abandoned; queued: retracted), so that thread and the process end", async () => {
    expect(await runToExit('forget-close.ts', 'orphan')).toEqual([
      { closed: true },
      { results: ['abandoned: AbandonedError', 'retracted: RetractedError'], callback: 'RetractedError' },
      { exit: true, inFlight: 0 },
    ]);
  });

  it("an attached close({ timeoutMs }) returns with a task still running: the queued one is retracted, the running one keeps its token and slot until it resolves", async () => {
    expect(await runToExit('forget-close.ts', 'detach-timeout')).toEqual([
      { closed: true, pending: 'retracted', running: 'running', inFlight: 1 },
      { mainClosed: true },
      { running: 'abandoned: AbandonedError' }, // completed by the starting thread's close (resolveOrphans)
      { exit: true, inFlight: 0 },
    ]);
  });

  it('await using closes the runtime when the block ends', async () => {
    expect(await runToExit('dispose.ts')).toEqual([
      { inside: 'running' },
      { value: 2, after: 'closed', submit: { admitted: false, reason: 'closed' } },
    ]);
  });
});

describe('Runtime.start that cannot finish rejects, tears down everything, and the process exits', () => {
  type Out = { name: string; code: string; message: string; cause: string | null; before: unknown; after: unknown; threadNames?: string[]; beforeNames?: string[] };
  const run = async (mode: string): Promise<Out> => {
    const lines = await runToExit('start-fails.ts', mode);
    expect(lines).toHaveLength(1);
    const out = lines[0] as Out;
    // Nothing leaked: the same file descriptors and threads as before the failed start.
    expect(out.after, `threads before ${JSON.stringify(out.beforeNames)}, after ${JSON.stringify(out.threadNames)}`).toEqual(out.before);
    return out;
  };

  it('a top-level await that never settles: WorkerStartError after startTimeoutMs, naming the likely cause', async () => {
    for (const mode of ['timeout', 'never']) {
      const out = await run(mode);
      expect(out.name).toBe('WorkerStartError');
      expect(out.code).toBe('ERR_SLUICE_WORKER_START');
      // With nothing else in its event loop the worker may end by itself first: said so, not a timeout.
      expect(out.message).toMatch(mode === 'timeout' ? /did not become ready within 500 ms/ : /did not become ready within 500 ms|exited during start/);
      expect(out.message).toMatch(/top-level await that never settles/);
    }
  });

  it('startTimeoutMs: 1 (4 times): workers cut off while they load are let finish loading sluice first, so no fd leaks', async () => {
    expect(await run('instant')).toMatchObject({ name: 'WorkerStartError', message: expect.stringMatching(/within 1 ms/) });
  });

  it('a signal that aborts while the workers load: AbortedError whose cause is the reason', async () => {
    const out = await run('abort');
    expect(out).toMatchObject({ name: 'AbortedError', code: 'ERR_SLUICE_ABORTED', cause: 'stop starting' });
  });

  it('an already-aborted signal: AbortedError at once', async () => {
    const out = await run('aborted');
    expect(out).toMatchObject({ name: 'AbortedError', code: 'ERR_SLUICE_ABORTED', cause: 'aborted before start' });
  });

  it('a module that throws at import or has a syntax error (3 workers, 4 times): WorkerStartError, no fd or thread leaked', async () => {
    expect(await run('throws')).toMatchObject({ name: 'WorkerStartError', cause: expect.stringContaining('this task module throws at import') });
    expect(await run('syntax')).toMatchObject({ name: 'WorkerStartError', message: expect.stringMatching(/could not start/) });
  });
});

describe('close() with a task blocked in a native call', () => {
  it('returns after its timeout, reports the thread, abandons its token; Node cannot exit until the native call returns', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-fifo-'));
    const fifo = join(dir, 'block');
    try {
      expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
      const child = spawn(process.execPath, ['--import', 'tsx', fixture('close-blocked.ts'), fifo], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      const lines: Array<Record<string, unknown>> = [];
      let buffered = '';
      // Both lines arrive while the worker is still inside `cat <fifo>`: only this test can end that call.
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => {
          buffered += d.toString();
          const parts = buffered.split('\n');
          buffered = parts.pop()!;
          for (const l of parts) if (l.startsWith('{')) lines.push(JSON.parse(l) as Record<string, unknown>);
          if (lines.some((l) => l.exitEvent === true)) resolve();
        });
        void exited.then(() => reject(new Error(`the child exited while the native call was still blocked:\n${stderr}`)));
      });
      const closed = lines[0]!;
      expect(closed).toMatchObject({ closed: true, state: 'closed', inFlight: 0, callback: 'RetractedError' });
      expect(closed.token).toMatch(/^abandoned: /);
      expect(closed.events).toContainEqual(expect.stringMatching(
        /^worker 0 did not stop within \d+ ms of being terminated \(blocked outside JavaScript\?\); it will end when its native call returns$/,
      ));
      expect(closed.producer).toMatchObject({ inFlight: 0, admitted: 2, resolved: { fulfilled: 0, rejected: 0, retracted: 1, abandoned: 1 } });
      // The process has run its 'exit' handlers, yet it is still there: Node joins the worker
      // thread at exit, and that thread is inside execSync.
      expect(child.exitCode).toBeNull();
      expect(existsSync(`/proc/${child.pid}`)).toBe(true);
      writeFileSync(fifo, 'release\n'); // the native call returns...
      expect(await exited).toBe(0); // ...and only then does the process end (a hang fails the test)
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Runtime.attach is transactional; an attached handle drains and closes only itself', () => {
  type Out = {
    afterClaim: string; again: string; noSlot: string[]; freed: string; before: unknown; after: unknown;
    attached: Record<string, unknown>; mainDuringAttachedDrain: unknown[]; mainAfter: number; state: string;
  };
  let out: Out;
  it('a failed attach leaks nothing: a hostile clock is refused before any slot is claimed; no fd or thread is left behind', async () => {
    const lines = await runToExit('attach-fails.ts');
    out = lines[0] as unknown as Out;
    expect(out.afterClaim).toMatch(/^ConfigError: Runtime\.attach: reading clock\.\w+ threw/); // checked before Attachment.claimSlot...
    expect(out.again).toBe('attached'); // ...and the slot is free again (maxAttachments: 2, so the only one)
    expect(out.noSlot).toEqual(Array(3).fill('AttachError: no free attachment slot (2); raise Runtime.start({ maxAttachments })'));
    expect(out.freed).toBe('attached');
    expect(out.after).toEqual(out.before);
  });

  it("an attached drain() rejects only that handle's submits ('draining', rt.run too) and waits for its own tokens; close() then detaches", async () => {
    expect(out.attached).toEqual({
      duringDrain: { admitted: false, reason: 'draining' },
      runDuringDrain: 'RejectedError: draining',
      tokenAtDrain: 'fulfilled',
      afterClose: { admitted: false, reason: 'closed' },
      state: 'running',
    });
    // The starting thread was unaffected throughout.
    expect(out.mainDuringAttachedDrain).toEqual([true, 'running']);
    expect(out.mainAfter).toBe(2);
    expect(out.state).toBe('running');
  });
});

describe('rt.run when no worker is left', () => {
  it('waiting rt.run calls are rejected (no-workers) when the last slot is retired, and a new one rejects at once', async () => {
    const { Runtime, RejectedError } = await import('../src/index.js');
    const rt = await Runtime.start({
      tasks: new URL('./fixtures/faults.mjs', import.meta.url), workers: 1, globalSlots: 1, maxRestarts: 0, affinity: false, testHooks: true,
    });
    try {
      const blocker = rt.producer('b').submit('blockUntil', 'retire-0');
      expect(blocker.admitted).toBe(true);
      // The only global slot is held: these wait for capacity.
      const waiting = [1, 2, 3].map((x) => rt.run('inc', x).then(() => 'ran', (e: unknown) => e));
      rt.testing!.killWorker(0); // maxRestarts 0: the slot is retired instead of respawned
      const results = await Promise.all(waiting); // a hang here is the failure
      for (const r of results) {
        expect(r).toBeInstanceOf(RejectedError);
        expect((r as InstanceType<typeof RejectedError>).reason).toBe('no-workers');
      }
      expect(rt.stats().workers[0]!.failed).toBe(true);
      await expect(rt.run('inc', 4)).rejects.toMatchObject({ name: 'RejectedError', reason: 'no-workers' });
      expect(rt.stats().global.inFlight).toBe(0);
    } finally {
      await rt.close({ timeoutMs: 100 });
    }
  });
});
