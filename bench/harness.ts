// "user workloads" (issue 20): the independent harness's protocol, reproduced so that bench/
// measures what users do. Per repetition, per workload, per row: a FRESH pool (2 workers, default
// options), a warm-up of 3,000 pipelined + 100 sequential + 50 CPU tasks, a forced GC, then the
// measurement; rows interleaved within a workload, their order rotating with the rep. Every figure is also given as a ratio to its
// baseline measured in the same repetition (the raw futex ping-pong for tails, poolifier for
// throughput, raw postMessage for CPU efficiency, the row's own warm figure for cold ones, piscina
// for start-up), and the tables show medians over repetitions (of figures and of per-rep ratios).
// Cold: the first 1,000 tasks of a fresh pool with no warm-up; start-up: the pool's constructor
// (Runtime.start) to its first result, in a fresh process per measurement (coldstart.mjs).
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { piscina } from './e2e/piscina.js';
import { poolifierRow } from './e2e/poolifier.js';
import { rawMessage } from './e2e/raw-message.js';
import { sabWait } from './e2e/raw-sab.js';
import { fmt, table } from './report.js';
import { median, summarize } from './stats.js';
import { findGc } from './steady.js';
import { MAX_IN_FLIGHT, SPIN_US, WORKERS, pipelined, pkgVersion, sequential, withTimeout, type Session, type TaskName } from './workload.js';

export interface UserSizes {
  /** The two sequential runs (round trips). */
  seqShort: number;
  seqLong: number;
  /** Trivial tasks, at most MAX_IN_FLIGHT in flight. */
  pipelined: number;
  /** ~50 µs tasks. */
  cpu: number;
  /** The first tasks of a fresh pool (sequential, and pipelined). */
  cold: number;
  warmPipelined: number;
  warmSequential: number;
  warmCpu: number;
}

export const USER_SIZES: UserSizes = {
  seqShort: 5_000, seqLong: 50_000, pipelined: 100_000, cpu: 2_000, cold: 1_000, warmPipelined: 3_000, warmSequential: 100, warmCpu: 50,
};
export const USER_SIZES_QUICK: UserSizes = { ...USER_SIZES, seqShort: 5_000, seqLong: 10_000, pipelined: 20_000, cpu: 500 };

/** Row names (the targets refer to them). */
export const U = {
  submit: 'sluice submit/token',
  run: 'sluice rt.run',
  callback: 'sluice callback',
  piscina: piscina.name,
  poolifier: `poolifier ${pkgVersion('poolifier')}`,
  rawMessage: rawMessage.name,
  futex: 'raw futex ping-pong',
  /** The same two rows' sequential runs, each in a fresh process: its first runtime (fresh-seq.ts). */
  submitFresh: 'sluice submit/token, fresh process',
  runFresh: 'sluice rt.run, fresh process',
} as const;

/** The rows measured again in a fresh process, by the key fresh-seq.ts takes. */
const FRESH: ReadonlyArray<[key: 'submit' | 'run', name: string]> = [['submit', U.submitFresh], ['run', U.runFresh]];

export interface UserRow {
  name: string;
  /** Only the sequential and cold-sequential workloads (the futex ping-pong runs `inc` alone). */
  latencyOnly?: boolean;
  open(): Promise<Session>;
}

export async function sluiceRows(): Promise<UserRow[]> {
  const { startSluice, submitSession, callbackSession } = await import('./e2e/sluice.js');
  const { promiseSession } = await import('./workload.js');
  return [
    { name: U.submit, open: () => submitSession() },
    {
      name: U.run,
      async open() {
        const rt = await startSluice();
        return promiseSession((task, arg) => rt.run<number>(task, arg), () => rt.close());
      },
    },
    {
      name: U.callback,
      async open() {
        const rt = await startSluice(); // default options, unlike the main table's callback row
        return callbackSession(rt, rt.producer('bench'));
      },
    },
  ];
}

export type Workload = 'seqShort' | 'seqLong' | 'pipeNum' | 'pipeArr' | 'pipeObj' | 'cpuNum' | 'cpuArr' | 'cpuObj' | 'coldSeq' | 'coldPipe';
const WORKLOADS: readonly Workload[] = ['seqShort', 'seqLong', 'pipeNum', 'pipeArr', 'pipeObj', 'cpuNum', 'cpuArr', 'cpuObj', 'coldSeq', 'coldPipe'];
const LATENCY: ReadonlySet<Workload> = new Set(['seqShort', 'seqLong', 'coldSeq']);

