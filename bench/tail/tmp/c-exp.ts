import { sabWait, sabWaitAsync } from '../../e2e/raw-sab.js';
import { startSluice, tokenSession, callbackSession } from '../../e2e/sluice.js';
import { sequential } from '../../workload.js';
import { summarize } from '../../stats.js';
const mk = async (opts: any, cb = false) => { const rt = await startSluice(opts); return cb ? callbackSession(rt, rt.producer('b')) : tokenSession(rt, rt.producer('b')); };
const sessions: Record<string, any> = {
  wait: await sabWait.open(),
  waitAsync: await sabWaitAsync.open(),
  s0tok: await mk({ spin: 0 }),
  s0cb: await mk({ spin: 0 }, true),
  s0nopin: await mk({ spin: 0, affinity: false }),
  s0w1: await mk({ spin: 0, workers: 1 }),
};
const names = Object.keys(sessions);
for (const n of names) await sequential(sessions[n], 500);
const res: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
const N = Number(process.argv[2] ?? 7);
for (let r = 0; r < N; r++) {
  const order = r % 2 ? [...names].reverse() : names;
  for (const n of order) res[n]!.push(summarize(await sequential(sessions[n], 1000)).p50);
}
const med = (xs: number[]) => { const a = [...xs].sort((x, y) => x - y); return a[a.length >> 1]!; };
for (const n of names) console.log(n.padEnd(10), med(res[n]!).toFixed(1), 'ratio/wait', med(res[n]!.map((v, i) => v / res.wait![i]!)).toFixed(2), res[n]!.map((v) => v.toFixed(0)).join(' '));
for (const n of names) await sessions[n].close();
