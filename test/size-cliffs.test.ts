// Size cliffs (issue 19 item 6): what works with piscina must not fall off a cliff here.
// - Values larger than the spill arena (spillBytes) take the large-value path by default: by
//   message on a per-worker channel, payloads and results (docs/design.md §3.4); `transfer`
//   detaches the listed ArrayBuffers in the caller (moved, not copied, on that path).
// - 100k rt.run calls made at once (none awaited before the next) all complete: the wait line
//   has no practical limit by default (runQueueLimit 2^31-1) and is O(1) per call.
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AbandonedError, ConfigError, PayloadError, RejectedError, Runtime, VirtualClock, type Token } from '../src/index.js';
import { Signals } from './helpers/signals.js';

const bigTasks = new URL('./fixtures/big-tasks.mjs', import.meta.url);
const MB8 = 8 << 20;

/** What sum() in big-tasks.mjs returns for `u`. */
function expectedSum(u: Uint8Array): { len: number; s: number } {
  let s = 0;
  for (let i = 0; i < u.length; i += 4096) s = (s + u[i]!) | 0;
  return { len: u.length, s };
}

describe('values larger than the arena, by default (spillBytes 1 MiB)', () => {
  let rt: Runtime;
  let sig: Signals;
  beforeAll(async () => {
    sig = new Signals();
    rt = await Runtime.start({ tasks: bigTasks, workers: 2, steal: false });
  });
  afterAll(async () => {
    await rt.close();
    sig.close();
  });

  it('an 8 MB Buffer payload and an 8 MB result round trip (rt.run and submit), as Buffers, byte for byte', async () => {
    const buf = Buffer.alloc(MB8);
    for (let i = 0; i < MB8; i += 4096) buf[i] = (i >>> 12) & 255;
    const back = await rt.run<Buffer>('echo', buf);
    expect(Buffer.isBuffer(back)).toBe(true);
    expect(back.equals(buf)).toBe(true);
    expect(back === buf).toBe(false); // copied: the caller's buffer is untouched (not .toBe: it formats 8 MB)
    expect(buf.length).toBe(MB8);
    const made = rt.producer('p').submit<Buffer>('make', MB8) as Token<Buffer>;
    const m = await made;
    expect(m.length).toBe(MB8);
    expect(m[4096 * 3]).toBe((4096 * 3) & 255);
    expect(await rt.run('sum', buf)).toEqual({ ...expectedSum(buf), buffer: true });
  });

  it('strings, ArrayBuffers and objects over the arena travel too', async () => {
    const s = 'é'.repeat(1 << 20); // 2 MiB of UTF-8
    expect(await rt.run('echo', s)).toBe(s);
    const ab = new ArrayBuffer(3 << 20);
    new Uint8Array(ab)[12345] = 7;
    const abBack = await rt.run<ArrayBuffer>('echo', ab);
    expect(abBack).toBeInstanceOf(ArrayBuffer);
    expect(new Uint8Array(abBack)[12345]).toBe(7);
    const obj = { list: Array.from({ length: 200_000 }, (_, i) => i), tag: 'x' };
    expect(await rt.run('echo', obj)).toEqual(obj);
    const err = Object.assign(new RangeError('big'), { detail: 'y'.repeat(2 << 20) });
    const t = rt.producer('p').submit('echo', err) as Token;
    expect(((await t) as RangeError & { detail: string }).detail).toHaveLength(2 << 20);
  });

  it('transfer: a listed ArrayBuffer is detached in the caller once admitted (moved on the message path, copied through the arena)', async () => {
    const ab = new ArrayBuffer(MB8);
    new Uint8Array(ab).fill(3);
    const p = rt.run('sum', ab, { transfer: [ab] });
    expect(ab.byteLength).toBe(0); // detached by the submit itself
    expect(await p).toEqual({ len: MB8, s: expectedSum(new Uint8Array(MB8).fill(3)).s, buffer: false });
    // A Buffer over a listed buffer: moved, arrives as a Buffer.
    const buf = Buffer.from(new ArrayBuffer(MB8));
    buf.fill(1);
    const p2 = rt.run('sum', buf, { transfer: [buf.buffer as ArrayBuffer] });
    expect(buf.length).toBe(0);
    expect((await p2 as { buffer: boolean }).buffer).toBe(true);
    // Inside an object: the listed buffers travel with the message by reference (moved), whatever the object's size.
    const image = new ArrayBuffer(MB8);
    new Uint8Array(image).fill(4);
    const tiny = new ArrayBuffer(16);
    new Uint8Array(tiny)[3] = 8;
    const p3 = rt.run<{ image: ArrayBuffer; tiny: ArrayBuffer; meta: string }>('echo', { image, tiny, meta: 'm' }, { transfer: [image, tiny] });
    expect([image.byteLength, tiny.byteLength]).toEqual([0, 0]);
    const o = await p3;
    expect([o.meta, o.image.byteLength, new Uint8Array(o.image)[100], new Uint8Array(o.tiny)[3]]).toEqual(['m', MB8, 4, 8]);
    // Small enough for the arena: copied there, and still detached, as listed.
    const small = new ArrayBuffer(64);
    const other = new ArrayBuffer(16);
    expect(await rt.run('sum', new Uint8Array(small), { transfer: [small, other] })).toMatchObject({ len: 64 });
    expect(small.byteLength).toBe(0);
    expect(other.byteLength).toBe(0);
  });

  it('transfer: a refused submit leaves the listed buffers alone; bad lists are a ConfigError with nothing taken', async () => {
    const clock = new VirtualClock(0);
    const rated = await Runtime.start({ tasks: bigTasks, workers: 1, clock });
    try {
      const p = rated.producer('r', { rate: 1, burst: 1 });
      const first = p.submit('sum', new Uint8Array(8));
      if (first.admitted) await first.token;
      const ab = new ArrayBuffer(MB8);
      expect(p.submit('sum', ab, { transfer: [ab] })).toMatchObject({ admitted: false, reason: 'rate' });
      expect(ab.byteLength).toBe(MB8);
    } finally {
      await rated.close();
    }
    const p = rt.producer('bad');
    const admitted = p.stats().admitted;
    const ab = new ArrayBuffer(8);
    for (const bad of [ab, [new SharedArrayBuffer(8)], [new Uint8Array(8)], [ab, ab], [1]]) {
      expect(() => p.submit('sum', 1, { transfer: bad as never })).toThrow(ConfigError);
    }
    expect(p.stats().admitted).toBe(admitted);
    expect(ab.byteLength).toBe(8);
  });

  it('a retracted large payload: its message is dropped, the next ones still arrive in order', async () => {
    const p = rt.producer('order', { slots: 16 });
    // One blocker per worker: the second is submitted once the first runs (its run record set),
    // so the router sends it to the other worker (least occupied).
    const holds: Token[] = [];
    for (const k of ['o1', 'o2']) {
      holds.push(p.submit('blockUntil', k) as Token);
      await sig.started(k);
    }
    const vals = [1, 2, 3, 4].map((v) => Buffer.alloc(2 << 20, v));
    const tokens = vals.map((v) => p.submit<{ s: number }>('sum', v) as Token<{ s: number }>);
    expect(tokens[0]!.cancel()).toBe(true);
    expect(tokens[2]!.cancel()).toBe(true);
    sig.release('o1');
    sig.release('o2');
    await Promise.all(holds);
    expect((await tokens[1]!).s).toBe(expectedSum(vals[1]!).s);
    expect((await tokens[3]!).s).toBe(expectedSum(vals[3]!).s);
    expect((await rt.run<Buffer>('echo', Buffer.alloc(2 << 20, 9))).equals(Buffer.alloc(2 << 20, 9))).toBe(true); // not toEqual: slow on MBs
  });

  it('a worker that dies with a large payload queued: that task is rejected (its message died with the thread), the rest carry on', async () => {
    const p = rt.producer('death', { slots: 16 });
    // Both workers busy; the large payload waits in the ring of the one that will die.
    const keep = p.submit('blockUntil', 'keep') as Token;
    await sig.started('keep'); // running (its run record set): the next goes to the other worker
    const doomed = p.submit('blockUntil', 'doomed') as Token;
    await sig.started('doomed');
    const queued = [p.submit('sum', Buffer.alloc(2 << 20, 1)) as Token, p.submit('sum', Buffer.alloc(2 << 20, 2)) as Token];
    expect(doomed.cancel({ force: true })).toBe(true);
    await expect(doomed).rejects.toBeInstanceOf(AbandonedError);
    sig.release('keep');
    await keep;
    const outcomes = await Promise.all(queued.map((t) => t.promise().then(() => 'fulfilled', (e: unknown) => e)));
    // Routing (least occupied, ties to the earlier worker) put one on each ring: the one queued
    // on the dead worker is lost with its thread's port, the other runs.
    expect(outcomes.filter((o) => o === 'fulfilled')).toHaveLength(1);
    const lost = outcomes.find((o) => o !== 'fulfilled');
    expect(lost).toBeInstanceOf(PayloadError);
    expect((lost as Error).message).toMatch(/lost/);
    expect(await rt.run('sum', Buffer.alloc(2 << 20, 4))).toMatchObject({ len: 2 << 20 });
  });
});

