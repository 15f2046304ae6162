// What rt.run adds over submit/token (issue 20): fresh runtimes (2 workers, default options) in
// one process, modes rotating per round; pipelined `inc` with 1024 in flight (above the default
// globalSlots of 512: rt.run calls then wait in its FIFO) and with 256 (never waiting), and
// sequential round trips. Prints per-mode medians.
//   npx tsx bench/tail/run-vs-submit.ts [rounds=5] [n=20000] [seq=5000]
import { startSluice, submitSession } from '../e2e/sluice.js';
import { pipelined, promiseSession, sequential, type Session } from '../workload.js';
import { summarize } from '../stats.js';
import { findGc } from '../steady.js';

const rounds = Number(process.argv[2] ?? 5);
const n = Number(process.argv[3] ?? 20_000);
const nSeq = Number(process.argv[4] ?? 5_000);
const gc = findGc();
const ident = (i: number): number => i;
const runSession = async (): Promise<Session> => {
  const rt = await startSluice();
  return promiseSession((task, arg) => rt.run<number>(task, arg), () => rt.close());
};
type Mode = { name: string; open: () => Promise<Session>; window?: number; seq?: boolean };
const modes: Mode[] = [
  { name: 'submit/token w1024', open: () => submitSession(), window: 1024 },
  { name: 'rt.run w1024', open: runSession, window: 1024 },
  { name: 'submit/token w256', open: () => submitSession(), window: 256 },
  { name: 'rt.run w256', open: runSession, window: 256 },
  { name: 'submit/token seq', open: () => submitSession(), seq: true },
  { name: 'rt.run seq', open: runSession, seq: true },
];
const res: Record<string, number[][]> = Object.fromEntries(modes.map((m) => [m.name, []]));
for (let r = 0; r < rounds; r++) {
  for (let i = 0; i < modes.length; i++) {
    const m = modes[(i + r) % modes.length]!;
    const s = await m.open();
    await pipelined(s, 'inc', 3000, ident);
    await sequential(s, 3000);
    gc?.();
    if (m.seq) {
      const l = summarize(await sequential(s, nSeq));
      res[m.name]!.push([l.p50, l.p99, l.p999]);
    } else {
      const p = await pipelined(s, 'inc', n, ident, m.window);
      res[m.name]!.push([(n / p.wallMs) * 1000]);
    }
    await s.close();
  }
}
const med = (xs: number[]): number => { const a = [...xs].sort((x, y) => x - y); const k = a.length; return k % 2 ? a[(k - 1) / 2]! : (a[k / 2 - 1]! + a[k / 2]!) / 2; };
for (const m of modes) {
  const rows = res[m.name]!;
  if (m.seq) console.log(`${m.name.padEnd(22)} p50 ${med(rows.map((x) => x[0]!)).toFixed(2)} µs  p99 ${med(rows.map((x) => x[1]!)).toFixed(2)}  p99.9 ${med(rows.map((x) => x[2]!)).toFixed(1)}  (${rows.length} runtimes)`);
  else console.log(`${m.name.padEnd(22)} ${med(rows.map((x) => x[0]!)).toFixed(0)} tasks/s  (per run: ${rows.map((x) => x[0]!.toFixed(0)).join(' ')})`);
}
