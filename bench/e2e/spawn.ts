import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { fixture } from '../workload.js';

/** Starts a raw baseline worker from bench/fixtures and waits until it is online. */
export async function spawn(file: string, workerData?: unknown): Promise<Worker> {
  const worker = new Worker(fixture(file), { workerData });
  await once(worker, 'online');
  return worker;
}