describe("largeValues: 'refuse', and attached threads: the arena is the limit", () => {
  it('an attached thread has no channel to the workers: over the arena, a PayloadError (payload at submit, result on its token); within it, as before', async () => {
    const rt = await Runtime.start({ tasks: bigTasks, workers: 1 });
    try {
      const w = new Worker(new URL('./fixtures/ts-bootstrap.mjs', import.meta.url), {
        workerData: { entry: new URL('./fixtures/big-attached.ts', import.meta.url).href, handle: rt.handle },
      });
      const seen = await new Promise<{ submit: string; result: string; small: number }>((resolve, reject) => {
        w.once('message', resolve);
        w.once('error', reject);
      });
      expect(seen.submit).toMatch(/^PayloadError: .*spillBytes/);
      expect(seen.result).toMatch(/^PayloadError: /);
      expect(seen.small).toBe(1000);
      // The starting thread's own large values still travel.
      expect((await rt.run<Buffer>('make', 8 << 20)).length).toBe(8 << 20);
    } finally {
      await rt.close();
    }
  });

  it("largeValues: 'refuse' makes an over-arena payload a PayloadError, and an over-arena result a rejected PayloadError", async () => {
    const rt = await Runtime.start({ tasks: bigTasks, workers: 1, largeValues: 'refuse' });
    try {
      expect(() => rt.producer('p').submit('echo', Buffer.alloc(MB8))).toThrow(PayloadError);
      await expect(rt.run('make', MB8)).rejects.toBeInstanceOf(PayloadError);
      await expect(Runtime.start({ tasks: bigTasks, largeValues: 'yes' as never })).rejects.toBeInstanceOf(ConfigError);
    } finally {
      await rt.close();
    }
  });
});

