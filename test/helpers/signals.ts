import { BroadcastChannel } from 'node:worker_threads';
import { Runtime, type RuntimeOptions, type Token } from '../../src/index.js';

/** The test side of the 'sluice-test' channel used by fixtures/tasks.mjs (blockUntil, waitFor). */
export class Signals {
  private readonly channel = new BroadcastChannel('sluice-test');
  private readonly seen = new Set<string>();
  private readonly waiters = new Map<string, () => void>();
  private readonly released = new Set<string>();

  constructor() {
    this.channel.onmessage = (e: MessageEvent | unknown): void => {
      const data = (e as MessageEvent).data as string;
      this.seen.add(data);
      this.waiters.get(data)?.();
      // A task that starts after its key was released hears the release again: a BroadcastChannel
      // delivers only to the channels that exist when it posts, and a worker still loading the
      // module when Runtime.start resolved (on its first ready worker) had none yet.
      if (typeof data === 'string' && data.startsWith('started:') && this.released.has(data.slice(8))) this.channel.postMessage(data.slice(8));
    };
  }

  /** Resolves once a task has posted 'started:key'. */
  started(key: string): Promise<void> {
    const msg = `started:${key}`;
    if (this.seen.has(msg)) return Promise.resolve();
    return new Promise((r) => this.waiters.set(msg, r));
  }

  release(key: string): void {
    this.released.add(key);
    this.channel.postMessage(key);
  }

  close(): void { this.channel.close(); }
}

/**
 * A runtime whose one worker is held by a blocked task (fixtures/tasks.mjs blockUntil('hold')),
 * submitted by `producer`: every later task stays pending (or waits for capacity) until `end()`
 * releases the blocker and closes the runtime. No timing involved.
 */
export async function heldRuntime(
  options: Omit<RuntimeOptions, 'tasks' | 'workers'>, producer: string,
): Promise<{ rt: Runtime; sig: Signals; blocker: Token; end(): Promise<void> }> {
  const sig = new Signals();
  const rt = await Runtime.start({ tasks: new URL('../fixtures/tasks.mjs', import.meta.url), workers: 1, ...options });
  const blocker = rt.producer(producer).submit(rt.task('blockUntil'), 'hold') as Token;
  await sig.started('hold');
  return {
    rt, sig, blocker,
    async end() {
      sig.release('hold');
      await blocker.promise().catch(() => undefined);
      await rt.close();
      sig.close();
    },
  };
}
