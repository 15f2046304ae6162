// Probe task module: records when (CLOCK_MONOTONIC ns) and on which CPU each probe task ran.
import { workerData } from 'node:worker_threads';
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const addon = require('../../native/sluice-native.node');
const rec = new Float64Array(workerData.taskData.sab);
// layout per sample i: [i*4+0] task start ns, [+1] cpu, [+2] worker index
export function probe(i) {
  const t = Number(process.hrtime.bigint());
  rec[i * 4] = t;
  rec[i * 4 + 1] = addon.currentCpu();
  rec[i * 4 + 2] = workerData.index ?? -1;
  return i + 1;
}
export function inc(x) { return x + 1; }
