// The targets of issue 6 (and the budgets of issues 2 and 3), each with the figure measured in
// this run and whether it is met. Ratios are medians of per-rep ratios from the same run.
import type { MicroResult } from './benchjs.js';
import { fmt, medians, ratio, table, type Rep } from './report.js';
import type { GatesPath, GatesResult } from './gates.js';
import type { RecorderResult } from './recorder.js';
import type { SteadyResult } from './steady.js';
import type { PairedResult } from './paired.js';
import { median } from './stats.js';
import { U, USER_SIZES, fig, rat, startupRatio, startupSluice, tail, type UserResult, type Workload } from './harness.js';

export interface Target {
  id: string;
  what: string;
  budget: string;
  figure: string;
  /** null: not measured in this run (row filtered out or failed), or stated only. */
  met: boolean | null;
  value: number | null;
}

/** Row names the targets refer to (some rows may be absent with --only). */
export interface TargetRows {
  piscina: string;
  poolifier: string;
  rawMessage: string;
  sabWait: string;
  /** The same ping-pong with both threads pinned to one CPU (present with the native addon). */
  sabWaitSameCpu: string;
  /** A spinning worker and a main thread polling ≤5 µs, then from setImmediate: the floor of sluice's default path. */
  sabPoll: string;
  pools: readonly string[];
  submit: string;
  parked: string;
  callback: string;
  gated: string;
}

/** The admission decision the 50 ns budget is about: bucket at the admission tick + producer gate + global gate. */
export const ADMISSION_ROW = 'sluice admission decision: rated, tick reused (a submit loop)';
export const UNRATED_ROW = 'sluice admission decision: unrated (producer slots + global)';
export const FRESH_ROW = 'sluice admission decision: rated, clock read every decision';
/** A CAS on this kind of machine when it is quiet (ANCHORS.md): scales the admission figure. */
const ANCHOR_CAS_NS = 9;

const x = (v: number | undefined): string => (v === undefined ? '—' : `${fmt(v, 2)}×`);

export interface TargetInputs {
  reps: readonly Rep[];
  rows: TargetRows;
  micro: readonly MicroResult[];
  steady: SteadyResult | null;
  gates: GatesResult | null;
  /** The paired tail section (paired.ts), or null when it did not run. */
  paired: PairedResult | null;
  /** The user workloads section (harness.ts, issue 20), or null when it did not run. */
  user?: UserResult | null;
  /** The recorder section (recorder.ts, issue 18), or null when it did not run. */
  recorder?: RecorderResult | null;
}

/** A difference with its sign ("+134", "-23"), to whole units. */
const signed = (x: number): string => (x >= 0 ? '+' : '') + fmt(x, 0);

