/**
 * Options of every public call: reading, defaults, bounds, and the reason for each bound.
 *
 * Options are user values: getters and Proxies may throw, or answer differently each time they
 * are read. So every options object is read exactly once, into a snapshot (a null-prototype
 * record of the known keys), before anything is validated or taken; everything after reads the
 * snapshot. A throw while reading becomes a ConfigError naming the option, with the thrown value
 * as its `cause`. Messages describe a bad value (errors.describe), never print it.
 */
import { type GuardConfig, parseGuard } from '../admission/guard.js';
import os from 'node:os';
import { SHARE_ENV, type ResourceLimits } from 'node:worker_threads';
import { ConfigError, SLUICE_ERROR_CLASSES, SluiceError, describe, printableName } from '../errors.js';
import { computeLayout, MAX_LAYOUT_BYTES, type Layout } from '../shm/layout.js';
import { type Clock, GuardedClock } from '../admission/clock.js';
import { traceOption, type TraceConfig } from './recording.js';
import { isAbortSignal } from './user-code.js';
import type { ErrorClasses } from './codec.js';
import { ioLimitsOption } from './io-class.js';
import { uncloneable } from './uncloneable.js';

// Kept apart so that the worker's codec does not load this module (start-up: docs/performance.md).
export { uncloneable };
import type { IoClassName } from '../admission/io-names.js';

export type Snapshot = Record<string, unknown>;

type ErrorClass = new (message: string, options?: { cause?: unknown }) => SluiceError;

/**
 * §4.13 step 3: an option object is read once, its known keys only.
 * Read `value` (an options object, or undefined when `optional`) once: its own enumerable keys
 * (any not in `keys` is refused; one in `renamed` is refused naming its new name) and each known
 * key's value. Arrays, functions and primitives are refused; so is null.
 */
export function snapshot(
  where: string, what: string, value: unknown, keys: readonly string[], optional = true, Err: ErrorClass = ConfigError,
  renamed?: ReadonlyMap<string, string>,
): Snapshot {
  const out: Snapshot = Object.create(null) as Snapshot;
  if (value === undefined && optional) return out;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Err(`${where}: ${what} must be an object; got ${describe(value)}`);
  }
  let own: string[];
  try {
    own = Object.keys(value);
  } catch (cause) {
    throw new Err(`${where}: listing the keys of ${what} threw`, { cause });
  }
  for (const k of own) {
    if (!keys.includes(k)) {
      if (renamed?.has(k)) throw new Err(`${where}: option '${k}' was renamed '${renamed.get(k)!}' (same meaning); unknown keys are refused`);
      const shown = k.length <= 40 && /^[\w$]+$/.test(k) ? `'${k}'` : `(${describe(k)})`;
      throw new Err(`${where}: unknown ${what === 'options' ? 'option' : `key of ${what}`} ${shown} (known: ${keys.join(', ')})`);
    }
  }
  for (const k of keys) {
    try {
      out[k] = (value as Record<string, unknown>)[k];
    } catch (cause) {
      throw new Err(`${where}: reading ${what === 'options' ? 'option' : what + ' key'} '${k}' threw`, { cause });
    }
  }
  return out;
}

/**
 * An integer option: undefined -> dflt; else an integer in [min, max] (a power of two when
 * `pow2`); -0 is 0. `why` says where the bound comes from.
 */
export function intOption(where: string, o: Snapshot, key: string, dflt: number, min: number, max: number, pow2 = false): number {
  const v = o[key] === undefined ? dflt : o[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max || (pow2 && (v & (v - 1)) !== 0)) {
    throw new ConfigError(`${where}: ${key} must be ${pow2 ? 'a power of two' : 'an integer'} from ${min} to ${max}; got ${describe(o[key])}`);
  }
  return v + 0;
}

function boolOption(where: string, o: Snapshot, key: string, dflt: boolean): boolean {
  const v = o[key] === undefined ? dflt : o[key];
  if (typeof v !== 'boolean') throw new ConfigError(`${where}: ${key} must be a boolean; got ${describe(o[key])}`);
  return v;
}