/** The number each task's result contributes (results are checked: sums must match). */
const first = (v: unknown): number => (v as number[])[0]!;
const field = (k: string) => (v: unknown): number => (v as Record<string, number>)[k]!;
const PIPE: Record<'pipeNum' | 'pipeArr' | 'pipeObj', [TaskName, ((v: unknown) => number) | undefined]> = {
  pipeNum: ['inc', undefined],
  pipeArr: ['incArr', first],
  pipeObj: ['incObj', field('v')],
};
const CPU: Record<'cpuNum' | 'cpuArr' | 'cpuObj', [TaskName, ((v: unknown) => number) | undefined]> = {
  cpuNum: ['spin50', undefined],
  cpuArr: ['spinArr', (v) => (v as number[])[1]!],
  cpuObj: ['spinObj', field('us')],
};

/** One measurement's figures (all numbers; absent when not applicable). */
export type UFigures = Record<string, number>;
/** One repetition: workload -> row -> figures (or errors). */
export type UEntry = { [k: string]: number | string[] | undefined; errors?: string[] };
export type URep = Partial<Record<Workload, Record<string, UEntry>>>;

export interface StartupRow {
  name: string;
  arg: string;
}
export interface UserResult {
  sizes: UserSizes;
  reps: URep[];
  /** Per rep: start-up row -> { firstResultMs, importMs }. */
  startup: Record<string, { firstResultMs?: number; importMs?: number; error?: string }>[];
  gc: boolean;
  notes: string[];
}

const ident = (i: number): number => i;
const spin = (): number => SPIN_US;

/** The warm-up every warm measurement gets, then a forced GC. */
async function warmUp(s: Session, z: UserSizes, latencyOnly: boolean, gc: (() => void) | null): Promise<void> {
  await pipelined(s, 'inc', z.warmPipelined, ident);
  await sequential(s, z.warmSequential);
  if (!latencyOnly) await pipelined(s, 'spin50', z.warmCpu, spin);
  gc?.();
}

export async function measureOne(s: Session, w: Workload, z: UserSizes, latencyOnly: boolean, gc: (() => void) | null): Promise<UFigures> {
  if (w === 'coldSeq' || w === 'coldPipe') {
    gc?.(); // the process's garbage, not the pool's: same for every row
    if (w === 'coldSeq') {
      const samples = await sequential(s, z.cold);
      const l = summarize(samples);
      return { p50: l.p50, p99: l.p99, p999: l.p999, max: l.max, totalMs: samples.reduce((a, b) => a + b, 0) / 1000 };
    }
    const r = await pipelined(s, 'inc', z.cold, ident);
    if (r.sum !== (z.cold * (z.cold + 1)) / 2) throw new Error(`wrong results: sum ${r.sum}`);
    return { wallMs: r.wallMs, tasksPerSec: (z.cold / r.wallMs) * 1000 };
  }
  await warmUp(s, z, latencyOnly, gc);
  if (w === 'seqShort' || w === 'seqLong') {
    const before = threadCpu();
    const t0 = performance.now();
    const l = summarize(await sequential(s, w === 'seqShort' ? z.seqShort : z.seqLong));
    const wallMs = performance.now() - t0;
    return { p50: l.p50, p99: l.p99, p999: l.p999, max: l.max, mean: l.mean, wallMs, ...bootThreadsCpu(before, threadCpu()) };
  }
  if (w in PIPE) {
    const [task, extract] = PIPE[w as keyof typeof PIPE];
    const n = z.pipelined;
    const r = await pipelined(s, task, n, ident, MAX_IN_FLIGHT, extract);
    if (r.sum !== (n * (n + 1)) / 2) throw new Error(`wrong results: sum ${r.sum}`);
    return { tasksPerSec: (n / r.wallMs) * 1000, wallMs: r.wallMs };
  }
  const [task, extract] = CPU[w as keyof typeof CPU];
  const before = threadCpu();
  const r = await pipelined(s, task, z.cpu, spin, MAX_IN_FLIGHT, extract);
  const split = cpuSplit(before, threadCpu());
  return { efficiency: r.sum / (r.wallMs * 1000 * WORKERS), wallMs: r.wallMs, busyUs: r.sum, ...split };
}

