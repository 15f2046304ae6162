// Sequential round trips, configurations interleaved in ONE process: every round starts a fresh
// runtime per configuration (default options plus the configuration's), warms it with W round
// trips and measures n. Per-round ratios to the first configuration, and their median, are what
// to quote: the spread between runtimes (where the OS put three threads on two CPUs) is larger
// than most differences worth measuring, and many cheap rounds beat few processes.
//   npx tsx bench/tail/seq-pairs.ts ROUNDS N 'off={}' 'flight={"trace":{"mode":"flight"}}' ...
// The process is warmed first with every configuration in turn (a process that records, records
// from its start). A diagnostic, not part of `npm run bench`.
import { submitSession } from '../e2e/sluice.js';
import { measure } from '../workload.js';

const rounds = Number(process.argv[2] ?? 20);
const n = Number(process.argv[3] ?? 5000);
const cfgs = process.argv.slice(4).map((a) => { const i = a.indexOf('='); return { name: a.slice(0, i), opts: JSON.parse(a.slice(i + 1)) as object }; });
if (cfgs.length === 0) cfgs.push({ name: 'off', opts: {} }, { name: 'flight', opts: { trace: { mode: 'flight' } } });
const sizes = { throughput: 20000, latency: n, cpu: 200, warmup: 300, latencyWarmup: Number(process.env.WARMUP ?? 300) };
for (const c of cfgs) {
  const s = await submitSession(c.opts);
  await measure(s, 'throughput', sizes);
  await measure(s, 'latency', { ...sizes, latency: 2000 });
  await s.close();
}
const p50: number[][] = cfgs.map(() => []);
const p99: number[][] = cfgs.map(() => []);
for (let r = 0; r < rounds; r++) {
  const order = r % 2 === 0 ? cfgs.map((_, i) => i) : cfgs.map((_, i) => cfgs.length - 1 - i);
  for (const i of order) {
    const s = await submitSession(cfgs[i]!.opts);
    const m = await measure(s, 'latency', sizes);
    await s.close();
    if (m.kind !== 'latency') throw new Error('not a latency measurement');
    p50[i]!.push(m.p50);
    p99[i]!.push(m.p99);
  }
}
// DUMP=1: every round's p50 per configuration, on stderr.
if (process.env.DUMP === '1') for (let i = 0; i < cfgs.length; i++) console.error(`${cfgs[i]!.name}: ${p50[i]!.map((v) => v.toFixed(2)).join(' ')}`);
const med = (xs: number[]): number => { const a = [...xs].sort((x, y) => x - y); const k = a.length; return k % 2 ? a[(k - 1) / 2]! : (a[k / 2 - 1]! + a[k / 2]!) / 2; };
for (let i = 0; i < cfgs.length; i++) {
  const ratio = p50[i]!.map((v, r) => v / p50[0]![r]!).sort((x, y) => x - y);
  const q = (f: number): string => ratio[Math.floor(f * (ratio.length - 1))]!.toFixed(2);
  console.log(`${cfgs[i]!.name.padEnd(12)} p50 ${med(p50[i]!).toFixed(2)} µs  p99 ${med(p99[i]!).toFixed(1)} µs  p50 ÷ ${cfgs[0]!.name}: median of ${rounds} rounds ${med(ratio).toFixed(3)} (quartiles ${q(0.25)}-${q(0.75)})`);
}
process.exit(0);
