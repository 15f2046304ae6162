import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { Worker } from 'node:worker_threads';
import { FixedThreadPool, type ThreadPoolOptions } from 'poolifier';
import { WORKERS, fixture, pkgVersion, promiseSession, type RowDef } from '../workload.js';

/** poolifier's best configuration on this workload (see bench/README.md for the ones tried). */
export const POOLIFIER_CONFIG: ThreadPoolOptions = {};
export const POOLIFIER_LABEL = 'defaults';

const exited = (w: Worker): Promise<unknown> => (w.threadId < 0 ? Promise.resolve() : once(w, 'exit'));

export function poolifierRow(opts: ThreadPoolOptions = POOLIFIER_CONFIG, label = POOLIFIER_LABEL): RowDef {
  return {
    name: `poolifier ${pkgVersion('poolifier')} (${label})`,
    kinds: ['throughput', 'latency', 'cpu'],
    async open() {
      const pool = new FixedThreadPool<number, number>(WORKERS, fileURLToPath(fixture('poolifier.mjs')), opts);
      // pool.destroy() sometimes never settles (roughly 1 pool in 10 here): a worker that exits on
      // the kill message before poolifier listens for 'exit'. The threads are gone by then, so
      // closing is done when destroy() settles or every worker thread has exited.
      const close = async (): Promise<void> => {
        const threads = pool.workerNodes.map((n) => n.worker);
        await Promise.race([pool.destroy(), Promise.all(threads.map(exited))]);
      };
      return promiseSession((task, arg) => pool.execute(arg, task), close);
    },
  };
}