/** Copy a user array once (length and each index read once); a throw is a ConfigError. */
function copyArray(where: string, what: string, v: unknown): unknown[] {
  if (!Array.isArray(v)) throw new ConfigError(`${where}: ${what} must be an array; got ${describe(v)}`);
  try {
    const n = v.length;
    if (typeof n !== 'number' || n > 4096) throw new ConfigError(`${where}: ${what} has too many entries`);
    const out = new Array<unknown>(n);
    for (let i = 0; i < n; i++) out[i] = v[i];
    return out;
  } catch (cause) {
    if (cause instanceof ConfigError) throw cause;
    throw new ConfigError(`${where}: reading ${what} threw`, { cause });
  }
}

/**
 * A clock option: an object with a now() function whose first reading is a finite number >= 0.
 * Read once (now and turnResolution); the runtime uses a GuardedClock over what was read, so a
 * later throw, NaN or backwards reading can never reach admission (docs/design.md 4.11).
 */
export function clockOption(where: string, v: unknown): Clock | null {
  if (v === undefined) return null;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ConfigError(`${where}: clock must be an object with a now() method; got ${describe(v)}`);
  let now: unknown;
  let turn: unknown;
  try {
    now = (v as Record<string, unknown>).now;
    turn = (v as Record<string, unknown>).turnResolution;
  } catch (cause) {
    throw new ConfigError(`${where}: reading clock.now threw`, { cause });
  }
  if (typeof now !== 'function') throw new ConfigError(`${where}: clock must have a now() method; its now is ${describe(now)}`);
  let first: unknown;
  try {
    first = Reflect.apply(now, v, []);
  } catch (cause) {
    throw new ConfigError(`${where}: clock.now() threw`, { cause });
  }
  if (typeof first !== 'number' || !Number.isFinite(first) || first < 0) {
    throw new ConfigError(`${where}: clock.now() must return a finite number of ticks >= 0; got ${describe(first)}`);
  }
  return new GuardedClock(v as object, now as () => number, Math.floor(first), turn === true);
}

export const START_OPTION_KEYS = [
  'tasks', 'workers', 'globalSlots', 'ringCapacity', 'affinity', 'spinUs', 'steal', 'asyncConcurrency', 'maxProducers',
  'maxAttachments', 'spillBytes', 'runQueueLimit', 'clock', 'watchdogMs', 'maxRestarts', 'testHooks', 'resourceLimits', 'taskData', 'warmUp',
  'stallMs', 'startTimeoutMs', 'signal', 'execArgv', 'env', 'errors', 'trace', 'largeValues', 'ioLimits', 'metrics', 'guard',
] as const;

/** Start options that were renamed (0.x): the old name is refused with a ConfigError naming the new one. */
const RENAMED_START_OPTIONS: ReadonlyMap<string, string> = new Map([['spin', 'spinUs']]);

const RESOURCE_LIMIT_KEYS = ['maxYoungGenerationSizeMb', 'maxOldGenerationSizeMb', 'codeRangeSizeMb', 'stackSizeMb'] as const;

/** Runtime.start's options, read once and checked. */
export interface StartConfig {
  /** The named I/O classes' limits (defaults where not given). */
  ioLimits: Readonly<Record<IoClassName, number>>;
  tasks: string | URL;
  workers: number;
  globalSlots: number;
  ringCapacity: number;
  spinUs: number;
  asyncLimit: number;
  maxProducers: number;
  maxAttachments: number;
  spillBytes: number;
  runQueueLimit: number;
  watchdogMs: number;
  maxRestarts: number;
  stallMs: number;
  startTimeoutMs: number;
  signal: AbortSignal | undefined;
  affinity: 'auto' | false | number[][];
  steal: boolean;
  warmUp: boolean;
  /** The runtime's default guard (the Guard House), null without one. */
  guard: GuardConfig | null;
  testHooks: boolean;
  /** RuntimeOptions.metrics: keep queue-wait and run-time histograms (docs/design.md §2.4). */
  metrics: boolean;
  clock: Clock | null;
  resourceLimits: ResourceLimits | undefined;
  /** new Worker's execArgv for every worker (replacements too); undefined = Node's default (the parent's). */
  execArgv: string[] | undefined;
  /** new Worker's env for every worker; undefined = Node's default (a copy of process.env). */
  env: Record<string, string> | typeof SHARE_ENV | undefined;
  /** Error classes rebuilt on this thread, by class name (rebuildError in codec.ts). */
  errors: ErrorClasses | null;
  taskData: unknown;
  /** RuntimeOptions.largeValues: 'message' (default) or 'refuse'. */
  largeValues: 'message' | 'refuse';
  layout: Layout;
  /** Recording (src/runtime/recording.ts); null: off. */
  trace: TraceConfig | null;
}

