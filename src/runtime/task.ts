/**
 * Task references: a task name resolved once to its integer id, plus per-task options.
 * Task ids are the positions of the module's function exports in sorted name order, the same
 * in every thread.
 */
import { UnknownTaskError, ConfigError } from '../errors.js';
import { ANY_WEIGHT, Weight, weightIndex } from './routing.js';

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
}

export class TaskRef {
  /** Brand: only rt.task() makes TaskRefs (see TaskRef.is). */
  readonly #brand = true;
  /** @internal */ readonly weightIndex: number;
  constructor(
    readonly name: string,
    readonly id: number,
    readonly weight: Weight | null,
    readonly deadlineMs: number,
    readonly queueTimeoutMs: number,
    readonly retries: number,
  ) {
    this.weightIndex = weight === null ? ANY_WEIGHT : weightIndex(weight);
    // Frozen data properties: sluice reads them inside windows and from the pump (retries), where
    // a getter (of a subclass, say) must not run.
    Object.freeze(this);
  }

  /**
   * Whether `v` is a TaskRef made by rt.task(): a private-brand check, so a Proxy or a lookalike
   * (Object.create(TaskRef.prototype)) is refused without running any of its traps or getters.
   */
  static is(v: unknown): v is TaskRef {
    return typeof v === 'object' && v !== null && #brand in v;
  }
}

const TASK_OPTION_KEYS = new Set(['weight', 'deadlineMs', 'queueTimeoutMs', 'retries']);

/** A duration option: a non-negative integer number of ms (0 or undefined = none). */
export function checkMs(where: string, key: string, v: unknown): void {
  if (v !== undefined && (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 2 ** 31 - 1)) {
    throw new ConfigError(`${where}: ${key} must be a non-negative integer (ms); got ${String(v)}`);
  }
}

export function resolveTask(names: readonly string[], name: string, options: TaskOptions = {}): TaskRef {
  if (typeof name !== 'string') throw new ConfigError(`task name must be a string; got ${typeof name}`);
  const id = names.indexOf(name);
  if (id < 0) throw new UnknownTaskError(name, names);
  for (const k of Object.keys(options)) {
    if (!TASK_OPTION_KEYS.has(k)) throw new ConfigError(`task '${name}': unknown option '${k}' (known: ${[...TASK_OPTION_KEYS].join(', ')})`);
  }
  checkMs(`task '${name}'`, 'deadlineMs', options.deadlineMs);
  checkMs(`task '${name}'`, 'queueTimeoutMs', options.queueTimeoutMs);
  const retries = options.retries ?? 0;
  if (!Number.isInteger(retries) || retries < 0 || retries > 100) {
    throw new ConfigError(`task '${name}': retries must be an integer from 0 to 100; got ${String(options.retries)}`);
  }
  return new TaskRef(name, id, options.weight ?? null, options.deadlineMs ?? 0, options.queueTimeoutMs ?? 0, retries);
}
