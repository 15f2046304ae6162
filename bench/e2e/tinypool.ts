import { Tinypool } from 'tinypool';
import { WORKERS, fixture, pkgVersion, promiseSession, type RowDef } from '../workload.js';

export const tinypool: RowDef = {
  name: `tinypool ${pkgVersion('tinypool')}`,
  kinds: ['throughput', 'latency', 'cpu'],
  async open() {
    const pool = new Tinypool({ filename: fixture('tasks.mjs').href, minThreads: WORKERS, maxThreads: WORKERS });
    return promiseSession((task, arg) => pool.run(arg, { name: task }), () => pool.destroy());
  },
};
