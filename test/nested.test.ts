// Nested and chained tasks, with lineage (docs/design.md §4.14; issue 18). Real threads: tasks
// submit tasks through sluice/task (test/fixtures/nested-tasks.mjs) and return what they saw:
// their own key (runtime.current), each child's key and parent. Children are admitted by the
// workers' own attachments, which a main-thread seam listener does not see, so lineage is checked
// end to end through those keys: the key a task reports for itself must be the key its submitter
// holds, and every child's parent must be the task that submitted it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Worker } from 'node:worker_threads';
import { types } from 'node:util';
import { AbandonedError, Runtime, Token, type TokenKey, ConfigError, UnknownTaskError, type RejectReason } from '../src/index.js';
import { listen } from '../src/runtime/testing/testing.js';
import type { Seam } from '../src/trace/seam.js';
import { runtime as outside } from '../src/task.js';

const tasks = new URL('./fixtures/nested-tasks.mjs', import.meta.url);
const bootstrap = new URL('./fixtures/ts-bootstrap.mjs', import.meta.url);

interface Kid<V> { key: TokenKey; parent: TokenKey | null; value: V }
interface LeafV { self: TokenKey; thread: number; x: number }
interface ChildV { self: TokenKey; after: TokenKey; thread: number; kids: Kid<LeafV>[] }
interface ParentV { self: TokenKey; after: TokenKey; thread: number; kids: Kid<ChildV>[] }

/** Every level's lineage: each task saw itself as its submitter's key, before and after its awaits; each child's parent is it. */
function checkTree(top: TokenKey, v: ParentV, m: number, n: number): Set<number> {
  const threads = new Set<number>([v.thread]);
  expect(v.self).toEqual(top);
  expect(v.after).toEqual(top);
  expect(v.kids).toHaveLength(n);
  for (const c of v.kids) {
    expect(c.parent).toEqual(top);
    expect(c.key.attachment).not.toBe(top.attachment); // a worker's own attachment submitted it
    expect(c.value.self).toEqual(c.key);
    expect(c.value.after).toEqual(c.key);
    threads.add(c.value.thread);
    expect(c.value.kids).toHaveLength(m);
    for (const g of c.value.kids) {
      expect(g.parent).toEqual(c.key);
      expect(g.value.self).toEqual(g.key);
      threads.add(g.value.thread);
    }
  }
  return threads;
}

/** Parent packed and generation of each top-level admission, as the main thread's seam saw it. */
class Admissions implements Seam {
  readonly parents = new Map<string, [number, number]>();
  admitted(_p: number, _task: number, att: number, token: number, gen: number, _w: number, _pk: number, _gl: number, parent: number, parentGen: number): void {
    this.parents.set(`${att}:${token}:${gen}`, [parent, parentGen]);
  }
  rejected(): void {}
  started(): void {}
  ran(): void {}
  resolved(): void {}
  cancelled(): void {}
  retried(): void {}
  workerDied(): void {}
  respawned(): void {}
  retired(): void {}
  frozen(): void {}
  refilled(): void {}
  reconciled(): void {}
  admin(): void {}
  breaker(): void {}
}
const id = (k: TokenKey): string => `${k.attachment}:${k.index}:${k.generation}`;

