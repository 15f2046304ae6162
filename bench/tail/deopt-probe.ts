// Which optimized code a dead runtime takes with it: two runtimes in a row, each warmed, closed
// and collected; run with --trace-deopt to see "weak objects" deoptimizations at the GC.
//   node --expose-gc --trace-deopt --import tsx bench/tail/deopt-probe.ts [runtimes=3] [tasks=20000]
import { Runtime } from '../../src/index.js';
const tasks = new URL('../../test/fixtures/tasks.mjs', import.meta.url);
const n = Number(process.argv[2] ?? 3), k = Number(process.argv[3] ?? 20000);
for (let r = 0; r < n; r++) {
  const rt = await Runtime.start({ tasks, workers: 2, ...(process.env.NOWARM ? { warmUp: false } : {}) });
  const p = rt.producer('x');
  const t = rt.task('inc');
  const q: PromiseLike<unknown>[] = [];
  for (let i = 0; i < k; i++) {
    const s = p.submit(t, i);
    if (s.admitted) q.push(s); else { await Promise.all(q); q.length = 0; }
    if (q.length >= 512) { await Promise.all(q); q.length = 0; }
  }
  await Promise.all(q);
  for (let i = 0; i < 200; i++) await p.submit(t, i);
  await rt.close();
  console.log(`=== runtime ${r} closed; gc`);
  (globalThis as any).gc();
  console.log(`=== gc done`);
}
