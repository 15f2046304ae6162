// One focused test per protocol step: a test-only pause point stops a thread at an exact step
// (Atomics, no sleeps), the test kills it there, and checks the outcome and the counters.
import { describe, expect, it } from 'vitest';
import { Worker } from 'node:worker_threads';
import { Runtime, type Token } from '../src/index.js';
import type { HookPoint } from '../src/runtime/testing/hooks.js';
import { Signals } from './helpers/signals.js';

const tasks = new URL('./fixtures/tasks.mjs', import.meta.url);
const bootstrap = new URL('./fixtures/ts-bootstrap.mjs', import.meta.url);
const victim = new URL('./fixtures/victim-producer.ts', import.meta.url).href;

function expectBalanced(rt: Runtime): void {
  const s = rt.stats();
  expect(s.global.inFlight).toBe(0);
  for (const p of s.producers) {
    expect(p.inFlight, p.name).toBe(0);
    expect(p.resolved.fulfilled + p.resolved.rejected + p.resolved.retracted + p.resolved.abandoned, p.name).toBe(p.admitted);
  }
}

async function settle(t: Token): Promise<string | undefined> {
  try { await t; } catch { /* the outcome is what we check */ }
  return t.outcome;
}

describe('worker killed at each step of Run/Complete: only its task is affected, the replacement takes the ring over', () => {
  const cases: Array<[HookPoint, string]> = [
    ['run:claimed', 'RUNNING recorded, cell not yet released: the replacement re-reads the cell and skips it'],
    ['run:released', 'cell released, task not yet called'],
    ['complete:done', 'result computed (DONE), no completion cell yet'],
    ['complete:claimed', 'completion cell claimed, not published: recovery fills that very cell'],
  ];
  for (const [point, what] of cases) {
    it(`${point}: ${what}`, async () => {
      const rt = await Runtime.start({ tasks, workers: 1, testHooks: true, ringCapacity: 8 });
      try {
        rt.testing!.hooks.arm(point, 1);
        const p = rt.producer('steps');
        const first = p.submit(rt.task('inc'), 1) as Token;
        const behind = [2, 3, 4].map((i) => p.submit<number>(rt.task('inc'), i) as Token<number>);
        expect(await rt.testing!.hooks.hit()).toBe(1);
        rt.testing!.killWorker(0);
        expect(await settle(first)).toBe('abandoned');
        expect(await Promise.all(behind)).toEqual([3, 4, 5]);
        expect(rt.stats().workers[0]!.restarts).toBe(1);
        // The ring did not stall and nothing leaked: more work flows, counters balance.
        expect(await Promise.all(Array.from({ length: 20 }, (_, i) => rt.run<number>('inc', i)))).toEqual(
          Array.from({ length: 20 }, (_, i) => i + 1),
        );
        expectBalanced(rt);
      } finally {
        await rt.close();
      }
    });
  }
});

