import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';
import {
  addonPath,
  buildHint,
  chooseCpus,
  describeAffinity,
  formatCpuList,
  loadAffinity,
  loadAffinityUncached,
  nativeFutex,
  parseCpuList,
  pinCurrentThread,
  platformTriple,
  prebuiltAddonPath,
  warmLibuvPool,
  type AffinityAddon,
  type Topology,
} from '../src/runtime/native/affinity.js';
import { Runtime, type RuntimeOptions, type Token } from '../src/index.js';
import { type Memory, W_WAKER } from '../src/shm/layout.js';
import { WAKER_PARKED } from '../src/shm/waker.js';
import { CoreMover } from '../src/runtime/native/core-move.js';
import { internals } from '../src/runtime/testing/testing.js';
import { Signals } from './helpers/signals.js';

const status = loadAffinity();
const fixture = fileURLToPath(new URL('./fixtures/affinity-worker.cjs', import.meta.url));
const loaderSource = fileURLToPath(new URL('../src/runtime/native/affinity.ts', import.meta.url));

interface WorkerReport {
  tid: number;
  affinity: number[] | null;
  cpu: number | null;
  created: number[];
  error: { name: string; code?: string; message: string } | null;
}

/** Cpus_allowed_list of one thread of this process, or null if it has exited. */
function maskOf(tid: number): number[] | null {
  try {
    const text = readFileSync(`/proc/self/task/${tid}/status`, 'utf8');
    const m = /^Cpus_allowed_list:\s*(\S+)/m.exec(text);
    return m ? parseCpuList(m[1]!) : null;
  } catch {
    return null;
  }
}

function tasks(): number[] {
  return readdirSync('/proc/self/task').map(Number);
}

/** Starts the fixture as a worker; resolves with its report and a function that ends it. */
async function startWorker(data: { cpus?: number[]; probePool?: boolean }) {
  const worker = new Worker(fixture, { workerData: { addonPath: status.path, ...data } });
  const report = await new Promise<WorkerReport>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  const stop = () =>
    new Promise<void>((resolve) => {
      worker.once('exit', () => resolve());
      worker.postMessage('exit');
    });
  return { report, stop };
}

function need(): AffinityAddon {
  if (!status.addon) throw new Error(`addon unavailable: ${status.reason}`);
  return status.addon;
}

