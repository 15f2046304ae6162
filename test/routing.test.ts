import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { readdirSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Runtime, ConfigError, type Token } from '../src/index.js';
import { loadAffinity, parseCpuList } from '../src/runtime/native/affinity.js';
import { preferenceChains, route, RouteSnapshot, STARTING_MARK, stealMask, type RouteView } from '../src/runtime/routing.js';

const tasks = new URL('./fixtures/tasks.mjs', import.meta.url);
const affinity = loadAffinity();
const online = affinity.addon?.topology().online ?? [];

function allowedCpus(tid: number): number[] {
  const status = readFileSync(`/proc/self/task/${tid}/status`, 'utf8');
  return parseCpuList(/Cpus_allowed_list:\s*(\S+)/.exec(status)![1]!);
}

describe('preference chains', () => {
  it('heavy may use every core, medium never the first, light never the first two (with fallbacks)', () => {
    expect(preferenceChains([0, 1, 2, 3])).toEqual([[0, 1, 2, 3], [1, 2, 3], [2, 3], [0, 1, 2, 3]]);
    expect(preferenceChains([0, 1])).toEqual([[0, 1], [1], [1], [0, 1]]);
    expect(preferenceChains([0])).toEqual([[0], [0], [0], [0]]);
    // Chains follow the cores workers are pinned to, not worker indices.
    expect(preferenceChains([3, 1, 2])).toEqual([[1, 2, 0], [2, 0], [0], [1, 2, 0]]);
    expect(preferenceChains([null, null])).toEqual([[0, 1], [1], [1], [0, 1]]);
  });
});

describe('steal masks', () => {
  it('a worker may steal exactly the classes whose chain holds it (property)', () => {
    fc.assert(fc.property(fc.array(fc.option(fc.integer({ min: 0, max: 63 }), { nil: null }), { minLength: 1, maxLength: 8 }), (cpus) => {
      const chains = preferenceChains(cpus);
      for (let w = 0; w < cpus.length; w++) {
        const m = stealMask(chains, w);
        for (let i = 0; i < chains.length; i++) expect(((m >> i) & 1) === 1).toBe(chains[i]!.includes(w));
      }
    }));
    // Two workers: the first core's may steal heavy and unclassed tasks only.
    const two = preferenceChains([0, 1]);
    expect([stealMask(two, 0), stealMask(two, 1)]).toEqual([0b1001, 0b1111]);
  });
});

/** One worker as routing sees it. */
interface Seen { queued: number; running: boolean; mask: number; starting?: boolean }

/** A RouteView over a scratch buffer holding `ws`, with this thread on `cpu` (-1: rule 2 off). */
function viewOf(ws: readonly Seen[], cpu: number): RouteView {
  const i32 = new Int32Array(ws.length * 4 + 1);
  const at = (k: number) => Int32Array.from(ws, (_, w) => w * 4 + k);
  ws.forEach((s, w) => {
    // Positions wrap (int32): the head may be anywhere, only tail - head counts.
    i32[w * 4 + 1] = 0x7ffffffe - w;
    i32[w * 4] = (0x7ffffffe - w + s.queued) | 0;
    i32[w * 4 + 2] = s.running ? 7 : 0;
    i32[w * 4 + 3] = s.mask;
    if (s.starting === true) i32[ws.length * 4]! |= 1 << w;
  });
  return {
    i32, tailW: at(0), headW: at(1), runW: at(2), cpuMaskW: at(3), startingW: ws.length * 4, currentCpu: () => cpu,
  };
}

/** The rules of routing.ts written as filters: the reference the property checks against. */
function reference(chain: readonly number[], ws: readonly Seen[], cpu: number): number {
  const occ = (w: number) => ws[w]!.queued + (ws[w]!.running ? 1 : 0);
  const min = Math.min(...chain.map(occ));
  const leastOcc = chain.filter((w) => occ(w) === min);
  // Among the least occupied, ready workers before starting ones.
  const ready = leastOcc.filter((w) => ws[w]!.starting !== true);
  const least = ready.length > 0 ? ready : leastOcc;
  const local = cpu >= 0 && cpu < 32 ? least.filter((w) => ws[w]!.mask === 1 << cpu) : [];
  return (local.length > 0 ? local : least)[0]!;
}

