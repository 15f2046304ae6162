// Tasks of the Guard House demo (src/cli/demo/guard.ts). Plain JavaScript so the demo runs
// without a TypeScript loader. `flaky` throws while word 0 of taskData.flaky is 1 (the demo
// switches it), so its failing spell is exactly as long as the demo says.
import { workerData } from 'node:worker_threads';

const flag = workerData?.taskData?.flaky instanceof Int32Array ? workerData.taskData.flaky : null;

function spin(us) {
  const end = performance.now() + us / 1000;
  let x = 0;
  while (performance.now() < end) x++;
  return x;
}

/** A healthy task: ~200 µs of work. */
export function resize(n) { spin(200); return n * 2; }

/** Another healthy one: ~50 µs. */
export function checksum(n) { spin(50); return (n * 2654435761) >>> 0; }

/** Works, until the demo turns it bad. */
export function flaky(n) {
  spin(100);
  if (flag !== null && Atomics.load(flag, 0) === 1) throw new Error(`upstream refused order ${n}`);
  return n;
}