/**
 * CPU time per thread of this process so far (ns, from /proc/self/task/<tid>/schedstat; Linux;
 * empty elsewhere). Where a CPU-bound run's wall time goes besides the tasks: the main thread
 * (submit, drain, a pump polling for completions) and the other threads (V8's compiler and GC
 * helpers, libuv), which take CPUs from the workers when the machine has no spare core.
 */
function threadCpu(): Map<string, number> {
  const m = new Map<string, number>();
  try {
    for (const t of readdirSync('/proc/self/task')) {
      try { m.set(t, Number(readFileSync(`/proc/self/task/${t}/schedstat`, 'utf8').split(' ')[0])); } catch { /* ended meanwhile */ }
    }
  } catch { /* no procfs */ }
  return m;
}

/** The main thread's CPU ms between two threadCpu() readings, and the rest of the process's threads' (workers included). */
/**
 * The threads this process had before any pool started (harness.ts is imported first): the main
 * thread and Node's own helpers, V8's background compiler and GC threads among them. Their CPU
 * during a sequential run, main excluded, is the one-off work a pool's fresh code and isolates
 * cause (TurboFan compiling the per-task path, GC), which takes a CPU from the two threads of
 * the round trip (docs/performance.md, tenth session).
 */
const BOOT_THREADS: ReadonlySet<string> = new Set(threadCpu().keys());

function bootThreadsCpu(a: Map<string, number>, b: Map<string, number>): UFigures {
  if (b.size === 0) return {};
  let ms = 0;
  for (const [t, ns] of b) if (t !== String(process.pid) && BOOT_THREADS.has(t)) ms += (ns - (a.get(t) ?? 0)) / 1e6;
  return { bgCpuMs: ms };
}

function cpuSplit(a: Map<string, number>, b: Map<string, number>): UFigures {
  if (b.size === 0) return {};
  let main = 0;
  let rest = 0;
  for (const [t, ns] of b) {
    const d = (ns - (a.get(t) ?? 0)) / 1e6;
    if (t === String(process.pid)) main = d;
    else rest += d;
  }
  return { mainCpuMs: main, otherCpuMs: rest };
}

const BENCH = fileURLToPath(new URL('.', import.meta.url));
const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** One start-up measurement in a fresh `node` process. */
function coldStart(arg: string, timeoutMs: number): Promise<{ firstResultMs: number; importMs: number }> {
  const args = [...(arg === 'sluice-src' ? ['--import', 'tsx'] : []), `${BENCH}coldstart.mjs`, arg];
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { cwd: ROOT, timeout: timeoutMs, env: { ...process.env, NODE_OPTIONS: '' } }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${arg}: ${err.message} ${stderr.split('\n').slice(0, 3).join(' ')}`));
      try {
        const line = stdout.trim().split('\n').pop()!;
        const r = JSON.parse(line) as { firstResultMs: number; importMs: number; value: unknown };
        if (r.value !== 2) throw new Error(`wrong first result ${JSON.stringify(r.value)}`);
        resolve(r);
      } catch (e) {
        reject(new Error(`${arg}: unreadable output ${JSON.stringify(stdout.slice(0, 200))}: ${String(e)}`));
      }
    });
  });
}

/**
 * One sequential measurement of a sluice row in a fresh `node` process (fresh-seq.ts): the
 * process's first runtime, whose starting thread has compiled none of its path yet, as in a
 * program that starts one runtime (docs/performance.md, twenty-first session: in a long process,
 * as the in-process rows run, p99 ÷ p50 is about half of it).
 */
function freshSeq(key: string, w: 'seqShort' | 'seqLong', trips: number, timeoutMs: number): Promise<UFigures> {
  const args = ['--import', 'tsx', '--expose-gc', `${BENCH}fresh-seq.ts`, key, w, String(trips)];
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { cwd: ROOT, timeout: timeoutMs, env: { ...process.env, NODE_OPTIONS: '' } }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${key} ${w} in a fresh process: ${err.message} ${stderr.split('\n').slice(0, 3).join(' ')}`));
      try {
        resolve(JSON.parse(stdout.trim().split('\n').pop()!) as UFigures);
      } catch (e) {
        reject(new Error(`${key} ${w} in a fresh process: unreadable output ${JSON.stringify(stdout.slice(0, 200))}: ${String(e)}`));
      }
    });
  });
}

export interface UserOptions {
  quick: boolean;
  reps: number;
  timeoutMs: number;
  log: (m: string) => void;
}

