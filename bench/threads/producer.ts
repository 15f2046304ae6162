// A producer thread for the scaling section: attaches to a runtime (Runtime.attach(handle)),
// submits through submitCallback with the same drivers as the main table, one request at a time.
import { parentPort } from 'node:worker_threads';
import type { Runtime as RuntimeT } from '../../src/index.js';
import { sluice } from '../e2e/package.js';
import { callbackSession } from '../e2e/sluice.js';
import { pipelined, sequential, type Session } from '../workload.js';
import type { ProducerReply, ProducerRequest } from './protocol.js';

const { Runtime } = sluice;
let rt: RuntimeT | null = null;
let session: Session | null = null;

/** Counts this thread in (go[1]), then blocks until the main thread releases everyone (go[0] != 0). */
function barrier(go: SharedArrayBuffer): void {
  const w = new Int32Array(go);
  Atomics.add(w, 1, 1);
  Atomics.notify(w, 1);
  while (Atomics.load(w, 0) === 0) Atomics.wait(w, 0, 0);
}

/** Wall-clock ms, comparable across threads (each thread's performance.now() has its own origin). */
const wallClock = (): number => performance.timeOrigin + performance.now();

const id = (i: number): number => i;

async function handle(req: ProducerRequest): Promise<ProducerReply> {
  switch (req.op) {
    case 'attach':
      rt = await Runtime.attach(req.handle);
      session = callbackSession(rt, rt.producer(req.name));
      return { op: 'attach' };
    case 'throughput': {
      await pipelined(session!, 'inc', req.warmup, id, req.window);
      barrier(req.go);
      const start = wallClock();
      const r = await pipelined(session!, 'inc', req.n, id, req.window);
      return { op: 'throughput', start, end: wallClock(), sum: r.sum };
    }
    case 'latency':
      await sequential(session!, req.warmup);
      barrier(req.go);
      return { op: 'latency', samples: await sequential(session!, req.n) };
    case 'detach':
      await session?.close();
      rt = null;
      session = null;
      return { op: 'detach' };
  }
}

parentPort!.on('message', (req: ProducerRequest) => {
  handle(req).then(
    (reply) => parentPort!.postMessage(reply),
    (err: unknown) => parentPort!.postMessage({ error: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
  );
});
parentPort!.postMessage('ready');
