/**
 * CPU affinity: loads the optional native addon (native/, Rust) and is a no-op when it is absent.
 * Never throws on load.
 *
 * Which file (the first that loads wins; docs in README, "CPU pinning"):
 * 1. an explicit path: `LoadAffinityOptions.path` or the SLUICE_NATIVE_PATH environment variable
 *    (then only that file is tried);
 * 2. the prebuilt binary shipped in the npm package, named after the platform the napi-rs way:
 *    native/sluice-native.<triple>.node, e.g. native/sluice-native.linux-x64-gnu.node (built by
 *    `npm pack`'s prepack: scripts/build-native.mjs --prebuilt);
 * 3. native/sluice-native.node, built locally from native/src (the repository's `npm ci`, or the
 *    package's install script when no prebuilt loads here and cargo is on PATH).
 * When none loads, the reason names the platform triple it looked for and a command that builds
 * the addon from where the user is (their project, or this repository).
 *
 * What pinning touches, and what it does not:
 * - `setAffinity(cpus)` pins the CALLING OS THREAD only (sched_setaffinity with pid 0), never the
 *   process. The runtime calls it from inside each worker thread at boot (`pinCurrentThread`);
 *   it never leaves the main thread (or an attached thread) pinned. Their pump may *move* them
 *   off the CPU of an awake pinned worker by narrowing and at once restoring their mask
 *   (attachment.ts, leaveBusyCore; docs/design.md 4.4 step 2a).
 * - Linux copies a thread's mask into every thread it creates afterwards. A pinned worker
 *   therefore pins (a) any Worker it spawns itself, and (b) the libuv threadpool IF that worker
 *   is the first thread in the process to use it. Worker threads have no pool of their own: the
 *   pool (fs, crypto.pbkdf2/scrypt/randomBytes, dns.lookup, zlib) is process-wide and is created
 *   lazily, all UV_THREADPOOL_SIZE threads at once, by whichever thread first submits work.
 *   Measured on Node 20.20.2 / libuv 1.46.0 (Linux x64): a CommonJS entry point has no pool
 *   until its first async fs call, which creates 4 threads synchronously; an ES-module entry
 *   point already has it (the ESM loader reads files through the pool on the main thread);
 *   pool threads are not named (comm "node" like every node thread; libuv >= 1.50 names them
 *   "libuv-worker"). A pinned worker making the process's first pool call pins all 4 pool
 *   threads to its CPU (test/affinity.test.ts shows it). Remedy: `await warmLibuvPool()` on the
 *   main thread before starting pinned workers.
 * - Unaffected: the main thread, V8's platform threads (created at process start by the main
 *   thread), each Worker's own thread until it pins itself (created by its unpinned parent).
 * - Kernel semantics: CPUs in the list that the thread may not use (offline, outside the cgroup
 *   cpuset) are silently dropped; only a list with no usable CPU fails (EINVAL).
 *
 * Errors from the addon: TypeError (code ERR_INVALID_ARG_TYPE) for a non-array or non-integer,
 * RangeError (ERR_OUT_OF_RANGE) for an empty list or a CPU outside 0..1023, Error with
 * code = errno name (e.g. 'EINVAL') and a message "sched_setaffinity failed: errno 22 (EINVAL:
 * Invalid argument)" when the OS refuses.
 */
import { existsSync, readFileSync, stat } from 'node:fs';
import { createRequire } from 'node:module';
import { PACKAGE_ROOT_URL } from '../../package-root.js';
import { fileURLToPath } from 'node:url';
import type { NativeFutex } from '../../shm/waker.js';

export interface Topology {
  /** Online CPUs, ascending (/sys/devices/system/cpu/online). */
  online: number[];
  /** One entry per online CPU: physical core id and package (socket) id where Linux tells them,
   *  else core = cpu and package = 0. Core ids are per package. */
  cores: Array<{ cpu: number; core: number; package: number }>;
}

