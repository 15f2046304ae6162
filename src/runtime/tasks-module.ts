/**
 * Loading the user's task module: its function exports are the tasks, ids in sorted name
 * order. A CommonJS module's `module.exports` object counts as its exports.
 */
import { pathToFileURL } from 'node:url';

export interface TaskModule {
  names: string[];
  fns: Record<string, (payload: unknown) => unknown>;
}

export function taskModuleHref(tasks: string | URL): string {
  if (tasks instanceof URL) return tasks.href;
  if (/^[a-z][a-z0-9+.-]*:/i.test(tasks) && !/^[a-z]:[\\/]/i.test(tasks)) return tasks;
  return pathToFileURL(tasks).href;
}

export function isTypeScript(href: string): boolean {
  return /\.(ts|mts|cts|tsx)$/i.test(new URL(href).pathname);
}

export async function loadTaskModule(href: string): Promise<TaskModule> {
  if (isTypeScript(href)) {
    const { register } = await import('tsx/esm/api');
    register();
  }
  const mod = (await import(href)) as Record<string, unknown>;
  const fns: Record<string, (payload: unknown) => unknown> = {};
  const collect = (src: Record<string, unknown>): void => {
    for (const [k, v] of Object.entries(src)) if (typeof v === 'function' && k !== 'default') fns[k] = v as (p: unknown) => unknown;
  };
  collect(mod);
  const def = mod.default;
  if (Object.keys(fns).length === 0 && def !== null && typeof def === 'object') collect(def as Record<string, unknown>);
  if (typeof def === 'function' && Object.keys(fns).length === 0) fns.default = def as (p: unknown) => unknown;
  const names = Object.keys(fns).sort();
  if (names.length > 0xffff) throw new RangeError('a task module may export at most 65535 tasks');
  return { names, fns };
}