describe('route()', () => {
  const idle = (mask = 0): Seen => ({ queued: 0, running: false, mask });
  const chain = Int32Array.of(0, 1, 2);

  it('least occupied first (a running task counts, queued cells count), ties to the earlier in the chain', () => {
    const ws = [{ ...idle(), running: true }, { ...idle(), queued: 2 }, { ...idle(), queued: 1 }];
    expect(route(chain, viewOf(ws, -1))).toBe(0);
    ws[0]!.queued = 1; // occupancy 2 against 2 and 1
    expect(route(chain, viewOf(ws, -1))).toBe(2);
    expect(route(chain, viewOf([idle(), idle(), idle()], -1))).toBe(0);
    expect(route(Int32Array.of(2, 1, 0), viewOf([idle(), idle(), idle()], -1))).toBe(2);
  });

  it("with rule 2 on, ties go to the worker pinned to this thread's CPU; never at the cost of occupancy", () => {
    const ws = [idle(0b001), idle(0b010), idle(0b100)];
    expect(route(chain, viewOf(ws, 2))).toBe(2);
    expect(route(chain, viewOf(ws, 1))).toBe(1);
    expect(route(chain, viewOf(ws, -1))).toBe(0); // rule off (a spin budget, or no addon)
    expect(route(chain, viewOf(ws, 5))).toBe(0); // no worker there
    ws[1]!.mask = 0b011; // pinned to two CPUs: not "this CPU's" worker
    expect(route(chain, viewOf(ws, 1))).toBe(0);
    ws[2]!.queued = 1;
    expect(route(chain, viewOf(ws, 2))).toBe(0);
  });

  it('a worker still starting loses ties to a ready one, and only ties', () => {
    const two = Int32Array.of(0, 1);
    const ws = [{ ...idle(), starting: true }, idle()];
    expect(route(two, viewOf(ws, -1))).toBe(1);
    ws[1]!.running = true; // the ready one is busier: an empty starting worker is the better bet
    expect(route(two, viewOf(ws, -1))).toBe(0);
    ws[0]!.queued = 1; // as occupied as the ready one again: the ready one
    expect(route(two, viewOf(ws, -1))).toBe(1);
    // Rule 2 breaks ties only among equals: a ready worker elsewhere beats a starting one on this CPU.
    const pinned = [{ ...idle(0b001), starting: true }, idle(0b010)];
    expect(route(Int32Array.of(0, 1), viewOf(pinned, 0))).toBe(1);
    // Every worker of the chain starting: rules 1-3 among them.
    const all = [{ ...idle(), starting: true, queued: 2 }, { ...idle(), starting: true, queued: 1 }];
    expect(route(Int32Array.of(0, 1), viewOf(all, -1))).toBe(1);
  });

  it('always agrees with the rules written as filters (property)', () => {
    const seen = fc.record({
      queued: fc.integer({ min: 0, max: 3 }),
      running: fc.boolean(),
      mask: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 3 }).map((c) => 1 << c), fc.integer({ min: 0, max: 15 })),
      starting: fc.boolean(),
    });
    const input = fc.array(seen, { minLength: 1, maxLength: 5 }).chain((ws) =>
      fc.tuple(fc.constant(ws), fc.shuffledSubarray([...ws.keys()], { minLength: 1 }), fc.integer({ min: -1, max: 4 })),
    );
    fc.assert(
      fc.property(input, ([ws, order, cpu]) => {
        expect(route(Int32Array.from(order), viewOf(ws, cpu))).toBe(reference(order, ws, cpu));
      }),
      { numRuns: 2000 },
    );
  });

  it("a recording's router (RouteSnapshot) chooses as route() does, and keeps what it read: occupancies, plain pick, packing (property)", () => {
    const seen = fc.record({
      queued: fc.oneof(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 250, max: 300 })),
      running: fc.boolean(),
      mask: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 3 }).map((c) => 1 << c), fc.integer({ min: 0, max: 15 })),
      starting: fc.boolean(),
    });
    const input = fc.array(seen, { minLength: 1, maxLength: 5 }).chain((ws) =>
      fc.tuple(fc.constant(ws), fc.shuffledSubarray([...ws.keys()], { minLength: 1 }), fc.integer({ min: -1, max: 4 })),
    );
    const snaps = new Map<number, RouteSnapshot>();
    fc.assert(
      fc.property(input, ([ws, order, cpu]) => {
        // One snapshot per width, reused across runs, as a recording's attachment reuses its own.
        let snap = snaps.get(ws.length);
        if (snap === undefined) snaps.set(ws.length, (snap = new RouteSnapshot(ws.length)));
        const chain = Int32Array.from(order);
        const w = snap.route(chain, 2, viewOf(ws, cpu));
        expect(w).toBe(route(chain, viewOf(ws, cpu)));
        expect(chain[snap.chosen]).toBe(w);
        expect(snap.plain).toBe(route(chain, viewOf(ws, -1)));
        expect([snap.cpu, snap.chainClass, snap.chain]).toEqual([cpu, 2, chain]);
        // A starting slot's occupancy is kept + STARTING_MARK: over 254, so its record is a cut input.
        const occ = order.map((x) => ws[x]!.queued + (ws[x]!.running ? 1 : 0) + (ws[x]!.starting === true ? STARTING_MARK : 0));
        order.forEach((x, i) => expect(snap.occupancy(x)).toBe(occ[i]));
        // Replay's side: route() on the copy, set from what the record carries, decides the same
        // (a record with a starting slot is cut: replay takes its worker as an input, records.ts).
        const copy = new RouteSnapshot(ws.length);
        const byWorker = ws.map((_, x) => snap.occupancy(x));
        copy.set(byWorker, ws.map((s) => s.mask), cpu);
        if (order.every((x) => ws[x]!.starting !== true)) expect(route(chain, copy)).toBe(w);
        const fits = order.length <= 3 && occ.every((o) => o <= 254);
        expect(snap.packed).toBe(fits ? occ.reduce((p, o, i) => p | (o << (8 * i)), 0) : -1);
      }),
      { numRuns: 2000 },
    );
  });
});

