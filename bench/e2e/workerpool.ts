import { fileURLToPath } from 'node:url';
import workerpool from 'workerpool';
import { WORKERS, fixture, pkgVersion, promiseSession, type RowDef } from '../workload.js';

export const workerpoolRow: RowDef = {
  name: `workerpool ${pkgVersion('workerpool')}`,
  kinds: ['throughput', 'latency', 'cpu'],
  async open() {
    const pool = workerpool.pool(fileURLToPath(fixture('workerpool.mjs')), {
      minWorkers: WORKERS,
      maxWorkers: WORKERS,
      workerType: 'thread',
    });
    return promiseSession((task, arg) => pool.exec(task, [arg]), async () => {
      await pool.terminate();
    });
  },
};