export async function runUser(o: UserOptions): Promise<UserResult> {
  const z = o.quick ? USER_SIZES_QUICK : USER_SIZES;
  const notes: string[] = [];
  const gc = findGc();
  if (gc === null) notes.push('no gc(): the forced GC after warm-up was skipped');
  const rows: UserRow[] = [];
  try {
    rows.push(...(await sluiceRows()));
  } catch (err) {
    notes.push(`sluice rows skipped, runtime not loadable: ${String(err).split('\n')[0]}`);
  }
  rows.push(
    { name: U.piscina, open: () => piscina.open() },
    { name: U.poolifier, open: () => poolifierRow().open() },
    { name: U.rawMessage, open: () => rawMessage.open() },
    { name: U.futex, latencyOnly: true, open: () => sabWait.open() },
  );
  const startupRows: StartupRow[] = [{ name: 'sluice (src, through tsx)', arg: 'sluice-src' }];
  if (existsSync(new URL('../dist/index.js', import.meta.url))) startupRows.push({ name: 'sluice (dist)', arg: 'sluice-dist' });
  else notes.push('dist/index.js missing (npm run build): start-up measured on src through tsx only');
  startupRows.push(
    { name: 'piscina', arg: 'piscina' },
    { name: 'poolifier', arg: 'poolifier' },
    { name: 'raw postMessage', arg: 'raw-postMessage' },
  );

  const reps: URep[] = [];
  const startup: UserResult['startup'] = [];
  for (let rep = 1; rep <= o.reps; rep++) {
    const current: URep = {};
    reps.push(current);
    for (const w of WORKLOADS) {
      const byRow: Record<string, UEntry> = (current[w] = {});
      // The order rotates with the rep, so that no row always runs first (right after a
      // workload change) or last.
      const order = rows.map((_, i) => rows[(i + rep - 1) % rows.length]!);
      for (const row of order) {
        if (row.latencyOnly && !LATENCY.has(w)) continue;
        o.log(`[user rep ${rep}/${o.reps}] ${w}: ${row.name}`);
        let s: Session | null = null;
        try {
          s = await withTimeout(row.open(), o.timeoutMs, `${row.name} open`);
          byRow[row.name] = await withTimeout(measureOne(s, w, z, row.latencyOnly ?? false, gc), o.timeoutMs, `${row.name} ${w}`);
        } catch (err) {
          const msg = err instanceof Error ? err.message : String(err);
          o.log(`  failed: ${msg}`);
          byRow[row.name] = { errors: [msg] };
        }
        if (s !== null) {
          await withTimeout(s.close(), o.timeoutMs, `${row.name} close`).catch((err: unknown) => {
            (byRow[row.name]!.errors ??= []).push(`close: ${String(err)}`);
          });
        }
      }
    }
    if (rows.some((r) => r.name === U.submit)) {
      for (const w of ['seqShort', 'seqLong'] as const) {
        for (const [key, name] of FRESH) {
          o.log(`[user rep ${rep}/${o.reps}] ${w}: ${name}`);
          try {
            current[w]![name] = await freshSeq(key, w, z[w], o.timeoutMs);
          } catch (err) {
            const msg = err instanceof Error ? err.message : String(err);
            o.log(`  failed: ${msg}`);
            current[w]![name] = { errors: [msg] };
          }
        }
      }
    }
    const st: UserResult['startup'][number] = {};
    startup.push(st);
    for (const r of startupRows) {
      o.log(`[user rep ${rep}/${o.reps}] start-up: ${r.name}`);
      try {
        st[r.name] = await coldStart(r.arg, o.timeoutMs);
      } catch (err) {
        st[r.name] = { error: err instanceof Error ? err.message : String(err) };
        o.log(`  failed: ${st[r.name]!.error}`);
      }
    }
  }
  return { sizes: z, reps, startup, gc: gc !== null, notes };
}

// ---- aggregation -------------------------------------------------------------------------

const get = (rep: URep, w: Workload, row: string, k: string): number | undefined => {
  const v = rep[w]?.[row]?.[k];
  return typeof v === 'number' ? v : undefined;
};

/** f(rep) for every rep where it is defined and finite. */
export function perRep(r: UserResult, f: (rep: URep, i: number) => number | undefined): number[] {
  return r.reps.flatMap((rep, i) => {
    const v = f(rep, i);
    return v === undefined || !Number.isFinite(v) ? [] : [v];
  });
}
const med = (xs: number[]): number | undefined => (xs.length > 0 ? median(xs) : undefined);

