import { startSluice, tokenSession, callbackSession } from '../../e2e/sluice.js';
import { sequential } from '../../workload.js';
import { loadAffinity } from '../../../src/runtime/affinity.js';
const addon = loadAffinity().addon!;
const rt = await startSluice({ spin: 0 });
const s = process.env.CB ? callbackSession(rt, rt.producer('b')) : tokenSession(rt, rt.producer('b'));
await sequential(s, 2000);
const before = rt.stats().workers.map((w) => w.executed);
const cpus: number[] = [];
const samples: number[] = [];
for (let i = 0; i < 4000; i++) { cpus.push(addon.currentCpu()); samples.push(...(await sequential(s, 1))); }
const after = rt.stats().workers.map((w, i) => w.executed - before[i]!);
const b = [0, 0, 0, 0, 0];
for (const x of samples) b[x < 10 ? 0 : x < 20 ? 1 : x < 40 ? 2 : x < 80 ? 3 : 4]!++;
console.log('executed per worker', after, 'buckets <10,<20,<40,<80,>=80', b, 'main cpu0 share', cpus.filter((c) => c === 0).length / cpus.length);
// slow samples: cpu switches?
let sw = 0, slowSw = 0, slow = 0;
for (let i = 1; i < samples.length; i++) { const moved = cpus[i] !== cpus[i - 1]; if (moved) sw++; if (samples[i]! > 40) { slow++; if (moved || cpus[i+1] !== cpus[i]) slowSw++; } }
console.log('cpu changes', sw, 'slow', slow, 'slow near a change', slowSw, 'workers', rt.stats().workers.map((w) => w.cpus));
await s.close();
