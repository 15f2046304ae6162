// One sequential measurement of the user workloads (harness.ts) in a fresh process: a sluice row's
// first runtime, the harness's warm-up (3,000 pipelined + 100 sequential + 50 CPU tasks, a forced
// GC), then `trips` round trips. harness.ts runs it once per row, workload and repetition, beside
// the same rows measured late in the bench's own long process. Prints one JSON line of figures
// (p50, p99, p999, max, mean in µs; wallMs; bgCpuMs: V8's helper threads' CPU during the trips).
//   node --import tsx --expose-gc bench/fresh-seq.ts <submit|run> <seqShort|seqLong> <trips>
import { USER_SIZES, U, measureOne, sluiceRows } from './harness.js';
import { findGc } from './steady.js';

const [key, w, tripsArg] = process.argv.slice(2);
const name = ({ submit: U.submit, run: U.run } as Record<string, string>)[key ?? ''];
const trips = Number(tripsArg);
if (name === undefined || (w !== 'seqShort' && w !== 'seqLong') || !Number.isInteger(trips) || trips < 1) {
  throw new Error('usage: fresh-seq.ts <submit|run> <seqShort|seqLong> <trips>');
}
const row = (await sluiceRows()).find((r) => r.name === name)!;
const s = await row.open();
const figures = await measureOne(s, w, { ...USER_SIZES, seqShort: trips, seqLong: trips }, false, findGc());
await s.close();
process.stdout.write(`${JSON.stringify(figures)}\n`);
process.exit(0);
