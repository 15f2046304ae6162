import { Piscina } from 'piscina';
import { WORKERS, fixture, pkgVersion, promiseSession, type RowDef } from '../workload.js';

const version = pkgVersion('piscina');

function row(name: string, extra: { concurrentTasksPerWorker?: number }): RowDef {
  return {
    name,
    kinds: ['throughput', 'latency', 'cpu'],
    async open() {
      const pool = new Piscina({ filename: fixture('tasks.mjs').href, minThreads: WORKERS, maxThreads: WORKERS, ...extra });
      return promiseSession((task, arg) => pool.run(arg, { name: task }), () => pool.destroy());
    },
  };
}

export const piscina = row(`piscina ${version}`, {});
export const piscinaC32 = row(`piscina ${version} c=32`, { concurrentTasksPerWorker: 32 });
