// sluice rows, written against DESIGN.md §1. run.ts imports this module dynamically and skips
// these rows when the runtime (src/index.ts) is missing or fails to load.
import { Runtime } from '../../src/index.js';
import { WORKERS, fixture, promiseSession, type RowDef, type Session, type TaskName } from '../workload.js';

const start = (options: { spin?: number } = {}): Promise<Runtime> =>
  Runtime.start({ tasks: fixture('tasks.mjs'), workers: WORKERS, ...options });

/**
 * Capacity refusals the throughput driver waits out; any other reason is a failure. A producer
 * given no limits gets slots = globalSlots and its gate is checked first, so reaching the global
 * ceiling is reported as 'producer-slots'.
 */
const RETRYABLE = new Set(['ring-full', 'global-slots', 'producer-slots']);

async function submitSession(options?: { spin?: number }): Promise<Session> {
  const rt = await start(options);
  const tasks = { inc: rt.task('inc'), spin50: rt.task('spin50') };
  const producer = rt.producer('bench');
  return {
    start(task: TaskName, arg, done, fail) {
      const a = producer.submit<number>(tasks[task], arg);
      if (a.admitted) {
        a.token.then(done, fail);
        return true;
      }
      if (RETRYABLE.has(a.reason)) return false;
      throw new Error(`sluice refused a submission: ${a.reason}`);
    },
    close: () => rt.close(),
  };
}

export const sluiceSubmit: RowDef = {
  name: 'sluice submit/token',
  kinds: ['throughput', 'latency', 'cpu'],
  open: () => submitSession(),
};

export const sluiceRun: RowDef = {
  name: 'sluice run()',
  kinds: ['throughput', 'latency', 'cpu'],
  async open() {
    const rt = await start();
    return promiseSession((task, arg) => rt.run<number>(task, arg), () => rt.close());
  },
};

export const sluiceParked: RowDef = {
  name: 'sluice spin:0',
  kinds: ['latency'],
  open: () => submitSession({ spin: 0 }),
};

export const rows = [sluiceSubmit, sluiceRun, sluiceParked];
