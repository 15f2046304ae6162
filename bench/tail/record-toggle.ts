// The flight recorder's cost on the submitting thread alone, on one runtime: its main
// attachment's seam (SUBMIT_ROUTED, RELEASE, the route's copy) switched off and on between
// alternating blocks of pipelined submit/token tasks (the workers keep recording throughout).
// Same threads, same placement, same seconds: the per-block ratios see the same host.
//   npx tsx bench/tail/record-toggle.ts [blocks=30] [tasks per block=20000]
// Prints tasks/s and main-thread CPU ns per task (schedstat), medians, and on ÷ off. A diagnostic.
import { readFileSync } from 'node:fs';
import { Runtime } from '../../src/index.js';

const blocks = Number(process.argv[2] ?? 30);
const n = Number(process.argv[3] ?? 20_000);
const cpu = (): number => Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]);
const rt = await Runtime.start({ tasks: new URL('../../test/fixtures/tasks.mjs', import.meta.url), workers: 2, trace: { mode: 'flight' } });
const att = (rt as unknown as { att: { seam: unknown; routeSnapshot: unknown } }).att;
const saved = { seam: att.seam, routeSnapshot: att.routeSnapshot };
const set = (on: boolean): void => { att.seam = on ? saved.seam : null; att.routeSnapshot = on ? saved.routeSnapshot : null; };
const p = rt.producer('toggle');
const t = rt.task('inc');
async function block(): Promise<[number, number]> {
  const q: PromiseLike<unknown>[] = [];
  let head = 0;
  const c0 = cpu();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    for (;;) { const a = p.submit(t, i); if (a.admitted) { q.push(a); break; } await q[head++]; }
    if (q.length - head >= 1024) await q[head++];
  }
  while (head < q.length) await q[head++];
  return [n / ((performance.now() - t0) / 1000), (cpu() - c0) / n];
}
for (const on of [false, true, false, true]) { set(on); await block(); }
const res = { off: [] as [number, number][], on: [] as [number, number][] };
for (let b = 0; b < blocks; b++) for (const on of b % 2 === 0 ? [false, true] : [true, false]) { set(on); res[on ? 'on' : 'off'].push(await block()); }
set(true);
await rt.close();
const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ratios = res.on.map((x, i) => x[0] / res.off[i]![0]);
console.log(`off ${med(res.off.map((x) => x[0])).toFixed(0)} tasks/s, ${med(res.off.map((x) => x[1])).toFixed(0)} ns/task main; ` +
  `on ${med(res.on.map((x) => x[0])).toFixed(0)} tasks/s, ${med(res.on.map((x) => x[1])).toFixed(0)} ns/task main; ` +
  `on ÷ off tasks/s ${med(ratios).toFixed(3)}; main CPU on - off ${med(res.on.map((x, i) => x[1] - res.off[i]![1])).toFixed(0)} ns/task`);
