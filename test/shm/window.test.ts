// The window and the freeze (docs/design.md §4.10, src/shm/window.ts) on real threads, in both
// protocols: the symmetric one (every flag store an Atomics.store) and the asymmetric one (plain
// flag stores, and the freezer's process barrier: membarrier(2) through the addon). Every state
// of the protocol under store buffers is explored in test/explore/window.test.ts; here real CPUs
// race it, and the runtime is checked to pick the protocol its memory says.
import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { BLOCK_WORDS, H_BARRIER, plainPublish } from '../../src/shm/layout.js';
import type { Ring } from '../../src/shm/ring.js';
import { ThreadWindow, freeze, unfreeze } from '../../src/shm/window.js';
import { loadAffinity, processBarrier, workersShareBarrier } from '../../src/runtime/native/affinity.js';
import { PLAIN_ORDER } from '../../src/shm/order.js';
import { Runtime } from '../../src/index.js';
import { fixture, runThreads } from '../helpers/shm.js';

const ENTRANTS = 2;
const ROUNDS = 20_000;

describe('the process barrier (runtime/native/affinity.ts processBarrier)', () => {
  it('is there on Linux x64 with the addon, and runs', () => {
    // CI builds the addon (npm ci): its absence here is a failure, not a skip.
    expect(loadAffinity().available).toBe(true);
    expect(PLAIN_ORDER).toBe(true);
    const b = processBarrier();
    expect(b).not.toBeNull();
    expect(b!()).toBe(true);
  });

  it('is refused with SLUICE_NO_MEMBARRIER=1', () => {
    expect(processBarrier({ SLUICE_NO_MEMBARRIER: '1' })).toBeNull();
  });
});

describe('freeze() with a barrier', () => {
  it('runs the barrier once, after its freeze store and before its first scan', () => {
    const i32 = new Int32Array(new SharedArrayBuffer(4 * BLOCK_WORDS));
    const seen: string[] = [];
    const ok = freeze(i32, 0, () => { seen.push(`scan (freeze ${i32[0]})`); return false; }, 1000, () => { seen.push(`barrier (freeze ${i32[0]})`); return true; });
    expect(ok).toBe(true);
    expect(seen).toEqual(['barrier (freeze 1)', 'scan (freeze 1)']);
    unfreeze(i32, 0);
    expect(i32[0]).toBe(0);
  });

  it('gives the freeze up (false, unfrozen, nothing scanned) when the barrier fails', () => {
    const i32 = new Int32Array(new SharedArrayBuffer(4 * BLOCK_WORDS));
    let scans = 0;
    expect(freeze(i32, 0, () => { scans++; return false; }, 1000, () => false)).toBe(false);
    expect(i32[0]).toBe(0);
    expect(scans).toBe(0);
  });
});

describe('window and freeze on real threads', () => {
  for (const plain of [true, false]) {
    it(`${plain ? 'plain flag stores + the process barrier' : 'Atomics.store flags'}: while a freeze holds, no window is open (${ENTRANTS} threads x ${ROUNDS.toLocaleString('en-US')} windows)`, async () => {
      const barrier = processBarrier();
      expect(barrier).not.toBeNull();
      // Words, one 64-byte block each: freeze, work (+1 the inside marker), done, then the flags.
      const B = BLOCK_WORDS;
      const i32 = new Int32Array(new SharedArrayBuffer(4 * B * (3 + ENTRANTS)));
      const freezeW = 0, workW = B, doneW = 2 * B;
      const flagW = (e: number): number => (3 + e) * B;
      const workers = Array.from({ length: ENTRANTS }, (_, e) => fixture('window-entrant.mjs', { sab: i32.buffer, flagW: flagW(e), freezeW, workW, doneW, rounds: ROUNDS, plain }));
      const live = (): boolean => { for (let e = 0; e < ENTRANTS; e++) if (Atomics.load(i32, flagW(e)) !== 0) return true; return false; };
      let freezes = 0;
      let overlaps = 0;
      const run = runThreads(workers, 120_000, () => `done ${Atomics.load(i32, doneW)} of ${ENTRANTS * ROUNDS}, freezes ${freezes}`);
      let finished = false;
      void run.finally(() => { finished = true; });
      // Freeze again and again while the entrants run: each held freeze reads the counter and the
      // marker twice, a few hundred loads apart; a window open during the freeze would move them.
      while (!finished) {
        if (!freeze(i32, freezeW, live, 5000, plain ? barrier : null)) throw new Error('a freeze timed out');
        freezes++;
        const w0 = Atomics.load(i32, workW);
        let marks = 0;
        for (let k = 0; k < 200; k++) marks += Atomics.load(i32, workW + 1);
        if (Atomics.load(i32, workW) !== w0 || marks !== 0) overlaps++;
        unfreeze(i32, freezeW);
        await new Promise<void>((r) => setImmediate(r));
      }
      await run;
      expect(overlaps).toBe(0);
      expect(Atomics.load(i32, workW)).toBe(ENTRANTS * ROUNDS);
      expect(freezes).toBeGreaterThan(0);
    }, 150_000);
  }
});

