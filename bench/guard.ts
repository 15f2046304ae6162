// The Guard House's cost (issue 21 against issue 3's budget): submitCallback bursts on one
// running runtime, alternating between a task without a guard and a task with one (closed: the
// breaker never trips here), paired round by round; per task, the submit side (the admission
// decision and the cell) and submit + drain (the guarded task's resolve also feeds its breaker:
// one CAS). Then an isolated task: the cost of a 'quarantined' refusal. One worker consumes.
//   tsx bench/guard.ts [--quick]
import { performance } from 'node:perf_hooks';
import { startSluiceReady } from './e2e/sluice.js';
import { median } from './stats.js';
import type { TaskRef } from '../src/index.js';

const quick = process.argv.includes('--quick');
const n = quick ? 16384 : 32768;
const rounds = quick ? 9 : 15;
const rt = await startSluiceReady({ workers: 1, globalSlots: Math.min(0xffff, 2 * n), ringCapacity: 2 * n, maxAttachments: 1 });
try {
  const plain = rt.task('inc');
  const guarded = rt.task('echo', { guard: { failureRatio: 1, minVolume: 255, windowMs: 60_000, coolDownMs: 1000, probes: 1 } });
  rt.guard.isolate('incArr');
  const isolated = rt.task('incArr');
  const producer = rt.producer('burst');
  let left = 0;
  let allDone: () => void = () => {};
  const callback = (): void => { if (--left === 0) allDone(); };
  const burst = async (task: TaskRef<string>): Promise<[number, number]> => {
    left = n;
    const finished = new Promise<void>((r) => (allDone = r));
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const r = producer.submitCallback(task, i, callback, i);
      if (r !== null) throw new Error(`refused (${r.reason}) at ${i}`);
    }
    const t1 = performance.now();
    await finished;
    const t2 = performance.now();
    return [((t1 - t0) * 1e6) / n, ((t2 - t0) * 1e6) / n];
  };
  await burst(plain);
  await burst(guarded);
  const off: [number, number][] = [];
  const on: [number, number][] = [];
  for (let r = 0; r < rounds; r++) {
    // Alternate which goes first, so drift favours neither.
    if (r % 2 === 0) { off.push(await burst(plain)); on.push(await burst(guarded)); } else { on.push(await burst(guarded)); off.push(await burst(plain)); }
  }
  const refusal: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) if (producer.submitCallback(isolated, i, callback, i) === null) throw new Error('admitted an isolated task');
    refusal.push(((performance.now() - t0) * 1e6) / n);
  }
  const m = (xs: number[]): number => median(xs);
  const ratio = (k: 0 | 1): number => m(off.map((o, i) => o[k] / on[i]![k])); // tasks/s on ÷ off = time off ÷ time on
  console.log(`Guard House cost: submitCallback bursts of ${n}, ${rounds} paired rounds, 1 worker (medians)`);
  console.log(`  submit side, per task:    no guard ${m(off.map((x) => x[0])).toFixed(1)} ns   guard (closed) ${m(on.map((x) => x[0])).toFixed(1)} ns   on/off throughput ${ratio(0).toFixed(3)}x`);
  console.log(`  submit + drain, per task: no guard ${m(off.map((x) => x[1])).toFixed(1)} ns   guard (closed) ${m(on.map((x) => x[1])).toFixed(1)} ns   on/off throughput ${ratio(1).toFixed(3)}x`);
  console.log(`  a 'quarantined' refusal (isolated task), per submit: ${m(refusal).toFixed(1)} ns`);
} finally {
  await rt.close();
}