describe.skipIf(!affinity.available || online.length < 2)('CPU pinning (native addon present)', () => {
  it("'auto' pins each worker to a core of its own and leaves the main thread unpinned", async () => {
    const rt = await Runtime.start({ tasks, workers: 2 });
    await rt.allWorkersReady(); // start resolves on the first ready worker (§4.7)
    try {
      expect(rt.affinity).toEqual({ available: true, pinned: true, reason: null });
      const workers = rt.stats().workers;
      const pinned = workers.map((w) => allowedCpus(w.tid));
      expect(pinned[0]).toHaveLength(1);
      expect(pinned[1]).toHaveLength(1);
      expect(pinned[0]![0]).not.toBe(pinned[1]![0]);
      expect(workers.map((w) => w.cpus)).toEqual(pinned);
      expect(allowedCpus(process.pid)).toEqual(online);
      // Every other thread of the process (libuv pool, V8 platform) is not pinned either.
      const workerTids = new Set(workers.map((w) => String(w.tid)));
      for (const tid of readdirSync('/proc/self/task')) {
        if (!workerTids.has(tid)) expect(allowedCpus(Number(tid))).toEqual(online);
      }
    } finally {
      await rt.close();
    }
  });

  it('an explicit map pins as given', async () => {
    const rt = await Runtime.start({ tasks, workers: 2, affinity: [[online[1]!], [online[1]!]] });
    await rt.allWorkersReady(); // start resolves on the first ready worker (§4.7)
    try {
      for (const w of rt.stats().workers) expect(allowedCpus(w.tid)).toEqual([online[1]]);
    } finally {
      await rt.close();
    }
  });

  it('affinity: false never pins', async () => {
    const rt = await Runtime.start({ tasks, workers: 2, affinity: false });
    await rt.allWorkersReady(); // start resolves on the first ready worker (§4.7)
    try {
      expect(rt.affinity).toMatchObject({ available: affinity.available, pinned: false, reason: 'affinity: false' });
      for (const w of rt.stats().workers) expect(allowedCpus(w.tid)).toEqual(online);
    } finally {
      await rt.close();
    }
  });
});

