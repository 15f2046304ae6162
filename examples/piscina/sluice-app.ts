// The same app with sluice: hash a list of strings on 2 worker threads, at most 4 tasks admitted
// at a time, each given 2 s of running time. Run: npx tsx examples/piscina/sluice-app.ts
import { AbandonedError, Runtime, type Producer } from 'sluice';

const TIMEOUT_MS = 2000;
const jobs: { task: 'hash' | 'spin'; input: string | number }[] = [
  ...['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta'].map((input) => ({ task: 'hash' as const, input })),
  { task: 'spin', input: 60_000 }, // far longer than TIMEOUT_MS: it is stopped
  ...['eta', 'theta', 'iota', 'kappa'].map((input) => ({ task: 'hash' as const, input })),
];

const rt = await Runtime.start({ tasks: new URL('./tasks.mjs', import.meta.url), workers: 2 });
// Back-pressure: the producer's `slots` bound what it has admitted and unresolved.
const app = rt.producer('app', { slots: 4 });

/** Resolves at the producer's next 'clear' (it has room again). */
function clear(p: Producer): Promise<void> {
  return new Promise((resolve) => {
    const on = (): void => { p.off('clear', on); resolve(); };
    p.on('clear', on);
  });
}

const results: Promise<string>[] = [];
for (const job of jobs) {
  let a = app.submit<string | number>(job.task, job.input, { deadlineMs: TIMEOUT_MS });
  // Rejected because its own slots are taken ('producer-slots'): wait for room, then submit again.
  while (!a.admitted && a.reason === 'producer-slots') {
    await clear(app);
    a = app.submit<string | number>(job.task, job.input, { deadlineMs: TIMEOUT_MS });
  }
  if (!a.admitted) throw new Error(`rejected: ${a.reason}`);
  // The timeout: past deadlineMs of running time the token is abandoned (its thread is replaced).
  results.push(a.token.promise().then(
    (value) => String(value),
    (err: unknown) => {
      if (err instanceof AbandonedError) return 'timed out';
      throw err;
    },
  ));
}

const lines = await Promise.all(results);
jobs.forEach((job, i) => console.log(`${job.task}(${job.input}): ${lines[i]}`));
console.log(`${lines.filter((l) => l !== 'timed out').length} done, ${lines.filter((l) => l === 'timed out').length} timed out`);
await rt.close();
