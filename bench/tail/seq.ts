// One child of ab.mjs: like the bench (a warmed process, then a fresh runtime per measurement,
// WARMUP warm-up round trips (default 300), n measured), printed as JSON (one summary per measurement).
// OPTS (JSON) passes runtime options to the measured runtimes; ROW=callback measures submitCallback;
// NOPOLL=1 turns the one-task poll off.
import { CALLBACK_OPTIONS, callbackSession, sluiceSubmit, startSluice, submitSession } from '../e2e/sluice.js';
import { measure } from '../workload.js';
const n = Number(process.argv[2] ?? 5000);
const reps = Number(process.argv[3] ?? 3);
const sizes = { throughput: 20000, latency: n, cpu: 200, warmup: 300, latencyWarmup: Number(process.env.WARMUP ?? 300) };
const opts = process.env.OPTS === undefined ? undefined : JSON.parse(process.env.OPTS);
{
  // Warm the process's JIT the way a bench rep does, with the measured runtimes' options
  // (a process that records, records from its start: WARMOFF=1 warms without them).
  const s = process.env.WARMOFF === '1' ? await sluiceSubmit.open() : await submitSession(opts);
  await measure(s, 'throughput', sizes);
  await measure(s, 'latency', { ...sizes, latency: 2000 });
  await s.close();
}
const out = [];
// OPTS: runtime options as JSON for the measured runtimes (e.g. '{"affinity":false}', '{"spinUs":200}').
// ROW=callback measures the callback path (submitCallback) instead of submit/token.
const open = process.env.ROW === 'callback'
  ? async () => { const rt = await startSluice({ ...CALLBACK_OPTIONS, ...opts }); return callbackSession(rt, rt.producer('bench')); }
  : () => submitSession(opts);
// NOPOLL=1 turns the one-task poll off (docs/design.md 4.4 step 0; an internal field) for an A/B.
const noPoll = process.env.NOPOLL === '1';
const { Runtime } = await import('../../src/index.js');
const origStart = Runtime.start.bind(Runtime);
if (noPoll) Runtime.start = async (o) => { const rt = await origStart(o); (rt as unknown as { att: { pump: { pollOneMs: number } } }).att.pump.pollOneMs = 0; return rt; };
for (let r = 0; r < reps; r++) {
  const s = await open();
  out.push(await measure(s, 'latency', sizes));
  await s.close();
}
console.log(JSON.stringify(out));
