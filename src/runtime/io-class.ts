/**
 * I/O classes, the runtime's side (docs/design.md §2.4, §4.1 step 3a): the `io` task option and
 * the `ioLimits` start option read once and checked, a TaskRef's class resolved to its slot in
 * shared memory (a named class, or the task function's custom class claimed by CAS), the stats,
 * and the thread-pool warning. The gate itself is src/admission/io-class.ts.
 */
import { ConfigError, describe } from '../errors.js';
import { IO_CLASS, IO_COUNT, IO_NAMED, IO_SLOTS, IO_WARNED, type Memory } from '../shm/layout.js';
import { IO_LIMIT_MAX, claimCustom, classWord, keyOf, limitOf } from '../shm/words/io.js';
import { DEFAULT_IO_LIMITS, IO_CLASS_NAMES, type IoClassName } from '../admission/io-names.js';
import { snapshot } from './options.js';
import type { IoBinding, IoClassStats } from './io-types.js';

export type { IoClass, IoClassStats, IoBinding } from './io-types.js';

/** @internal A checked `io` option: a named class's slot, or a custom limit (slot not yet known). */
export type ParsedIo = { readonly slot: number; readonly limit: 0 } | { readonly slot: -1; readonly limit: number };

/** @internal No class. */
export const NO_IO: IoBinding = Object.freeze({ io: 0, limit: 0, word: 0 });

function limitValue(where: string, key: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > IO_LIMIT_MAX) {
    throw new ConfigError(`${where}: ${key} must be an integer from 1 to ${IO_LIMIT_MAX}; got ${describe(v)}`);
  }
  return v;
}

/** @internal The `io` task option, read once: undefined -> null. */
export function parseIo(where: string, v: unknown): ParsedIo | null {
  if (v === undefined) return null;
  if (typeof v === 'string') {
    const k = (IO_CLASS_NAMES as readonly string[]).indexOf(v);
    if (k < 0) {
      const shown = v.length <= 20 && /^[\w-]+$/.test(v) ? `'${v}'` : `(${describe(v)})`;
      throw new ConfigError(`${where}: unknown io class ${shown} (known: ${IO_CLASS_NAMES.join(', ')}, or { limit: n })`);
    }
    return { slot: k, limit: 0 };
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new ConfigError(`${where}: io must be one of ${IO_CLASS_NAMES.join(', ')} or { limit: n }; got ${describe(v)}`);
  }
  const o = snapshot(where, 'io', v, ['limit'], false);
  return { slot: -1, limit: limitValue(where, 'io.limit', o.limit) };
}

/** @internal Runtime.start's `ioLimits`: a limit per named class (1..65535), the rest at their defaults. */
export function ioLimitsOption(where: string, v: unknown): Readonly<Record<IoClassName, number>> {
  const o = snapshot(where, 'ioLimits', v, IO_CLASS_NAMES);
  const out = { ...DEFAULT_IO_LIMITS };
  for (const k of IO_CLASS_NAMES) if (o[k] !== undefined) out[k] = limitValue(where, `ioLimits.${k}`, o[k]);
  return Object.freeze(out);
}

/**
 * @internal The slot of a checked `io` option for task `taskId`. A named class: its slot, its limit
 * as written at start. A custom class: the task function's slot (key = task id + 1), claimed by
 * the first declaration in any thread (words/io.ts claimCustom; slots are claimed in order and
 * never released, so one key has at most one slot); a later declaration with another limit, or
 * no free slot, is a ConfigError with nothing taken.
 */
export function bindIo(mem: Memory, where: string, taskId: number, p: ParsedIo | null): IoBinding {
  if (p === null) return NO_IO;
  const i32 = mem.i32;
  if (p.slot >= 0) {
    const limit = limitOf(Atomics.load(i32, mem.ioWord(p.slot, IO_CLASS)));
    warnPool(mem, limit, IO_CLASS_NAMES[p.slot]!);
    return Object.freeze({ io: p.slot + 1, limit, word: mem.ioWord(p.slot, IO_COUNT) });
  }
  const key = taskId + 1;
  const want = classWord(key, p.limit);
  for (let k = IO_NAMED; k < IO_SLOTS; k++) {
    const w = mem.ioWord(k, IO_CLASS);
    let word = Atomics.load(i32, w);
    if (word === 0) word = claimCustom(i32, w, want);
    if (keyOf(word) !== key) continue;
    if (limitOf(word) !== p.limit) {
      throw new ConfigError(`${where}: this task already has an io class of limit ${limitOf(word)} in this runtime; a task function has one custom limit`);
    }
    warnPool(mem, p.limit, `{ limit: ${p.limit} }`);
    return Object.freeze({ io: k + 1, limit: p.limit, word: mem.ioWord(k, IO_COUNT) });
  }
  throw new ConfigError(`${where}: no free custom io class slot (${IO_SLOTS - IO_NAMED} task functions have one already)`);
}

/** @internal The named classes and every claimed custom class (loads only). */
export function ioStats(mem: Memory, names: readonly string[]): IoClassStats[] {
  const out: IoClassStats[] = [];
  for (let k = 0; k < IO_SLOTS; k++) {
    const word = Atomics.load(mem.i32, mem.ioWord(k, IO_CLASS));
    if (word === 0) continue;
    const cls = k < IO_NAMED ? IO_CLASS_NAMES[k]! : names[keyOf(word) - 1] ?? `task ${keyOf(word) - 1}`;
    out.push({ class: cls, limit: limitOf(word), inFlight: Atomics.load(mem.i32, mem.ioWord(k, IO_COUNT)) });
  }
  return out;
}

/**
 * libuv's thread pool size as this process's environment gives it: UV_THREADPOOL_SIZE read the
 * way libuv reads it (atoi; 0 or garbage -> 1; negative wraps (unsigned) -> 1024; capped at 1024), 4 when unset. One pool per
 * process: every worker_thread's fs calls share it (a worker's own env does not change it), and
 * it is sized once, when the process first uses it.
 */
export function libuvPoolSize(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.UV_THREADPOOL_SIZE;
  if (v === undefined) return 4;
  const n = parseInt(v, 10); // atoi: leading digits, garbage -> 0
  if (!Number.isFinite(n) || n === 0) return 1;
  if (n < 0) return 1024; // libuv stores it unsigned: a negative value wraps and is capped
  return Math.min(n, 1024);
}

/**
 * Once per runtime (a flag word in shared memory, CAS 0 -> 1, so not once per thread), at the
 * first I/O class declared with a limit above the pool size: tasks of the class that do fs work
 * queue for the pool's threads, so the limit buys queueing, not parallelism. A process warning
 * (code SLUICE_IO_POOL) on the declaring thread, never thrown.
 */
function warnPool(mem: Memory, limit: number, what: string): void {
  const pool = libuvPoolSize();
  if (limit <= pool) return;
  if (Atomics.compareExchange(mem.i32, mem.ioWord(0, IO_WARNED), 0, 1) !== 0) return;
  process.emitWarning(
    `io class ${what} admits ${limit} tasks at once, but Node's file-system calls run on libuv's thread pool of ${pool} threads `
    + '(UV_THREADPOOL_SIZE, shared by every thread of the process): above that, concurrent fs calls queue instead of running in parallel. '
    + 'Set UV_THREADPOOL_SIZE before the process starts, or lower the limit (sluice calibrate-io measures your storage).',
    { code: 'SLUICE_IO_POOL', type: 'Warning' },
  );
}
