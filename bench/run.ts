// `npm run bench [-- --quick] [--reps N] [--only substring] [--json path]`
// End-to-end rows (ANCHORS.md workload), interleaved across repetitions, then the microbenchmarks.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, platform, release } from 'node:os';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { piscina, piscinaC32 } from './e2e/piscina.js';
import { POOLIFIER_LABEL, poolifierRow } from './e2e/poolifier.js';
import { rawMessage } from './e2e/raw-message.js';
import { sabSpin, sabWait, sabWaitAsync } from './e2e/raw-sab.js';
import { tinypool } from './e2e/tinypool.js';
import { workerpoolRow } from './e2e/workerpool.js';
import { microTable, runMicro } from './micro.js';
import { METRICS, figuresOf, mainTable, medians, ratio, ratioLines, type Rep } from './report.js';
import { MAX_IN_FLIGHT, WORKERS, measure, pkgVersion, type RowDef, type Sizes } from './workload.js';

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
  ? { throughput: 20_000, latency: 2_000, cpu: 500, warmup: 300 }
  : { throughput: 100_000, latency: 5_000, cpu: 2_000, warmup: 300 };
/** A row that takes longer than this for one measurement is recorded as failed (hung). */
const TIMEOUT_MS = quick ? 30_000 : 120_000;
const log = (msg: string): boolean => process.stderr.write(`${msg}\n`);

const allRows: RowDef[] = [piscina, piscinaC32, tinypool, workerpoolRow, poolifierRow(), rawMessage, sabWait, sabWaitAsync, sabSpin];
try {
  allRows.push(...(await import('./e2e/sluice.js')).rows);
} catch (err) {
  log(`note: sluice rows skipped, runtime not loadable: ${String(err).split('\n')[0]}`);
}
const rows = allRows.filter((r) => args.only === undefined || r.name.includes(args.only));
const baseline = piscina.name;

let hung = false;
function timeout<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      hung = true;
      reject(new Error(`${what}: timed out after ${TIMEOUT_MS} ms`));
    }, TIMEOUT_MS);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

const results: Rep[] = [];
for (let rep = 1; rep <= reps; rep++) {
  const current: Rep = {};
  results.push(current);
  for (const row of rows) {
    const entry: Rep[string] = (current[row.name] = { raw: [] });
    for (const kind of row.kinds) {
      log(`[rep ${rep}/${reps}] ${row.name}: ${kind}`);
      try {
        const session = await timeout(row.open(), `${row.name} open`);
        try {
          const m = await timeout(measure(session, kind, sizes), `${row.name} ${kind}`);
          entry.raw.push(m);
          Object.assign(entry, figuresOf(m));
        } finally {
          await timeout(session.close(), `${row.name} close`);
        }
      } catch (err) {
        const msg = `${kind}: ${err instanceof Error ? err.message : String(err)}`;
        log(`  failed: ${msg}`);
        (entry.errors ??= []).push(msg);
      }
    }
  }
}

const names = rows.map((r) => r.name);
const ours = names.filter((n) => n.startsWith('sluice'));
const others = names.filter((n) => !n.startsWith('sluice'));
console.log(
  `\n${WORKERS} workers, ${sizes.throughput} tasks ≤${MAX_IN_FLIGHT} in flight, ${sizes.latency} sequential, ` +
    `${sizes.cpu} × 50 µs CPU; medians of ${reps} reps; × = median of per-rep ratios`,
);
console.log(mainTable(results, names, baseline));
for (const line of ratioLines(results, ours, others)) console.log(line);

const micro = runMicro({ quick, only: args.only });
if (micro.length > 0) console.log(`\n${microTable(micro)}`);

const pairs = (as: readonly string[], bs: readonly string[]) =>
  Object.fromEntries(
    as.map((a) => [
      a,
      Object.fromEntries(bs.map((b) => [b, Object.fromEntries(METRICS.map((k) => [k, ratio(results, a, b, k) ?? null]))])),
    ]),
  );
const stamp = new Date().toISOString();
const out = args.json ?? fileURLToPath(new URL(`./results/${stamp.replace(/[:.]/g, '-')}.json`, import.meta.url));
mkdirSync(dirname(out), { recursive: true });
writeFileSync(
  out,
  JSON.stringify(
    {
      machine: { cpu: cpus()[0]?.model, cores: cpus().length, node: process.version, os: `${platform()} ${release()}`, date: stamp },
      versions: Object.fromEntries(['piscina', 'tinypool', 'workerpool', 'poolifier', 'benchmark'].map((p) => [p, pkgVersion(p)])),
      options: { quick, reps, only: args.only ?? null, sizes, workers: WORKERS, maxInFlight: MAX_IN_FLIGHT, baseline, poolifier: POOLIFIER_LABEL },
      reps: results,
      medians: Object.fromEntries(names.map((n) => [n, medians(results, n)])),
      ratios: { rowOverBaseline: pairs(names, [baseline]), sluiceOverOther: pairs(ours, others) },
      micro,
    },
    null,
    2,
  ),
);
log(`wrote ${out}`);
if (hung) {
  log('a row hung: exiting explicitly (its workers may still be alive)');
  process.exit(1);
}