export const fig = (r: UserResult, w: Workload, row: string, k: string): number | undefined => med(perRep(r, (rep) => get(rep, w, row, k)));
/** Median of per-rep a ÷ b. */
export const rat = (r: UserResult, w: Workload, a: [string, string], wb: Workload, b: [string, string]): number | undefined =>
  med(perRep(r, (rep) => {
    const x = get(rep, w, a[0], a[1]);
    const y = get(rep, wb, b[0], b[1]);
    return x === undefined || y === undefined ? undefined : x / y;
  }));
/** Median of per-rep p99 ÷ p50 of one row. */
export const tail = (r: UserResult, w: Workload, row: string): number | undefined => rat(r, w, [row, 'p99'], w, [row, 'p50']);
export const startupFig = (r: UserResult, row: string): number | undefined =>
  med(r.startup.flatMap((s) => (s[row]?.firstResultMs === undefined ? [] : [s[row]!.firstResultMs!])));
export const startupRatio = (r: UserResult, a: string, b: string): number | undefined =>
  med(r.startup.flatMap((s) => {
    const x = s[a]?.firstResultMs;
    const y = s[b]?.firstResultMs;
    return x === undefined || y === undefined ? [] : [x / y];
  }));

/** The sluice row whose start-up the target is about: dist (what users run) when it was measured. */
export const startupSluice = (r: UserResult): string => (r.startup.some((s) => s['sluice (dist)']) ? 'sluice (dist)' : 'sluice (src, through tsx)');

const names = (r: UserResult, w: Workload): string[] => {
  const seen = new Set<string>();
  for (const rep of r.reps) for (const n of Object.keys(rep[w] ?? {})) seen.add(n);
  return [...seen];
};
const errs = (r: UserResult, w: Workload, row: string): string => (r.reps.some((rep) => rep[w]?.[row]?.errors?.length) ? ' (errors)' : '');
const x = (v: number | undefined): string => (v === undefined ? '—' : `${fmt(v, 2)}×`);
const pct = (v: number | undefined): string => (v === undefined ? '—' : `${(v * 100).toFixed(0)}%`);

