// Task module for the isolation demo (src/demo/isolation.ts). Plain ESM, so that workers load it
// without a TypeScript loader. Every function export is a task; each worker loads its own copy.

import { threadId } from 'node:worker_threads';

/** Tasks this worker has started: matches the runtime's per-worker `executed` counter. */
let started = 0;

function burn(us) {
  const until = performance.now() + us / 1000;
  let x = 0;
  while (performance.now() < until) x++;
  return x;
}

/** Burn CPU for `us` microseconds of wall time (a busy loop, so the worker is really occupied). */
export function spin(us) {
  started++;
  burn(us);
  return 0;
}

/**
 * The same work, instrumented: which worker ran it, how many tasks that worker had started
 * before it (so the caller can count how many ran ahead of it since it was submitted), and when
 * it started and ended (CLOCK_MONOTONIC microseconds, comparable across threads).
 */
export function probe(us) {
  const n = ++started;
  const start = Number(process.hrtime.bigint() / 1000n);
  burn(us);
  const end = Number(process.hrtime.bigint() / 1000n);
  return [threadId, n, start, end];
}
