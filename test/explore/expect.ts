// Assertions shared by the exploration tests: a correct model passes every schedule within its
// bounds (and says whether the bounds left anything out); a planted bug is found, and named.
import { expect } from 'vitest';
import { explore, ExplorationError, type Bounds, type Model, type Report } from './explorer.js';

const reports: string[] = [];

/** Explores `model`; every schedule must pass. Exhaustive unless the bounds say otherwise. */
export function passes<S>(model: Model<S>, bounds: Bounds = {}): Report {
  const t = performance.now();
  const r = explore(model, bounds);
  const ms = performance.now() - t;
  reports.push(`${model.name}: ${r.schedules} schedules (+${r.sleepBlocked} cut by the reduction), ` +
    `${r.steps} steps, depth ${r.maxDepth}, ${r.exhaustive ? 'exhaustive' : `bounded (preemptions ${bounds.preemptions}; ${r.pruned} choices pruned)`}, ${ms.toFixed(0)} ms`);
  expect(r.schedules).toBeGreaterThan(0);
  expect(r.truncated).toBe(0);
  if (bounds.preemptions === undefined) expect(r.exhaustive).toBe(true);
  return r;
}

/** Explores `model`, which must fail with the named invariant; returns the report (trace in .message). */
export function finds<S>(model: Model<S>, invariant: string, bounds: Bounds = {}): ExplorationError {
  let err: unknown = null;
  try {
    explore(model, bounds);
  } catch (e) {
    err = e;
  }
  expect(err, `${model.name}: the planted bug was not found`).toBeInstanceOf(ExplorationError);
  const e = err as ExplorationError;
  expect(e.invariant).toBe(invariant);
  reports.push(`${model.name}: found "${e.invariant}" after ${e.schedule.length} steps`);
  return e;
}

/** One line per exploration of the file (call from afterAll). */
export function printReports(file: string): void {
  if (reports.length > 0) console.log(`${file}\n  ${reports.splice(0).join('\n  ')}`);
}
