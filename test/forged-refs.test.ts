/**
 * Forged or foreign references are never trusted (issue 16, class 6): a TaskRef is valid only
 * for handles over its runtime's shared memory; an attach handle is checked against the memory
 * it names (structure, header, digest of names and chains) before any slot is claimed.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { AttachError, ConfigError, Runtime, TaskRef, type RuntimeHandle, type Token } from '../src/index.js';
import { H_WORKERS } from '../src/shm/layout.js';

const tasks = new URL('./fixtures/tasks.mjs', import.meta.url);
const MAX_ATTACHMENTS = 4;

describe('forged and foreign references', () => {
  let rt: Runtime;
  let other: Runtime;
  beforeAll(async () => {
    rt = await Runtime.start({ tasks, workers: 2, maxAttachments: MAX_ATTACHMENTS, spillBytes: 1 << 16, testHooks: true, maxRestarts: 1000 });
    other = await Runtime.start({ tasks, workers: 1, maxAttachments: 2, spillBytes: 1 << 16 });
  });
  afterAll(async () => { await Promise.all([rt.close(), other.close()]); });

  const counters = (): unknown => {
    const s = rt.stats();
    return { global: s.global, producers: s.producers.map((p) => [p.name, p.admitted, p.rejected, p.inFlight]), queued: s.workers.map((w) => w.queued) };
  };

  /** The runtime still works, crash recovery still runs, and no attachment slot was taken. */
  async function stillWhole(): Promise<void> {
    const restarts = rt.stats().workers[0]!.restarts;
    rt.testing!.killWorker(0);
    await vi.waitFor(() => expect(rt.stats().workers[0]!.restarts).toBe(restarts + 1), { timeout: 30_000, interval: 5 });
    // Its replacement is ready (after a back-off that grows with each kill): the next kill has a thread to end.
    await rt.allWorkersReady();
    expect(await rt.run('inc', 1)).toBe(2);
    const atts = [];
    for (let i = 0; i < MAX_ATTACHMENTS - 1; i++) atts.push(await Runtime.attach(rt.handle));
    await expect(Runtime.attach(rt.handle)).rejects.toThrow(/no free attachment slot/);
    await Promise.all(atts.map((a) => a.close()));
  }

  it('a TaskRef of another runtime (same module, same id) is refused by submit, submitCallback and run, with nothing taken', async () => {
    const foreign = other.task('echo');
    expect(foreign.id).toBe(rt.task('echo').id);
    const p = rt.producer('p');
    const before = counters();
    expect(() => p.submit(foreign, 1)).toThrow(ConfigError);
    expect(() => p.submitCallback(foreign, 1, () => {})).toThrow(/another runtime/);
    await expect(rt.run(foreign, 1)).rejects.toBeInstanceOf(ConfigError);
    expect(counters()).toEqual(before);
    // ...and it still works where it belongs.
    expect(await other.run(foreign, 'x')).toBe('x');
    await stillWhole();
  });

  it('a look-alike object, even one on TaskRef.prototype, is refused; TaskRef cannot be constructed', async () => {
    const shape = { name: 'inc', id: 0, weight: null, weightIndex: 3, deadlineMs: 0, queueTimeoutMs: 0, retries: 0 };
    const onProto = Object.create(TaskRef.prototype, Object.fromEntries(Object.entries(shape).map(([k, value]) => [k, { value, enumerable: true }]))) as object;
    const p = rt.producer('p');
    const before = counters();
    for (const fake of [shape, onProto]) {
      expect(() => p.submit(fake as never, 1)).toThrow(ConfigError);
      await expect(rt.run(fake as never, 1)).rejects.toBeInstanceOf(ConfigError);
    }
    expect(() => new (TaskRef as unknown as new (...a: unknown[]) => TaskRef)(Symbol('x'), 'id', 'inc', 0, null, 0, 0, 0)).toThrow(ConfigError);
    expect(counters()).toEqual(before);
  });

  it('a TaskRef cannot be mutated: assignments and redefinitions fail, and it still runs its own task', async () => {
    const ref = rt.task('inc');
    const echo = rt.task('echo');
    expect(() => { (ref as unknown as { id: number }).id = echo.id; }).toThrow(TypeError);
    expect(() => Object.defineProperty(ref, 'id', { value: echo.id })).toThrow(TypeError);
    expect(() => { (ref as unknown as { name: string }).name = 'echo'; }).toThrow(TypeError);
    expect(ref.id).not.toBe(echo.id);
    expect(await (rt.producer('p').submit(ref, 1) as Token<number>)).toBe(2);
  });

  it('a TaskRef of the starting runtime works on an attachment made in the same thread (one shared task table)', async () => {
    const att = await Runtime.attach(rt.handle);
    try {
      expect(await (att.producer('p').submit(rt.task('inc'), 4) as Token<number>)).toBe(5);
      expect(await rt.run(att.task('inc'), 5)).toBe(6);
    } finally {
      await att.close();
    }
  });

  const forged: Array<[string, (h: RuntimeHandle) => unknown]> = [
    ['names reordered', (h) => ({ ...h, names: [...h.names].reverse() })],
    ['a name edited', (h) => ({ ...h, names: h.names.map((n, i) => (i === 0 ? `${n}x` : n)) })],
    ['a name missing', (h) => ({ ...h, names: h.names.slice(1) })],
    ['chains naming worker 99', (h) => ({ ...h, chains: h.chains.map((c, i) => (i === 0 ? [...c, 99] : c)) })],
    ['chains with a negative worker', (h) => ({ ...h, chains: h.chains.map(() => [-1]) })],
    ['chains with a duplicate worker', (h) => ({ ...h, chains: h.chains.map((c) => [c[0], c[0]]) })],
    ['chains reordered', (h) => ({ ...h, chains: h.chains.map((c) => [...c].reverse()) })],
    ['3 chains', (h) => ({ ...h, chains: h.chains.slice(1) })],
    ['chains holding 1.5', (h) => ({ ...h, chains: h.chains.map(() => [1.5]) })],
    ['a wrong kind', (h) => ({ ...h, kind: 'other' })],
    ['an ArrayBuffer for sab', (h) => ({ ...h, memory: null, sab: new ArrayBuffer(h.sab.byteLength) })],
    ['a Uint8Array for sab', (h) => ({ ...h, memory: null, sab: new Uint8Array(h.sab) })],
    ['a Proxy of the sab', (h) => ({ ...h, memory: null, sab: new Proxy(h.sab, {}) })],
    ['a tiny sab', (h) => ({ ...h, memory: null, sab: new SharedArrayBuffer(12) })],
    ['a look-alike memory', (h) => ({ ...h, memory: { buffer: h.sab } })],
    ['another runtime\'s memory', (h) => ({ ...h, memory: other.handle.memory })],
    ['another runtime\'s sab', (h) => ({ ...h, memory: null, sab: other.handle.sab })],
    ['a forged header (copied, workers = 200)', (h) => {
      const sab = new SharedArrayBuffer(h.sab.byteLength);
      new Uint8Array(sab).set(new Uint8Array(h.sab, 0, 128));
      new Int32Array(sab)[H_WORKERS] = 200;
      return { ...h, memory: null, sab };
    }],
    ['a forged header (magic only)', (h) => {
      const sab = new SharedArrayBuffer(4096);
      new Int32Array(sab).set(new Int32Array(h.sab, 0, 4));
      return { ...h, memory: null, sab };
    }],
    ['names that are not strings', (h) => ({ ...h, names: h.names.map(() => 5) })],
    ['names with a lone surrogate', (h) => ({ ...h, names: h.names.map((n, i) => (i === 0 ? '\uD800' : n)) })],
    ['a names getter that throws', (h) => Object.defineProperty({ ...h }, 'names', { enumerable: true, get() { throw new Error('boom'); } })],
    ['an extra key', (h) => ({ ...h, extra: 1 })],
  ];

  it.each(forged)('a handle with %s is an AttachError, with no slot claimed, and the runtime stays whole', async (_what, forge) => {
    const h = rt.handle;
    const handle = forge(h);
    const err = await Runtime.attach(handle as RuntimeHandle).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AttachError);
    expect((err as AttachError).code).toBe('ERR_SLUICE_ATTACH');
    await stillWhole();
  });

  it('the genuine handle, structured-cloned to another thread and back, still attaches (sab and memory are one memory)', async () => {
    const { port1, port2 } = new MessageChannel();
    const cloned = await new Promise<RuntimeHandle>((resolve) => {
      port2.once('message', (m: RuntimeHandle) => resolve(m));
      port1.postMessage(rt.handle);
    });
    port1.close();
    const att = await Runtime.attach(cloned);
    expect(await att.run('inc', 9)).toBe(10);
    await att.close();
  });
});