const W = 'Runtime.start';

export function parseStartOptions(options: unknown): StartConfig {
  const o = snapshot(W, 'options', options, START_OPTION_KEYS, false, ConfigError, RENAMED_START_OPTIONS);
  const tasks = o.tasks;
  if (typeof tasks !== 'string' && !(tasks instanceof URL)) {
    throw new ConfigError(`${W}: tasks must be a module path or URL; got ${describe(tasks)}`);
  }
  if (typeof tasks === 'string' && (tasks.length === 0 || !tasks.isWellFormed())) {
    throw new ConfigError(`${W}: tasks must be a non-empty, well-formed module path`);
  }
  // Bounds, and why:
  //   workers         <= 255: the token word's worker field is 8 bits (shm/words/token.ts TK_WORKER_MAX)
  //   globalSlots     <= 65535: gate words count in 16-bit fields; token indices are 16 bits (supervisor/reconcile.ts key())
  //   ringCapacity    power of two (ring.ts masks), <= 65536
  //   maxAttachments  <= 255: supervisor/reconcile.ts key() packs the attachment in 8 bits
  //   spillBytes      power of two (arena positions wrap as int32 modulo it), 1 KiB .. 1 GiB
  //   and the whole layout must fit MAX_LAYOUT_BYTES (checked below, naming the options to lower).
  const workers = intOption(W, o, 'workers', os.availableParallelism(), 1, 255);
  const globalSlots = intOption(W, o, 'globalSlots', 512, 1, 0xffff);
  const ringCapacity = intOption(W, o, 'ringCapacity', 256, 2, 1 << 16, true);
  const spinUs = intOption(W, o, 'spinUs', 50, 0, 1_000_000);
  const asyncLimit = intOption(W, o, 'asyncConcurrency', 64, 1, 1 << 16);
  const maxProducers = intOption(W, o, 'maxProducers', 64, 1, 4096);
  const maxAttachments = intOption(W, o, 'maxAttachments', 16, 1, 255);
  const spillBytes = intOption(W, o, 'spillBytes', 1 << 20, 1 << 10, 1 << 30, true);
  //   runQueueLimit   default 2^31-1: no limit in practice, as piscina's maxQueue; the line is bounded by
  //                   memory (~0.3 KB per waiting call and its payload: run-queue.ts)
  const runQueueLimit = intOption(W, o, 'runQueueLimit', 2 ** 31 - 1, 0, 2 ** 31 - 1);
  const watchdogMs = intOption(W, o, 'watchdogMs', 10, 1, 60_000);
  const maxRestarts = intOption(W, o, 'maxRestarts', 10, 0, 1_000_000);
  //   stallMs         0 = off; any positive ms (the supervisor compares elapsed ms against it)
  const stallMs = intOption(W, o, 'stallMs', 5000, 0, 2 ** 31 - 1);
  //   startTimeoutMs  >= 1: how long start waits for its first worker (and each other thread may take) to report ready
  const startTimeoutMs = intOption(W, o, 'startTimeoutMs', 30_000, 1, 2 ** 31 - 1);
  const signal = o.signal;
  if (signal !== undefined && !isAbortSignal(signal)) throw new ConfigError(`${W}: signal must be an AbortSignal; got ${describe(signal)}`);
  const steal = boolOption(W, o, 'steal', true);
  const warmUp = boolOption(W, o, 'warmUp', true);
  const testHooks = boolOption(W, o, 'testHooks', false);
  const metrics = boolOption(W, o, 'metrics', false);

  let affinity: 'auto' | false | number[][];
  const a = o.affinity === undefined ? 'auto' : o.affinity;
  if (a === 'auto' || a === false) affinity = a;
  else if (Array.isArray(a)) {
    const map = copyArray(W, 'affinity', a);
    if (map.length !== workers) throw new ConfigError(`${W}: affinity map has ${map.length} entries for ${workers} workers`);
    affinity = map.map((entry, w) => {
      const cpus = Array.isArray(entry) ? copyArray(W, `affinity[${w}]`, entry) : null;
      if (cpus === null || cpus.length === 0 || !cpus.every((c) => typeof c === 'number' && Number.isInteger(c) && c >= 0 && c < 1024)) {
        throw new ConfigError(`${W}: affinity[${w}] must be a non-empty array of CPU numbers (0..1023); got ${describe(entry)}`);
      }
      return (cpus as number[]).map((c) => c + 0);
    });
  } else {
    throw new ConfigError(`${W}: affinity must be 'auto', false or an array of CPU lists; got ${describe(a)}`);
  }

  let resourceLimits: ResourceLimits | undefined;
  if (o.resourceLimits !== undefined) {
    const r = snapshot(W, 'resourceLimits', o.resourceLimits, RESOURCE_LIMIT_KEYS);
    resourceLimits = {};
    for (const k of RESOURCE_LIMIT_KEYS) {
      const v = r[k];
      if (v === undefined) continue;
      if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || v > 1 << 20) {
        throw new ConfigError(`${W}: resourceLimits.${k} must be a number of MB above 0 and at most ${1 << 20}; got ${describe(v)}`);
      }
      resourceLimits[k] = v;
    }
  }

  const execArgv = execArgvOption(W, o.execArgv);
  const env = envOption(W, o.env);
  const errors = errorClassesOption(W, o.errors);
  const largeValues = o.largeValues === undefined ? 'message' : o.largeValues;
  if (largeValues !== 'message' && largeValues !== 'refuse') {
    throw new ConfigError(`${W}: largeValues must be 'message' or 'refuse'; got ${describe(o.largeValues)}`);
  }
  const clock = clockOption(W, o.clock);
  const taskData = cloneTaskData(o.taskData);

  const layout = computeLayout({
    workers, ringCapacity, globalSlots, maxProducers, maxAttachments, spillBytes, taskCount: 0, spinMicros: spinUs, asyncLimit, testHooks, metrics,
  });
  if (layout.totalBytes > MAX_LAYOUT_BYTES) {
    throw new ConfigError(
      `${W}: these options need ${layout.totalBytes} bytes of shared memory; the layout holds at most ${MAX_LAYOUT_BYTES} ` +
      `(its word indices are int32). The spill arenas alone take (maxAttachments + workers) x spillBytes = ${(maxAttachments + workers) * spillBytes}; ` +
      'lower spillBytes, maxAttachments, workers, ringCapacity or globalSlots',
    );
  }
  return {
    tasks, workers, globalSlots, ringCapacity, spinUs, asyncLimit, maxProducers, maxAttachments, spillBytes, runQueueLimit, watchdogMs,
    maxRestarts, stallMs, startTimeoutMs, signal: signal as AbortSignal | undefined, affinity, steal, warmUp, testHooks, metrics, clock, resourceLimits, execArgv, env, errors, taskData, layout, trace: traceOption(W, o.trace),
    largeValues, ioLimits: ioLimitsOption(W, o.ioLimits), guard: o.guard === undefined ? null : parseGuard(W, o.guard),
  };
}

