// Parked round trips of a worker whose task module keeps a handle (docs/api.md, "Task modules";
// docs/performance.md, twentieth session): the plain module, one with a ref'd interval (its worker
// sleeps on its event loop) and one with an unref'd interval; spinUs 0, and the default spin with
// 200 µs between trips. Runtimes side by side in one process, blocks interleaved. Needs
// `npm run build` (it drives dist/).
//   node bench/tail/parked-handle.mjs [blocks=6] [n=500]
const { Runtime } = await import(new URL('../../dist/index.js', import.meta.url).href);
const blocks = Number(process.argv[2] ?? 6);
const n = Number(process.argv[3] ?? 500);
const fixture = (f) => new URL(`../fixtures/${f}`, import.meta.url);
const cfgs = [];
for (const [name, tasks, taskData] of [['plain', fixture('tasks.mjs'), undefined], ['ref', fixture('handle-tasks.mjs'), 'ref'], ['unref', fixture('handle-tasks.mjs'), 'unref']]) {
  for (const spin of [0, undefined]) cfgs.push({ name: `${name}/${spin === 0 ? 'spin 0' : 'spin 50 + 200 µs apart'}`, tasks, taskData, spin });
}
const think = (us) => { const t = performance.now() + us / 1000; while (performance.now() < t); };
async function seq(rt, k, gapUs) {
  const xs = [];
  for (let i = 0; i < k; i++) {
    if (gapUs) think(gapUs);
    const t0 = performance.now();
    await rt.run('inc', i);
    xs.push((performance.now() - t0) * 1000);
  }
  return xs;
}
for (const c of cfgs) c.rt = await Runtime.start({ tasks: c.tasks, taskData: c.taskData, workers: 2, execArgv: [], ...(c.spin === 0 ? { spinUs: 0 } : {}) });
for (const c of cfgs) await seq(c.rt, 3000, 0);
const res = new Map(cfgs.map((c) => [c, []]));
for (let b = 0; b < blocks; b++) for (const c of b % 2 ? [...cfgs].reverse() : cfgs) res.get(c).push(...await seq(c.rt, n, c.spin === 0 ? 0 : 200));
for (const c of cfgs) {
  const s = res.get(c).sort((a, b) => a - b);
  const q = (f) => s[Math.floor(s.length * f)].toFixed(1);
  console.log(`${c.name.padEnd(30)} p50 ${q(0.5)}  p90 ${q(0.9)}  p99 ${q(0.99)} µs`);
}
for (const c of cfgs) await c.rt.close();