describe('native addon', () => {
  it('is built and loads wherever it can be (Linux with cargo, not disabled)', () => {
    // Not a skip: where the addon can be built it must be, or every test below would silently skip.
    const disabled = process.env.SLUICE_NO_NATIVE === '1' || process.env.SLUICE_SKIP_NATIVE === '1';
    const buildable = process.platform === 'linux' && spawnSync('cargo', ['--version']).status === 0;
    if (disabled) expect(status.available).toBe(false);
    else if (buildable) expect(status, describeAffinity()).toMatchObject({ available: true, reason: null });
    expect(describeAffinity()).toMatch(/^affinity: /);
  });

  it.skipIf(!status.available)('reports thread id, current CPU, affinity and topology', () => {
    const a = need();
    const topo = a.topology();
    expect(topo.online.length).toBeGreaterThan(0);
    expect(topo.online).toEqual([...topo.online].sort((x, y) => x - y));
    expect(topo.cores.map((c) => c.cpu)).toEqual(topo.online);
    for (const c of topo.cores) {
      expect(Number.isInteger(c.core) && c.core >= 0).toBe(true);
      expect(Number.isInteger(c.package) && c.package >= 0).toBe(true);
    }
    const onlineText = readFileSync('/sys/devices/system/cpu/online', 'utf8');
    expect(topo.online).toEqual(parseCpuList(onlineText));

    const mine = a.getAffinity();
    expect(mine).toEqual(maskOf(a.threadId()));
    expect(mine).toContain(a.currentCpu());
    expect(tasks()).toContain(a.threadId());
  });

  it.skipIf(!status.available)('rejects bad arguments with TypeError / RangeError and leaves the mask alone', () => {
    const a = need();
    const before = a.getAffinity();
    const set = a.setAffinity as (x: unknown) => void;
    for (const bad of [undefined, null, 0, '0', { 0: 0, length: 1 }, [1.5], ['0'], [Number.NaN], [Infinity], [0, undefined], [0n]]) {
      expect(() => set(bad), String(bad)).toThrow(TypeError);
    }
    for (const bad of [[], [-1], [1024], [0, 4096]]) {
      expect(() => set(bad), JSON.stringify(bad)).toThrow(RangeError);
    }
    expect(() => set([-1])).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => set('x')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    // A throwing element getter propagates as is.
    const trap: number[] = [0];
    Object.defineProperty(trap, 0, { get: () => { throw new Error('boom from getter'); } });
    expect(() => set(trap)).toThrow('boom from getter');
    expect(a.getAffinity()).toEqual(before);
  });

  it.skipIf(!status.available || a1023Online())('turns an OS refusal into an Error with errno and code', () => {
    const a = need();
    // CPU 1023 is not online here, so the mask has no usable CPU: EINVAL, mask unchanged.
    let caught: unknown;
    try {
      a.setAffinity([1023]);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(Error);
    expect(caught).not.toBeInstanceOf(TypeError);
    expect(caught).not.toBeInstanceOf(RangeError);
    expect((caught as Error).message).toMatch(/^sched_setaffinity failed: errno 22 \(EINVAL: .+\)$/);
    expect((caught as { code?: string }).code).toBe('EINVAL');
  });

  it.skipIf(!status.available)('loads in many worker threads at once', async () => {
    const started = await Promise.all(Array.from({ length: 8 }, () => startWorker({})));
    try {
      const tids = started.map((w) => w.report.tid);
      expect(started.map((w) => w.report.error)).toEqual(started.map(() => null));
      expect(new Set(tids).size).toBe(8);
      expect(tids).not.toContain(need().threadId());
    } finally {
      await Promise.all(started.map((w) => w.stop()));
    }
  });
});

describe.skipIf(!status.available || nativeFutex() === null)('native futex (addon)', () => {
  const f = () => nativeFutex()!;
  const words = () => new Int32Array(new SharedArrayBuffer(16));

  it('futexWait: 1 when the word does not hold the expected value, 2 after its timeout; futexWake: how many it woke', () => {
    const i32 = words();
    i32[1] = 7;
    expect(f().futexWait(i32, 1, 6, 1000)).toBe(1);
    expect(f().futexWait(i32, 1, 7, 1)).toBe(2);
    expect(f().futexWait(i32, 1, 7, 0)).toBe(2);
    expect(f().futexWake(i32, 1, 1)).toBe(0);
    // A view at an offset addresses its own elements: view[0] is i32[2].
    i32[2] = 5;
    const view = new Int32Array(i32.buffer, 8, 2);
    expect(f().futexWait(view, 0, 0, 1000)).toBe(1);
    expect(f().futexWait(view, 0, 5, 1)).toBe(2);
  });

  it('SLUICE_NO_FUTEX=1 leaves the wakers on Atomics.wait/notify', () => {
    expect(nativeFutex({ SLUICE_NO_FUTEX: '1' })).toBeNull();
    expect(nativeFutex({})).not.toBeNull();
  });

  it('rejects what is not an element of an Int32Array', () => {
    const i32 = words();
    const wait = f().futexWait as (...a: unknown[]) => number;
    const wakeFn = f().futexWake as (...a: unknown[]) => number;
    for (const bad of [undefined, [0, 0], new Uint32Array(4), new Float64Array(2), i32.buffer]) {
      expect(() => wait(bad, 0, 0, 0), String(bad)).toThrow(TypeError);
      expect(() => wakeFn(bad, 0, 1), String(bad)).toThrow(TypeError);
    }
    for (const index of [-1, 4, 1.5, Number.NaN]) {
      expect(() => wait(i32, index, 0, 0), String(index)).toThrow(RangeError);
      expect(() => wakeFn(i32, index, 1), String(index)).toThrow(RangeError);
    }
    expect(() => wait(i32, 0)).toThrow(TypeError);
  });

  it('a thread asleep in futexWait is woken by futexWake from another thread (no lost wake: 200 rounds)', async () => {
    const i32 = words();
    // The sleeper waits while word 0 holds the round it last saw; round r+1 is stored, then woken.
    const sleeper = new Worker(
      `const { workerData, parentPort } = require('node:worker_threads');
       const a = require(workerData.path); const i32 = new Int32Array(workerData.sab);
       let seen = 0, timeouts = 0;
       while (seen < workerData.rounds) {
         Atomics.store(i32, 1, seen); Atomics.notify(i32, 1);
         if (a.futexWait(i32, 0, seen, 10000) === 2) timeouts++;
         seen = Atomics.load(i32, 0);
       }
       parentPort.postMessage(timeouts);`,
      { eval: true, workerData: { sab: i32.buffer, path: status.path, rounds: 200 } },
    );
    const timeouts = new Promise((resolve, reject) => { sleeper.once('message', resolve); sleeper.once('error', reject); });
    for (let r = 1; r <= 200; r++) {
      // Until the sleeper has seen round r - 1 (it publishes before each wait).
      while (Atomics.load(i32, 1) !== r - 1) Atomics.wait(i32, 1, Atomics.load(i32, 1), 50);
      Atomics.store(i32, 0, r);
      f().futexWake(i32, 0, 1);
    }
    expect(await timeouts).toBe(0); // a lost wake would sleep the full 10 s and count here
    await sleeper.terminate();
  }, 60_000);
});

function a1023Online(): boolean {
  return status.addon?.topology().online.includes(1023) ?? false;
}

describe('pinning worker threads', () => {
  const allowed = status.addon?.getAffinity() ?? [];

  it.skipIf(!status.available || allowed.length < 2)(
    'pins each worker to exactly its CPU; the main thread and every other thread (libuv pool included) stay unpinned',
    async () => {
      const a = need();
      const topo = a.topology();
      const initialMain = maskOf(process.pid);
      const initialSelf = a.getAffinity();
      expect(initialMain).toEqual(allowed);
      // On an unrestricted machine (this one) "unpinned" means every online CPU.
      if (formatCpuList(allowed) === formatCpuList(topo.online)) expect(initialMain).toEqual(topo.online);

      const cpus = chooseCpus(Math.min(allowed.length, 4), topo, allowed);
      expect(new Set(cpus).size).toBe(cpus.length);
      const started = await Promise.all(cpus.map((cpu) => startWorker({ cpus: [cpu], probePool: true })));
      try {
        const pinned = new Set<number>();
        started.forEach(({ report }, i) => {
          expect(report.error).toBeNull();
          expect(report.affinity).toEqual([cpus[i]]);
          expect(report.cpu).toBe(cpus[i]); // sched_setaffinity migrated the thread before returning
          expect(maskOf(report.tid)).toEqual([cpus[i]]); // what the kernel says, from outside
          pinned.add(report.tid);
        });
        // The pool already existed in this process, so the workers' fs calls created no threads.
        expect(started.flatMap((w) => w.report.created)).toEqual([]);

        expect(maskOf(process.pid)).toEqual(initialMain);
        expect(a.getAffinity()).toEqual(initialSelf);
        const others = tasks().filter((t) => !pinned.has(t));
        expect(others.length).toBeGreaterThan(4); // main + V8 platform threads + libuv pool + ...
        for (const tid of others) {
          const mask = maskOf(tid);
          if (mask !== null) expect({ tid, mask }).toEqual({ tid, mask: initialMain });
        }
      } finally {
        await Promise.all(started.map((w) => w.stop()));
      }
    },
  );

  it.skipIf(!status.available)('pinCurrentThread in a worker; never pins the calling test thread', async () => {
    const a = need();
    const before = a.getAffinity();
    const cpu = before[0]!;
    const { report, stop } = await startWorker({ cpus: [cpu] });
    await stop();
    expect(report.affinity).toEqual([cpu]);
    expect(a.getAffinity()).toEqual(before);
    // OS refusal is reported, not thrown; argument bugs are thrown.
    if (!a1023Online()) {
      const r = pinCurrentThread([1023]);
      expect(r.pinned).toBe(false);
      expect(r.reason).toMatch(/EINVAL/);
      expect(a.getAffinity()).toEqual(before);
    }
    expect(() => pinCurrentThread([-1])).toThrow(RangeError);
  });
});

describe('the pump leaves the CPU of an awake pinned worker (docs/design.md 4.4 step 2a)', () => {
  const allowed = status.addon?.getAffinity() ?? [];

  interface Harness { rt: Runtime; sig: Signals; mem: Memory; mover: CoreMover }
  /**
   * A runtime of the test tasks (these options) with every slot ready, the Signals its blocked
   * tasks hear, step 2a on this thread; closed after `body`. No warm-up: a parked worker whose
   * warm-up is pending wakes for it by a timer (§4.2b step 2), and an awake worker is what step
   * 2a looks for.
   */
  async function withMover(options: Partial<RuntimeOptions>, body: (h: Harness) => Promise<void>): Promise<void> {
    const sig = new Signals();
    const rt = await Runtime.start({ tasks: new URL('./fixtures/tasks.mjs', import.meta.url), warmUp: false, ...options });
    try {
      await rt.allWorkersReady();
      const mem = internals(rt).mem;
      await body({ rt, sig, mem, mover: new CoreMover(mem) });
    } finally {
      sig.close();
      await rt.close();
    }
  }
  /** Until worker w's waker word reads PARKED (event-loop turns in between: its spin runs out). */
  async function parked(mem: Memory, w: number): Promise<void> {
    while (Atomics.load(mem.i32, mem.workerWord(w, W_WAKER)) !== WAKER_PARKED) await new Promise((r) => setImmediate(r));
  }
  /** Put this thread on `cpu` (what the idle balancer does), its mask restored at once. */
  function visit(a: AffinityAddon, cpu: number, mask: number[]): void {
    a.setAffinity([cpu]);
    a.setAffinity(mask);
    expect(a.currentCpu()).toBe(cpu);
  }

  it.skipIf(!status.available || allowed.length < 2)(
    'moves the waiting thread to a CPU no awake worker owns, and restores its mask',
    async () => {
      const a = need();
      const before = a.getAffinity();
      // Worker 0 must be the one that runs the task below: every slot is ready first.
      await withMover({ workers: 2 }, async ({ rt, sig, mem, mover }) => {
        const w0cpus = rt.stats().workers[0]!.cpus!;
        expect(w0cpus).toHaveLength(1);
        const w0cpu = w0cpus[0]!;
        // Worker 0 runs a task (awake); worker 1 has had nothing to do and parks.
        const token = rt.producer('p').submit(rt.task('blockUntil'), 'busy') as Token;
        await sig.started('busy');
        await parked(mem, 1);
        visit(a, w0cpu, before);
        expect(mover.leaveBusyCore()).toBe(false); // moved off: nothing of ours to yield to (the pump's step 2 does not yield)
        expect(mover.moves).toBe(1);
        expect(a.currentCpu()).not.toBe(w0cpu);
        expect(a.getAffinity()).toEqual(before); // never left pinned
        // Off every awake worker's CPU now: nothing to do, nothing to yield for.
        expect(mover.leaveBusyCore()).toBe(false);
        expect(mover.moves).toBe(1);
        sig.release('busy');
        expect(await token).toBe('busy');
      });
      expect(a.getAffinity()).toEqual(before);
    },
  );

  it.skipIf(!status.available)(
    'cannot tell where an unpinned awake worker runs (affinity: false): the pump yields, as it always did; with every worker parked it does not',
    async () => {
      await withMover({ workers: 1, affinity: false }, async ({ rt, sig, mem, mover }) => {
        // Unpinned: its mask is every CPU it may use (one bit only on a one-CPU machine, where
        // this thread then shares that CPU and step 2a answers true all the same).
        expect(rt.stats().workers[0]!.cpus).toEqual(allowed);
        await parked(mem, 0);
        expect(mover.leaveBusyCore()).toBe(false);
        const token = rt.producer('p').submit(rt.task('blockUntil'), 'unpinned') as Token;
        await sig.started('unpinned');
        expect(mover.leaveBusyCore()).toBe(true);
        expect(mover.moves).toBe(0);
        sig.release('unpinned');
        expect(await token).toBe('unpinned');
      });
    },
  );

  it.skipIf(!status.available || allowed.length < 2 || allowed.length > 8)(
    'reports a CPU it cannot leave (every allowed CPU has an awake worker) so the pump yields there, and no awake worker as nothing to yield for',
    async () => {
      const a = need();
      const before = a.getAffinity();
      // One worker per allowed CPU, each pinned to its own (the default plan with workers <= CPUs).
      await withMover({ workers: before.length }, async ({ rt, sig, mem, mover }) => {
        const cpus = rt.stats().workers.map((w) => w.cpus!);
        expect(cpus.every((c) => c.length === 1)).toBe(true);
        expect(new Set(cpus.map((c) => c[0])).size).toBe(before.length);
        // Every worker parked: no CPU of ours is spoken for.
        for (let w = 0; w < before.length; w++) await parked(mem, w);
        visit(a, cpus[0]![0]!, before);
        expect(mover.leaveBusyCore()).toBe(false);
        expect(mover.moves).toBe(0);
        // Every worker runs a task: every allowed CPU is an awake worker's, so there is nowhere to go.
        const p = rt.producer('p');
        const keys = cpus.map((_, w) => `all-busy-${w}`);
        const tokens = keys.map((k) => p.submit(rt.task('blockUntil'), k) as Token);
        for (const k of keys) await sig.started(k);
        visit(a, cpus[0]![0]!, before);
        expect(mover.leaveBusyCore()).toBe(true);
        expect(mover.moves).toBe(0);
        expect(a.getAffinity()).toEqual(before);
        for (const k of keys) sig.release(k);
        expect(await Promise.all(tokens)).toEqual(keys);
      });
      expect(a.getAffinity()).toEqual(before);
    },
  );
});

/**
 * The real loader as a package-like tree of plain ES modules under `dir` (transpiled as-is, no
 * loader hooks): dir/package.json, dir/dist/runtime/native/affinity.mjs and the package-root
 * module it asks where the package is (so its root is `dir`). Returns the loader's path.
 */
function transpileLoader(dir: string): string {
  const emit = (source: string, file: string, rewrite: (js: string) => string = (js) => js): void => {
    const out = ts.transpileModule(readFileSync(source, 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022 },
    });
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, rewrite(out.outputText));
  };
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'sluice', private: true }));
  emit(fileURLToPath(new URL('../src/package-root.ts', import.meta.url)), join(dir, 'dist', 'package-root.mjs'));
  const file = join(dir, 'dist', 'runtime', 'native', 'affinity.mjs');
  emit(loaderSource, file, (js) => js.replace(/(['"])\.\.\/\.\.\/package-root\.js\1/, "'../../package-root.mjs'"));
  return file;
}

describe('libuv threadpool inheritance (fresh CommonJS process per case)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-affinity-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** The real loader, transpiled as-is to an ES module the CJS probe can require() without
   *  going through the ESM loader (which would create the pool on the main thread). */
  function loaderModule(): string {
    return transpileLoader(dir);
  }

  interface ThreadMask { tid: number; mask: string | null }
  interface ProbeOut {
    mode: string;
    target: number;
    mainMask: string;
    mainMaskAfter: string;
    warmCreated: ThreadMask[];
    worker: { tid: number; mask: string; error: unknown };
    workerCreated: ThreadMask[];
    tasks: ThreadMask[];
  }

  function probe(mode: 'pitfall' | 'warm'): ProbeOut {
    const env = { ...process.env };
    delete env.NODE_OPTIONS; // a preloaded ESM hook would create the pool before the probe runs
    const r = spawnSync(
      process.execPath,
      ['--no-warnings', '--experimental-require-module', fixture, mode, status.path!, loaderModule()],
      { encoding: 'utf8', env, timeout: 60_000 },
    );
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    return JSON.parse(r.stdout) as ProbeOut;
  }

  const allowed = status.addon?.getAffinity() ?? [];
  const skip = !status.available || allowed.length < 2;

  it.skipIf(skip)('PITFALL: a pinned worker that makes the first threadpool call pins the whole pool', () => {
    const out = probe('pitfall');
    expect(out.worker.error).toBeNull();
    expect(out.worker.mask).toBe(String(out.target));
    expect(out.warmCreated).toEqual([]);
    // The pool threads (UV_THREADPOOL_SIZE of them, 4 by default) appear during the worker's
    // first fs call and inherit its single-CPU mask.
    expect(out.workerCreated.length).toBeGreaterThan(0);
    for (const t of out.workerCreated) expect(t.mask).toBe(String(out.target));
    expect(out.mainMaskAfter).toBe(out.mainMask);
  });

  it.skipIf(skip)('REMEDY: warmLibuvPool() on the main thread first keeps the pool unpinned', () => {
    const out = probe('warm');
    expect(out.worker.error).toBeNull();
    expect(out.worker.mask).toBe(String(out.target));
    expect(out.warmCreated.length).toBeGreaterThan(0);
    for (const t of out.warmCreated) expect(t.mask).toBe(out.mainMask);
    expect(out.workerCreated).toEqual([]);
    for (const t of out.tasks) {
      if (t.tid !== out.worker.tid && t.mask !== null) expect(t).toEqual({ tid: t.tid, mask: out.mainMask });
    }
    expect(out.mainMaskAfter).toBe(out.mainMask);
  });

  it('warmLibuvPool resolves (also when the pool already exists)', async () => {
    await expect(warmLibuvPool()).resolves.toBeUndefined();
  });
});

describe('fallback without the addon', () => {
  it('SLUICE_NO_NATIVE=1 skips the addon with a reason, nothing throws', () => {
    const s = loadAffinityUncached({ env: { SLUICE_NO_NATIVE: '1' } });
    expect(s).toMatchObject({ available: false, addon: null });
    expect(s.reason).toMatch(/SLUICE_NO_NATIVE/);
    expect(pinCurrentThread([0], s)).toEqual({ pinned: false, cpus: [], reason: s.reason });
  });

  it('a missing file is reported, not thrown', () => {
    const s = loadAffinityUncached({ env: {}, path: join(tmpdir(), 'sluice-no-such-dir', 'x.node') });
    expect(s).toMatchObject({ available: false, addon: null });
    expect(s.reason).toMatch(/missing/);
  });

  it('a file that is not an addon is reported, not thrown', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-bogus-'));
    try {
      const bogus = join(dir, 'bogus.node');
      writeFileSync(bogus, 'not an ELF file');
      const s = loadAffinityUncached({ env: {}, path: bogus });
      expect(s).toMatchObject({ available: false, addon: null, path: bogus });
      expect(s.reason).toMatch(/failed to load/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('looks for the platform-named prebuilt, then native/sluice-native.node, in the package root', () => {
    expect(addonPath()).toBe(fileURLToPath(new URL('../native/sluice-native.node', import.meta.url)));
    expect(prebuiltAddonPath()).toBe(fileURLToPath(new URL(`../native/sluice-native.${platformTriple()}.node`, import.meta.url)));
    expect(prebuiltAddonPath('linux-arm64-musl')).toMatch(/native\/sluice-native\.linux-arm64-musl\.node$/);
    if (status.available) {
      // The prebuilt (made by npm pack's prepack) wins when it is there and loads.
      const prebuilt = loadAffinityUncached({ env: {}, path: prebuiltAddonPath() });
      expect(status.path).toBe(prebuilt.available ? prebuiltAddonPath() : addonPath());
    }
    expect(loadAffinity()).toBe(loadAffinity()); // memoized
  });

  it('SLUICE_NATIVE_PATH names the one file to load', () => {
    const missing = join(tmpdir(), 'sluice-no-such-dir', 'y.node');
    const s = loadAffinityUncached({ env: { SLUICE_NATIVE_PATH: missing } });
    expect(s).toMatchObject({ available: false, addon: null, path: missing });
    expect(s.reason).toBe(`${missing} missing (SLUICE_NATIVE_PATH)`);
    if (status.available) {
      expect(loadAffinityUncached({ env: { SLUICE_NATIVE_PATH: status.path! } })).toMatchObject({ available: true, path: status.path });
    }
  });

  it('in a checkout, the hint is the repository command', () => {
    expect(buildHint()).toBe('with cargo on PATH, run: npm run build:native');
  });

  it('an installed package without a loadable addon names the platform triple, what it looked for, and a command for the user\'s project', async () => {
    // The real loader, transpiled into a package-like tree with no src/ and no native/ files.
    const dir = mkdtempSync(join(tmpdir(), 'sluice-noaddon-'));
    try {
      const file = transpileLoader(dir);
      const loader = (await import(pathToFileURL(file).href)) as typeof import('../src/runtime/native/affinity.js');
      const triple = platformTriple();
      const prebuilt = join(dir, 'native', `sluice-native.${triple}.node`);
      const local = join(dir, 'native', 'sluice-native.node');
      const s = loader.loadAffinityUncached({ env: {} });
      expect(s).toMatchObject({ available: false, addon: null, path: local });
      expect(s.reason).toBe(
        `no native addon for ${triple} (looked for ${prebuilt} and ${local}); with cargo on PATH (https://rustup.rs), ` +
          `run in your project: npm rebuild sluice (or: node ${join(dir, 'scripts', 'build-native.mjs')})`,
      );
      // A prebuilt that is there but does not load is reported too, and the local build is still tried.
      mkdirSync(join(dir, 'native'));
      writeFileSync(prebuilt, 'not an ELF file');
      const bad = loader.loadAffinityUncached({ env: {} });
      expect(bad.available).toBe(false);
      expect(bad.reason).toMatch(new RegExp(`^addon failed to load: .+ \\(${prebuilt.replace(/[.]/g, '\\.')}\\); no native addon for ${triple}`));
      if (status.available) {
        copyFileSync(status.path!, local);
        expect(loader.loadAffinityUncached({ env: {} })).toMatchObject({ available: true, reason: null, path: local });
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('platform triple (napi-rs names)', () => {
  it('linux: arch and libc; arm: eabihf; others: platform-arch', () => {
    expect(platformTriple('linux', 'x64', () => false)).toBe('linux-x64-gnu');
    expect(platformTriple('linux', 'x64', () => true)).toBe('linux-x64-musl');
    expect(platformTriple('linux', 'arm64', () => false)).toBe('linux-arm64-gnu');
    expect(platformTriple('linux', 'arm', () => false)).toBe('linux-arm-gnueabihf');
    expect(platformTriple('linux', 'arm', () => true)).toBe('linux-arm-musleabihf');
    expect(platformTriple('darwin', 'arm64', () => false)).toBe('darwin-arm64');
    expect(platformTriple('win32', 'x64', () => false)).toBe('win32-x64-msvc');
  });

  it.skipIf(process.platform !== 'linux')('this machine: glibc when the process report says so', () => {
    const header = (process.report.getReport() as { header: { glibcVersionRuntime?: string } }).header;
    expect(platformTriple()).toBe(`linux-${process.arch}-${header.glibcVersionRuntime ? 'gnu' : 'musl'}`);
  });
});

describe('pure helpers', () => {
  it('parseCpuList / formatCpuList round-trip kernel lists', () => {
    expect(parseCpuList('0-1,4\n')).toEqual([0, 1, 4]);
    expect(parseCpuList('3')).toEqual([3]);
    expect(parseCpuList('')).toEqual([]);
    expect(() => parseCpuList('0-x')).toThrow(SyntaxError);
    expect(formatCpuList([4, 0, 1, 2, 8, 10, 11])).toBe('0-2,4,8,10-11');
    expect(formatCpuList([])).toBe('');
  });

  it('chooseCpus spreads over physical cores first, respects the allowed set, wraps around', () => {
    // 2 packages x 2 cores x 2 hyperthreads; siblings are n and n+4.
    const topo: Topology = {
      online: [0, 1, 2, 3, 4, 5, 6, 7],
      cores: [0, 1, 2, 3, 4, 5, 6, 7].map((cpu) => ({ cpu, core: cpu % 2, package: (cpu >> 1) % 2 })),
    };
    expect(chooseCpus(4, topo)).toEqual([0, 1, 2, 3]);
    expect(chooseCpus(6, topo)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(chooseCpus(10, topo)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 0, 1]);
    expect(chooseCpus(2, topo, [4, 5, 0])).toEqual([0, 5]);
    expect(chooseCpus(3, topo, [])).toEqual([]);
    expect(chooseCpus(0, topo)).toEqual([]);
    expect(() => chooseCpus(-1, topo)).toThrow(RangeError);
  });
});
