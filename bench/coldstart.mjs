// One cold-start measurement in a fresh process (bench/harness.ts spawns
// `node bench/coldstart.mjs <row>` once per row and repetition; `node --import tsx` for
// sluice-src only: plain JavaScript, so that no other row's workers inherit a tsx loader): the pool's
// constructor (or Runtime.start) to the first result of inc(1), wall time. Importing the library
// is timed separately and not included. Prints one JSON line ({ row, importMs, firstResultMs,
// value }) and exits at once (no close: the process ends with its workers).
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';

const tasks = new URL('./fixtures/tasks.mjs', import.meta.url);
const WORKERS = 2;
// Extra Runtime.start options for the sluice rows (JSON), for A/Bs of start-up (e.g. '{"warmUp":false}').
const OPTS = JSON.parse(process.env.SLUICE_COLDSTART_OPTS ?? '{}');
const row = process.argv[2];

/** Imports what the row needs (timed apart) and returns "start the pool and await inc(1)". */
async function prepare(name) {
  switch (name) {
    case 'sluice-src': {
      const { Runtime } = await import('../src/index.ts');
      return async () => (await Runtime.start({ tasks, workers: WORKERS, ...OPTS })).run('inc', 1);
    }
    case 'sluice-dist': {
      // What users run: the compiled package (`npm run build`), workers without tsx.
      const href = new URL('../dist/index.js', import.meta.url).href;
      const { Runtime } = await import(href);
      return async () => (await Runtime.start({ tasks, workers: WORKERS, ...OPTS })).run('inc', 1);
    }
    case 'piscina': {
      const { Piscina } = await import('piscina');
      return () => new Piscina({ filename: tasks.href, minThreads: WORKERS, maxThreads: WORKERS }).run(1, { name: 'inc' });
    }
    case 'poolifier': {
      const { FixedThreadPool } = await import('poolifier');
      return () => new FixedThreadPool(WORKERS, fileURLToPath(new URL('./fixtures/poolifier.mjs', import.meta.url))).execute(1, 'inc');
    }
    case 'raw-postMessage': {
      // The floor: one new Worker per pool slot, the first reply from the first.
      const { Worker } = await import('node:worker_threads');
      return () => {
        const ws = Array.from({ length: WORKERS }, () => new Worker(new URL('./fixtures/raw-message.mjs', import.meta.url)));
        return new Promise((resolve, reject) => {
          ws[0].once('message', ([, v]) => resolve(v));
          ws[0].once('error', reject);
          ws[0].postMessage([0, 'inc', 1]);
        });
      };
    }
    default:
      throw new Error(`coldstart: unknown row ${String(name)}`);
  }
}

const i0 = performance.now();
const run = await prepare(row);
const importMs = performance.now() - i0;
const t0 = performance.now();
const value = await run();
const firstResultMs = performance.now() - t0;
process.stdout.write(`${JSON.stringify({ row, importMs, firstResultMs, value })}\n`);
process.exit(0);
