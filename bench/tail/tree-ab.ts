// Two checkouts in one process: Runtime from each tree's src/, blocks of pipelined submit/token
// tasks alternating between them (same host seconds). npx tsx tree-ab.ts TREE_A TREE_B [blocks] [n]
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
const [a, b] = [process.argv[2]!, process.argv[3]!];
const blocks = Number(process.argv[4] ?? 20), n = Number(process.argv[5] ?? 20000);
// TRACE=file: each runtime records to a file of its own, removed at the end.
const files: string[] = [];
const trace = (name: string): object => {
  if (!process.env.TRACE) return {};
  if (process.env.TRACE !== 'file') return { trace: { mode: process.env.TRACE } };
  const path = join(tmpdir(), `tree-ab-${process.pid}-${name}.trace`);
  files.push(path);
  return { trace: { mode: 'file', path } };
};
const cpu = (): number => Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]);
async function open(tree: string, name: string) {
  const { Runtime } = await import(pathToFileURL(`${tree}/src/index.ts`).href);
  const rt = await Runtime.start({ tasks: pathToFileURL(`${tree}/test/fixtures/tasks.mjs`), workers: 2, ...trace(name) });
  return { rt, p: rt.producer('ab'), t: rt.task('inc') };
}
const A = await open(a, 'A'), B = await open(b, 'B');
async function block(x: any): Promise<[number, number]> {
  const q: PromiseLike<unknown>[] = []; let head = 0;
  const c0 = cpu(), t0 = performance.now();
  for (let i = 0; i < n; i++) {
    for (;;) { const s = x.p.submit(x.t, i); if (s.admitted) { q.push(s); break; } await q[head++]; }
    if (q.length - head >= 1024) await q[head++];
  }
  while (head < q.length) await q[head++];
  return [n / ((performance.now() - t0) / 1000), (cpu() - c0) / n];
}
for (let i = 0; i < 3; i++) { await block(A); await block(B); }
const ra: [number, number][] = [], rb: [number, number][] = [];
for (let k = 0; k < blocks; k++) {
  if (k % 2 === 0) { ra.push(await block(A)); rb.push(await block(B)); } else { rb.push(await block(B)); ra.push(await block(A)); }
}
await A.rt.close(); await B.rt.close();
for (const f of files) rmSync(f, { force: true });
const med = (xs: number[]): number => [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)]!;
console.log(`A ${med(ra.map((x) => x[0])).toFixed(0)} tasks/s ${med(ra.map((x) => x[1])).toFixed(0)} ns/task main | ` +
  `B ${med(rb.map((x) => x[0])).toFixed(0)} tasks/s ${med(rb.map((x) => x[1])).toFixed(0)} ns/task main | ` +
  `B÷A tput ${med(rb.map((x, i) => x[0] / ra[i]![0])).toFixed(3)}, main CPU B-A ${med(rb.map((x, i) => x[1] - ra[i]![1])).toFixed(0)} ns/task`);
