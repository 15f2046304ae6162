// The recording seam's own cost on the submitting thread, without a runtime: a RecordingSeam on
// a real trace region, admitted() after a RouteSnapshot.route() and resolved(), per task, in a
// tight loop (what the starting thread adds per submit/token task with a flight recorder, minus
// cache and scheduling effects). Prints ns per task: route alone (the plain router, as when off),
// the recording router, + admitted, + resolved.
//   npx tsx bench/tail/seam-cost.ts [reps=9] [n=1000000]
import { threadId } from 'node:worker_threads';
import { Memory } from '../../src/shm/layout.js';
import { MonotonicClock } from '../../src/admission/clock.js';
import { Attachment } from '../../src/runtime/submit/attachment.js';
import { Recording, recordAttachment, type RecordingSeam } from '../../src/runtime/recording.js';
import { route } from '../../src/runtime/routing.js';

const reps = Number(process.argv[2] ?? 9);
const n = Number(process.argv[3] ?? 1_000_000);
const clock = new MonotonicClock();
const mem = Memory.create({ workers: 2, ringCapacity: 512, globalSlots: 512, maxProducers: 1, maxAttachments: 1, spillBytes: 1 << 16, taskCount: 1, spinMicros: 50, asyncLimit: 64 });
const att = new Attachment(mem, 0, clock);
const rec = new Recording({ mode: 'flight', path: null, records: 4096 }, 1, 2, clock.now());
recordAttachment(att, rec.share, 0, 'main', threadId, () => 0);
const seam = att.seam as RecordingSeam;
const snap = att.routeSnapshot!;
const chain = Int32Array.of(0, 1);
let sink = 0;
const variants: Record<string, (i: number) => void> = {
  'route (off)': () => { sink += route(chain, att.routeView); },
  'recording route': () => { sink += snap.route(chain, 3, att.routeView); },
  '+ admitted': (i) => { const w = snap.route(chain, 3, att.routeView); seam.admitted(0, 0, 0, i & 511, i, w, 0x10001, 1, -1, -1); },
  '+ resolved': (i) => { const w = snap.route(chain, 3, att.routeView); seam.admitted(0, 0, 0, i & 511, i, w, 0x10001, 1, -1, -1); seam.resolved(0, i & 511, i, 0, 0, i >> 6); },
};
const out: Record<string, number[]> = {};
for (let r = 0; r < reps; r++) {
  for (const [name, f] of Object.entries(variants)) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) f(i);
    (out[name] ??= []).push(Number(process.hrtime.bigint() - t0) / n);
  }
}
for (const [name, xs] of Object.entries(out)) console.log(`${name.padEnd(16)} ${[...xs].sort((a, b) => a - b)[xs.length >> 1]!.toFixed(1)} ns/task`);
if (sink === 0.5) console.log(sink);
att.dispose();
