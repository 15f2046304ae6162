import { sabWait, sabWaitAsync } from '../../e2e/raw-sab.js';
import { startSluice, tokenSession, callbackSession } from '../../e2e/sluice.js';
import { sequential } from '../../workload.js';
import { summarize } from '../../stats.js';
const mk = async (opts: any, cb = false) => { const rt = await startSluice(opts); return cb ? callbackSession(rt, rt.producer('b')) : tokenSession(rt, rt.producer('b')); };
const which = (process.env.ROWS ?? 'wait,waitAsync,s0tok,s0nopin,def').split(',');
const all: Record<string, () => Promise<any>> = {
  wait: () => sabWait.open(), waitAsync: () => sabWaitAsync.open(),
  s0tok: () => mk({ spin: 0 }), s0cb: () => mk({ spin: 0 }, true), s0nopin: () => mk({ spin: 0, affinity: false }),
  def: () => mk({}), defcb: () => mk({}, true),
};
const sessions: Record<string, any> = {};
for (const n of which) sessions[n] = await all[n]!();
const names = which;
for (const n of names) await sequential(sessions[n], Number(process.env.WARM ?? 1500));
const res: Record<string, { p50: number; p99: number }[]> = Object.fromEntries(names.map((n) => [n, []]));
const N = Number(process.argv[2] ?? 7);
for (let r = 0; r < N; r++) {
  const order = r % 2 ? [...names].reverse() : names;
  for (const n of order) res[n]!.push(summarize(await sequential(sessions[n], Number(process.env.N ?? 1000))));
}
const med = (xs: number[]) => { const a = [...xs].sort((x, y) => x - y); return a[a.length >> 1]!; };
for (const n of names) console.log(n.padEnd(10), 'p50', med(res[n]!.map((m) => m.p50)).toFixed(1), 'p99', med(res[n]!.map((m) => m.p99)).toFixed(1), 'p99/p50', med(res[n]!.map((m) => m.p99 / m.p50)).toFixed(2), 'p50/wait', med(res[n]!.map((v, i) => v.p50 / res[names[0]!]![i]!.p50)).toFixed(2), res[n]!.map((v) => v.p50.toFixed(0)).join(' '));
for (const n of names) await sessions[n].close();
