import type { Runtime } from '../../src/index.js';
import { Worker } from 'node:worker_threads';

export interface ProduceResult { admitted: number; ok: number; wrong: number; rejected: number }

/**
 * Submit `count` inc tasks (payload base + i) on `producer`, at most `window` in flight, and
 * check every value and that each resolves once. Used from the main thread and from attached
 * producer threads (fixtures/producer-thread.ts).
 */
export async function produceInc(rt: Runtime, producer: string, count: number, window: number, base: number): Promise<ProduceResult> {
  const p = rt.producer(producer);
  const inc = rt.task('inc');
  let sent = 0;
  let done = 0;
  let inFlight = 0;
  let wrong = 0;
  let rejected = 0;
  const seen = new Uint8Array(count);
  await new Promise<void>((resolve) => {
    const pump = (): void => {
      while (sent < count && inFlight < window) {
        const i = sent;
        const a = p.submit<number>(inc, base + i);
        if (!a.admitted) { rejected++; break; }
        sent++;
        inFlight++;
        a.then((v) => {
          if (v !== base + i + 1 || seen[i] !== 0) wrong++;
          seen[i] = 1;
          inFlight--;
          if (++done === count) resolve();
          else pump();
        });
      }
      // Rejected with nothing of ours in flight: capacity is held by other threads; retry soon.
      if (sent < count && inFlight === 0) setImmediate(pump);
    };
    pump();
  });
  return { admitted: sent, ok: done - wrong, wrong, rejected };
}

/**
 * Run fixtures/producer-thread.ts in an attached thread (`data`: its workerData: the handle and
 * what to produce); resolves with its ProduceResult, rejects if it fails or exits non-zero.
 */
export function runProducerThread(data: Record<string, unknown>): Promise<ProduceResult> {
  const w = new Worker(new URL('../fixtures/ts-bootstrap.mjs', import.meta.url), {
    workerData: { entry: new URL('../fixtures/producer-thread.ts', import.meta.url).href, ...data },
  });
  return new Promise((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
    w.once('exit', (code) => { if (code !== 0) reject(new Error(`producer thread exited with ${code}`)); });
  });
}
