// Diagnostic (issue 20, u1): where in a sequential run its slow trips are. The harness's warm-up
// (3,000 pipelined + 100 sequential + 50 CPU tasks, a forced GC), then TRIPS round trips; prints
// p50, p99, and per window of WINDOW trips how many took over LIMIT µs (default 3 × p50).
//   npx tsx --expose-gc bench/tail/slow-trips.ts [trips=50000] [window=5000] [limit]
import { submitSession } from '../e2e/sluice.js';
import { pipelined, sequential } from '../workload.js';
import { summarize } from '../stats.js';

const trips = Number(process.argv[2] ?? 50_000);
const window = Number(process.argv[3] ?? 5000);
const gc = (globalThis as { gc?: () => void }).gc ?? null;
const s = await submitSession({});
await pipelined(s, 'inc', 3000, (v: unknown) => v as number);
await sequential(s, 100);
await pipelined(s, 'spin50', 50, () => 50);
gc?.();
const lat = await sequential(s, trips);
const l = summarize(lat);
const limit = Number(process.argv[4] ?? 3 * l.p50);
const counts: number[] = [];
const over: number[] = [];
for (let i = 0; i < lat.length; i++) if (lat[i]! > limit) { counts[Math.floor(i / window)] = (counts[Math.floor(i / window)] ?? 0) + 1; over.push(lat[i]!); }
over.sort((a, b) => a - b);
const q = (f: number): string => (over.length === 0 ? '-' : over[Math.floor(f * (over.length - 1))]!.toFixed(1));
console.log(`p50 ${l.p50.toFixed(2)} p99 ${l.p99.toFixed(1)} p99.9 ${l.p999.toFixed(0)} µs; ${over.length} trips over ${limit.toFixed(1)} µs (their p10/p50/p90 ${q(0.1)}/${q(0.5)}/${q(0.9)}); per ${window}: ${Array.from({ length: Math.ceil(trips / window) }, (_, k) => counts[k] ?? 0).join(' ')}`);
await s.close();
