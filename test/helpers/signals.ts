import { BroadcastChannel } from 'node:worker_threads';

/** The test side of the 'sluice-test' channel used by fixtures/tasks.mjs (blockUntil, waitFor). */
export class Signals {
  private readonly channel = new BroadcastChannel('sluice-test');
  private readonly seen = new Set<string>();
  private readonly waiters = new Map<string, () => void>();

  constructor() {
    this.channel.onmessage = (e: MessageEvent | unknown): void => {
      const data = (e as MessageEvent).data as string;
      this.seen.add(data);
      this.waiters.get(data)?.();
    };
  }

  /** Resolves once a task has posted 'started:key'. */
  started(key: string): Promise<void> {
    const msg = `started:${key}`;
    if (this.seen.has(msg)) return Promise.resolve();
    return new Promise((r) => this.waiters.set(msg, r));
  }

  release(key: string): void { this.channel.postMessage(key); }

  close(): void { this.channel.close(); }
}
