import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Runtime, AbandonedError, RetractedError, type Token } from '../src/index.js';
import { Signals } from './helpers/signals.js';

const faults = new URL('./fixtures/faults.mjs', import.meta.url);

/** Every in-flight counter is zero and every admitted token resolved (invariants 1 and 4). */
function expectQuiescent(rt: Runtime): void {
  const s = rt.stats();
  expect(s.global.inFlight).toBe(0);
  for (const p of s.producers) {
    expect(p.inFlight).toBe(0);
    expect(p.resolved.fulfilled + p.resolved.rejected + p.resolved.retracted + p.resolved.abandoned).toBe(p.admitted);
  }
}

async function outcome(t: Token): Promise<{ outcome: string | undefined; error: unknown; value: unknown }> {
  try {
    const value = await t;
    return { outcome: t.outcome, error: null, value };
  } catch (error) {
    return { outcome: t.outcome, error, value: undefined };
  }
}

describe('worker death: only the running task is affected, the slot is replaced', () => {
  let rt: Runtime;
  let dir: string;
  beforeAll(async () => {
    rt = await Runtime.start({ tasks: faults, workers: 1, resourceLimits: { maxOldGenerationSizeMb: 64 } });
    dir = mkdtempSync(join(tmpdir(), 'sluice-faults-'));
  });
  afterAll(async () => {
    await rt.close();
    rmSync(dir, { recursive: true, force: true });
  });
  afterEach(() => expectQuiescent(rt));

  it('process.exit inside a task: that token is abandoned with the exit code, queued tasks behind it still run', async () => {
    const p = rt.producer('exit');
    const dying = p.submit(rt.task('exitNow'), 3) as Token;
    const queued = [1, 2, 3].map((i) => p.submit<number>(rt.task('inc'), i) as Token<number>);
    const r = await outcome(dying);
    expect(r.outcome).toBe('abandoned');
    expect(r.error).toBeInstanceOf(AbandonedError);
    expect(String((r.error as Error).message)).toMatch(/exited with code 3/);
    expect(await Promise.all(queued)).toEqual([2, 3, 4]);
    expect(rt.stats().workers[0]!.restarts).toBe(1);
  });

  it('an uncaught error outside any task kills the worker; nothing admitted is lost', async () => {
    const before = rt.stats().workers[0]!.restarts;
    const p = rt.producer('uncaught');
    const first = p.submit(rt.task('throwLater'), 'v') as Token;
    expect(await first).toBe('v');
    // The worker dies on its next turn of the event loop; whatever runs then is abandoned or
    // (if nothing ran) simply picked up by the replacement. Every token resolves either way.
    const after = await Promise.all([5, 6, 7].map((i) => outcome(p.submit(rt.task('inc'), i) as Token)));
    for (const a of after) expect(['fulfilled', 'abandoned']).toContain(a.outcome);
    // The worker dies when its timer fires (it parks with waitAsync while the timer is pending).
    while (rt.stats().workers[0]!.restarts === before) await new Promise((r) => setTimeout(r, 5));
    expect(rt.stats().workers[0]!.restarts).toBe(before + 1);
    expect(await rt.run('inc', 1)).toBe(2);
  });

  it('running out of memory (resourceLimits) abandons that task and says so', async () => {
    const r = await outcome(rt.producer('oom').submit(rt.task('oom')) as Token);
    expect(r.outcome).toBe('abandoned');
    expect(String((r.error as Error).message)).toMatch(/out of memory/);
    expect(await rt.run('inc', 41)).toBe(42);
  });

  it('a task that declared retries runs again after its worker died (at-least-once), and reports the second run', async () => {
    const path = join(dir, 'retry');
    const task = rt.task('exitOnce', { retries: 1 });
    expect(await rt.run(task, path)).toBe(2);
    expect(readFileSync(path, 'utf8')).toBe('xx');
  });

  it('without retries the same crash is abandoned and the body ran once', async () => {
    const path = join(dir, 'noretry');
    await expect(rt.run('exitOnce', path)).rejects.toBeInstanceOf(AbandonedError);
    expect(readFileSync(path, 'utf8')).toBe('x');
  });
});