export interface AffinityAddon {
  /** Pins the calling thread to these CPUs. */
  setAffinity(cpus: number[]): void;
  /** The calling thread's allowed CPUs, ascending. */
  getAffinity(): number[];
  /** The CPU the calling thread is running on right now. */
  currentCpu(): number;
  /** Kernel thread id (gettid) of the calling thread: /proc/self/task/<tid>. */
  threadId(): number;
  topology(): Topology;
  /** sched_yield(): let another runnable thread on this CPU run (polite spinning). */
  yieldThread(): void;
  /** FUTEX_WAIT / FUTEX_WAKE on an Int32Array element (x86_64 and aarch64 builds; src/shm/waker.ts). */
  futexWait?(i32: Int32Array, index: number, expected: number, timeoutMs: number): number;
  futexWake?(i32: Int32Array, index: number, count: number): number;
  /** membarrier(2) MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED: 0, or the errno (x86_64 and aarch64 builds). */
  membarrierRegister?(): number;
  /** membarrier(2) MEMBARRIER_CMD_PRIVATE_EXPEDITED: 0 once every running thread of this process ran a full barrier, or the errno. */
  processBarrier?(): number;
}

export interface AffinityStatus {
  available: boolean;
  /** Why the addon is unavailable; null when available. */
  reason: string | null;
  addon: AffinityAddon | null;
  /** The .node file that was loaded (or the last one tried); null when loading was skipped. */
  path: string | null;
}

export interface LoadAffinityOptions {
  /** Environment to read SLUICE_NO_NATIVE and SLUICE_NATIVE_PATH from (default process.env). */
  env?: Record<string, string | undefined>;
  /** Load exactly this file (nothing else is tried). Default: SLUICE_NATIVE_PATH, else the
   *  prebuilt for this platform, else native/sluice-native.node, in the package root. */
  path?: string;
}

const ADDON_NAME = 'sluice-native';
const ADDON_FUNCTIONS = ['setAffinity', 'getAffinity', 'currentCpu', 'threadId', 'topology'] as const;

/** Absolute path of the locally built addon, native/sluice-native.node in the package root. */
export function addonPath(): string {
  return fileURLToPath(new URL(`native/${ADDON_NAME}.node`, PACKAGE_ROOT_URL));
}

/** Absolute path of the prebuilt addon for a platform triple (default: this one). */
export function prebuiltAddonPath(triple: string = platformTriple()): string {
  return fileURLToPath(new URL(`native/${ADDON_NAME}.${triple}.node`, PACKAGE_ROOT_URL));
}

/**
 * Whether this Linux runs on musl rather than glibc, decided the way napi-rs's generated loaders
 * do: /usr/bin/ldd's text first (cheap), then the process report's glibcVersionRuntime (absent on
 * musl) and its list of shared objects. scripts/build-native.mjs has the same function.
 */
export function isMusl(): boolean {
  if (process.platform !== 'linux') return false;
  try {
    return readFileSync('/usr/bin/ldd', 'utf8').includes('musl');
  } catch {
    // no ldd (distroless images): ask the process report
  }
  try {
    const report = process.report?.getReport() as
      | { header?: { glibcVersionRuntime?: string }; sharedObjects?: string[] }
      | undefined;
    if (report?.header?.glibcVersionRuntime) return false;
    return (report?.sharedObjects ?? []).some((f) => f.includes('libc.musl-') || f.includes('ld-musl-'));
  } catch {
    return false;
  }
}

/**
 * The napi-rs platform triple of a .node file: `${platform}-${arch}[-${abi}]`, e.g.
 * linux-x64-gnu, linux-arm64-musl, linux-arm-gnueabihf, darwin-arm64, win32-x64-msvc.
 */
export function platformTriple(
  platform: string = process.platform, arch: string = process.arch, musl: () => boolean = isMusl,
): string {
  if (platform === 'linux') {
    const libc = musl() ? 'musl' : 'gnu';
    return `linux-${arch}-${arch === 'arm' ? `${libc}eabihf` : libc}`;
  }
  if (platform === 'win32') return `win32-${arch}-msvc`;
  return `${platform}-${arch}`;
}

