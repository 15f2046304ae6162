import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { fixture } from '../workload.js';

/** Starts a raw baseline worker from bench/fixtures and waits until it is online. */
export async function spawn(file: string, workerData?: unknown): Promise<Worker> {
  const worker = new Worker(fixture(file), { workerData });
  await once(worker, 'online');
  return worker;
}

/**
 * Starts bench/threads/<name>.ts in a worker (through fixtures/ts-thread.mjs) and waits for its
 * first message, which every thread entry posts once it is ready.
 */
export async function spawnTs(name: string, data: Record<string, unknown> = {}): Promise<Worker> {
  const entry = new URL(`../threads/${name}.ts`, import.meta.url).href;
  const worker = new Worker(fixture('ts-thread.mjs'), { workerData: { ...data, entry } });
  const [first] = (await Promise.race([once(worker, 'message'), once(worker, 'error').then(([e]) => Promise.reject(e))])) as unknown[];
  if (first !== 'ready') throw new Error(`${name}: unexpected first message ${JSON.stringify(first)}`);
  return worker;
}

/** One request, one reply: posts msg and resolves with the worker's next message (rejects on its error). */
export function call<T>(worker: Worker, msg: unknown): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onError = (err: unknown): void => {
      worker.off('message', onMessage);
      reject(err);
    };
    const onMessage = (reply: T | { error: string }): void => {
      worker.off('error', onError);
      if (reply !== null && typeof reply === 'object' && 'error' in reply) reject(new Error(reply.error));
      else resolve(reply as T);
    };
    worker.once('message', onMessage);
    worker.once('error', onError);
    worker.postMessage(msg);
  });
}