/** execArgv: an array of strings (Node itself refuses a flag a worker cannot take: start then fails with WorkerStartError). */
function execArgvOption(where: string, v: unknown): string[] | undefined {
  if (v === undefined) return undefined;
  const args = copyArray(where, 'execArgv', v);
  args.forEach((a, i) => {
    if (typeof a !== 'string') throw new ConfigError(`${where}: execArgv[${i}] must be a string; got ${describe(a)}`);
  });
  return args as string[];
}

/**
 * env: worker_threads.SHARE_ENV, or a plain object whose own enumerable keys all have string
 * values (read once, into a copy: later changes to the caller's object reach no worker).
 */
function envOption(where: string, v: unknown): Record<string, string> | typeof SHARE_ENV | undefined {
  if (v === undefined || v === SHARE_ENV) return v;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new ConfigError(`${where}: env must be an object of strings or worker_threads.SHARE_ENV; got ${describe(v)}`);
  }
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  let keys: string[];
  try {
    keys = Object.keys(v);
  } catch (cause) {
    throw new ConfigError(`${where}: listing the keys of env threw`, { cause });
  }
  for (const k of keys) {
    let x: unknown;
    try {
      x = (v as Record<string, unknown>)[k];
    } catch (cause) {
      throw new ConfigError(`${where}: reading an env variable threw`, { cause });
    }
    if (typeof x !== 'string') throw new ConfigError(`${where}: env values must be strings; one is ${describe(x)}`);
    out[k] = x;
  }
  return out;
}