/** Whether the package root is a checkout of the repository (src/ present) or an installed package. */
function isCheckout(): boolean {
  return existsSync(fileURLToPath(new URL('src/runtime/native/affinity.ts', PACKAGE_ROOT_URL)));
}

/** A command that builds the addon, as the user can run it from where they are. */
export function buildHint(): string {
  if (isCheckout()) return 'with cargo on PATH, run: npm run build:native';
  const script = fileURLToPath(new URL('scripts/build-native.mjs', PACKAGE_ROOT_URL));
  return `with cargo on PATH (https://rustup.rs), run in your project: npm rebuild sluice (or: node ${script})`;
}

function unavailable(reason: string, path: string | null): AffinityStatus {
  return { available: false, reason, addon: null, path };
}

function messageOf(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.split('\n')[0] ?? msg;
}

type Attempt = { ok: true; addon: AffinityAddon } | { ok: false; missing: boolean; reason: string };

function tryLoad(path: string): Attempt {
  try {
    const require = createRequire(import.meta.url);
    const mod: unknown = require(path);
    if (typeof mod !== 'object' || mod === null) {
      return { ok: false, missing: false, reason: `${path} did not export an object` };
    }
    const record = mod as Record<string, unknown>;
    const missing = ADDON_FUNCTIONS.filter((name) => typeof record[name] !== 'function');
    if (missing.length > 0) {
      return { ok: false, missing: false, reason: `${path} lacks ${missing.join(', ')}` };
    }
    const addon = mod as AffinityAddon;
    // Probe: a sandbox (seccomp) may refuse the syscalls even though the file loads.
    addon.getAffinity();
    return { ok: true, addon };
  } catch (err) {
    const code = (err as { code?: unknown } | null)?.code;
    if ((code === 'MODULE_NOT_FOUND' || code === 'ENOENT') && !existsSync(path)) {
      return { ok: false, missing: true, reason: `${path} missing` };
    }
    return { ok: false, missing: false, reason: `addon failed to load: ${messageOf(err)} (${path})` };
  }
}

/** Loads the addon without memoization (for tests and tools). Never throws. */
export function loadAffinityUncached(options: LoadAffinityOptions = {}): AffinityStatus {
  const env = options.env ?? process.env;
  if (env.SLUICE_NO_NATIVE === '1') {
    return unavailable('disabled by SLUICE_NO_NATIVE=1', null);
  }
  if (process.platform !== 'linux') {
    return unavailable(`not supported on ${process.platform} (Linux only)`, null);
  }
  const explicit = options.path ?? (env.SLUICE_NATIVE_PATH || undefined);
  let triple: string;
  let candidates: string[];
  try {
    triple = platformTriple();
    candidates = explicit !== undefined ? [explicit] : [prebuiltAddonPath(triple), addonPath()];
  } catch (err) {
    return unavailable(`cannot resolve the addon path: ${messageOf(err)}`, null);
  }
  const failures: string[] = [];
  for (const path of candidates) {
    const attempt = tryLoad(path);
    if (attempt.ok) return { available: true, reason: null, addon: attempt.addon, path };
    if (!attempt.missing) failures.push(attempt.reason);
  }
  const last = candidates[candidates.length - 1]!;
  if (explicit !== undefined) {
    const why = failures[0] ?? `${explicit} missing`;
    return unavailable(`${why}${options.path === undefined ? ' (SLUICE_NATIVE_PATH)' : ''}`, explicit);
  }
  // Nothing loaded: say what was looked for (the platform triple), what failed, and how to build it.
  const looked = `no native addon for ${triple} (looked for ${candidates.join(' and ')})`;
  const detail = failures.length > 0 ? `${failures.join('; ')}; ${looked}` : looked;
  return unavailable(`${detail}; ${buildHint()}`, last);
}