const tasks = new URL('./fixtures/tasks.mjs', import.meta.url);

describe('rt.run: 100k calls without awaiting each', () => {
  let rt: Runtime;
  beforeAll(async () => { rt = await Runtime.start({ tasks, workers: 2 }); });
  afterAll(async () => { await rt.close(); });

  it('all complete, in order of their values, past the old 65,536 limit', async () => {
    const n = 100_000;
    const calls: Promise<number>[] = [];
    for (let i = 0; i < n; i++) calls.push(rt.run<number>('inc', i));
    expect(rt.runQueue.length).toBeGreaterThan(65_536); // more wait than the old default allowed
    const values = await Promise.all(calls);
    expect(values.length).toBe(n);
    for (let i = 0; i < n; i++) if (values[i] !== i + 1) expect(values[i]).toBe(i + 1);
    expect(rt.runQueue.length).toBe(0);
    expect(rt.stats().global.inFlight).toBe(0);
  }, 60_000);

  it('an explicit runQueueLimit still bounds the line', async () => {
    const sig = new Signals();
    const small = await Runtime.start({ tasks, workers: 1, globalSlots: 1, runQueueLimit: 2 });
    try {
      // The one global slot is held until released, so no call can complete (and free it) while
      // the line fills: a trivial first task can finish inside rt.run's own one-task poll.
      const held = small.run<string>('blockUntil', 'cliff-hold');
      const calls = [1, 2].map((i) => small.run<number>('inc', i));
      const extra = small.run('inc', 3);
      await expect(extra).rejects.toBeInstanceOf(RejectedError);
      await expect(extra).rejects.toMatchObject({ reason: 'queue-full' });
      sig.release('cliff-hold');
      expect(await held).toBe('cliff-hold');
      expect(await Promise.all(calls)).toEqual([2, 3]);
    } finally {
      sig.close();
      await small.close();
    }
  });
});