describe('weight-class routing', () => {
  it('light and medium work never lands on the first core; heavy may use both; unweighted spreads', async () => {
    const rt = await Runtime.start({ tasks, workers: 2 });
    try {
      // rt.run waits for capacity: light/medium have one ring here (256 cells) for 300 tasks.
      const run = async (weight: 'heavy' | 'medium' | 'light', n: number): Promise<void> => {
        const t = rt.task('inc', { weight });
        await Promise.all(Array.from({ length: n }, (_, i) => rt.run(t, i)));
      };
      await run('light', 300);
      await run('medium', 300);
      let w = rt.stats().workers;
      // Worker order by pinned core: chain[0] is the first core's worker.
      const first = w[0]!.cpus === null || w[1]!.cpus === null || w[0]!.cpus[0]! <= w[1]!.cpus[0]! ? 0 : 1;
      expect(w[first]!.routed.light + w[first]!.routed.medium).toBe(0);
      expect(w[1 - first]!.routed.light).toBe(300);
      expect(w[1 - first]!.routed.medium).toBe(300);
      await run('heavy', 300);
      w = rt.stats().workers;
      expect(w[0]!.routed.heavy + w[1]!.routed.heavy).toBe(300);
    } finally {
      await rt.close();
    }
  });

  it('routing is least-occupied with ties to the first worker of the chain', async () => {
    const rt = await Runtime.start({ tasks, workers: 2, affinity: false });
    await rt.allWorkersReady(); // start resolves on the first ready worker (§4.7)
    try {
      // Nothing queued anywhere: the tie goes to worker 0 for heavy (chain [0, 1]).
      const a = rt.producer('ties').submit(rt.task('inc', { weight: 'heavy' }), 1) as Token;
      await a;
      expect(rt.stats().workers[0]!.routed.heavy).toBe(1);
    } finally {
      await rt.close();
    }
  });

  it.skipIf(!affinity.available || online.length < 2)(
    "spin 0: sequential work goes to the worker on the submitting thread's CPU; with a spin budget, to the first core's",
    async () => {
      const addon = affinity.addon!;
      const mine = addon.getAffinity();
      const onWorker = async (spin: number): Promise<number[]> => {
        const rt = await Runtime.start({ tasks, workers: 2, spinUs: spin });
        await rt.allWorkersReady(); // start resolves on the first ready worker (§4.7)
        try {
          const last = rt.stats().workers.find((w) => w.cpus !== null && w.cpus[0] === Math.max(...online))!;
          // This thread on the CPU of the worker that is last in every chain.
          addon.setAffinity(last.cpus!);
          const p = rt.producer('seq');
          const t = rt.task('inc');
          for (let i = 0; i < 20; i++) expect(await (p.submit(t, i) as Token)).toBe(i + 1);
          addon.setAffinity(mine);
          const executed = rt.stats().workers.map((w) => w.executed);
          return last.index === 1 ? executed : [...executed].reverse(); // [first core's, this CPU's]
        } finally {
          addon.setAffinity(mine);
          await rt.close();
        }
      };
      expect(await onWorker(0)).toEqual([0, 20]);
      // With a spin budget the submitter keeps polling on its CPU: ties go to the first core.
      expect(await onWorker(50)).toEqual([20, 0]);
    },
  );

  it('an unknown weight or a malformed affinity map is a ConfigError', async () => {
    await expect(Runtime.start({ tasks, workers: 2, affinity: [[0]] })).rejects.toThrow(ConfigError);
    await expect(Runtime.start({ tasks, workers: 1, affinity: [[-1]] })).rejects.toThrow(ConfigError);
    // An entry with no CPU this process may use: refused up front (before, worker 0 failed to pin,
    // and the start failed or only slot 0 kept failing, by which worker booted first).
    const cpu1023 = Runtime.start({ tasks, workers: 2, affinity: [[1023], [0]] });
    await expect(cpu1023).rejects.toThrow(ConfigError);
    if (loadAffinity().available) await expect(cpu1023).rejects.toThrow(/^Runtime\.start: affinity map entry 0 \(CPUs 1023\) names no CPU this process may run on \(\d/);
    const rt = await Runtime.start({ tasks, workers: 1, affinity: false });
    expect(() => rt.task('inc', { weight: 'huge' as 'heavy' })).toThrow(ConfigError);
    await rt.close();
  });
});

describe('fallback without the addon', () => {
  it('SLUICE_NO_NATIVE=1: the runtime runs unpinned and reports why', () => {
    const fixture = fileURLToPath(new URL('./fixtures/unpinned-runtime.ts', import.meta.url));
    const r = spawnSync(process.execPath, ['--import', 'tsx', fixture], {
      env: { ...process.env, SLUICE_NO_NATIVE: '1' }, encoding: 'utf8', timeout: 60_000,
    });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { value: number; affinity: { available: boolean; pinned: boolean; reason: string }; workers: { tid: number; cpus: null }[] };
    expect(out.value).toBe(2);
    expect(out.affinity.pinned).toBe(false);
    expect(out.affinity.available).toBe(false);
    expect(out.affinity.reason).toMatch(/SLUICE_NO_NATIVE/);
    expect(out.workers).toEqual([{ tid: 0, cpus: null }, { tid: 0, cpus: null }]);
  });
});