export function targets({ reps, rows, micro, steady, gates, paired, user = null, recorder = null }: TargetInputs): Target[] {
  const out: Target[] = [];
  const add = (id: string, what: string, budget: string, value: number | undefined, met: (v: number) => boolean | null, figure?: string): void => {
    out.push({ id, what, budget, figure: figure ?? (value === undefined ? 'not measured' : budget.includes('×') ? x(value) : fmt(value, 2)), met: value === undefined ? null : met(value), value: value ?? null });
  };
  const r = (a: string, b: string, k: Parameters<typeof ratio>[3]): number | undefined => ratio(reps, a, b, k);
  const atMost = (limit: number) => (v: number): boolean => v <= limit;
  const atLeast = (limit: number) => (v: number): boolean => v >= limit;

  // (a) throughput
  add('a1', 'submit/token tasks/s ÷ poolifier', '≥ 10×', r(rows.submit, rows.poolifier, 'tasksPerSec'), atLeast(10));
  add('a2', 'callback tasks/s ÷ raw postMessage', '≥ 3×', r(rows.callback, rows.rawMessage, 'tasksPerSec'), atLeast(3));
  // (b) sequential latency of the default path
  const m = medians(reps, rows.submit);
  add('b1', 'submit/token sequential p50 (µs)', '≤ 10 µs', m.p50, atMost(10));
  const vsPools = rows.pools.map((p) => r(rows.submit, p, 'p50')).filter((v): v is number => v !== undefined);
  const worst = vsPools.length > 0 ? Math.max(...vsPools) : undefined;
  add('b2', 'submit/token p50 ÷ each pool p50 (the largest)', '≤ 0.2×', worst, atMost(0.2),
    worst === undefined ? undefined : rows.pools.map((p) => `${p.split(' ')[0]} ${x(r(rows.submit, p, 'p50'))}`).join(', '));
  const tail = tailRatios(reps, rows.submit);
  add('b3', 'submit/token p99 ÷ its p50', '≤ 2×', tail.length > 0 ? median(tail) : undefined, atMost(2));
  // The same ratio for the bare pattern underneath (worker spins, main polls for up to 5 µs and
  // then from setImmediate, as sluice's one-task poll and pump do):
  // how much of b3 the machine and the event loop leave before sluice adds anything. The main
  // table's bare row runs at other moments than sluice's; the paired section measures both in
  // alternating blocks, in the same seconds of the machine.
  const floorTail = tailRatios(reps, rows.sabPoll);
  add('b3f', 'the same for the raw ping-pong polled as sluice polls (main table), stated', 'stated', floorTail.length > 0 ? median(floorTail) : undefined, () => null,
    floorTail.length > 0
      ? `${x(median(floorTail))} (per rep ${floorTail.map((v) => fmt(v, 2)).join(', ')}` +
        (tail.length > 0 ? `; sluice's: ${tail.map((v) => fmt(v, 2)).join(', ')})` : ')')
      : undefined);
  add('b3p', 'p99 ÷ p50 paired: sluice and that pattern in alternating blocks, stated', 'stated', paired?.sluice.ratio, () => null,
    paired
      ? `sluice ${x(paired.sluice.ratio)}, bare pattern ${x(paired.bare.ratio)} in the same seconds ` +
        `(${paired.blocks} blocks of ${paired.block}; per-block medians ${fmt(paired.sluice.blockRatio, 2)} and ${fmt(paired.bare.blockRatio, 2)})`
      : undefined);
  add('b4', 'submit/token p99.9 (µs), stated', 'stated', m.p999, () => null);
  // (c) parked round trip against the futex ping-pong
  add('c', 'spin:0 p50 ÷ raw SAB wait/notify p50', '≤ 1.2×', r(rows.parked, rows.sabWait, 'p50'), atMost(1.2));
  // The unpinned ping-pong is bimodal on a VM (threads on one CPU or on two): also against the
  // same-CPU one, the floor of a parked round trip here.
  const floor = r(rows.parked, rows.sabWaitSameCpu, 'p50');
  add('c2', 'spin:0 p50 ÷ raw wait/notify on one CPU p50, stated', 'stated', floor, () => null,
    floor === undefined ? undefined : `${x(floor)} (${fmt(medians(reps, rows.parked).p50 ?? NaN, 1)} against ${fmt(medians(reps, rows.sabWaitSameCpu).p50 ?? NaN, 1)} µs)`);
  // (d) CPU efficiency
  add('d', 'submit/token CPU efficiency, ~50 µs tasks', '≥ 0.9', m.cpuEff, atLeast(0.9));
  // (e) allocation
  const a = steady?.alloc ?? null;
  add('e1', `heap growth over ${a?.tasks ?? '—'} callback tasks (MiB)`, '< 1 MiB', a?.growthMiB, (v) => v < 1,
    a ? `${fmt(a.growthMiB, 3)} MiB (${a.gc === 'gc()' ? 'after forced gc' : 'no forced gc'})` : undefined);
  add('e2', 'GCs per 100k callback tasks', '≤ 1 ("flat")', a?.gcsPer100k, atMost(1), a ? `${fmt(a.gcsPer100k, 2)} (${a.gcs} in the run)` : undefined);
  // (f) idle
  const idle = steady?.idle ?? null;
  add('f', `idle CPU, ${idle?.workers ?? 2} workers, ${idle?.seconds ?? '—'} s after the spin budget`, '< 1 % of a core (~0)', idle?.cpuPercent,
    (v) => v < 1, idle ? `${fmt(idle.cpuPercent, 2)} % of one core` : undefined);
  // (g) issue 2
  add('g1', 'submit/token tasks/s ÷ piscina', '≥ 5×', r(rows.submit, rows.piscina, 'tasksPerSec'), atLeast(5));
  add('g2', 'submit/token p50 ÷ piscina p50', '≤ 0.5×', r(rows.submit, rows.piscina, 'p50'), atMost(0.5));
  // (h) issue 3
  const gate = micro.find((u) => u.name === ADMISSION_ROW && u.error === undefined);
  const unrated = micro.find((u) => u.name === UNRATED_ROW && u.error === undefined);
  const fresh = micro.find((u) => u.name === FRESH_ROW && u.error === undefined);
  const cas = micro.find((u) => u.name === 'Atomics.compareExchange' && u.error === undefined);
  const scaled = gate && cas ? (gate.nsPerOp / cas.nsPerOp) * ANCHOR_CAS_NS : undefined;
  add('h1', 'uncontended admission decision, rated (ns)', '≤ 50 ns', gate?.nsPerOp, atMost(50),
    gate
      ? `${fmt(gate.nsPerOp, 1)} ns (unrated ${unrated ? fmt(unrated.nsPerOp, 1) : '—'} ns, ` +
        `clock read every decision ${fresh ? fmt(fresh.nsPerOp, 1) : '—'} ns)` +
        (scaled === undefined ? '' : `; ${fmt(gate.nsPerOp / cas!.nsPerOp, 1)} CAS of this run = ${fmt(scaled, 1)} ns at a quiet ${ANCHOR_CAS_NS} ns CAS`)
      : undefined);
  const gatesFigure = (g: GatesPath): string =>
    `${fmt(g.ratio, 2)}× (slot gates only ${fmt(g.unlimited, 2)}×)` +
    (g.mainCpuNsPerTask ? `; ${signed(g.mainCpuNsPerTask[2] - g.mainCpuNsPerTask[0])} ns submitting-thread CPU per task` : '');
  add('h2', 'gates on ÷ off tasks/s, producer.submit end to end (paired)', '≥ 0.9×', gates?.token.ratio, atLeast(0.9),
    gates ? gatesFigure(gates.token) : undefined);
  add('h2c', 'the same through submitCallback (the gates\' largest share)', '≥ 0.9×', gates?.callback.ratio, atLeast(0.9),
    gates ? gatesFigure(gates.callback) : undefined);
  add('h2m', 'rated ÷ unlimited producer tasks/s (main-table callback rows)', '≥ 0.9×', r(rows.gated, rows.callback, 'tasksPerSec'), atLeast(0.9));
  // Issue 18's budgets: recording on ÷ off, paired rounds on three runtimes (recorder.ts).
  const rc = recorder;
  const cpuNote = (c: 'flight' | 'file'): string =>
    rc === null || rc.off.mainCpuNsPerTask === null || rc[c].mainCpuNsPerTask === null ? '' : `; main thread ${fmt(rc[c].mainCpuNsPerTask!, 0)} against ${fmt(rc.off.mainCpuNsPerTask, 0)} ns/task`;
  add('r1', 'flight recorder ÷ off tasks/s, submit/token (paired)', '≥ 0.85×', rc?.flightThroughput, atLeast(0.85),
    rc ? `${fmt(rc.flightThroughput, 2)}×${cpuNote('flight')}` : undefined);
  add('r2', 'flight recorder ÷ off sequential p50 (paired)', '≤ 1.15×', rc?.flightP50, atMost(1.15));
  add('r3', 'full recording to a file ÷ off tasks/s, submit/token (paired)', '≥ 0.7×', rc?.fileThroughput, atLeast(0.7),
    rc ? `${fmt(rc.fileThroughput, 2)}×${cpuNote('file')}` : undefined);
  add('r4', 'bytes per record; records/s sustained (flight, file), stated', 'stated', rc?.flightRecordsPerSec, () => null,
    rc ? `${rc.bytesPerRecord} B × ${fmt(rc.framesPerTask, 2)} per task; ${fmt(rc.flightRecordsPerSec / 1e6, 2)} M/s, ${fmt(rc.fileRecordsPerSec / 1e6, 2)} M/s` : undefined);
  // Not run: every u target says "not measured" (the budgets' sizes are the full run's).
  userTargets(user ?? { sizes: USER_SIZES, reps: [], startup: [], gc: false, notes: [] }, add);
  return out;
}

