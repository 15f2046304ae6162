// The recording seam (src/trace/seam.ts): every decision of the submitting thread and of the
// supervisor reaches a listener exactly once, in protocol order, naming the token it decided.
// What the recorder (issue 18) builds on: if a decision could happen without its call, or a call
// without its decision, a recording would not be the run.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Runtime, TICKS_PER_SECOND, VirtualClock, type Token } from '../src/index.js';
import { listen } from '../src/runtime/testing/testing.js';
import type { Seam } from '../src/trace/seam.js';
import { OUTCOMES } from '../src/admission/outcomes.js';
import { REJECT_REASONS } from '../src/admission/reasons.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const tasks = new URL('./fixtures/tasks.mjs', import.meta.url);
const faults = new URL('./fixtures/faults.mjs', import.meta.url);

type Ev = { k: string; id: string; v: number[] };

/** A listener that keeps every call, in order (tests only: the real recorder allocates nothing). */
class Log implements Seam {
  readonly ev: Ev[] = [];
  private put(k: string, id: string, ...v: number[]): void { this.ev.push({ k, id, v }); }
  admitted(producer: number, task: number, att: number, token: number, gen: number, worker: number, _p: number, _g: number, parent: number, parentGen: number): void {
    this.put('admitted', `${att}:${token}:${gen}`, producer, task, worker, parent, parentGen);
  }
  rejected(producer: number, task: number, _att: number, reason: number): void { this.put('rejected', '', producer, task, reason); }
  started(att: number, token: number, gen: number, worker: number, stolen: boolean): void {
    this.put('started', `${att}:${token}:${gen}`, worker, stolen ? 1 : 0);
  }
  ran(att: number, token: number, gen: number, worker: number, outcome: number, _endMs: number): void { this.put('ran', `${att}:${token}:${gen}`, worker, outcome); }
  resolved(att: number, token: number, gen: number, producer: number, outcome: number): void {
    this.put('resolved', `${att}:${token}:${gen}`, producer, outcome);
  }
  cancelled(att: number, token: number, gen: number, force: boolean): void { this.put('cancelled', `${att}:${token}:${gen}`, force ? 1 : 0); }
  retried(att: number, token: number, gen: number, worker: number): void { this.put('retried', `${att}:${token}:${gen}`, worker); }
  workerDied(worker: number, retryable: boolean): void { this.put('workerDied', '', worker, retryable ? 1 : 0); }
  respawned(worker: number): void { this.put('respawned', '', worker); }
  retired(worker: number): void { this.put('retired', '', worker); }
  frozen(): void { this.put('frozen', ''); }
  refilled(p: number): void { this.put('refilled', String(p)); }
  reconciled(deadWorkers: number, deadAttachments: number): void { this.put('reconciled', '', deadWorkers, deadAttachments); }
  admin(action: number, session: number): void { this.put('admin', '', action, session); }
  breaker(task: number, from: number, to: number, why: number): void { this.put('breaker', '', task, from, to, why); }
}

const idOf = (t: Token): string => {
  const i = t as unknown as { _index: number; _gen: number };
  return `0:${i._index}:${i._gen}`;
};

