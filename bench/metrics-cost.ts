// The histograms' cost on the hot path (issue 22): two live runtimes in one process, identical but
// for `metrics` (on / off), measured in alternating blocks (order flipped every block) so both see
// the same seconds of the machine. Per block and per runtime:
//   - submit side: a burst of N producer.submit calls (the token path), ns per submit, timed on
//     the main thread (the submit tick: one clock read and one store per submit);
//   - throughput: the same burst, first submit to last token resolved, ns per task (adds the
//     worker's side: two clock reads and four histogram adds per task).
// Reported: the median over blocks of each block's on ÷ off ratio. One worker each: on 2 cores
// the submitting thread keeps a core while one worker consumes (the idle runtime's worker parks).
//
//   npx tsx bench/metrics-cost.ts [--quick] [--json out.json]
import { performance } from 'node:perf_hooks';
import { writeFileSync } from 'node:fs';
import type { Runtime } from '../src/index.js';
import { startSluiceReady } from './e2e/sluice.js';
import { median } from './stats.js';

export interface MetricsCost {
  blocks: number;
  burst: number;
  /** Medians over blocks, ns per task. */
  submitOn: number;
  submitOff: number;
  throughputOn: number;
  throughputOff: number;
  /** Median over blocks of the per-block on ÷ off ratios (1.00 = no cost). */
  submitRatio: number;
  throughputRatio: number;
}

async function burst(rt: Runtime, n: number): Promise<[number, number]> {
  const p = rt.producer('bench');
  const inc = rt.task('inc');
  const tokens: PromiseLike<unknown>[] = new Array(n);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const a = p.submit(inc, i);
    if (!a.admitted) throw new Error(`metrics-cost: refused (${a.reason}) at ${i}: the limits were meant never to refuse`);
    tokens[i] = a.token;
  }
  const t1 = performance.now();
  await Promise.all(tokens);
  const t2 = performance.now();
  return [((t1 - t0) * 1e6) / n, ((t2 - t0) * 1e6) / n];
}

export async function runMetricsCost(quick: boolean, log: (m: string) => void = (m) => process.stderr.write(`${m}\n`)): Promise<MetricsCost> {
  const n = quick ? 4096 : 8192;
  const blocks = quick ? 15 : 41;
  const opts = { workers: 1, globalSlots: Math.min(0xffff, 2 * n), ringCapacity: 2 * n, maxAttachments: 1 };
  const on = await startSluiceReady({ ...opts, metrics: true });
  const off = await startSluiceReady({ ...opts, metrics: false });
  try {
    on.producer('bench', { slots: 2 * n });
    off.producer('bench', { slots: 2 * n });
    for (let w = 0; w < 3; w++) { await burst(on, n); await burst(off, n); } // warm-up: both JIT-compiled
    const s: Record<'on' | 'off', number[]> = { on: [], off: [] };
    const t: Record<'on' | 'off', number[]> = { on: [], off: [] };
    for (let b = 0; b < blocks; b++) {
      const order: Array<['on' | 'off', Runtime]> = b % 2 === 0 ? [['on', on], ['off', off]] : [['off', off], ['on', on]];
      for (const [k, rt] of order) {
        const [sub, thr] = await burst(rt, n);
        s[k].push(sub);
        t[k].push(thr);
      }
    }
    const ratio = (xs: Record<'on' | 'off', number[]>): number => median(xs.on.map((v, i) => v / xs.off[i]!));
    const r: MetricsCost = {
      blocks, burst: n,
      submitOn: median(s.on), submitOff: median(s.off), throughputOn: median(t.on), throughputOff: median(t.off),
      submitRatio: ratio(s), throughputRatio: ratio(t),
    };
    log(`metrics cost: ${blocks} paired blocks of ${n} tasks (submit + token), 1 worker each`);
    log(`  submit side   on ${r.submitOn.toFixed(0)} ns  off ${r.submitOff.toFixed(0)} ns  on/off ${r.submitRatio.toFixed(3)}`);
    log(`  throughput    on ${r.throughputOn.toFixed(0)} ns  off ${r.throughputOff.toFixed(0)} ns  on/off ${r.throughputRatio.toFixed(3)}`);
    return r;
  } finally {
    await on.close();
    await off.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const r = await runMetricsCost(args.includes('--quick'));
  const j = args.indexOf('--json');
  if (j >= 0 && args[j + 1] !== undefined) writeFileSync(args[j + 1]!, JSON.stringify(r, null, 2));
}
