/**
 * `sluice bench`: the user's task through sluice (one worker, producer.submit and the Token)
 * against the same task in a bare worker_threads Worker driven by postMessage, in one run:
 * repetitions alternate between the two (order flipped each time) so both see the same seconds of
 * the machine. Two measures: throughput (COUNT tasks, at most 256 in flight) and sequential round
 * trips (one at a time). Reported: medians over repetitions and the sluice ÷ bare ratio.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { ConfigError, Runtime, UnknownTaskError, WorkerStartError } from '../index.js';
import type { Producer, TaskRef } from '../index.js';
import { table } from './demo/view.js';
import type { CliIo } from './stress.js';

export interface BenchConfig {
  tasks: string;
  task: string;
  payload: unknown;
  /** Tasks per throughput measurement. */
  count: number;
  reps: number;
}

export const BENCH_USAGE = `usage: sluice bench --tasks FILE --task NAME [--payload JSON] [--count N] [--reps R]

Measures your task through sluice (1 worker, producer.submit, the Token) against the same task in
a bare worker_threads Worker driven by postMessage (1 worker), in one run, repetitions
alternating: throughput (N tasks, at most 256 in flight) and sequential round trips (one at a
time, N/10 of them). Prints the medians and sluice ÷ bare (throughput: above 1, sluice is
faster; round trip: below 1, sluice is faster).
  --tasks FILE     your task module (.js/.mjs/.cjs)
  --task NAME      the export to run
  --payload JSON   the payload of every call, as JSON (default: none)
  --count N        tasks per throughput measurement (default 20000; 100..10000000)
  --reps R         repetitions of each measurement (default 5; 1..100)
Exit status: 0 measured, 1 the task failed (threw or rejected), 2 bad arguments (including a
module that does not load or has no such export).`;

const WINDOW = 256;

interface Side {
  /** Runs n calls, at most `window` at once; resolves with the elapsed ms. Rejects on a task failure. */
  run(n: number, window: number): Promise<number>;
  close(): Promise<void>;
}

function sluiceSide(rt: Runtime, producer: Producer, task: TaskRef, payload: unknown): Side {
  return {
    run: (n, window) => new Promise<number>((done, fail) => {
      let sent = 0;
      let finished = 0;
      let inFlight = 0;
      const t0 = performance.now();
      const pump = (): void => {
        while (sent < n && inFlight < window) {
          const a = producer.submit(task, payload);
          if (!a.admitted) break; // capacity: the next resolution submits again
          sent++;
          inFlight++;
          a.token.then(onDone, fail);
        }
      };
      const onDone = (): void => {
        inFlight--;
        if (++finished === n) done(performance.now() - t0);
        else pump();
      };
      pump();
    }),
    close: () => rt.close(),
  };
}

/** A bare worker: imports the module, answers each { id, payload } with { id, ok, value }. */
const BARE = `
const { parentPort, workerData } = require('node:worker_threads');
import(workerData.href).then((mod) => {
  const fn = mod[workerData.name];
  const ok = (id) => (value) => parentPort.postMessage({ id, ok: true, value });
  const bad = (id) => (err) => parentPort.postMessage({ id, ok: false, value: String(err && err.message || err) });
  parentPort.on('message', ({ id, payload }) => {
    let r;
    try { r = fn(payload); } catch (e) { bad(id)(e); return; }
    if (r !== null && (typeof r === 'object' || typeof r === 'function') && typeof r.then === 'function') r.then(ok(id), bad(id));
    else ok(id)(r);
  });
  parentPort.postMessage('ready');
});`;

async function bareSide(href: string, name: string, payload: unknown): Promise<Side> {
  const w = new Worker(BARE, { eval: true, workerData: { href, name } });
  await new Promise<void>((ready, fail) => {
    w.once('message', () => ready());
    w.once('error', fail);
  });
  let onMessage: ((m: { id: number; ok: boolean; value: unknown }) => void) | null = null;
  w.on('message', (m) => onMessage?.(m));
  return {
    run: (n, window) => new Promise<number>((done, fail) => {
      let sent = 0;
      let finished = 0;
      const t0 = performance.now();
      const send = (): void => { w.postMessage({ id: sent++, payload }); };
      onMessage = (m) => {
        if (!m.ok) { fail(new Error(String(m.value))); return; }
        if (++finished === n) done(performance.now() - t0);
        else if (sent < n) send();
      };
      while (sent < n && sent < window) send();
    }),
    close: () => w.terminate().then(() => undefined),
  };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** Run the benchmark; returns the exit status. */
export async function runBench(c: BenchConfig, io: CliIo): Promise<number> {
  const href = pathToFileURL(resolve(c.tasks)).href;
  let rt: Runtime;
  try {
    rt = await Runtime.start({ tasks: href, workers: 1, globalSlots: 1024, ringCapacity: 1024 });
  } catch (err) {
    // A module that does not load, or a path that is not a module file (a FIFO, a device): bad arguments.
    if (err instanceof WorkerStartError || err instanceof ConfigError) { io.err(`sluice bench: ${c.tasks}: ${err.message}`); return 2; }
    throw err;
  }
  let task: TaskRef;
  try {
    task = rt.task(c.task);
  } catch (err) {
    await rt.close();
    if (err instanceof UnknownTaskError) { io.err(`sluice bench: ${err.message}`); return 2; }
    throw err;
  }
  const sides: Array<[string, Side]> = [['sluice', sluiceSide(rt, rt.producer('bench'), task, c.payload)]];
  try {
    sides.push(['bare', await bareSide(href, c.task, c.payload)]);
    const seq = Math.max(10, Math.floor(c.count / 10));
    const thr: Record<string, number[]> = { sluice: [], bare: [] };
    const lat: Record<string, number[]> = { sluice: [], bare: [] };
    for (const [, s] of sides) { await s.run(Math.min(c.count, 2000), WINDOW); await s.run(Math.min(seq, 500), 1); } // warm-up
    io.err(`sluice bench: '${c.task}' from ${c.tasks}: ${c.reps} reps of ${c.count} pipelined and ${seq} sequential calls, each side`);
    for (let rep = 0; rep < c.reps; rep++) {
      const order = rep % 2 === 0 ? sides : [...sides].reverse();
      for (const [name, s] of order) thr[name]!.push((c.count / (await s.run(c.count, WINDOW))) * 1000);
      for (const [name, s] of order) lat[name]!.push(((await s.run(seq, 1)) * 1000) / seq);
      io.err(`  rep ${rep + 1}/${c.reps}`);
    }
    const rows = [
      ['throughput (tasks/s)', ...fmt(median(thr.sluice!), median(thr.bare!), 0)],
      ['round trip (µs, mean of sequential)', ...fmt(median(lat.sluice!), median(lat.bare!), 1)],
    ];
    const { lines } = table(['measure', 'sluice', 'bare postMessage', 'sluice ÷ bare'], rows, new Set([1, 2, 3]));
    for (const l of lines) io.out(l);
    io.out(`medians of ${c.reps} reps, alternating; 1 worker each; ratio per measure: sluice's figure ÷ bare's`);
    return 0;
  } catch (err) {
    io.err(`sluice bench: the task failed: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  } finally {
    for (const [, s] of sides) await s.close();
  }
}

function fmt(a: number, b: number, digits: number): string[] {
  return [a.toFixed(digits), b.toFixed(digits), (a / b).toFixed(2)];
}