let cached: AffinityStatus | undefined;

/** Loads the addon once per thread (module state is per thread). Never throws. */
export function loadAffinity(): AffinityStatus {
  cached ??= loadAffinityUncached();
  return cached;
}

/** "0-3,8,10-11" for [0,1,2,3,8,10,11]. */
export function formatCpuList(cpus: readonly number[]): string {
  const sorted = [...new Set(cpus)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

/** Parses a kernel CPU list ("0-3,8", as in /proc/<pid>/status Cpus_allowed_list). */
export function parseCpuList(text: string): number[] {
  const out = new Set<number>();
  for (const raw of text.trim().split(',')) {
    const part = raw.trim();
    if (part === '') continue;
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new SyntaxError(`bad CPU list item '${part}' in '${text.trim()}'`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    for (let c = lo; c <= hi; c++) out.add(c);
  }
  return [...out].sort((a, b) => a - b);
}

/** One line for logs, e.g. "affinity: native addon loaded; thread 1234 may run on 0-1; online 0-1". */
export function describeAffinity(): string {
  const status = loadAffinity();
  if (!status.available || !status.addon) {
    return `affinity: unavailable (${status.reason ?? 'unknown'}); workers run unpinned`;
  }
  try {
    const a = status.addon;
    return `affinity: native addon loaded; thread ${a.threadId()} may run on ${formatCpuList(a.getAffinity())}; online ${formatCpuList(a.topology().online)}`;
  } catch (err) {
    return `affinity: native addon loaded but not answering (${messageOf(err)})`;
  }
}

export interface PinResult {
  pinned: boolean;
  /** The calling thread's allowed CPUs after the attempt (empty when unknown). */
  cpus: number[];
  reason: string | null;
}

/**
 * Pins the calling thread (call it inside the worker, at boot). Returns instead of throwing when
 * the addon is missing or the OS refuses; rethrows TypeError/RangeError (a bug in the caller).
 */
export function pinCurrentThread(cpus: readonly number[], status: AffinityStatus = loadAffinity()): PinResult {
  if (!status.available || !status.addon) {
    return { pinned: false, cpus: [], reason: status.reason ?? 'affinity unavailable' };
  }
  try {
    status.addon.setAffinity([...cpus]);
    return { pinned: true, cpus: status.addon.getAffinity(), reason: null };
  } catch (err) {
    if (err instanceof TypeError || err instanceof RangeError) throw err;
    return { pinned: false, cpus: [], reason: messageOf(err) };
  }
}

/**
 * Chooses one CPU per worker: CPUs the main thread may use (`allowed`, default: all online),
 * spread over distinct physical cores (and packages) first, then their hyperthread siblings,
 * wrapping around when there are more workers than CPUs. Pure and deterministic.
 */
export function chooseCpus(workers: number, topology: Topology, allowed?: readonly number[]): number[] {
  if (!Number.isInteger(workers) || workers < 0) throw new RangeError(`workers must be a non-negative integer, got ${workers}`);
  const allow = new Set(allowed ?? topology.online);
  const byCpu = new Map(topology.cores.map((c) => [c.cpu, c] as const));
  const cpus = topology.online.filter((c) => allow.has(c));
  if (cpus.length === 0 || workers === 0) return [];
  // Rank each CPU by how many earlier CPUs share its (package, core): 0 = first thread of a core.
  const seen = new Map<string, number>();
  const ranked = cpus.map((cpu) => {
    const info = byCpu.get(cpu) ?? { cpu, core: cpu, package: 0 };
    const key = `${info.package}:${info.core}`;
    const rank = seen.get(key) ?? 0;
    seen.set(key, rank + 1);
    return { cpu, rank };
  });
  ranked.sort((a, b) => a.rank - b.rank || a.cpu - b.cpu);
  return Array.from({ length: workers }, (_, i) => ranked[i % ranked.length]!.cpu);
}

/**
 * Makes sure the libuv threadpool exists, created by the CALLING thread. Call it from the main
 * thread (unpinned) before starting pinned workers, so the pool threads inherit the main
 * thread's mask and not a worker's. libuv creates the whole pool (UV_THREADPOOL_SIZE threads)
 * synchronously on the first submission; the extra concurrent requests only matter for a pool
 * that would grow lazily. Harmless when the pool already exists. Never rejects.
 */
export function warmLibuvPool(): Promise<void> {
  const size = Math.min(Math.max(Number.parseInt(process.env.UV_THREADPOOL_SIZE ?? '', 10) || 4, 1), 1024);
  const one = (): Promise<void> => new Promise((resolve) => stat(process.execPath, () => resolve()));
  return Promise.all(Array.from({ length: size }, one)).then(() => undefined);
}

/**
 * A polite pause for spin loops: sched_yield when the addon is present (a spinner that shares its
 * CPU with the thread it waits for hands it the CPU, instead of both burning their whole spin
 * budget in turn), null otherwise. About 1 µs per call here.
 */
export function spinYield(): (() => void) | null {
  const addon = loadAffinity().addon;
  return addon !== null && typeof addon.yieldThread === 'function' ? addon.yieldThread : null;
}

/**
 * The addon's futex pair for this thread's wakers (src/shm/waker.ts useNativeFutex), or null: no
 * addon, a build without it, or SLUICE_NO_FUTEX=1 (V8's Atomics.wait/notify then).
 */
export function nativeFutex(env: Record<string, string | undefined> = process.env): NativeFutex | null {
  const addon = loadAffinity().addon;
  if (addon === null || env.SLUICE_NO_FUTEX === '1') return null;
  const { futexWait, futexWake } = addon;
  return typeof futexWait === 'function' && typeof futexWake === 'function' ? { futexWait, futexWake } : null;
}

let barrier: (() => boolean) | null | undefined;

/**
 * The process barrier of the window's asymmetric protocol (shm/window.ts, docs/design.md §4.10):
 * a function that makes every CPU running a thread of this process execute a full memory barrier
 * (membarrier(2), private expedited) and says whether it did; null when this process cannot have
 * it: no addon, an addon without it, a kernel or a seccomp filter that refuses the registration,
 * or SLUICE_NO_MEMBARRIER=1. Registered once per process; cached per thread. (Whether the
 * protocol may use it is the runtime's call: runtime.ts also requires shm/order.ts PLAIN_ORDER.)
 */
export function processBarrier(env: Record<string, string | undefined> = process.env): (() => boolean) | null {
  if (barrier !== undefined && env === process.env) return barrier;
  let found: (() => boolean) | null = null;
  const addon = loadAffinity().addon;
  if (addon !== null && env.SLUICE_NO_MEMBARRIER !== '1') {
    const { membarrierRegister, processBarrier: run } = addon;
    if (typeof membarrierRegister === 'function' && typeof run === 'function') {
      try {
        if (membarrierRegister() === 0 && run() === 0) found = () => run() === 0;
      } catch {
        found = null; // an addon that throws here is as good as none
      }
    }
  }
  if (env === process.env) barrier = found;
  return found;
}

/**
 * Whether worker threads started with `workerEnv` (their process.env) get the process barrier
 * this thread has: the same addon (SLUICE_NO_NATIVE, SLUICE_NATIVE_PATH as here) and the barrier
 * not turned off (SLUICE_NO_MEMBARRIER). Runtime.start publishes submissions plainly only then
 * (layout.ts H_PLAIN_PUBLISH): a worker without the barrier would have to sleep in short slices.
 */
export function workersShareBarrier(workerEnv: Record<string, string | undefined>, own: Record<string, string | undefined> = process.env): boolean {
  return workerEnv.SLUICE_NO_MEMBARRIER !== '1' && workerEnv.SLUICE_NO_NATIVE !== '1' &&
    (workerEnv.SLUICE_NATIVE_PATH || '') === (own.SLUICE_NATIVE_PATH || '');
}