export function userTables(r: UserResult): string {
  const z = r.sizes;
  const out: string[] = [];
  out.push(
    `user workloads (issue 20): ${WORKERS} workers, default options, fresh pool per measurement; warm-up ${z.warmPipelined} pipelined + ` +
      `${z.warmSequential} sequential + ${z.warmCpu} CPU tasks, ${r.gc ? 'a forced GC' : 'no forced GC (unavailable)'}, then the test; ` +
      `medians of ${r.reps.length} reps; × = median of per-rep ratios`,
  );
  // sequential
  const seqRows = names(r, 'seqShort');
  out.push(`\nsequential round trips (µs); × futex = p99.9 ÷ the raw futex ping-pong's p99.9 in the same rep; ` +
    `bg CPU: the CPU time of the process's own helper threads (V8's compiler and GC threads) during the trips, as a share of their wall time (100% = one CPU of ${WORKERS})`);
  out.push(table(
    ['row', `${z.seqShort}: p50`, 'p99', 'p99.9', 'p99÷p50', 'p99.9 × futex', 'bg CPU', `${z.seqLong}: p50`, 'p99', 'p99.9', 'p99÷p50', 'p99.9 × futex', 'bg CPU'],
    seqRows.map((row) => [
      row + errs(r, 'seqShort', row) + errs(r, 'seqLong', row),
      ...(['seqShort', 'seqLong'] as const).flatMap((w) => [
        fmt(fig(r, w, row, 'p50')), fmt(fig(r, w, row, 'p99')), fmt(fig(r, w, row, 'p999')),
        x(tail(r, w, row)), x(rat(r, w, [row, 'p999'], w, [U.futex, 'p999'])),
        pct(rat(r, w, [row, 'bgCpuMs'], w, [row, 'wallMs'])),
      ]),
    ]),
  ));
  // throughput
  const pipeRows = names(r, 'pipeNum');
  out.push(`\npipelined: ${z.pipelined} trivial tasks, ≤${MAX_IN_FLIGHT} in flight (tasks/s); × poolifier: same result shape, same rep; arr/obj ÷ num: the row's structured ÷ its number throughput`);
  out.push(table(
    ['row', 'numbers', '× poolifier', '[x+1, x]', '× poolifier', '÷ num', "{ v, tag: 'x' }", '× poolifier', '÷ num'],
    pipeRows.map((row) => [
      row + errs(r, 'pipeNum', row) + errs(r, 'pipeArr', row) + errs(r, 'pipeObj', row),
      fmt(fig(r, 'pipeNum', row, 'tasksPerSec'), 0), x(rat(r, 'pipeNum', [row, 'tasksPerSec'], 'pipeNum', [U.poolifier, 'tasksPerSec'])),
      ...(['pipeArr', 'pipeObj'] as const).flatMap((w) => [
        fmt(fig(r, w, row, 'tasksPerSec'), 0), x(rat(r, w, [row, 'tasksPerSec'], w, [U.poolifier, 'tasksPerSec'])),
        x(rat(r, w, [row, 'tasksPerSec'], 'pipeNum', [row, 'tasksPerSec'])),
      ]),
    ]),
  ));
  // CPU
  const cpuRows = names(r, 'cpuNum');
  out.push(`\nCPU efficiency: ${z.cpu} × ${SPIN_US} µs tasks, pipelined; Σ in-worker µs ÷ (wall × ${WORKERS}); × raw = ÷ raw postMessage's, same shape, same rep; ` +
    `main / other CPU: the main thread's and the other threads' (workers, V8's compiler and GC helpers, libuv) CPU time as a share of the wall time, [checksum, µs] run`);
  out.push(table(
    ['row', 'returns µs', '× raw', '[checksum, µs]', '× raw', '{ sum, us, tag }', '× raw', 'main CPU', 'other CPU'],
    cpuRows.map((row) => [
      row + errs(r, 'cpuNum', row) + errs(r, 'cpuArr', row) + errs(r, 'cpuObj', row),
      ...(['cpuNum', 'cpuArr', 'cpuObj'] as const).flatMap((w) => [
        fmt(fig(r, w, row, 'efficiency'), 2), x(rat(r, w, [row, 'efficiency'], w, [U.rawMessage, 'efficiency'])),
      ]),
      pct(rat(r, 'cpuArr', [row, 'mainCpuMs'], 'cpuArr', [row, 'wallMs'])),
      pct(rat(r, 'cpuArr', [row, 'otherCpuMs'], 'cpuArr', [row, 'wallMs'])),
    ]),
  ));
  // cold
  const coldRows = names(r, 'coldSeq');
  out.push(`\ncold: the first ${z.cold} tasks of a fresh pool, no warm-up (sequential: round trips in µs; pipelined: wall ms); × warm = ÷ the row's warm figure (${z.seqShort}-trip run, numbers throughput) in the same rep`);
  out.push(table(
    ['row', 'seq p50', 'p99', 'p99.9', 'total ms', 'p50 × warm', 'p99.9 × warm', 'pipelined ms', 'tasks/s × warm'],
    coldRows.map((row) => [
      row + errs(r, 'coldSeq', row) + errs(r, 'coldPipe', row),
      fmt(fig(r, 'coldSeq', row, 'p50')), fmt(fig(r, 'coldSeq', row, 'p99')), fmt(fig(r, 'coldSeq', row, 'p999')), fmt(fig(r, 'coldSeq', row, 'totalMs')),
      x(rat(r, 'coldSeq', [row, 'p50'], 'seqShort', [row, 'p50'])), x(rat(r, 'coldSeq', [row, 'p999'], 'seqShort', [row, 'p999'])),
      fmt(fig(r, 'coldPipe', row, 'wallMs')), x(rat(r, 'coldPipe', [row, 'tasksPerSec'], 'pipeNum', [row, 'tasksPerSec'])),
    ]),
  ));
  // start-up
  const stRows = [...new Set(r.startup.flatMap((s) => Object.keys(s)))];
  out.push(`\nstart-up: constructor / Runtime.start → first result of inc(1), fresh process each (import not included); × piscina = per-rep ratio`);
  out.push(table(
    ['row', 'first result ms', 'import ms', '× piscina'],
    stRows.map((row) => [
      row + (r.startup.some((s) => s[row]?.error) ? ' (errors)' : ''),
      fmt(startupFig(r, row)),
      fmt(med(r.startup.flatMap((s) => (s[row]?.importMs === undefined ? [] : [s[row]!.importMs!])))),
      x(startupRatio(r, row, 'piscina')),
    ]),
  ));
  if (r.notes.length > 0) out.push(`notes: ${r.notes.join('; ')}`);
  return out.join('\n');
}
