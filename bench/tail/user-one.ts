// One process's share of a paired A/B of the "user workloads" (bench/harness.ts) on the sluice
// rows only: per row and workload a fresh runtime (2 workers, default options), the harness's
// warm-up (3,000 pipelined + 100 sequential + 50 CPU tasks, a forced GC), then the measurement.
// Prints one JSON line: { "<row> <workload>": figure }. Driven by bench/tail/user-ab.mjs.
//   npx tsx bench/tail/user-one.ts [pipelined=20000] [cpu=500] [workloads=pipeNum,pipeArr,...]
import { startSluice, submitSession, callbackSession } from '../e2e/sluice.js';
import { MAX_IN_FLIGHT, SPIN_US, WORKERS, pipelined, promiseSession, sequential, type Session, type TaskName } from '../workload.js';
import { findGc } from '../steady.js';

const nPipe = Number(process.argv[2] ?? 20_000);
const nCpu = Number(process.argv[3] ?? 500);
const only = process.argv[4]?.split(',');
const gc = findGc();
const ident = (i: number): number => i;
const spin = (): number => SPIN_US;
const first = (v: unknown): number => (v as number[])[0]!;
const field = (k: string) => (v: unknown): number => (v as Record<string, number>)[k]!;

const rows: Record<string, () => Promise<Session>> = {
  submit: () => submitSession(),
  run: async () => {
    const rt = await startSluice();
    return promiseSession((task, arg) => rt.run<number>(task, arg), () => rt.close());
  },
  callback: async () => {
    const rt = await startSluice();
    return callbackSession(rt, rt.producer('bench'));
  },
};
const workloads: Record<string, [TaskName, ((v: unknown) => number) | undefined, 'pipe' | 'cpu']> = {
  pipeNum: ['inc', undefined, 'pipe'],
  pipeArr: ['incArr', first, 'pipe'],
  pipeObj: ['incObj', field('v'), 'pipe'],
  cpuNum: ['spin50', undefined, 'cpu'],
  cpuArr: ['spinArr', (v) => (v as number[])[1]!, 'cpu'],
  cpuObj: ['spinObj', field('us'), 'cpu'],
};

const out: Record<string, number> = {};
for (const [w, [task, extract, kind]] of Object.entries(workloads)) {
  if (only && !only.includes(w)) continue;
  for (const [row, open] of Object.entries(rows)) {
    const s = await open();
    await pipelined(s, 'inc', 3_000, ident);
    await sequential(s, 100);
    await pipelined(s, 'spin50', 50, spin);
    gc?.();
    if (kind === 'pipe') {
      const r = await pipelined(s, task, nPipe, ident, MAX_IN_FLIGHT, extract);
      if (r.sum !== (nPipe * (nPipe + 1)) / 2) throw new Error(`wrong results: sum ${r.sum}`);
      out[`${row} ${w}`] = (nPipe / r.wallMs) * 1000;
    } else {
      const r = await pipelined(s, task, nCpu, spin, MAX_IN_FLIGHT, extract);
      out[`${row} ${w}`] = r.sum / (r.wallMs * 1000 * WORKERS);
    }
    await s.close();
  }
}
console.log(JSON.stringify(out));
