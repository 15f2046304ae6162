/**
 * `sluice/task`: nested tasks (docs/design.md §4.14). A task module imports `runtime` from here
 * and a running task submits tasks of its own, with the API of a Runtime handle:
 *
 *   import { runtime } from 'sluice/task';
 *   export async function parent(n) {
 *     const kids = [];
 *     for (let i = 0; i < n; i++) kids.push(runtime.run('child', i));   // charged to this task's producer
 *     return Promise.all(kids);
 *   }
 *
 * One attachment per worker thread, made on first use (Runtime.attach from inside the worker,
 * with the handle the worker builds from its workerData: worker/main.ts). A child's parent is
 * the running task, across its awaits (an AsyncLocalStorage the loop enters around each task call
 * once this module was imported: worker/nest.ts); a child is charged to its parent's producer
 * unless the task names one (`runtime.producer(name)`). Outside a sluice worker every method
 * throws a ConfigError saying so; importing this module there does nothing.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { Runtime } from './runtime/runtime.js';
import { GEN_SPAN, NEST, type NestContext, taskKey } from './runtime/worker/nest.js';
import { W_RUN_ATT, W_RUN_GEN, W_RUN_TOKEN } from './shm/layout.js';
import { isRunningOn } from './shm/words/token.js';
import { ConfigError, RejectedError, runRejected } from './errors.js';
import { CAPACITY_REASONS } from './admission/reasons.js';
import { type ProducerLimits } from './runtime/registry.js';
import { producerName } from './runtime/producer-name.js';
import type { Admission, Producer, SubmitCallback, SubmitLineage, SubmitOptions } from './runtime/producer.js';
import { type Token, type TokenKey, tokenKey } from './runtime/token.js';
import type { TaskOptions, TaskRef } from './runtime/task.js';
import type { Attachment } from './runtime/submit/attachment.js';

export type { TokenKey };

/** What a running task gets from `sluice/task`: a Runtime handle's submitting API, for this worker thread. */
export interface TaskRuntime {
  /** The running task's identity (its token's `key` as the submitter sees it), or null outside a running task. */
  readonly current: TokenKey | null;
  /** A producer handle of this worker thread's attachment (rt.producer): submits through it are charged to it, with the running task as parent. */
  producer(name: string, limits?: ProducerLimits): Producer;
  /** Submit a child, charged to the running task's producer (decided synchronously, as producer.submit). */
  submit<T = unknown>(task: TaskRef | string, payload?: unknown, options?: SubmitOptions): Admission<T>;
  /**
   * Submit a child (charged to the running task's producer) and resolve with its value. Inside a
   * task it never waits for capacity: a rejection rejects with RejectedError at once (§4.14 rule 2).
   * Outside a running task (e.g. a module's top level) it is rt.run of this thread's attachment.
   */
  run<T = unknown>(task: TaskRef | string, payload?: unknown, options?: SubmitOptions): Promise<T>;
  /** rt.task: resolve a task name to a TaskRef of this runtime. */
  task(name: string, options?: TaskOptions): TaskRef;
}

/** This worker thread's context (worker/main.ts publishes it before loading the task module); undefined elsewhere. */
const ctx = (globalThis as Record<symbol, unknown>)[NEST] as NestContext | undefined;
// §4.14 step 2: from now on the loop enters the AsyncLocalStorage around each task call.
if (ctx !== undefined && ctx.als === null) ctx.als = new AsyncLocalStorage<number>();

/** §4.14 steps 2-3 and 5, as the worker's attachment's submits ask for them (producer.ts). */
class Lineage implements SubmitLineage {
  private readonly runW: number;
  constructor(private readonly c: NestContext) {
    this.runW = c.mem.workerWord(c.worker, 0);
  }

  /**
   * The running task: the AsyncLocalStorage's key (the loop entered it), else the run record of
   * a synchronous task started before this module was imported; -1 when none, or when that task
   * is no longer running here (a timer it left behind, a task abandoned at its deadline).
   */
  current(): number {
    const c = this.c;
    let k = c.als === null ? undefined : c.als.getStore();
    if (k === undefined) {
      const i32 = c.mem.i32;
      const t1 = Atomics.load(i32, this.runW + W_RUN_TOKEN);
      if (t1 === 0) return -1;
      k = taskKey(i32[this.runW + W_RUN_ATT]!, t1 - 1, i32[this.runW + W_RUN_GEN]!);
    }
    return this.running(k) ? k : -1;
  }

  /** Whether task `k` is RUNNING on this worker with its generation. */
  running(k: number): boolean {
    const packed = Math.floor(k / GEN_SPAN);
    return isRunningOn(this.c.mem.i32, this.c.mem.tokenWord(packed >>> 16, packed & 0xffff), k % GEN_SPAN, this.c.worker);
  }

