/**
 * Issue 16, class 9: each cause of a refusal has its own reason, and callers can tell the ones
 * that pass with time (capacity: retry, or rt.run waits) from the ones that do not.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Runtime, type Token } from '../src/index.js';
import { Signals } from './helpers/signals.js';

const tasks = new URL('./fixtures/tasks.mjs', import.meta.url);

describe("'arena-full' is its own reason, and a capacity reason", () => {
  let rt: Runtime;
  let signals: Signals;
  beforeAll(async () => {
    signals = new Signals();
    rt = await Runtime.start({ tasks, workers: 1, spillBytes: 4096, steal: false });
  });
  afterAll(async () => {
    signals.close();
    await rt.close({ timeoutMs: 2000 });
  });

  it("a momentarily full spill arena refuses 'arena-full' (not 'ring-full'), with every counter unchanged; rt.run waits for it", async () => {
    const p = rt.producer('big');
    const blocker = p.submit(rt.task('blockUntil'), 'arena') as Token; // holds the only worker
    await signals.started('arena');
    const payload = new Uint8Array(1500).fill(9); // spilled: over the cell's 92 inline bytes
    const held: Token[] = [];
    let refusal: string | null = null;
    for (let i = 0; i < 8 && refusal === null; i++) {
      const a = p.submit(rt.task('echo'), payload);
      if (a.admitted) held.push(a);
      else refusal = a.reason;
    }
    expect(refusal).toBe('arena-full');
    expect(held.length).toBeGreaterThan(0);
    const before = rt.stats();
    expect(p.submit(rt.task('echo'), payload)).toMatchObject({ admitted: false, reason: 'arena-full' });
    const after = rt.stats();
    expect(after.global).toEqual(before.global);
    expect(after.workers[0]!.queued).toBe(before.workers[0]!.queued);
    expect(p.stats().rejected['arena-full']).toBeGreaterThanOrEqual(2);
    expect(p.stats().rejected['ring-full']).toBe(0);
    // rt.run treats it as capacity: it waits, and is admitted once the arena drains.
    const waiting = rt.run('echo', payload);
    signals.release('arena');
    expect(await blocker).toBe('arena');
    for (const t of held) expect((await t) as Uint8Array).toEqual(payload);
    expect(await waiting).toEqual(payload);
    expect(rt.stats().global.inFlight).toBe(0);
  });
});
