// `npm run bench [-- --quick] [--reps N] [--only substring] [--json path]`: it builds dist/ first,
// and the sluice rows drive that built package (e2e/package.ts; SLUICE_BENCH_SOURCE=1: src/ through tsx).
// The main table (ANCHORS.md workload, rows interleaved across repetitions), then scaling,
// pinning, steady state (allocation, idle), the microbenchmarks and the targets summary.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, platform, release } from 'node:os';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { POOLIFIER_LABEL } from './e2e/poolifier.js';
import { microTable } from './benchjs.js';
import { runMicro } from './micro.js';
import { METRICS, mainTable, medians, ratio, ratioLines, type Rep } from './report.js';
import { allRows, baseline, runTable, targetRows } from './table.js';
import { targets, targetsTable } from './targets.js';
import { MAX_IN_FLIGHT, WORKERS, anyHung, pkgVersion, withTimeout, type Sizes } from './workload.js';
// The sluice the sections drive (the built package unless SLUICE_BENCH_SOURCE=1): a missing or
// stale dist/ stops the run here, before anything is measured.
import { BUILD } from './e2e/package.js';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    reps: { type: 'string' },
    only: { type: 'string' },
    json: { type: 'string' },
  },
});
const quick = args.quick ?? false;
const reps = args.reps === undefined ? (quick ? 3 : 5) : Number(args.reps);
if (!Number.isInteger(reps) || reps < 1) throw new Error(`--reps must be a positive integer, got ${args.reps}`);
const sizes: Sizes = quick
  ? { throughput: 20_000, latency: 2_000, cpu: 500, warmup: 300, latencyWarmup: 1_500 }
  : { throughput: 100_000, latency: 5_000, cpu: 2_000, warmup: 300, latencyWarmup: 3_000 };
/** A row that takes longer than this for one measurement is recorded as failed (hung). */
const TIMEOUT_MS = quick ? 30_000 : 120_000;
/** The same for a whole section (scaling, pinning, steady state). */
const SECTION_TIMEOUT_MS = quick ? 60_000 : 300_000;
const log = (msg: string): boolean => process.stderr.write(`${msg}\n`);
const started = performance.now();
const only = args.only;
/** Sections other than the table and micro run unless --only names something else. */
const runs = (section: string): boolean => only === undefined || section.includes(only);

log(`sluice: ${BUILD}`);
const everyRow = await allRows(log);
const rows = everyRow.filter((r) => only === undefined || r.name.includes(only));
const results: Rep[] = await runTable({ rows, reps, sizes, shareSession: quick, timeoutMs: TIMEOUT_MS, log });

const names = rows.map((r) => r.name);
const ours = names.filter((n) => n.startsWith('sluice'));
const others = names.filter((n) => !n.startsWith('sluice'));
const stamp = new Date().toISOString();
const out = args.json ?? fileURLToPath(new URL(`./results/${stamp.replace(/[:.]/g, '-')}.json`, import.meta.url));
mkdirSync(dirname(out), { recursive: true });

if (rows.length > 0) {
  console.log(
    `\n${WORKERS} workers, ${sizes.throughput} tasks ≤${MAX_IN_FLIGHT} in flight, ${sizes.latency} sequential, ` +
      `${sizes.cpu} × 50 µs CPU; medians of ${reps} reps; × = median of per-rep ratios` +
      (quick ? '; quick: one session per row and rep' : ''),
  );
  console.log(mainTable(results, names, baseline));
  const gated = ratio(results, 'sluice gates on', 'sluice callback', 'tasksPerSec');
  if (gated !== undefined) console.log(`rated ÷ unlimited producer: sluice gates on ÷ sluice callback tasks/s = ${gated.toFixed(3)} (median of per-rep ratios)`);
  for (const line of ratioLines(results, ours, others)) console.log(line);
}

