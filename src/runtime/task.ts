/**
 * Task references: a task name resolved once to its integer id, plus per-task options.
 * Task ids are the positions of the module's function exports in sorted name order, the same
 * in every thread.
 *
 * A TaskRef is valid only for runtime handles over the shared memory it was resolved against:
 * it carries that memory's instance id (a random 64-bit value the starting thread wrote into
 * the header, layout.ts H_INSTANCE), in a private field. Its fields are read-only accessors over
 * private fields, so neither a look-alike object, nor a mutated or a foreign TaskRef, can make
 * a submit run another task (docs/design.md 4.1, step 0).
 */
import { UnknownTaskError, ConfigError, describe } from '../errors.js';
import { ANY_WEIGHT, Weight, weightIndex } from './routing.js';
import { Snapshot, snapshot } from './options.js';
import type { Memory } from '../shm/layout.js';
import { NO_IO, bindIo, parseIo } from './io-class.js';
import type { IoBinding, IoClass } from './io-types.js';
import { type GuardConfig, type GuardOptions, parseGuard } from '../admission/guard.js';

export interface TaskOptions {
  /** Routing class (routing.ts). Without one, a task may run on any worker. */
  weight?: Weight;
  /** Longest run time in ms; queue time does not count. Past it the token resolves 'abandoned'. */
  deadlineMs?: number;
  /** Retract the task if it has not started within this many ms. */
  queueTimeoutMs?: number;
  /**
   * Times to run the task again if its worker dies while running it (not after a deadline or a
   * forced cancel). Declaring retries makes the task at-least-once; the payload is kept until
   * the token resolves.
   */
  retries?: number;
  /**
   * I/O class (docs/design.md §4.1 step 3a): admitted only while fewer than the class's limit of
   * its tasks are admitted and unresolved, across every thread; else rejected 'io-class'. A named
   * class ('slow' 10, 'moderate' 25, 'fast' 50, 'insane' 70; Runtime.start({ ioLimits })) or
   * `{ limit }`: this task function's own class, shared by every TaskRef of it in any thread.
   */
  io?: IoClass;
  /**
   * A breaker for this task function (the Guard House, docs/design.md §4.16). Stored once in
   * shared memory and shared by every thread and handle: the first guard given for a task wins,
   * a later different one is a ConfigError.
   */
  guard?: GuardOptions;
}

/** Only this module constructs TaskRefs (rt.task()). */
const MINT = Symbol('sluice.TaskRef');

/**
 * §4.13 step 1: a TaskRef is minted by rt.task() only, carrying a private brand and the runtime's
 * instance id. `N` is the task's name as a type: a literal on a typed runtime (`rt.task('hash')`
 * is a `TaskRef<'hash'>`, which submit checks payloads against), `string` otherwise. Types only.
 */
export class TaskRef<N extends string = string> {
  readonly #name: string;
  readonly #id: number;
  readonly #weight: Weight | null;
  readonly #weightIndex: number;
  readonly #deadlineMs: number;
  readonly #queueTimeoutMs: number;
  readonly #retries: number;
  readonly #instance: string;
  readonly #io: IoBinding;
  readonly #ioOption: IoClass | null;

  // Private (kept in the declarations as such: `new TaskRef()` does not compile): use rt.task(name).
  private constructor(
    mint: symbol, instance: string, name: string, id: number, weight: Weight | null, deadlineMs: number, queueTimeoutMs: number,
    retries: number, io: IoBinding = NO_IO, ioOption: IoClass | null = null,
  ) {
    if (mint !== MINT) throw new ConfigError('TaskRef is made by rt.task(name), not constructed');
    this.#instance = instance;
    this.#name = name;
    this.#id = id;
    this.#weight = weight;
    this.#weightIndex = weight === null ? ANY_WEIGHT : weightIndex(weight);
    this.#deadlineMs = deadlineMs;
    this.#queueTimeoutMs = queueTimeoutMs;
    this.#retries = retries;
    this.#io = io;
    this.#ioOption = ioOption;
    Object.freeze(this);
  }

  /** @internal The only way to make a TaskRef (resolveTask, for rt.task()). */
  static _create(
    mint: symbol, instance: string, name: string, id: number, weight: Weight | null, deadlineMs: number, queueTimeoutMs: number, retries: number,
    io: IoBinding = NO_IO, ioOption: IoClass | null = null,
  ): TaskRef {
    return new TaskRef(mint, instance, name, id, weight, deadlineMs, queueTimeoutMs, retries, io, ioOption);
  }