describe('Runtime.start picks the protocol (layout.ts H_BARRIER)', () => {
  const rts: Runtime[] = [];
  afterAll(async () => { for (const rt of rts) await rt.close(); });

  type Internal = { mem: { i32: Int32Array }; att: { window: ThreadWindow; rings: Ring[] } };

  it('the asymmetric one where the process barrier is there: H_BARRIER 1, plain window flags and plain submission publishes', async () => {
    const rt = await Runtime.start({ tasks: new URL('../fixtures/tasks.mjs', import.meta.url), workers: 2 });
    rts.push(rt);
    const internal = rt as unknown as Internal;
    expect(internal.mem.i32[H_BARRIER]).toBe(1);
    expect(internal.att.window.plain).toBe(true);
    expect(plainPublish(internal.mem.i32)).toBe(true);
    expect(internal.att.rings.map((r) => r.plain)).toEqual([true, true]);
    expect(await rt.run(rt.task('inc'), 41)).toBe(42);
  });

  it('with spinUs 0 (a worker parks whenever its ring is empty) the publishes stay sequentially consistent; the window stays asymmetric', async () => {
    const rt = await Runtime.start({ tasks: new URL('../fixtures/tasks.mjs', import.meta.url), workers: 1, spinUs: 0 });
    rts.push(rt);
    const internal = rt as unknown as Internal;
    expect(internal.mem.i32[H_BARRIER]).toBe(1);
    expect(internal.att.window.plain).toBe(true);
    expect(plainPublish(internal.mem.i32)).toBe(false);
    expect(internal.att.rings[0]!.plain).toBe(false);
    // Parked round trips both ways: every task finds its worker asleep, and is woken for.
    for (let i = 0; i < 50; i++) expect(await rt.run(rt.task('inc'), i)).toBe(i + 1);
  });

  it('plain publishes only for workers that get the same barrier: an env option with SLUICE_NO_MEMBARRIER=1 keeps them sequentially consistent (the window stays asymmetric: the freezer is this thread)', async () => {
    const rt = await Runtime.start({ tasks: new URL('../fixtures/tasks.mjs', import.meta.url), workers: 2, env: { ...process.env as Record<string, string>, SLUICE_NO_MEMBARRIER: '1' } });
    rts.push(rt);
    const internal = rt as unknown as Internal;
    expect(internal.mem.i32[H_BARRIER]).toBe(1);
    expect(plainPublish(internal.mem.i32)).toBe(false);
    expect(internal.att.rings.map((r) => r.plain)).toEqual([false, false]);
    for (let i = 0; i < 20; i++) expect(await rt.run(rt.task('inc'), i)).toBe(i + 1);
  });

  it('workersShareBarrier: the workers\' environment must keep the addon and the barrier this thread has', () => {
    expect(workersShareBarrier({}, {})).toBe(true);
    expect(workersShareBarrier({ SLUICE_NO_MEMBARRIER: '1' }, {})).toBe(false);
    expect(workersShareBarrier({ SLUICE_NO_NATIVE: '1' }, {})).toBe(false);
    expect(workersShareBarrier({ SLUICE_NATIVE_PATH: '/elsewhere.node' }, {})).toBe(false);
    expect(workersShareBarrier({ SLUICE_NATIVE_PATH: '/x.node' }, { SLUICE_NATIVE_PATH: '/x.node' })).toBe(true);
    expect(workersShareBarrier({ SLUICE_NO_FUTEX: '1', OTHER: 'y' }, {})).toBe(true);
  });

  it('the symmetric one with SLUICE_NO_MEMBARRIER=1 (a fresh process: the choice is made once per thread)', () => {
    const script = new URL('../fixtures/window-protocol.ts', import.meta.url).pathname;
    const r = spawnSync(process.execPath, ['--import', 'tsx', script], { env: { ...process.env, SLUICE_NO_MEMBARRIER: '1' }, encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.trim().split('\n').pop()!)).toEqual({ barrier: 0, plain: false, publish: false, v: 42 });
  }, 70_000);
});