describe('producer thread killed at each step of Submit: no stalled ring, no leaked slot', () => {
  const cases: Array<[HookPoint, string]> = [
    ['submit:producer', 'holds a producer slot only'],
    ['submit:global', 'holds a producer slot and a global slot'],
    ['submit:claimed', 'holds both slots and a claimed, unpublished ring cell (tombstoned)'],
  ];
  for (const [point, what] of cases) {
    it(`${point}: ${what}`, async () => {
      const rt = await Runtime.start({ tasks, workers: 1, testHooks: true, globalSlots: 8 });
      try {
        rt.testing!.hooks.arm(point);
        const thread = new Worker(bootstrap, { workerData: { entry: victim, handle: rt.handle, count: 1, task: 'inc', payload: 1 } });
        const exited = new Promise((r) => thread.once('exit', r));
        await rt.testing!.hooks.hit();
        await thread.terminate();
        await exited;
        const before = rt.stats();
        // What the dead thread held: its producer slot, and from step 3 on a global slot too.
        expect(before.producers.find((x) => x.name === 'victim')!.inFlight).toBe(1);
        expect(before.global.inFlight).toBe(point === 'submit:producer' ? 0 : 1);
        rt.testing!.checkAttachments();
        const after = rt.stats();
        expect(after.global.inFlight).toBe(0);
        expect(after.producers.find((x) => x.name === 'victim')!.inFlight).toBe(0);
        // One worker, one ring: a stalled cell would block everything behind it.
        expect(await Promise.all([1, 2, 3].map((i) => rt.run<number>('inc', i)))).toEqual([2, 3, 4]);
        expectBalanced(rt);
      } finally {
        await rt.close();
      }
    });
  }

  it("a dead producer thread's admitted tasks still run; their results are dropped and the counters balance", async () => {
    const rt = await Runtime.start({ tasks, workers: 1, globalSlots: 16 });
    const sig = new Signals();
    try {
      const thread = new Worker(bootstrap, { workerData: { entry: victim, handle: rt.handle, count: 5, task: 'blockUntil', payload: 'dead' } });
      const report = await new Promise<{ admitted: number }>((r) => thread.once('message', r));
      expect(report.admitted).toBe(5);
      await sig.started('dead'); // the first of them runs now, the rest are queued
      await thread.terminate();
      rt.testing?.checkAttachments();
      sig.release('dead');
      // The supervisor's liveness check finds the dead thread and drains its results.
      while (rt.stats().global.inFlight !== 0) await new Promise((r) => setTimeout(r, 10));
      const v = rt.stats().producers.find((x) => x.name === 'victim')!;
      expect(v.admitted).toBe(5);
      expect(v.resolved.fulfilled).toBe(5);
      expect(v.inFlight).toBe(0);
      expect(rt.stats().workers[0]!.executed).toBe(5);
      expect(await rt.run('inc', 1)).toBe(2);
      expectBalanced(rt);
    } finally {
      sig.close();
      await rt.close();
    }
  });
});

describe('races with shutdown', () => {
  it('close racing submits from another thread: every admitted token resolves, late submits get draining/closed, close completes', async () => {
    const rt = await Runtime.start({ tasks, workers: 2 });
    const flood = new Worker(bootstrap, {
      workerData: { entry: new URL('./fixtures/flood-until-closed.ts', import.meta.url).href, handle: rt.handle },
    });
    const report = new Promise<{ admitted: number; resolved: number; wrong: number; reasons: Record<string, number> }>((r) => flood.once('message', r));
    await new Promise<void>((r) => flood.once('online', () => r()));
    while ((rt.stats().producers.find((x) => x.name === 'flood')?.admitted ?? 0) < 1000) await new Promise((r) => setTimeout(r, 2));
    await rt.close();
    const r = await report;
    expect(r.wrong).toBe(0);
    expect(r.resolved).toBe(r.admitted);
    expect(r.admitted).toBeGreaterThan(0);
    expect((r.reasons.draining ?? 0) + (r.reasons.closed ?? 0)).toBeGreaterThan(0);
    for (const reason of Object.keys(r.reasons)) expect(['draining', 'closed', 'producer-slots', 'global-slots', 'ring-full']).toContain(reason);
    expect(rt.stats().global.inFlight).toBe(0);
  });

  it('drain racing cancels: drain resolves once every token resolved; cancelled ones are retracted, the rest fulfilled', async () => {
    const rt = await Runtime.start({ tasks, workers: 1 });
    const sig = new Signals();
    try {
      const p = rt.producer('drain');
      const blocker = p.submit(rt.task('blockUntil'), 'd') as Token;
      await sig.started('d');
      const tokens = Array.from({ length: 50 }, (_, i) => p.submit<number>(rt.task('inc'), i) as Token<number>);
      const drained = rt.drain();
      expect(p.submit(rt.task('inc'), 0)).toEqual({ admitted: false, reason: 'draining' });
      const cancelled = tokens.filter((_, i) => i % 2 === 0).map((t) => t.cancel());
      expect(cancelled.every(Boolean)).toBe(true);
      sig.release('d');
      await drained;
      await blocker;
      tokens.forEach((t, i) => expect(t.outcome).toBe(i % 2 === 0 ? 'retracted' : 'fulfilled'));
      expectBalanced(rt);
    } finally {
      sig.close();
      await rt.close();
    }
  });
});