describe('the recording seam, submitting thread: one call per decision, in protocol order', () => {
  let rt: Runtime;
  beforeAll(async () => { rt = await Runtime.start({ tasks, workers: 2, globalSlots: 6 }); });
  afterAll(async () => { await rt.close(); });

  type Op = { kind: 'submit'; p: number; fail: boolean } | { kind: 'cancel'; i: number };
  const op: fc.Arbitrary<Op> = fc.oneof(
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('submit' as const), p: fc.integer({ min: 0, max: 2 }), fail: fc.boolean() }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('cancel' as const), i: fc.nat(40) }) },
  );

  it('admitted/rejected per submit, cancelled per won cancel, resolved once per token after its admission', async () => {
    await fc.assert(fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 40 }), async (ops) => {
      const producers = [1, 2, 3].map((slots, k) => rt.producer(`seam-${k}`, { slots }));
      const log = new Log();
      listen(rt, log);
      const tokens: Token[] = [];
      const rejections: Array<{ p: number; reason: string }> = [];
      const cancelledIds = new Set<string>();
      try {
        for (const o of ops) {
          if (o.kind === 'submit') {
            const a = producers[o.p]!.submit(rt.task(o.fail ? 'fail' : 'inc'), 1);
            if (a.admitted) tokens.push(a);
            else rejections.push({ p: producers[o.p]!.index, reason: a.reason });
          } else if (tokens.length > 0) {
            const t = tokens[o.i % tokens.length]!;
            const id = idOf(t);
            if (t.cancel()) cancelledIds.add(id);
          }
        }
        await Promise.allSettled(tokens);
      } finally {
        listen(rt, null);
      }
      const at = (k: string, id: string): number[] => log.ev.flatMap((e, i) => (e.k === k && e.id === id ? [i] : []));
      for (const t of tokens) {
        const id = idOf(t);
        const adm = at('admitted', id);
        const res = at('resolved', id);
        expect(adm, id).toHaveLength(1);
        expect(res, id).toHaveLength(1);
        expect(res[0]!).toBeGreaterThan(adm[0]!);
        expect(OUTCOMES[log.ev[res[0]!]!.v[1]!]).toBe(t.outcome);
        const can = at('cancelled', id);
        expect(can.length, id).toBe(cancelledIds.has(id) ? 1 : 0);
        if (can.length === 1) expect(can[0]!).toBeLessThan(res[0]!);
      }
      expect(log.ev.filter((e) => e.k === 'admitted')).toHaveLength(tokens.length);
      expect(log.ev.filter((e) => e.k === 'resolved')).toHaveLength(tokens.length);
      const seen = log.ev.filter((e) => e.k === 'rejected').map((e) => ({ p: e.v[0]!, reason: REJECT_REASONS[e.v[2]!] }));
      expect(seen).toEqual(rejections);
    }), { numRuns: 25 });
  }, 120_000);

  it('callbacks too: one admitted and one resolved call per callback-path admission', async () => {
    const log = new Log();
    listen(rt, log);
    const p = rt.producer('seam-cb');
    let left = 5;
    const done = new Promise<void>((resolve) => {
      const cb = (): void => { if (--left === 0) resolve(); };
      for (let i = 0; i < 5; i++) expect(p.submitCallback(rt.task('inc'), i, cb, i)).toBeNull();
    });
    await done;
    listen(rt, null);
    const adm = log.ev.filter((e) => e.k === 'admitted').map((e) => e.id);
    const res = log.ev.filter((e) => e.k === 'resolved').map((e) => e.id);
    expect(adm).toHaveLength(5);
    expect([...res].sort()).toEqual([...adm].sort());
  });

  it("a 'clear' listener that submits during a chain step's admission: its submit is not given that step's parent", async () => {
    const clock = new VirtualClock(0);
    const rt2 = await Runtime.start({ tasks, workers: 1, clock });
    const log = new Log();
    try {
      const p = rt2.producer('seam-rated', { rate: 1, burst: 2 });
      const first = p.submit(rt2.task('inc'), 1) as Token;
      const second = p.submit(rt2.task('inc'), 2) as Token;
      expect(p.submit(rt2.task('inc'), 3).admitted).toBe(false); // 'rate': saturated
      clock.advance(2 * TICKS_PER_SECOND); // two tokens earned; nothing has run since (all synchronous)
      let inner: Token | null = null;
      p.on('clear', () => { inner = p.submit(rt2.task('inc'), 4) as Token; }); // user code, inside the chain step's submit
      listen(rt2, log);
      const chained = p.submit(rt2.task('inc'), 5, { parent: first }) as Token;
      expect(chained.admitted).toBe(true);
      expect(inner).not.toBeNull();
      expect(inner!.admitted).toBe(true);
      await Promise.all([first, second, chained, inner!]);
      listen(rt2, null);
      const parents = new Map(log.ev.filter((e) => e.k === 'admitted').map((e) => [e.id, e.v.slice(3)]));
      expect(parents.get(idOf(inner!))).toEqual([-1, -1]); // not the chain step's parent
      const f = first as unknown as { _index: number; _gen: number };
      expect(parents.get(idOf(chained))).toEqual([f._index, f._gen]); // attachment 0 << 16 | index
    } finally {
      await rt2.close();
    }
  });

  it('nothing is called when nothing listens (the listener removed)', async () => {
    const log = new Log();
    listen(rt, log);
    listen(rt, null);
    await rt.producer('seam-off').submit(rt.task('inc'), 1) as Token;
    expect(log.ev).toEqual([]);
  });
});

describe('the recording seam, supervisor: a crash is died, frozen, reconciled, then respawned; a retry is re-pushed', () => {
  it('a worker that dies running a task that declared retries', async () => {
    const rt = await Runtime.start({ tasks: faults, workers: 1 });
    const dir = mkdtempSync(join(tmpdir(), 'sluice-seam-'));
    const log = new Log();
    try {
      listen(rt, log);
      const t = rt.producer('seam-crash').submit(rt.task('exitOnce', { retries: 1 }), join(dir, 'once')) as Token;
      const first = idOf(t);
      expect(await t).toBe(2);
      listen(rt, null);
      const kinds = log.ev.map((e) => e.k);
      const died = kinds.indexOf('workerDied');
      expect(died).toBeGreaterThanOrEqual(0);
      expect(log.ev[died]!.v).toEqual([0, 1]);
      const frozen = kinds.indexOf('frozen', died);
      const reconciled = kinds.indexOf('reconciled', frozen);
      const respawned = kinds.indexOf('respawned', reconciled);
      expect(frozen).toBeGreaterThan(died);
      expect(log.ev[reconciled]!.v).toEqual([1, 0]);
      expect(respawned).toBeGreaterThan(reconciled);
      const retried = log.ev.filter((e) => e.k === 'retried');
      expect(retried).toHaveLength(1);
      const [, index, gen] = first.split(':').map(Number);
      expect(retried[0]!.id).toBe(`0:${index}:${(gen! + 1) & 0x1fffff}`);
      expect(log.ev.filter((e) => e.k === 'resolved').map((e) => e.id)).toEqual([retried[0]!.id]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await rt.close();
    }
  }, 60_000);
});
