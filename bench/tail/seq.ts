// One child of ab.mjs: like the bench (a warmed process, then a fresh runtime per measurement,
// WARMUP warm-up round trips (default 300), n measured), printed as JSON (one summary per measurement).
// OPTS (JSON) passes runtime options to the measured runtimes.
import { sluiceSubmit, submitSession } from '../e2e/sluice.js';
import { measure } from '../workload.js';
const n = Number(process.argv[2] ?? 5000);
const reps = Number(process.argv[3] ?? 3);
const sizes = { throughput: 20000, latency: n, cpu: 200, warmup: 300, latencyWarmup: Number(process.env.WARMUP ?? 300) };
{
  const s = await sluiceSubmit.open(); // warm the process's JIT the way a bench rep does
  await measure(s, 'throughput', sizes);
  await measure(s, 'latency', { ...sizes, latency: 2000 });
  await s.close();
}
const out = [];
// OPTS: runtime options as JSON for the measured runtimes (e.g. '{"affinity":false}', '{"spin":200}').
const opts = process.env.OPTS === undefined ? undefined : JSON.parse(process.env.OPTS);
for (let r = 0; r < reps; r++) {
  const s = await submitSession(opts);
  out.push(await measure(s, 'latency', sizes));
  await s.close();
}
console.log(JSON.stringify(out));