/** Runs an optional section; a failure or hang is reported and the run goes on. */
async function section<T>(name: string, f: () => Promise<T>): Promise<T | null> {
  if (!runs(name)) return null;
  try {
    return await withTimeout(f(), SECTION_TIMEOUT_MS, name);
  } catch (err) {
    log(`${name} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    console.log(`\n${name}: failed (${err instanceof Error ? err.message : String(err)})`);
    return null;
  }
}

const gates = await section('gates', async () => {
  const { runGates, gatesLine } = await import('./gates.js');
  const r = await runGates(quick, sizes.throughput, log);
  console.log(gatesLine(r));
  return r;
});

const recorder = await section('recorder', async () => {
  const { runRecorder, recorderLines } = await import('./recorder.js');
  const r = await runRecorder(quick, sizes.throughput, log);
  console.log(`\n${recorderLines(r).join('\n')}`);
  return r;
});

const scaling = await section('scaling', async () => {
  const { runScaling, scalingTables } = await import('./scaling.js');
  const { scalingSvg } = await import('./svg.js');
  const r = await runScaling(quick, log);
  console.log(`\n${scalingTables(r)}`);
  const svg = out.replace(/\.json$/, '') + '.svg';
  writeFileSync(svg, scalingSvg(r, `sluice ${quick ? 'quick ' : ''}run ${stamp}, ${cpus().length} cores, ${process.version}`));
  console.log(`chart: ${svg}`);
  return { ...r, svg };
});

const pinning = await section('pinning', async () => {
  const { runPinning, pinningTable } = await import('./pinning.js');
  const r = await runPinning(quick, reps, log);
  console.log(`\n${pinningTable(r)}`);
  return r;
});

const steady = await section('steady state', async () => {
  const { runSteady, steadyLines } = await import('./steady.js');
  const r = await runSteady(quick, log);
  console.log(`\n${steadyLines(r).join('\n')}`);
  return r;
});

const paired = await section('paired tail', async () => {
  const { runPaired, pairedLines } = await import('./paired.js');
  const r = await runPaired(quick, sizes.latencyWarmup, log);
  console.log(`\n${pairedLines(r).join('\n')}`);
  return r;
});

const steal = await section('stealing', async () => {
  const { runSteal, stealTable } = await import('./steal.js');
  const r = await runSteal(quick, reps, sizes, log);
  console.log(`\n${stealTable(r)}`);
  return r;
});

// Issue 20: the independent harness's protocol (a fresh pool per measurement, so it takes
// longer than the other sections: its own time limit).
const user = runs('user workloads')
  ? await (async () => {
      const { runUser, userTables } = await import('./harness.js');
      try {
        const r = await withTimeout(runUser({ quick, reps, timeoutMs: TIMEOUT_MS, log }), quick ? 600_000 : 1_800_000, 'user workloads');
        console.log(`\n${userTables(r)}`);
        return r;
      } catch (err) {
        log(`user workloads failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
        console.log(`\nuser workloads: failed (${err instanceof Error ? err.message : String(err)})`);
        return null;
      }
    })()
  : null;

const micro = await runMicro({ quick, only, log });
if (micro.length > 0) console.log(`\n${microTable(micro)}`);

const goals = targets({ reps: results, rows: targetRows(everyRow), micro, steady, gates, paired, user, recorder });
console.log(`\ntargets (issue 6; g: issue 2; h: issue 3; r: issue 18; u: issue 20); ratios are medians of per-rep ratios\n${targetsTable(goals)}`);
const seconds = (performance.now() - started) / 1000;
console.log(`\nbench took ${seconds.toFixed(0)} s`);

const pairs = (as: readonly string[], bs: readonly string[]) =>
  Object.fromEntries(
    as.map((a) => [
      a,
      Object.fromEntries(bs.map((b) => [b, Object.fromEntries(METRICS.map((k) => [k, ratio(results, a, b, k) ?? null]))])),
    ]),
  );
writeFileSync(
  out,
  JSON.stringify(
    {
      machine: { cpu: cpus()[0]?.model, cores: cpus().length, node: process.version, os: `${platform()} ${release()}`, date: stamp },
      versions: Object.fromEntries(['piscina', 'tinypool', 'workerpool', 'poolifier', 'benchmark'].map((p) => [p, pkgVersion(p)])),
      options: { quick, reps, only: only ?? null, sizes, workers: WORKERS, maxInFlight: MAX_IN_FLIGHT, baseline, poolifier: POOLIFIER_LABEL, sluice: BUILD },
      seconds,
      reps: results,
      medians: Object.fromEntries(names.map((n) => [n, medians(results, n)])),
      ratios: { rowOverBaseline: pairs(names, [baseline]), sluiceOverOther: pairs(ours, others) },
      gates,
      recorder,
      scaling,
      pinning,
      steady,
      paired,
      steal,
      user,
      micro,
      targets: goals,
    },
    null,
    2,
  ),
);
log(`wrote ${out}`);
if (anyHung()) {
  log('something hung: exiting explicitly (its workers may still be alive)');
  process.exit(1);
}
