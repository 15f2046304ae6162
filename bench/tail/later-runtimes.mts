// A fresh runtime's sequential tail, runtime after runtime in one process (docs/performance.md,
// thirteenth session): three runtimes in a row, each given 3,000 round trips and then 5,000
// measured; prints [[p50, p99, p99.9] µs per runtime] as one JSON line. Runs the checkout in the
// working directory (its src/ and test/fixtures/tasks.mjs), so it can be run in an old checkout too.
//   npx tsx bench/tail/later-runtimes.mts            OPTS='{"steal":false}' (start options)  BYNAME=1 (submit by name)
import { pathToFileURL } from 'node:url';
const cwd = process.cwd();
const { Runtime } = await import(pathToFileURL(`${cwd}/src/index.ts`).href);
const tasks = pathToFileURL(`${cwd}/test/fixtures/tasks.mjs`);
const opts = JSON.parse(process.env.OPTS ?? '{}') as Record<string, unknown>;
const out: number[][] = [];
for (let r = 0; r < 3; r++) {
  const rt = await Runtime.start({ tasks, workers: 2, ...opts });
  const p = rt.producer('s');
  const t = process.env.BYNAME === '1' ? 'inc' : rt.task('inc');
  const trips = async (n: number): Promise<number[]> => {
    const xs: number[] = [];
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      await p.submit(t, i).token;
      xs.push((performance.now() - t0) * 1000);
    }
    return xs;
  };
  await trips(3000);
  const xs = (await trips(5000)).sort((a, b) => a - b);
  const q = (f: number): number => xs[Math.min(xs.length - 1, Math.floor(f * xs.length))]!;
  out.push([q(0.5), q(0.99), q(0.999)]);
  await rt.close();
}
console.log(JSON.stringify(out));
