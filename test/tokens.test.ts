import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Runtime, RetractedError, type Token } from '../src/index.js';
import { Signals } from './helpers/signals.js';

const tasks = new URL('./fixtures/tasks.mjs', import.meta.url);

describe('tokens: three states, four outcomes, cancel', () => {
  let rt: Runtime;
  let sig: Signals;
  beforeAll(async () => {
    rt = await Runtime.start({ tasks, workers: 1 });
    sig = new Signals();
  });
  afterAll(async () => {
    sig.close();
    await rt.close();
  });

  it('a token goes pending -> running -> resolved, and cancel() of a running token does nothing', async () => {
    const p = rt.producer('states');
    const a = p.submit<string>(rt.task('blockUntil'), 'k1');
    if (!a.admitted) throw new Error('not admitted');
    await sig.started('k1');
    expect(a.state).toBe('running');
    expect(a.cancel()).toBe(false);
    sig.release('k1');
    expect(await a).toBe('k1');
    expect(a.state).toBe('resolved');
    expect(a.outcome).toBe('fulfilled');
    expect(a.cancel()).toBe(false);
  });

  it('cancel() retracts a pending token: it never runs, its slots are released at once, await rejects RetractedError', async () => {
    const p = rt.producer('cancel');
    const block = p.submit(rt.task('blockUntil'), 'k2');
    if (!block.admitted) throw new Error('not admitted');
    await sig.started('k2'); // the only worker is now busy: whatever we submit next stays pending
    const executedBefore = rt.stats().workers[0]!.executed;
    const b = p.submit(rt.task('inc'), 1) as Token;
    expect(b.admitted).toBe(true);
    expect(b.state).toBe('pending');
    expect(p.stats().inFlight).toBe(2);
    expect(b.cancel()).toBe(true);
    expect(b.state).toBe('resolved');
    expect(b.outcome).toBe('retracted');
    expect(p.stats().inFlight).toBe(1); // released at once, not when the worker gets to it
    expect(b.cancel()).toBe(false); // exactly once
    await expect(b).rejects.toBeInstanceOf(RetractedError);
    sig.release('k2');
    await block;
    // The retracted cell is skipped: a later task still runs, and the retracted one never did.
    expect(await rt.run('inc', 5)).toBe(6);
    expect(rt.stats().workers[0]!.executed - executedBefore).toBe(1 /* inc 5 */ + 0);
    const s = p.stats();
    expect(s.resolved.retracted).toBe(1);
    expect(s.inFlight).toBe(0);
  });

  it('async tasks run concurrently in one worker and are not frozen by parking', async () => {
    const p = rt.producer('async');
    const keys = ['a1', 'a2', 'a3', 'a4', 'a5'];
    const tokens = keys.map((k) => p.submit<string>(rt.task('waitFor'), k) as Token<string>);
    await Promise.all(keys.map((k) => sig.started(k)));
    for (const t of tokens) expect(t.state).toBe('running'); // all five at once on the single worker
    for (const k of keys.reverse()) sig.release(k);
    expect(await Promise.all(tokens)).toEqual(['a1', 'a2', 'a3', 'a4', 'a5']);
  });
});