  get name(): N { return this.#name as N; }
  get id(): number { return this.#id; }
  get weight(): Weight | null { return this.#weight; }
  /** @internal */ get weightIndex(): number { return this.#weightIndex; }
  get deadlineMs(): number { return this.#deadlineMs; }
  get queueTimeoutMs(): number { return this.#queueTimeoutMs; }
  get retries(): number { return this.#retries; }
  /** Its I/O class as declared ('slow', ..., or a frozen { limit }), or null. */
  get io(): IoClass | null { return this.#ioOption; }
  /** @internal §4.1 step 3a: class slot + 1 (0 = none), its limit, its count word. */
  get _io(): IoBinding { return this.#io; }

  /**
   * @internal `task` as a TaskRef of the runtime whose instance id is `instance`, or a
   * ConfigError: a look-alike (no private fields: the brand check fails without running any of
   * its code) or a TaskRef of another runtime.
   */
  static own(task: unknown, instance: string): TaskRef {
    if (typeof task !== 'object' || task === null || !(#instance in task)) {
      throw new ConfigError(`task must be a TaskRef from rt.task() or a task name; got ${describe(task)}`);
    }
    if (task.#instance !== instance) {
      throw new ConfigError(`task '${task.#name}' is a TaskRef of another runtime; resolve it with this runtime's rt.task()`);
    }
    return task;
  }

  /**
   * @internal Whether `v` is a TaskRef made by rt.task(): a private-brand check, so a Proxy or a lookalike
   * (Object.create(TaskRef.prototype)) is refused without running any of its traps or getters.
   */
  static is(v: unknown): v is TaskRef {
    return typeof v === 'object' && v !== null && #instance in v;
  }
}

const TASK_OPTION_KEYS = ['weight', 'deadlineMs', 'queueTimeoutMs', 'retries', 'io', 'guard'] as const;

/** @internal A duration option: a non-negative integer number of ms up to 2^31-1 (0 or undefined = none; -0 is 0). */
export function checkMs(where: string, key: string, v: unknown): number {
  if (v === undefined) return 0;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 2 ** 31 - 1) {
    throw new ConfigError(`${where}: ${key} must be an integer from 0 to ${2 ** 31 - 1} (ms); got ${describe(v)}`);
  }
  return v + 0; // -0 -> 0
}

/** @internal */
export function resolveTask(
  mem: Memory, instance: string, names: readonly string[], name: unknown, options?: unknown, storeGuard?: (id: number, cfg: GuardConfig) => void,
): TaskRef {
  if (typeof name !== 'string') throw new ConfigError(`task name must be a string; got ${describe(name)}`);
  const o: Snapshot = snapshot(`rt.task()`, 'options', options, TASK_OPTION_KEYS);
  const id = names.indexOf(name);
  if (id < 0) throw new UnknownTaskError(name, names);
  const where = `task '${name}'`;
  const deadlineMs = checkMs(where, 'deadlineMs', o.deadlineMs);
  const queueTimeoutMs = checkMs(where, 'queueTimeoutMs', o.queueTimeoutMs);
  const r = o.retries === undefined ? 0 : o.retries;
  if (typeof r !== 'number' || !Number.isInteger(r) || r < 0 || r > 100) {
    throw new ConfigError(`${where}: retries must be an integer from 0 to 100; got ${describe(o.retries)}`);
  }
  if (o.weight !== undefined) weightIndex(o.weight); // a ConfigError for anything but a weight name (null too)
  const weight = o.weight === undefined ? null : (o.weight as Weight);
  const io = parseIo(where, o.io);
  const guard = o.guard === undefined ? null : parseGuard(where, o.guard);
  if (guard !== null && storeGuard === undefined) throw new ConfigError(`${where}: guard is not taken here`);
  // Last: a custom class claims its slot in shared memory, and a guard is stored there, so only
  // once every other option passed.
  const binding = io === null ? NO_IO : bindIo(mem, where, id, io);
  const ioOption: IoClass | null = io === null ? null : io.slot >= 0 ? (o.io as IoClass) : Object.freeze({ limit: io.limit });
  if (guard !== null) storeGuard!(id, guard);
  return TaskRef._create(MINT, instance, name, id, weight, deadlineMs, queueTimeoutMs, r + 0, binding, ioOption);
}
