// raw wait/notify ping-pong with placement forced: same CPU or different CPUs
import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const addon = require('../../../native/sluice-native.node');
const mode = process.argv[2] ?? 'same';
const cells = new Int32Array(new SharedArrayBuffer(16));
const w = new Worker(`
const { workerData } = require('node:worker_threads');
const addon = require(workerData.addon);
addon.setAffinity([workerData.cpu]);
const cells = new Int32Array(workerData.sab);
let seen = 0;
for (;;) { let seq = Atomics.load(cells, 0); while (seq === seen) { Atomics.wait(cells, 0, seen); seq = Atomics.load(cells, 0); } if (seq < 0) break; seen = seq; cells[3] = cells[2] + 1; Atomics.store(cells, 1, seq); Atomics.notify(cells, 1); }
`, { eval: true, workerData: { sab: cells.buffer, cpu: 0, addon: new URL('../../../native/sluice-native.node', import.meta.url).pathname } });
await new Promise((r) => setTimeout(r, 200));
if (mode !== 'free') addon.setAffinity([mode === 'same' ? 0 : 1]);
let seq = 0;
const rt = () => { cells[2] = seq; Atomics.store(cells, 0, ++seq); Atomics.notify(cells, 0); for (let v = Atomics.load(cells, 1); v !== seq; v = Atomics.load(cells, 1)) Atomics.wait(cells, 1, v); };
for (let i = 0; i < 3000; i++) rt();
const s = [];
for (let i = 0; i < 5000; i++) { const t = performance.now(); rt(); s.push((performance.now() - t) * 1000); }
s.sort((a, b) => a - b);
console.log(mode, 'p50', s[2500].toFixed(1), 'p99', s[4950].toFixed(1));
Atomics.store(cells, 0, -1); Atomics.notify(cells, 0);
