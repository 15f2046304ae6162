// Throughput of one checkout (the working directory: its src/ and test/fixtures/tasks.mjs): submit/token and callback
// pipelined (40,000 trivial tasks, 512 in flight), default options, 2 workers; TRACE=flight|file turns recording on.
// Driven by throughput-ab.sh (alternating processes between checkouts).
import { pathToFileURL } from 'node:url';
const cwd = process.cwd();
const { Runtime } = await import(pathToFileURL(`${cwd}/src/index.ts`).href);
const tasks = pathToFileURL(`${cwd}/test/fixtures/tasks.mjs`);
const N = 40000, W = 512;
async function tokenRun(rt: any): Promise<number> {
  const p = rt.producer('tp'); const t = rt.task('inc');
  const q: any[] = []; let head = 0; const t0 = performance.now();
  for (let i = 0; i < N; i++) {
    for (;;) { const a = p.submit(t, i); if (a.admitted) { q.push(a); break; } await q[head++]; }
    if (q.length - head >= W) await q[head++];
  }
  while (head < q.length) await q[head++];
  return N / ((performance.now() - t0) / 1000);
}
async function cbRun(rt: any): Promise<number> {
  const p = rt.producer('cb'); const t = rt.task('inc');
  let done = 0, inflight = 0; let wake: (() => void) | null = null;
  const cb = () => { done++; inflight--; if (wake) { const w = wake; wake = null; w(); } };
  const t0 = performance.now();
  for (let i = 0; i < N; i++) {
    while (inflight >= W || p.submitCallback(t, i, cb, 0) !== null) await new Promise<void>((r) => { wake = r; });
    inflight++;
  }
  while (done < N) await new Promise<void>((r) => { wake = r; });
  return N / ((performance.now() - t0) / 1000);
}
const out: Record<string, number> = {};
for (const [name, f] of [['token', tokenRun], ['callback', cbRun]] as const) {
  const trace = process.env.TRACE === 'flight' ? { mode: 'flight', records: 4096 } : process.env.TRACE === 'file' ? { mode: 'file', path: '/tmp/tp-' + process.pid + '.trace' } : undefined;
  const rt = await Runtime.start({ tasks, workers: 2, ...(trace ? { trace } : {}) });
  await f(rt); // warm
  const xs = [await f(rt), await f(rt), await f(rt)].sort((a, b) => a - b);
  out[name] = xs[1]!;
  await rt.close();
}
console.log(JSON.stringify(out));
