// sluice rows, written against DESIGN.md §1. run.ts imports this module dynamically and skips
// these rows when the runtime (the built package, or src/ with SLUICE_BENCH_SOURCE=1: package.ts)
// is missing or fails to load. The sessions are also
// used by the scaling, pinning and steady-state sections and by the attached producer threads.
import type { Producer, ProducerLimits, Runtime as RuntimeT, RuntimeOptions, TaskRef } from '../../src/index.js';
import { WORKER_OPTIONS, sluice } from './package.js';
import { TASK_NAMES, WORKERS, fixture, promiseSession, type RowDef, type Session, type TaskName } from '../workload.js';

const { Runtime } = sluice;
type Runtime = RuntimeT;

/** A runtime on the shared task fixture; 2 workers unless told otherwise. */
export const startSluice = (options: Partial<RuntimeOptions> = {}): Promise<Runtime> =>
  Runtime.start({ tasks: fixture('tasks.mjs'), workers: WORKERS, ...WORKER_OPTIONS, ...options });

/**
 * The same, resolved once every worker is ready (Runtime.start resolves on the first): for the
 * sections that compare configurations in steady state (recorder, gates, metrics cost, pinning,
 * steal, scaling, steady, io-class, guard, submit-cost), so that no measurement starts while a worker still
 * boots. The rows of the main table and the user workloads start as users do, with startSluice.
 */
export const startSluiceReady = async (options: Partial<RuntimeOptions> = {}): Promise<Runtime> => {
  const rt = await startSluice(options);
  await rt.allWorkersReady();
  return rt;
};

/** The callback rows' shape: 1024 admitted at once (the driver's window), 512 cells per worker ring. */
export const CALLBACK_OPTIONS = { globalSlots: 1024, ringCapacity: 512 } as const;
/** "gates on": every submit refills the bucket and takes a token; never the binding limit. */
export const GATED_LIMITS: ProducerLimits = { rate: 10_000_000, burst: 65535, slots: 1024 };

/**
 * Capacity refusals the drivers wait out; any other reason is a failure. A producer given no
 * limits gets slots = globalSlots and its gate is checked first, so reaching the global ceiling
 * is reported as 'producer-slots'.
 */
const RETRYABLE = new Set(['ring-full', 'arena-full', 'global-slots', 'producer-slots', 'rate']);

/** Session.start's verdict for a refused submit: false to wait for a completion, or throw. */
function refused(reason: string): false {
  if (RETRYABLE.has(reason)) return false;
  throw new Error(`sluice refused a submission: ${reason}`);
}

function refsOf(rt: Runtime): Record<TaskName, TaskRef> {
  return Object.fromEntries(TASK_NAMES.map((t) => [t, rt.task(t)])) as Record<TaskName, TaskRef>;
}

/** A fresh runtime (these options over the defaults) and a tokenSession on it. */
export async function submitSession(options?: Partial<RuntimeOptions>): Promise<Session> {
  const rt = await startSluice(options);
  return tokenSession(rt, rt.producer('bench'));
}

/** A Session over producer.submit and the Token's promise; `close` ends the runtime. */
export function tokenSession(rt: Runtime, producer: Producer): Session {
  const tasks = refsOf(rt);
  return {
    start(task: TaskName, arg, done, fail) {
      const a = producer.submit<number>(tasks[task], arg);
      if (!a.admitted) return refused(a.reason);
      a.token.then(done, fail);
      return true;
    },
    close: () => rt.close(),
  };
}

export interface CallbackShape {
  /** The TaskRef for (task, arg); default: the task's plain ref. */
  ref?: (task: TaskName, arg: number) => TaskRef;
  /** What is submitted for arg; default: arg itself. */
  payload?: (arg: number) => unknown;
  /** The number handed to the driver for a result; default: the result itself. */
  result?: (value: unknown) => number;
}

/**
 * A Session over producer.submitCallback with one reused callback and tag = arg: nothing is
 * allocated per task (the drivers pass the same done/fail for a whole run). `close` ends the
 * runtime (or, for an attached one, detaches).
 */
export function callbackSession(rt: Runtime, producer: Producer, shape: CallbackShape = {}): Session {
  const refs = refsOf(rt);
  const ref = shape.ref ?? ((task: TaskName): TaskRef => refs[task]);
  const payload = shape.payload;
  const result = shape.result;
  let done: (value: number) => void = () => {};
  let fail: (err: unknown) => void = () => {};
  const callback = (err: unknown, value: unknown): void => {
    if (err !== undefined) fail(err);
    else done(result === undefined ? (value as number) : result(value));
  };
  return {
    start(task, arg, d, f) {
      done = d;
      fail = f;
      const r = producer.submitCallback(ref(task, arg), payload === undefined ? arg : payload(arg), callback, arg);
      return r === null || refused(r.reason);
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
    const rt = await startSluice();
    return promiseSession((task, arg) => rt.run<number>(task, arg), () => rt.close());
  },
};

export const sluiceParked: RowDef = {
  name: 'sluice spin:0',
  kinds: ['latency'],
  open: () => submitSession({ spinUs: 0 }),
};

export const sluiceCallback: RowDef = {
  name: 'sluice callback',
  kinds: ['throughput', 'latency', 'cpu'],
  async open() {
    const rt = await startSluice(CALLBACK_OPTIONS);
    return callbackSession(rt, rt.producer('bench'));
  },
};

export const sluiceGated: RowDef = {
  name: 'sluice gates on',
  kinds: ['throughput'],
  async open() {
    const rt = await startSluice(CALLBACK_OPTIONS);
    return callbackSession(rt, rt.producer('gated', GATED_LIMITS));
  },
};

// The callback and gates-on rows run back to back: "gates on vs off" is their per-rep ratio.
export const rows = [sluiceSubmit, sluiceRun, sluiceParked, sluiceCallback, sluiceGated];
