// Baseline: raw worker_threads, round-robin, one postMessage per task and one per reply.
import { WORKERS, type RowDef } from '../workload.js';
import { spawn } from './spawn.js';

type Callbacks = [(value: number) => void, (err: unknown) => void];

export const rawMessage: RowDef = {
  name: 'raw postMessage',
  kinds: ['throughput', 'latency', 'cpu'],
  async open() {
    const workers = await Promise.all(Array.from({ length: WORKERS }, () => spawn('raw-message.mjs')));
    const pending = new Map<number, Callbacks>();
    let nextId = 0;
    for (const w of workers) {
      w.on('message', ([id, value]: [number, number]) => {
        const cb = pending.get(id)!;
        pending.delete(id);
        cb[0](value);
      });
      w.on('error', (err) => pending.forEach(([, fail]) => fail(err)));
    }
    return {
      start(task, arg, done, fail) {
        const id = nextId++;
        pending.set(id, [done, fail]);
        workers[id % WORKERS]!.postMessage([id, task, arg]);
        return true;
      },
      async close() {
        await Promise.all(workers.map((w) => w.terminate()));
      },
    };
  },
};