describe('nested tasks: three levels across workers, lineage, charging', () => {
  let rt: Runtime;
  const sab = new SharedArrayBuffer(16);
  const seam = new Admissions();

  beforeAll(async () => {
    rt = await Runtime.start({ tasks, workers: 2, taskData: { sab } });
    listen(rt, seam);
  });
  afterAll(async () => { await rt?.close(); });

  it('parent -> child -> grandchild on 2 workers: results flow back and every parent is right', async () => {
    const tenant = rt.producer('tenant', { slots: 64 });
    const p = rt.task('parent');
    // Two parents that meet inside their synchronous part: they run on both workers at once.
    const a = tenant.submit<ParentV>(p, { n: 3, m: 2, meetN: 2 });
    const b = tenant.submit<ParentV>(p, { n: 3, m: 2, meetN: 2 });
    if (!a.admitted || !b.admitted) throw new Error('parents rejected');
    const [va, vb] = await Promise.all([a, b]);
    const threads = new Set([...checkTree(a.key, va, 2, 3), ...checkTree(b.key, vb, 2, 3)]);
    expect(va.thread).not.toBe(vb.thread); // the two parents ran on the two workers
    expect(threads.size).toBe(2);
    // Every level's child was admitted by a worker's attachment (not the main thread's, 0).
    for (const v of [va, vb]) for (const c of v.kids) {
      expect(c.key.attachment).toBeGreaterThan(0);
      for (const g of c.value.kids) expect(g.key.attachment).toBeGreaterThan(0);
    }
    // The top-level admissions had no parent, as the main thread's seam recorded them.
    expect(seam.parents.get(id(a.key))).toEqual([-1, -1]);
    expect(seam.parents.get(id(b.key))).toEqual([-1, -1]);
    expect(a.parent).toBeNull();
    // Charged to the parents' producer: 2 parents + 6 children + 12 grandchildren.
    const st = tenant.stats();
    expect(st.admitted).toBe(2 + 6 + 12);
    expect(st.resolved.fulfilled).toBe(2 + 6 + 12);
    expect(st.inFlight).toBe(0);
  });

  it('a named producer is charged instead, and the running task is still the parent', async () => {
    const other = rt.producer('other', { slots: 4 });
    const before = other.stats().admitted;
    const tok = rt.producer('tenant').submit<{ self: TokenKey; parent: TokenKey }>('named', 'other');
    if (!tok.admitted) throw new Error(tok.reason);
    const v = await tok;
    expect(v.parent).toEqual(tok.key);
    expect(v.self).toEqual(tok.key);
    expect(other.stats().admitted).toBe(before + 1);
  });

  it('the callback path: the child is counted, and its callback runs in its parent\'s context', async () => {
    const tok = rt.producer('tenant').submit<{ self: TokenKey; inCallback: TokenKey | null; value: LeafV }>('viaCallback');
    if (!tok.admitted) throw new Error(tok.reason);
    const v = await tok;
    expect(v.self).toEqual(tok.key);
    expect(v.inCallback).toEqual(tok.key);
  });

  it('a synchronous parent cannot wait: its child still runs, resolves and gives its slot back', async () => {
    const tenant = rt.producer('tenant');
    const before = tenant.stats();
    const tok = tenant.submit<{ self: TokenKey; child: TokenKey; parent: TokenKey }>('fireAndForget', 5);
    if (!tok.admitted) throw new Error(tok.reason);
    const v = await tok;
    expect(v.self).toEqual(tok.key);
    expect(v.parent).toEqual(tok.key);
    expect(v.child.attachment).toBeGreaterThan(0);
    // The child resolves on its worker's attachment (its pump runs although the worker parks).
    await rt.drain(); // waits for every thread's tokens, the child's included
    const after = tenant.stats();
    expect(after.admitted - before.admitted).toBe(2);
    expect(after.resolved.fulfilled - before.resolved.fulfilled).toBe(2);
    expect(after.inFlight).toBe(0);
  });

  it('an error a child rejects with keeps its class, message and fields through its parent to the caller (it crosses two threads)', async () => {
    const own = await Runtime.start({ tasks, workers: 2, taskData: { sab: new SharedArrayBuffer(16) } });
    const err = await own.run('rethrowChild').then(() => null, (e: unknown) => e).finally(() => own.close());
    // Rebuilt on the parent's worker, thrown again there, rebuilt here: still a real error of its class.
    expect(err).toBeInstanceOf(UnknownTaskError);
    expect(err).toBeInstanceOf(Error);
    expect(types.isNativeError(err)).toBe(true);
    const e = err as UnknownTaskError;
    expect(e.name).toBe('UnknownTaskError');
    expect(e.code).toBe('ERR_SLUICE_UNKNOWN_TASK');
    expect(e.message).toMatch(/^unknown task /);
    expect(e.stack).toMatch(/UnknownTaskError/);
  });
});