describe('deadlines, queue timeouts, cancellation', () => {
  let rt: Runtime;
  let sig: Signals;
  beforeAll(async () => {
    rt = await Runtime.start({ tasks: faults, workers: 2 });
    sig = new Signals();
  });
  afterAll(async () => {
    sig.close();
    await rt.close();
  });
  afterEach(() => expectQuiescent(rt));

  it('a synchronous task that hangs past its deadline is abandoned; its worker is replaced; the other worker is untouched', async () => {
    const restarts = rt.stats().workers.map((w) => w.restarts);
    const hog = rt.producer('deadline').submit(rt.task('hog', { deadlineMs: 50 })) as Token;
    const r = await outcome(hog);
    expect(r.outcome).toBe('abandoned');
    expect(String((r.error as Error).message)).toMatch(/deadline/);
    const now = rt.stats().workers.map((w) => w.restarts);
    expect(now[0]! + now[1]! - restarts[0]! - restarts[1]!).toBe(1);
    expect(await rt.run('inc', 1)).toBe(2);
  });

  it('an async task past its deadline is abandoned without killing its worker', async () => {
    const restarts = rt.stats().workers.reduce((a, w) => a + w.restarts, 0);
    const t = rt.producer('async-deadline').submit(rt.task('waitFor'), 'never', { deadlineMs: 30 }) as Token;
    const r = await outcome(t);
    expect(r.outcome).toBe('abandoned');
    expect(String((r.error as Error).message)).toMatch(/deadline/);
    expect(rt.stats().workers.reduce((a, w) => a + w.restarts, 0)).toBe(restarts);
    sig.release('never'); // let the ignored task finish; its late result is dropped
    expect(await rt.run('inc', 2)).toBe(3);
  });

  it('queue time does not count against a run deadline', async () => {
    const p = rt.producer('queued');
    const heavy = rt.task('blockUntil', { weight: 'heavy' });
    // Both workers busy, so the next task waits in a ring for longer than its deadline.
    const b1 = p.submit(heavy, 'q1') as Token;
    await sig.started('q1'); // running: the next goes to the other worker
    const b2 = p.submit(heavy, 'q2') as Token;
    await sig.started('q2');
    const submitted = performance.now();
    const t = p.submit<number>(rt.task('inc'), 1, { deadlineMs: 20 }) as Token<number>;
    while (performance.now() - submitted < 60) await new Promise((r) => setTimeout(r, 5)); // queue time > deadline
    expect(t.state).toBe('pending');
    sig.release('q1');
    sig.release('q2');
    await Promise.all([b1, b2]);
    expect(await t).toBe(2);
    expect(t.outcome).toBe('fulfilled');
  });

  it('queueTimeoutMs retracts a task that waited too long; it never runs', async () => {
    const p = rt.producer('qtimeout');
    const heavy = rt.task('blockUntil', { weight: 'heavy' });
    const blockers: Token[] = [];
    for (const key of ['r1', 'r2']) { blockers.push(p.submit(heavy, key) as Token); await sig.started(key); } // one per worker
    const executed = rt.stats().workers.reduce((a, w) => a + w.executed, 0);
    const t = p.submit(rt.task('inc'), 1, { queueTimeoutMs: 20 }) as Token;
    const r = await outcome(t);
    expect(r.outcome).toBe('retracted');
    expect(r.error).toBeInstanceOf(RetractedError);
    sig.release('r1');
    sig.release('r2');
    await Promise.all(blockers);
    await rt.run('inc', 0);
    expect(rt.stats().workers.reduce((a, w) => a + w.executed, 0)).toBe(executed + 1); // only the inc(0)
  });

  it('an AbortSignal retracts a pending task; an already aborted signal makes submit throw its reason', async () => {
    const p = rt.producer('abort');
    const heavy = rt.task('blockUntil', { weight: 'heavy' });
    const blockers: Token[] = [];
    for (const key of ['s1', 's2']) { blockers.push(p.submit(heavy, key) as Token); await sig.started(key); } // one per worker
    const ac = new AbortController();
    const t = p.submit(rt.task('inc'), 1, { signal: ac.signal }) as Token;
    ac.abort();
    expect(t.outcome).toBe('retracted');
    expect(() => p.submit(rt.task('inc'), 1, { signal: ac.signal })).toThrow();
    sig.release('s1');
    sig.release('s2');
    await Promise.all(blockers);
  });

  it('cancel({ force: true }) stops a running task: abandoned at once, only its worker restarts', async () => {
    const restarts = rt.stats().workers.reduce((a, w) => a + w.restarts, 0);
    const t = rt.producer('force').submit(rt.task('blockUntil'), 'forever') as Token;
    await sig.started('forever');
    expect(t.cancel()).toBe(false); // a plain cancel never stops a running task
    expect(t.cancel({ force: true })).toBe(true);
    expect(t.outcome).toBe('abandoned');
    await expect(t).rejects.toBeInstanceOf(AbandonedError);
    // The worker is terminated by the watchdog and replaced; the runtime keeps serving.
    expect(await rt.run('inc', 9)).toBe(10);
    while (rt.stats().workers.reduce((a, w) => a + w.restarts, 0) === restarts) await new Promise((r) => setTimeout(r, 5));
    expect(rt.stats().workers.reduce((a, w) => a + w.restarts, 0)).toBe(restarts + 1);
  });
});

describe('task output', () => {
  it("a worker's stdout and stderr reach the parent's, each line attributed to its worker", async () => {
    const rt = await Runtime.start({ tasks: faults, workers: 1 });
    const out: string[] = [];
    const err: string[] = [];
    const ow = process.stdout.write.bind(process.stdout);
    const ew = process.stderr.write.bind(process.stderr);
    process.stdout.write = ((s: string) => { out.push(String(s)); return true; }) as typeof process.stdout.write;
    process.stderr.write = ((s: string) => { err.push(String(s)); return true; }) as typeof process.stderr.write;
    try {
      await rt.run('log', 'hello from a task');
      await rt.close(); // output arrives before the worker's streams end
    } finally {
      process.stdout.write = ow;
      process.stderr.write = ew;
    }
    expect(out.join('')).toContain('[sluice worker 0] hello from a task\n');
    expect(err.join('')).toContain('[sluice worker 0] err:hello from a task\n');
  });
});
