// The recorder's cost per task on one thread, without the scheduler: a scratch runtime image
// (2 workers' rings, one attachment, one producer) where this thread plays both sides -- submit
// (both gates, route, the cell), the worker's run (runOne), the owner's drain -- with recording
// off, or with a flight recorder's seams on both sides (owner: SUBMIT, ROUTE, RELEASE; worker:
// START, RESOLVE). Configurations alternate in blocks; prints CPU ns per task and on ÷ off.
//   npx tsx bench/tail/record-cost.ts [blocks=15] [tasks per block=100000]   (IN_FLIGHT=1: sequential)
// What it leaves out: the cross-thread traffic and how three threads share two CPUs (the paired
// throughput A/B, bench/tail/throughput-ab.sh, measures those). A diagnostic, not part of `npm run bench`.
import { threadId } from 'node:worker_threads';
import { Memory } from '../../src/shm/layout.js';
import { MonotonicClock } from '../../src/admission/clock.js';
import { lookupOrRegister } from '../../src/runtime/registry.js';
import { resolveTask } from '../../src/runtime/task.js';
import { Producer } from '../../src/runtime/producer.js';
import { WorkerLoop, type TaskFn } from '../../src/runtime/worker/loop.js';
import { Attachment } from '../../src/runtime/submit/attachment.js';
import { Recording, recordAttachment, seamFor, WRITER_WORKER } from '../../src/runtime/recording.js';

const blocks = Number(process.argv[2] ?? 15);
const perBlock = Number(process.argv[3] ?? 100_000);
const identity: TaskFn = (x) => x;
const cb = (): void => {};

function world(record: boolean, file = false) {
  const clock = new MonotonicClock();
  const mem = Memory.create({
    workers: 2, ringCapacity: process.env.REFUSE === '1' ? 32 : 512, globalSlots: 512, maxProducers: 1, maxAttachments: 1, spillBytes: 1 << 16, taskCount: 1, spinMicros: 50, asyncLimit: 64,
  });
  const att = new Attachment(mem, 0, clock);
  const c = Int32Array.of(0, 1);
  const chains = [c, c, c, c]; // by weight class (routing.ts ANY_WEIGHT is the last)
  att.chains = chains;
  const ref = resolveTask(mem, 'cost', ['identity'], 'identity');
  const { index, limits } = lookupOrRegister(mem, 'cost', process.env.REFUSE === '2' ? { slots: 64 } : undefined, clock.now());
  const loops = [new WorkerLoop(mem, 0, [identity], 0), new WorkerLoop(mem, 1, [identity], 0)];
  if (record) {
    const rec = new Recording({ mode: file ? 'file' : 'flight', path: file ? '/dev/null' : null, records: Number(process.env.RECORDS ?? 4096) }, 1, 2, clock.now());
    recordAttachment(att, rec.share, 0, 'main', threadId, () => 0);
    if (process.env.NOFAST) att.fastGate = null;
    loops.forEach((l, w) => { l.seam = seamFor(rec.share, WRITER_WORKER, w, `worker ${w}`, threadId); });
  }
  const p = Producer._create({ att, chains, clock, instance: 'cost', resolveTask: () => ref }, 'cost', index, limits);
  return { att, p, ref, loops };
}

type World = ReturnType<typeof world>;
/**
 * n tasks on the callback path, IN_FLIGHT at a time (default 64): submit them, run them, drain
 * them. IN_FLIGHT=1 is a sequential loop's critical path on one thread: every step of a round trip
 * (submit, the worker's run, the owner's drain) in turn, without the cross-thread hand-offs, so
 * flight ÷ off of it bounds the sequential p50 ratio from above (the hand-offs add the same to both).
 */
const inFlight = Number(process.env.IN_FLIGHT ?? 64);
const REFUSE = !!process.env.REFUSE;
function block(w: World, n: number): number {
  const c0 = process.cpuUsage(); // CPU time, not wall: a block preempted by another process is not charged for it
  for (let i = 0; i < n; i += inFlight) {
    for (let k = 0; k < inFlight; k++) if (w.p.submitCallback(w.ref, i + k, cb) !== null) throw new Error('refused');
    if (REFUSE) for (let k = 0; k < inFlight; k++) if (w.p.submitCallback(w.ref, i + k, cb) === null) throw new Error('admitted');
    for (const l of w.loops) while (l.hasWork()) l.runOne();
    w.att.drain.drain();
  }
  const c = process.cpuUsage(c0);
  return ((c.user + c.system) * 1e3) / n;
}

const all: Record<string, () => World> = { off: () => world(false), flight: () => world(true), file: () => world(true, true) };
const worlds: Record<string, World> = Object.fromEntries(Object.entries(all).filter(([k]) => !process.env.ONLY || process.env.ONLY === k).map(([k, f]) => [k, f()]));
for (const w of Object.values(worlds)) block(w, perBlock);
const ns: Record<string, number[]> = Object.fromEntries(Object.keys(worlds).map((k) => [k, []]));
for (let b = 0; b < blocks; b++) for (const [k, w] of Object.entries(worlds)) ns[k]!.push(block(w, perBlock));
const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(Object.entries(ns).map(([k, v]) => `${k} ${med(v).toFixed(0)}`).join(', '), 'ns/task');