describe('chain steps on the main thread: submit(task, x, { parent })', () => {
  let rt: Runtime;
  const seam = new Admissions();
  beforeAll(async () => {
    rt = await Runtime.start({ tasks, workers: 1, taskData: { sab: new SharedArrayBuffer(16) } });
    listen(rt, seam);
  });
  afterAll(async () => { await rt?.close(); });

  it('records the given token as parent (also once it resolved), in the seam and in token.parent', async () => {
    const p = rt.producer('steps');
    const a = p.submit('leaf', 1);
    if (!a.admitted) throw new Error(a.reason);
    await a; // a chain step follows a resolved token
    const b = p.submit('leaf', 2, { parent: a });
    if (!b.admitted) throw new Error(b.reason);
    expect(b.parent).toEqual(a.key);
    expect(seam.parents.get(id(b.key))).toEqual([(a.key.attachment << 16) | a.key.index, a.key.generation]);
    await b;
    const viaRun = await rt.run<LeafV>('leaf', 3, { parent: b });
    expect(viaRun.x).toBe(3);
  });

  it('a parent that is not a Token of this runtime is a ConfigError, with nothing taken', async () => {
    const p = rt.producer('steps');
    const admitted = p.stats().admitted;
    const lookAlike = Object.create(Token.prototype) as Token;
    expect(() => p.submit('leaf', 1, { parent: {} as Token })).toThrow(ConfigError);
    expect(() => p.submit('leaf', 1, { parent: lookAlike })).toThrow(ConfigError);
    expect(() => p.submit('leaf', 1, { parent: new Proxy(lookAlike, {}) })).toThrow(ConfigError);
    await expect(rt.run('leaf', 1, { parent: 7 as unknown as Token })).rejects.toBeInstanceOf(ConfigError);
    const rt2 = await Runtime.start({ tasks, workers: 1, warmUp: false, taskData: { sab: new SharedArrayBuffer(16) } });
    try {
      const foreign = rt2.producer('x').submit('leaf', 0);
      if (!foreign.admitted) throw new Error(foreign.reason);
      await foreign;
      expect(() => p.submit('leaf', 1, { parent: foreign })).toThrow(/another runtime/);
    } finally {
      await rt2.close();
    }
    expect(p.stats().admitted).toBe(admitted);
    expect(p.stats().inFlight).toBe(0);
  });
});

describe('the rules that keep nesting from deadlocking (docs/design.md §4.14)', () => {
  it('rule 1: every worker runs an async parent awaiting its children, with asyncConcurrency 1: all complete', async () => {
    const sab = new SharedArrayBuffer(16);
    const rt = await Runtime.start({ tasks, workers: 2, asyncConcurrency: 1, taskData: { sab } });
    try {
      // Both parents meet while both run (one per worker), each holding its worker's only async
      // place, then fan out 6 async children each and await them: the children can run only
      // because a parent waiting for children gives its place back.
      const p = rt.producer('fan', { slots: 32 });
      const a = p.submit<{ self: TokenKey; thread: number; parents: number }>('fanOut', { n: 6, meetN: 2 });
      const b = p.submit<{ self: TokenKey; thread: number; parents: number }>('fanOut', { n: 6, meetN: 2 });
      if (!a.admitted || !b.admitted) throw new Error('rejected');
      const [va, vb] = await Promise.all([a, b]);
      expect(va.parents).toBe(6);
      expect(vb.parents).toBe(6);
      expect(va.thread).not.toBe(vb.thread);
      expect(p.stats().resolved.fulfilled).toBe(14);
    } finally {
      await rt.close();
    }
  }, 60_000);

  it('rule 2: a producer whose slots are all held by a task and its parent: submit and run inside refuse, never wait', async () => {
    const rt = await Runtime.start({ tasks, workers: 2, taskData: { sab: new SharedArrayBuffer(16) } });
    try {
      const tight = rt.producer('tight', { slots: 2 });
      const tok = tight.submit<{ submit: string; run: RejectReason; code: string; name: string }>('holdAndRun');
      if (!tok.admitted) throw new Error(tok.reason);
      const v = await tok;
      expect(v).toEqual({ submit: 'producer-slots', run: 'producer-slots', code: 'ERR_SLUICE_REJECTED', name: 'RejectedError' });
      const st = tight.stats();
      expect(st.admitted).toBe(2);
      expect(st.rejected['producer-slots']).toBe(2);
      expect(st.inFlight).toBe(0);
    } finally {
      await rt.close();
    }
  }, 60_000);

  it('outside a running task (a timer a finished task left), submit has no producer to charge: ConfigError', async () => {
    const sab = new SharedArrayBuffer(16);
    const flags = new Int32Array(sab);
    const rt = await Runtime.start({ tasks, workers: 1, taskData: { sab } });
    try {
      expect(await rt.run('leaveTimer')).toBe('done');
      const w = Atomics.waitAsync(flags, 1, 0);
      if (w.async) await w.value;
      expect(Atomics.load(flags, 1)).toBe(2);
    } finally {
      await rt.close();
    }
  }, 60_000);
});

