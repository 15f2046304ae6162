// Hash a list of strings on a pool of 2 threads, at most 4 tasks queued at a time, each given
// 2 s: the piscina way. Run: npx tsx examples/piscina/piscina-app.ts
import { once } from 'node:events';
import { Piscina } from 'piscina';

const TIMEOUT_MS = 2000;
const jobs: { task: 'hash' | 'spin'; input: string | number }[] = [
  ...['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta'].map((input) => ({ task: 'hash' as const, input })),
  { task: 'spin', input: 60_000 }, // far longer than TIMEOUT_MS: it is stopped
  ...['eta', 'theta', 'iota', 'kappa'].map((input) => ({ task: 'hash' as const, input })),
];

const pool = new Piscina({ filename: new URL('./tasks.mjs', import.meta.url).href, maxThreads: 2, maxQueue: 4 });

const results: Promise<string>[] = [];
for (const job of jobs) {
  // Back-pressure: wait while the queue is full (run() would reject).
  if (pool.needsDrain) await once(pool, 'drain');
  // The timeout: an aborted signal stops the task, running or not (piscina terminates its thread).
  const run = pool.run(job.input, { name: job.task, signal: AbortSignal.timeout(TIMEOUT_MS) }) as Promise<string | number>;
  results.push(run.then(
    (value) => String(value),
    (err: unknown) => {
      if (err instanceof Error && err.name === 'AbortError') return 'timed out';
      throw err;
    },
  ));
}

const lines = await Promise.all(results);
jobs.forEach((job, i) => console.log(`${job.task}(${job.input}): ${lines[i]}`));
console.log(`${lines.filter((l) => l !== 'timed out').length} done, ${lines.filter((l) => l === 'timed out').length} timed out`);
await pool.close();
