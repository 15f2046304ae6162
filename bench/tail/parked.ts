// Parked round trips side by side: the raw wait/notify ping-pong against sluice with spin 0
// (token and callback paths) and with the default spin. All sessions live in one process and
// are measured in interleaved blocks, so the machine's drift hits every row alike. (The bench's
// same-CPU raw row pins this thread while open, so it has no place here.)
//   npx tsx bench/tail/parked.ts [blocks=7]      ROWS=wait,s0tok,s0cb,def N=1000 WARM=1500
import { sabWait } from '../e2e/raw-sab.js';
import { callbackSession, startSluice, tokenSession } from '../e2e/sluice.js';
import { summarize, type LatencySummary } from '../stats.js';
import { sequential, type Session } from '../workload.js';

const sluice = async (spin: number | undefined, callback: boolean): Promise<Session> => {
  const rt = await startSluice(spin === undefined ? {} : { spinUs: spin });
  return callback ? callbackSession(rt, rt.producer('parked')) : tokenSession(rt, rt.producer('parked'));
};
const open: Record<string, () => Promise<Session>> = {
  wait: () => sabWait.open(),
  s0tok: () => sluice(0, false),
  s0cb: () => sluice(0, true),
  def: () => sluice(undefined, false),
};
const names = (process.env.ROWS ?? 'wait,s0tok,s0cb,def').split(',');
const blocks = Number(process.argv[2] ?? 7);
const n = Number(process.env.N ?? 1000);
for (const name of names) if (!(name in open)) throw new Error(`unknown row ${name}; rows: ${Object.keys(open).join(', ')}`);
const sessions: Record<string, Session> = {};
for (const name of names) sessions[name] = await open[name]!();
for (const name of names) await sequential(sessions[name]!, Number(process.env.WARM ?? 1500));
const res: Record<string, LatencySummary[]> = Object.fromEntries(names.map((k) => [k, []]));
for (let b = 0; b < blocks; b++) {
  for (const name of b % 2 ? [...names].reverse() : names) res[name]!.push(summarize(await sequential(sessions[name]!, n)));
  process.stderr.write(`block ${b + 1}/${blocks}\n`);
}
const med = (xs: number[]): number => [...xs].sort((x, y) => x - y)[xs.length >> 1]!;
const first = names[0]!;
for (const name of names) {
  const r = res[name]!;
  console.log(
    `${name.padEnd(6)} p50 ${med(r.map((m) => m.p50)).toFixed(1)}  p99 ${med(r.map((m) => m.p99)).toFixed(1)}  ` +
      `p50 ÷ ${first} ${med(r.map((m, i) => m.p50 / res[first]![i]!.p50)).toFixed(2)}  blocks: ${r.map((m) => m.p50.toFixed(0)).join(' ')}`,
  );
}
for (const name of [...names].reverse()) await sessions[name]!.close();
