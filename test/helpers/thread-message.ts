// The first message of `type` from a worker thread; rejects if the thread errors or exits first.
import type { Worker } from 'node:worker_threads';

export function message<T>(w: Worker, type: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: { type: string }): void => { if (m.type === type) { off(); resolve(m as T); } };
    const onError = (e: Error): void => { off(); reject(e); };
    const onExit = (code: number): void => { off(); reject(new Error(`thread exited (${code}) before '${type}'`)); };
    const off = (): void => { w.off('message', onMessage); w.off('error', onError); w.off('exit', onExit); };
    w.on('message', onMessage);
    w.on('error', onError);
    w.on('exit', onExit);
  });
}