/**
 * Names an error record may carry that a registered class must not take: the built-in error
 * classes and sluice's own, which are rebuilt by name already.
 */
const RESERVED_ERROR_NAMES = new Set([
  'Error', 'TypeError', 'RangeError', 'SyntaxError', 'ReferenceError', 'EvalError', 'URIError', 'AggregateError',
  ...Object.keys(SLUICE_ERROR_CLASSES),
]);

/**
 * The `errors` option (Runtime.start, Runtime.attach): an array of Error subclasses, registered
 * by their class name (the constructor's own `name`, a data property) with their prototype (its
 * own `prototype`, a data property, an object that inherits Error.prototype). Both are read once,
 * here; no constructor is ever called (codec.ts rebuildError). Names must be unique and not a
 * built-in's or sluice's. null when none.
 */
export function errorClassesOption(where: string, v: unknown): ErrorClasses | null {
  if (v === undefined) return null;
  const list = copyArray(where, 'errors', v);
  const out = new Map<string, object>();
  list.forEach((c, i) => {
    if (typeof c !== 'function') throw new ConfigError(`${where}: errors[${i}] must be an Error subclass; got ${describe(c)}`);
    let name: unknown;
    let proto: unknown;
    let isError: boolean;
    try {
      name = Object.getOwnPropertyDescriptor(c, 'name')?.value;
      proto = Object.getOwnPropertyDescriptor(c, 'prototype')?.value;
      isError = typeof proto === 'object' && proto !== null && Object.prototype.isPrototypeOf.call(Error.prototype, proto);
    } catch (cause) {
      throw new ConfigError(`${where}: reading errors[${i}] threw`, { cause });
    }
    if (!isError) throw new ConfigError(`${where}: errors[${i}] must be a class that extends Error (its prototype does not inherit Error.prototype)`);
    if (typeof name !== 'string' || name.length === 0 || name.length > 128) {
      throw new ConfigError(`${where}: errors[${i}] must have a name (its own name property, a non-empty string); got ${describe(name)}`);
    }
    const shown = printableName(name) ? `'${name}'` : `(${describe(name)})`;
    if (RESERVED_ERROR_NAMES.has(name)) throw new ConfigError(`${where}: errors[${i}] is named ${shown}, the name of a built-in or sluice error class (those are rebuilt already)`);
    if (out.has(name)) throw new ConfigError(`${where}: errors[${i}]: two classes are named ${shown}; classes are matched by name, so names must be unique`);
    out.set(name, proto as object);
  });
  return out;
}

/**
 * taskData is structured-cloned into every worker: refuse what cannot be, saying what kind of
 * value it is; else its clone, made once here, is what every worker (replacements too) gets a
 * clone of. So its getters are read once, as every option is (a getter that changes its answer
 * cannot hand one worker a different value), and the memory a SharedArrayBuffer in it shares is
 * the same (a clone of a shared buffer shares its memory).
 */
function cloneTaskData(v: unknown): unknown {
  if (v === undefined) return undefined;
  try {
    return structuredClone(v);
  } catch {
    // A DataCloneError's message quotes the value: never kept, not even as the cause.
    throw new ConfigError(`${W}: taskData cannot be cloned into the workers: ${uncloneable(v)}`);
  }
}