interface Spec { pre: number; kids: Spec[] }
interface TreeV { self: TokenKey; after: TokenKey; thread: number; kids: { key: TokenKey | null; parent: TokenKey | null; value: TreeV }[] }
/** Trees of depth ≤ 3 below the root and fan-out ≤ 3: at most 40 nodes, all in flight at once at worst. */
const nodeArb = (depth: number): fc.Arbitrary<Spec> => fc.record({
  pre: fc.integer({ min: 0, max: 2 }),
  kids: depth === 0 ? fc.constant([]) : fc.array(nodeArb(depth - 1), { maxLength: 3 }),
});
const specArb = nodeArb(3);
function size(s: Spec): number { return 1 + s.kids.reduce((n, k) => n + size(k), 0); }

/** Every node saw itself before and after its awaits; each kid reported through submit names it as parent and is the key it reported. */
function checkSpec(self: TokenKey, v: TreeV, s: Spec): void {
  expect(v.self).toEqual(self);
  expect(v.after).toEqual(self);
  expect(v.kids).toHaveLength(s.kids.length);
  v.kids.forEach((k, i) => {
    if (k.key !== null) {
      expect(k.parent).toEqual(self);
      checkSpec(k.key, k.value, s.kids[i]!);
    } else {
      // Through runtime.run: no Token here; its own report still names a worker attachment.
      expect(k.value.self.attachment).toBeGreaterThan(0);
      expect(k.value.self).toEqual(k.value.after);
      expect(k.value.kids).toHaveLength(s.kids[i]!.kids.length);
    }
  });
}

describe('property: random trees of async tasks, asyncConcurrency 1 on 2 workers', () => {
  it('every tree completes, every parent is right, every node is charged to the root\'s producer', async () => {
    const rt = await Runtime.start({ tasks, workers: 2, asyncConcurrency: 1, taskData: { sab: new SharedArrayBuffer(16) } });
    try {
      const p = rt.producer('trees', { slots: 64 });
      await fc.assert(fc.asyncProperty(specArb, async (spec) => {
        const before = p.stats();
        const t = p.submit<TreeV>('tree', spec);
        if (!t.admitted) throw new Error(t.reason);
        checkSpec(t.key, await t, spec);
        const after = p.stats();
        expect(after.admitted - before.admitted).toBe(size(spec));
        expect(after.resolved.fulfilled - before.resolved.fulfilled).toBe(size(spec));
        expect(after.inFlight).toBe(0);
      }), { numRuns: 25 });
    } finally {
      await rt.close();
    }
  }, 120_000);
});