type Add = (id: string, what: string, budget: string, value: number | undefined, met: (v: number) => boolean | null, figure?: string) => void;

/**
 * Issue 20 (the "user workloads" section). u1 is the figure for submit/token; u2–u4 are
 * judged on the worse of submit/token and rt.run (the default path users take), both shown. The
 * sequential ones (u1–u3) also on the same rows run in a fresh process (its first runtime: what a
 * program that starts one runtime gets), the worse of the two.
 */
function userTargets(u: UserResult, add: Add): void {
  const z = u.sizes;
  const both = (f: (row: string) => number | undefined, worse: 'max' | 'min', digits = 2, unit = '×', fresh = false): [number | undefined, string | undefined] => {
    const a = f(U.submit);
    const b = f(U.run);
    const fa = fresh ? f(U.submitFresh) : undefined;
    const fb = fresh ? f(U.runFresh) : undefined;
    const vs = [a, b, fa, fb].filter((v): v is number => v !== undefined);
    const v = vs.length === 0 ? undefined : worse === 'max' ? Math.max(...vs) : Math.min(...vs);
    const show = (y: number | undefined): string => (y === undefined ? '—' : `${fmt(y, digits)}${unit}`);
    const freshText = fa === undefined && fb === undefined ? '' : `; fresh process: ${show(fa)}, ${show(fb)}`;
    return [v, v === undefined ? undefined : `submit/token ${show(a)}, rt.run ${show(b)}${freshText}`];
  };
  const futex = (w: Workload) => (row: string): number | undefined => rat(u, w, [row, 'p999'], w, [U.futex, 'p999']);
  const seqL = `${z.seqLong.toLocaleString('en-US')} round trips`;
  const seqS = `${z.seqShort.toLocaleString('en-US')} round trips`;
  const inProcess = tail(u, 'seqLong', U.submit);
  const fresh = tail(u, 'seqLong', U.submitFresh);
  const t1 = inProcess === undefined ? fresh : fresh === undefined ? inProcess : Math.max(inProcess, fresh);
  add('u1', `submit/token sequential p99 ÷ p50, ${seqL}`, '≤ 2×', t1, (v) => v <= 2,
    t1 === undefined ? undefined : `${x(inProcess)} (p50 ${fmt(fig(u, 'seqLong', U.submit, 'p50'))} µs, p99 ${fmt(fig(u, 'seqLong', U.submit, 'p99'))} µs; rt.run ${x(tail(u, 'seqLong', U.run))}); ` +
      `fresh process ${x(fresh)} (rt.run ${x(tail(u, 'seqLong', U.runFresh))})`);
  const [v2, f2] = both(futex('seqLong'), 'max', 2, '×', true);
  add('u2', `sequential p99.9 ÷ raw futex ping-pong's p99.9, ${seqL}`, '≤ 1×', v2, (v) => v <= 1, f2);
  const [v3, f3] = both(futex('seqShort'), 'max', 2, '×', true);
  // What the one-off work of a fresh pool cost during the trips (harness.ts bootThreadsCpu).
  const bg = (w: Workload): string => {
    const ms = fig(u, w, U.submit, 'bgCpuMs');
    return ms === undefined ? '' : `; V8's helper threads meanwhile: ${fmt(ms, 0)} ms of CPU in ${fmt(fig(u, w, U.submit, 'wallMs'), 0)} ms`;
  };
  add('u3', `sequential p99.9 ÷ raw futex ping-pong's p99.9, ${seqS}`, '≤ 2×', v3, (v) => v <= 2, f3 === undefined ? undefined : f3 + bg('seqShort'));
  const [v4, f4] = both((row) => fig(u, 'cpuArr', row, 'efficiency'), 'min', 2, '');
  add('u4', `CPU efficiency, ${z.cpu.toLocaleString('en-US')} × 50 µs tasks returning [checksum, µs]`, '≥ 0.9', v4, (v) => v >= 0.9,
    f4 === undefined ? undefined : `${f4} (poolifier ${fmt(fig(u, 'cpuArr', U.poolifier, 'efficiency'), 2)}, raw postMessage ${fmt(fig(u, 'cpuArr', U.rawMessage, 'efficiency'), 2)})`);
  const v5 = rat(u, 'pipeNum', [U.run, 'tasksPerSec'], 'pipeNum', [U.poolifier, 'tasksPerSec']);
  add('u5', `rt.run tasks/s ÷ poolifier, ${z.pipelined.toLocaleString('en-US')} trivial tasks ≤1024 in flight`, '≥ 15×', v5, (v) => v >= 15,
    v5 === undefined ? undefined : `${x(v5)} (submit/token ${x(rat(u, 'pipeNum', [U.submit, 'tasksPerSec'], 'pipeNum', [U.poolifier, 'tasksPerSec']))})`);
  const st = startupSluice(u);
  const v6 = startupRatio(u, st, 'piscina');
  add('u6', `Runtime.start → first result ÷ piscina's (${st}; fresh process each)`, '≤ 1×', v6, (v) => v <= 1);
}

/** p99 ÷ p50 of one row, per rep (reps where the row has both). */
function tailRatios(reps: readonly Rep[], row: string): number[] {
  return reps.flatMap((rep) => {
    const f = rep[row];
    return f?.p99 !== undefined && f.p50 !== undefined ? [f.p99 / f.p50] : [];
  });
}

export function targetsTable(ts: readonly Target[]): string {
  const verdict = (t: Target): string => (t.met === null ? (t.budget === 'stated' ? 'stated' : 'not measured') : t.met ? 'met' : 'NOT MET');
  return table(['target', 'what', 'budget', 'measured', 'verdict'], ts.map((t) => [t.id, t.what, t.budget, t.figure, verdict(t)]), [0, 1, 2, 3, 4]);
}
