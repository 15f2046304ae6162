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
  /** Longest run time in ms (queue time does not count). Enforced by the fault-containment layer. */
  deadlineMs?: number;
}

export class TaskRef {
  /** @internal */ readonly weightIndex: number;
  constructor(readonly name: string, readonly id: number, readonly weight: Weight | null, readonly deadlineMs: number) {
    this.weightIndex = weight === null ? ANY_WEIGHT : weightIndex(weight);
  }
}

const TASK_OPTION_KEYS = new Set(['weight', 'deadlineMs']);

export function resolveTask(names: readonly string[], name: string, options: TaskOptions = {}): TaskRef {
  if (typeof name !== 'string') throw new ConfigError(`task name must be a string; got ${typeof name}`);
  const id = names.indexOf(name);
  if (id < 0) throw new UnknownTaskError(name, names);
  for (const k of Object.keys(options)) {
    if (!TASK_OPTION_KEYS.has(k)) throw new ConfigError(`task '${name}': unknown option '${k}' (known: weight, deadlineMs)`);
  }
  const deadline = options.deadlineMs ?? 0;
  if (!Number.isInteger(deadline) || deadline < 0 || deadline > 2 ** 31 - 1) {
    throw new ConfigError(`task '${name}': deadlineMs must be a non-negative integer; got ${String(options.deadlineMs)}`);
  }
  return new TaskRef(name, id, options.weight ?? null, deadline);
}