  /**
   * §4.14 step 4: the producer the running task `k` was charged to (tokenMeta, written by its
   * submitter before it published the cell), or -1 if it stopped running. Read, then checked
   * still running: its submitter rewrites tokenMeta only for a later token on that index, after
   * this one left RUNNING|this worker.
   */
  producerOf(k: number): number {
    const packed = Math.floor(k / GEN_SPAN);
    const p = Atomics.load(this.c.mem.i32, this.c.mem.tokenMetaWord(packed >>> 16, packed & 0xffff));
    return this.running(k) ? p : -1;
  }

  adopt(key: number, token: Token): void {
    const c = this.c;
    c.childAdmitted(key);
    const done = (): void => { c.childResolved(key); };
    token.promise().then(done, done);
  }

  wrap(key: number, cb: SubmitCallback): SubmitCallback {
    const c = this.c;
    // Uncount the child, then run the callback in its parent's context (the pump's own is any task's).
    return (err, value, tag) => {
      c.childResolved(key);
      return c.als === null ? cb(err, value, tag) : c.als.run(key, cb, err, value, tag);
    };
  }

  adopted(key: number): void {
    this.c.childAdmitted(key);
  }
}

class WorkerTaskRuntime implements TaskRuntime {
  private rt: Runtime | null = null;
  private readonly lineage: Lineage | null = ctx === undefined ? null : new Lineage(ctx);
  /** Producer handles by producer index (the running tasks' producers). */
  private readonly byIndex = new Map<number, Producer>();

  get current(): TokenKey | null {
    const k = this.lineage === null ? -1 : this.lineage.current();
    return k < 0 ? null : tokenKey(Math.floor(k / GEN_SPAN), k % GEN_SPAN);
  }

  /** §4.14 step 1: this thread's attachment, made on first use. */
  private attached(where: string): Runtime {
    if (this.rt !== null) return this.rt;
    if (ctx === undefined) {
      throw new ConfigError(`sluice/task: ${where} works only in a task running on a sluice worker; this thread is not one (use Runtime.start or Runtime.attach)`);
    }
    if (ctx.handle.names.length === 0) {
      // The module is still loading (its exports, the handle's names, are not known yet).
      throw new ConfigError(`sluice/task: ${where} cannot be used while the task module loads; call it from a task`);
    }
    const rt = Runtime._attachSync(ctx.handle);
    (rt as unknown as { att: Attachment }).att.lineage = this.lineage;
    this.rt = rt;
    return rt;
  }

  /** §4.14 step 4: the running task's producer, on this thread's attachment. */
  private parentProducer(where: string): Producer {
    const rt = this.attached(where);
    const lineage = this.lineage!;
    const k = lineage.current();
    const p = k < 0 ? -1 : lineage.producerOf(k);
    if (p < 0) {
      throw new ConfigError(`sluice/task: ${where} outside a running task has no parent producer to charge; name one: runtime.producer(name).submit(...)`);
    }
    let prod = this.byIndex.get(p);
    if (prod === undefined) {
      prod = rt.producer(producerName(ctx!.mem, p));
      this.byIndex.set(p, prod);
    }
    return prod;
  }

  producer(name: string, limits?: ProducerLimits): Producer {
    return this.attached('runtime.producer()').producer(name, limits);
  }

  submit<T = unknown>(task: TaskRef | string, payload?: unknown, options?: SubmitOptions): Admission<T> {
    return this.parentProducer('runtime.submit()').submit<T>(task, payload, options);
  }

  run<T = unknown>(task: TaskRef | string, payload?: unknown, options?: SubmitOptions): Promise<T> {
    try {
      const rt = this.attached('runtime.run()');
      if (this.lineage!.current() < 0) return rt.run<T>(task, payload, options);
      // §4.14 rule 2: a task never waits for capacity (what it would wait for may be held by its
      // own ancestors, which wait for it): submit, and reject at once if refused.
      const a = this.parentProducer('runtime.run()').submit<T>(task, payload, options);
      if (a.admitted) return a.promise();
      if (!CAPACITY_REASONS.has(a.reason)) return Promise.reject(runRejected(a));
      return Promise.reject(new RejectedError(a.reason, `runtime.run() in a task does not wait for capacity: rejected '${a.reason}'`));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  task(name: string, options?: TaskOptions): TaskRef {
    return this.attached('runtime.task()').task(name, options);
  }
}

/** The running task's runtime (one per worker thread). */
export const runtime: TaskRuntime = new WorkerTaskRuntime();
