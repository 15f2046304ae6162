/**
 * Loading the user's task module: its function exports are the tasks, ids in sorted name
 * order. A CommonJS module's `module.exports` object counts as its exports.
 */
import { statSync, type Stats } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { spawnSync } from 'node:child_process';

type SpawnSync = typeof spawnSync;

/** Whether a thrown value's name is 'SyntaxError' (read without running a getter that could throw). */
function isSyntaxError(err: unknown): boolean {
  try {
    return err instanceof Error && err.name === 'SyntaxError';
  } catch {
    return false;
  }
}

export interface TaskModule {
  names: string[];
  fns: Record<string, (payload: unknown) => unknown>;
}

export function taskModuleHref(tasks: string | URL): string {
  if (tasks instanceof URL) return tasks.href;
  if (/^[a-z][a-z0-9+.-]*:/i.test(tasks) && !/^[a-z]:[\\/]/i.test(tasks)) return tasks;
  return pathToFileURL(tasks).href;
}

/**
 * A `file:` task module that exists must be a regular file. A worker reads its module whole while
 * it loads: a FIFO would block it in read() for good, where terminate() cannot reach it (start
 * then failed at startTimeoutMs and the process could not exit), and a device such as /dev/zero
 * would fill the memory. Null when `href` is fine (or not a file, or not there: the worker's
 * import says so); else why not.
 */
export function notAModuleFile(href: string): string | null {
  if (!href.startsWith('file:')) return null;
  let st: Stats;
  try {
    st = statSync(fileURLToPath(href));
  } catch {
    return null;
  }
  if (st.isFile()) return null;
  const what = st.isDirectory() ? 'a directory' : st.isFIFO() ? 'a FIFO' : st.isCharacterDevice() ? 'a character device' : st.isBlockDevice() ? 'a block device' : st.isSocket() ? 'a socket' : 'not a regular file';
  return `${fileURLToPath(href)} is ${what}, not a module file`;
}

export function isTypeScript(href: string): boolean {
  return /\.(ts|mts|cts|tsx)$/i.test(new URL(href).pathname);
}

/**
 * The module's tasks: its function-valued named exports, plus the own enumerable function-valued
 * properties of a default export that is a plain object (for CommonJS, default is
 * module.exports, whose properties Node's lexer detects as named exports only sometimes). A name
 * in both must be the same function. A default export that is itself a function is the task
 * 'default' when there are no others. No function at all, or a module that fails to import, is
 * an Error whose message names the module (and, for a SyntaxError, the line).
 */
export async function loadTaskModule(href: string): Promise<TaskModule> {
  if (isTypeScript(href)) {
    const { register } = await import('tsx/esm/api');
    register();
  }
  let mod: Record<string, unknown>;
  try {
    mod = (await import(href)) as Record<string, unknown>;
  } catch (err) {
    // node:child_process (for `node --check`) only on this path: a worker's start does not load it.
    const locate = isSyntaxError(err) ? await import('node:child_process').then((m) => m.spawnSync, () => null) : null;
    throw importError(href, err, locate);
  }
  const fns: Record<string, (payload: unknown) => unknown> = Object.create(null) as Record<string, (payload: unknown) => unknown>;
  for (const [k, v] of Object.entries(mod)) if (typeof v === 'function' && k !== 'default') fns[k] = v as (p: unknown) => unknown;
  const def = mod.default;
  if (def !== null && typeof def === 'object' && isPlainObject(def)) {
    for (const k of Object.keys(def)) {
      const d = Object.getOwnPropertyDescriptor(def, k);
      const v = d !== undefined && 'value' in d ? (d.value as unknown) : undefined;
      if (typeof v !== 'function') continue;
      if (k in fns && fns[k] !== v) {
        throw new Error(`the task module ${href} exports '${k}' both as a named export and on its default export, as different functions`);
      }
      fns[k] = v as (p: unknown) => unknown;
    }
  }
  if (typeof def === 'function' && Object.keys(fns).length === 0) fns.default = def as (p: unknown) => unknown;
  const names = Object.keys(fns).sort();
  if (names.length === 0) throw new Error(`the task module ${href} exports no functions (no tasks)`);
  if (names.length > 0xffff) throw new Error(`the task module ${href} exports ${names.length} tasks; at most 65535 (task ids are 16 bits)`);
  return { names, fns };
}

/**
 * Where a module's SyntaxError is. Node 20 keeps an ES module's parse location out of the
 * error's stack (it is printed only for a fatal exception), so ask `node --check`, whose first
 * line of output is "<path>:<line>". Start-failure path only; '' when it cannot tell.
 */
function syntaxErrorLocation(href: string, spawnSync: SpawnSync | null): string {
  if (spawnSync === null) return '';
  try {
    const url = new URL(href);
    if (url.protocol !== 'file:' || isTypeScript(href)) return '';
    const r = spawnSync(process.execPath, ['--check', fileURLToPath(url)], { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'ignore', 'pipe'] });
    const m = /^(.*):(\d+)$/m.exec(r.stderr ?? '');
    return m === null ? '' : ` at ${m[1]}:${m[2]}`;
  } catch {
    return '';
  }
}

function isPlainObject(v: object): boolean {
  const proto = Object.getPrototypeOf(v) as object | null;
  return proto === null || proto === Object.prototype || Object.getPrototypeOf(proto) === null;
}

/**
 * An import failure as an Error whose message says which module and where: a SyntaxError's
 * stack starts with "<file>:<line>" (ESM "file:///...:3", CommonJS "/path/x.cjs:3"); otherwise
 * the first stack frame inside the module. The original error's name is kept.
 */
function importError(href: string, err: unknown, spawnSync: SpawnSync | null): Error {
  try {
    return describeImportError(href, err, spawnSync);
  } catch {
    return new Error(`the task module ${href} failed to load (it threw a value that cannot be inspected)`);
  }
}

function describeImportError(href: string, err: unknown, spawnSync: SpawnSync | null): Error {
  const e = err instanceof Error ? err : null;
  const name = e?.name ?? 'Error';
  const message = e?.message ?? 'a non-Error value was thrown';
  const stack = typeof e?.stack === 'string' ? e.stack : '';
  let where = '';
  const first = stack.split('\n', 1)[0] ?? '';
  const m = /^(.*):(\d+)$/.exec(first);
  if (m !== null && !first.startsWith(name)) where = ` at ${m[1]}:${m[2]}`;
  else {
    const path = new URL(href).protocol === 'file:' ? new URL(href).pathname : href;
    const frame = stack.split('\n').find((l) => l.includes(path) || l.includes(href));
    const f = frame !== undefined ? /(\S+:\d+:\d+)\)?\s*$/.exec(frame) : null;
    if (f !== null) where = ` at ${f[1]}`;
    else if (name === 'SyntaxError') where = syntaxErrorLocation(href, spawnSync);
  }
  const out = new Error(`the task module ${href} failed to load${where}: ${name}: ${message}`, { cause: err });
  out.name = name;
  return out;
}