describe('a worker that dies with children outstanding', () => {
  it('is a dead attached thread (§4.9): its parent is abandoned, its child runs on, every slot comes back', async () => {
    const sab = new SharedArrayBuffer(16);
    const flags = new Int32Array(sab);
    const rt = await Runtime.start({ tasks, workers: 2, testHooks: true, taskData: { sab } });
    try {
      const p = rt.producer('dies', { slots: 8 });
      const a = p.submit('parentOfHold');
      if (!a.admitted) throw new Error(a.reason);
      const started = Atomics.waitAsync(flags, 3, 0); // the child is running (and blocks its worker)
      if (started.async) await started.value;
      const tid = Atomics.load(flags, 0);
      const w = rt.stats().workers.find((x) => x.threadId === tid)!.index;
      rt.testing!.killWorker(w);
      await expect(a.promise()).rejects.toBeInstanceOf(AbandonedError);
      Atomics.store(flags, 2, 1);
      Atomics.notify(flags, 2);
      rt.testing!.checkAttachments();
      await rt.drain(); // the dead worker's attachment is reconciled: its child's slots come back
      const st = p.stats();
      expect(st.admitted).toBe(2);
      expect(st.inFlight).toBe(0);
      expect(rt.stats().global.inFlight).toBe(0);
    } finally {
      await rt.close();
    }
  }, 60_000);
});

describe('one attachment per worker that nests', () => {
  it('with no attachment slot left, the task that would attach fails with an AttachError (its token is rejected), the other runs', async () => {
    // maxAttachments 2: the starting thread's and one more; two parents meet, one per worker.
    const rt = await Runtime.start({ tasks, workers: 2, maxAttachments: 2, taskData: { sab: new SharedArrayBuffer(16) } });
    try {
      const p = rt.producer('slots');
      // m: 0: the children submit nothing (the worker that could not attach may run them).
      const a = p.submit<ParentV>('parent', { n: 1, m: 0, meetN: 2 });
      const b = p.submit<ParentV>('parent', { n: 1, m: 0, meetN: 2 });
      if (!a.admitted || !b.admitted) throw new Error('rejected');
      const settled = await Promise.allSettled([a.promise(), b.promise()]);
      const failed = settled.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
      expect(failed).toHaveLength(1);
      expect((failed[0]!.reason as { code: string }).code).toBe('ERR_SLUICE_ATTACH');
      expect(settled.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    } finally {
      await rt.close();
    }
  }, 60_000);
});

describe('sluice/task outside a sluice worker', () => {
  it('every method throws a ConfigError saying so; current is null', () => {
    expect(outside.current).toBeNull();
    expect(() => outside.submit('leaf', 1)).toThrow(ConfigError);
    expect(() => outside.submit('leaf', 1)).toThrow(/only in a task running on a sluice worker/);
    expect(() => outside.producer('x')).toThrow(ConfigError);
    expect(() => outside.task('leaf')).toThrow(ConfigError);
    return expect(outside.run('leaf', 1)).rejects.toBeInstanceOf(ConfigError);
  });
});

describe('an attached thread submits a parent', () => {
  it('its children name it (an attachment other than 0) as their parent, three levels deep', async () => {
    const rt = await Runtime.start({ tasks, workers: 2, taskData: { sab: new SharedArrayBuffer(16) } });
    try {
      const w = new Worker(bootstrap, { workerData: { entry: new URL('./fixtures/nested-thread.ts', import.meta.url).href, handle: rt.handle } });
      const msg = await new Promise<{ key: TokenKey; value: ParentV; stats: { admitted: number } }>((resolve, reject) => {
        w.once('message', resolve);
        w.once('error', reject);
      });
      await w.terminate();
      expect(msg.key.attachment).toBeGreaterThan(0);
      checkTree(msg.key, msg.value, 2, 2);
      expect(msg.stats.admitted).toBe(1 + 2 + 4);
    } finally {
      await rt.close();
    }
  }, 60_000);
});
