import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { PLAIN_ORDER, loadAcquire, storeRelease } from '../../src/shm/order.js';

// src/shm/order.ts: acquire loads and release stores, plain on x86, Atomics elsewhere. These
// check what the protocols rely on, with real threads: a poll that TurboFan compiles still
// reads memory, message passing keeps its order, and a Dekker pair (Atomics.store, then an
// acquire load of the other word) never lets both sides miss each other.
const boot = new URL('../fixtures/ts-bootstrap.mjs', import.meta.url);
const entry = new URL('../fixtures/shm/order-litmus.ts', import.meta.url).href;
const start = (sab: SharedArrayBuffer, role: string, n = 0, me = 0, noBarrier = false): Worker => new Worker(boot, { workerData: { entry, sab, role, n, me, noBarrier } });
const exited = (w: Worker): Promise<unknown> => new Promise((r) => { w.once('error', r); w.once('exit', r); });

describe('memory order (src/shm/order.ts)', () => {
  it('is the plain form on x86-64 and the Atomics form under SLUICE_SEQ_CST=1', () => {
    expect(PLAIN_ORDER).toBe(process.arch === 'x64' || process.arch === 'ia32');
    const probe = "import('./src/shm/order.ts').then((m) => console.log(m.PLAIN_ORDER, m.loadAcquire.name, m.storeRelease.name))";
    const run = (env: Record<string, string>): string => execFileSync(process.execPath, ['--import', 'tsx', '-e', probe], {
      cwd: new URL('../..', import.meta.url), env: { ...process.env, ...env }, encoding: 'utf8',
    }).trim();
    expect(run({ SLUICE_SEQ_CST: '1' })).toBe('false atomicLoad atomicStore');
    if (process.arch === 'x64') expect(run({ SLUICE_SEQ_CST: '' })).toBe('true plainLoad plainStore');
  });

  it('reads and writes the word it is given', () => {
    const i32 = new Int32Array(new SharedArrayBuffer(16));
    storeRelease(i32, 2, -7);
    expect(loadAcquire(i32, 2)).toBe(-7);
    expect([...i32]).toEqual([0, 0, -7, 0]);
  });

  it('a tight poll on loadAcquire, optimized, sees another thread\'s store', async () => {
    const sab = new SharedArrayBuffer(64);
    const i32 = new Int32Array(sab);
    const w = start(sab, 'poll');
    // Let it spin long enough to be compiled (on-stack replacement), then set the flag. If the
    // load were hoisted out of the loop the worker would never exit and the test would time out.
    await Atomics.waitAsync(i32, 2, 0).value;
    const until = Date.now() + 200;
    while (Date.now() < until) await new Promise((r) => setImmediate(r)); // not synchronisation: only gives the loop time to be optimized
    Atomics.store(i32, 0, 1);
    expect(await exited(w)).toBe(0);
    expect(i32[1]).toBe(1);
  });

  it('message passing: a reader that sees flag = i sees data >= i', async () => {
    const sab = new SharedArrayBuffer(256);
    const n = 2_000_000;
    const r = start(sab, 'mp-reader', n), w = start(sab, 'mp-writer', n);
    expect(await Promise.all([exited(r), exited(w)])).toEqual([0, 0]);
    expect(new Int32Array(sab)[3]).toBe(0);
  });

  it('a Dekker pair (Atomics.store, then loadAcquire of the other word): never both miss', async () => {
    const n = 20_000;
    const sab = new SharedArrayBuffer((16 + 2 * (n + 1)) * 4);
    const i32 = new Int32Array(sab);
    const ws = [start(sab, 'dekker', n, 0), start(sab, 'dekker', n, 1)];
    expect(await Promise.all(ws.map(exited))).toEqual([0, 0]);
    let bothMissed = 0;
    for (let r = 1; r <= n; r++) if (i32[16 + r * 2] === 0 && i32[17 + r * 2] === 0) bothMissed++;
    expect(bothMissed).toBe(0);
  });

  // The submission publish against the worker's park (layout.ts plainPublish, docs/design.md
  // §3.2): a plain store then a load on one side; Atomics.store, the process barrier, then a load
  // on the other. Without the barrier this pair misses (SLUICE_LITMUS_NO_BARRIER=1 shows it:
  // the store-buffer outcome in a share of the rounds); with it, never.
  it('the asymmetric pair (a plain store, then loadAcquire; against Atomics.store, the process barrier, then loadAcquire): never both miss', async () => {
    const n = 20_000;
    const sab = new SharedArrayBuffer((16 + 2 * (n + 1)) * 4);
    const i32 = new Int32Array(sab);
    const noBarrier = process.env.SLUICE_LITMUS_NO_BARRIER === '1';
    const ws = [start(sab, 'dekker-asym', n, 0), start(sab, 'dekker-asym', n, 1, noBarrier)];
    expect(await Promise.all(ws.map(exited))).toEqual([0, 0]);
    let bothMissed = 0;
    for (let r = 1; r <= n; r++) if (i32[16 + r * 2] === 0 && i32[17 + r * 2] === 0) bothMissed++;
    expect(bothMissed).toBe(0);
  });
});
