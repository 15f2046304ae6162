// A recorded run without threads: a generated workload (producers with limits, submits from
// several threads, clock advances, pops, steals, completions, releases in any order, cancels,
// worker deaths) executed step by step on a virtual clock by the real admission code
// (ProducerGate over a layout.ts memory, releaseSlots) and the real router (routing.ts route),
// the way producer.ts, worker.ts, attachment.ts and the supervisor drive them, writing every
// decision through a Recorder per thread into its ring and, drained as it goes, a trace file.
//
// It is the runtime's stand-in for replay's determinism tests: written separately from
// src/trace/replay.ts (which re-drives the same code from the records alone).
//
// Ordering: threads' records are merged by tick (each thread's in its own order), so when the
// writing thread changes the clock moves one tick: two threads' decisions never share a tick and
// the merged order is the order they were made in (src/trace/README.md, "What replay assumes").
import fc from 'fast-check';
import { ADMITTED, ProducerGate, releaseSlots } from '../../src/admission/gate.js';
import { OUTCOMES } from '../../src/admission/outcomes.js';
import { R_GLOBAL_SLOTS, R_PRODUCER_SLOTS, R_RING_FULL } from '../../src/admission/reasons.js';
import { TickSource } from '../../src/admission/tick.js';
import type { Clock } from '../../src/admission/clock.js';
import { H_STARTING, P_EARNED, P_PACKED, W_CPU_MASK, W_HEAD, W_RUN_TOKEN } from '../../src/shm/layout.js';
import { inflightOf, pack, tokensOf } from '../../src/shm/words/gate.js';
import { preferenceChains, route, stealMask, type RouteView } from '../../src/runtime/routing.js';
import { Recorder } from '../../src/trace/recorder.js';
import { TraceRing } from '../../src/trace/ring.js';
import { START_SKIPPED, START_STOLEN, WRITER_ATTACHMENT, WRITER_WORKER, tokenKey } from '../../src/trace/records.js';
import { TraceStream, type ThreadRing, type TraceMeta, type WeightName } from '../../src/trace/file.js';
import { replayMemory } from '../../src/trace/replay.js';

export interface ProducerSpec { rate: number; burst: number; slots: number }

export type Op =
  | { op: 'advance'; ticks: number }
  /** From attachment `att`, or (child) from the task running first on worker `att % workers`. */
  | { op: 'submit'; att: number; producer: number; task: number; cpu: number; child: boolean; tick?: number }
  | { op: 'pop'; worker: number }
  | { op: 'steal'; worker: number; victim: number }
  | { op: 'finish'; worker: number; outcome: number }
  /** The owner resolves one of its tokens: `pick` among its completed ones, or exactly `key`. */
  | { op: 'release'; owner: number; pick: number; key?: number; ready?: number[] }
  /** The owner cancels one of its tokens not started: `pick`, or exactly `key`. */
  | { op: 'cancel'; owner: number; pick: number; key?: number }
  | { op: 'die'; worker: number }
  /** The owner re-pushes one of its tokens abandoned by a death (a task with retries): next generation, routed again. */
  | { op: 'retry'; owner: number; pick: number; key?: number }
  /** Attachment `att` dies inside a submit to unrated producer `producer` after taking both slots; the supervisor's freeze recounts. */
  | { op: 'leak'; att: number; producer: number };

export interface Workload {
  workers: number;
  ringCapacity: number;
  globalSlots: number;
  attachments: number;
  producers: ProducerSpec[];
  tasks: (WeightName | null)[];
  workerCpus: (number | null)[];
  cpuTie: boolean;
  ops: Op[];
}

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ op: fc.constant('advance' as const), ticks: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 400_000 })) }) },
  { weight: 8, arbitrary: fc.record({ op: fc.constant('submit' as const), att: fc.nat(7), producer: fc.nat(7), task: fc.nat(7), cpu: fc.nat(3), child: fc.boolean() }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('pop' as const), worker: fc.nat(7) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('steal' as const), worker: fc.nat(7), victim: fc.nat(7) }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('finish' as const), worker: fc.nat(7), outcome: fc.nat(1) }) },
  { weight: 5, arbitrary: fc.record({ op: fc.constant('release' as const), owner: fc.nat(7), pick: fc.nat(7) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('cancel' as const), owner: fc.nat(7), pick: fc.nat(7) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('die' as const), worker: fc.nat(7) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('retry' as const), owner: fc.nat(7), pick: fc.nat(7) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('leak' as const), att: fc.nat(7), producer: fc.nat(7) }) },
);

export const arbWorkload: fc.Arbitrary<Workload> = fc.record({
  workers: fc.integer({ min: 1, max: 4 }),
  ringCapacity: fc.constantFrom(2, 4, 8),
  globalSlots: fc.integer({ min: 1, max: 12 }),
  attachments: fc.integer({ min: 1, max: 3 }),
  producers: fc.array(fc.record({
    rate: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 30 })),
    burst: fc.integer({ min: 1, max: 5 }),
    slots: fc.integer({ min: 1, max: 6 }),
  }), { minLength: 1, maxLength: 3 }),
  tasks: fc.array(fc.constantFrom<WeightName | null>('heavy', 'medium', 'light', null), { minLength: 1, maxLength: 4 }),
  workerCpus: fc.array(fc.option(fc.nat(3), { freq: 3 }), { minLength: 4, maxLength: 4 }),
  cpuTie: fc.boolean(),
  ops: fc.array(op, { minLength: 1, maxLength: 150, size: 'large' }),
}).map((w) => ({
  ...w,
  producers: w.producers.map((p) => (p.rate === 0 ? { ...p, burst: 0 } : p)),
  workerCpus: w.workerCpus.slice(0, w.workers),
}));

/** A clock the engine sets (a submit may carry its own reading, as another thread's clock would). */
class SetClock implements Clock {
  t = 0;
  now(): number { return this.t; }
}

interface Tok {
  key: number;
  att: number;
  index: number;
  producer: number;
  task: number;
  owner: number;
  state: 'pending' | 'running' | 'done' | 'retracted' | 'released';
  worker: number;
  gen: number;
  /** Abandoned by its worker's death (and not yet re-pushed). */
  abandoned?: boolean;
  attempt?: number;
}

export interface Recording {
  meta: Omit<TraceMeta, 'mode' | 'recordVersion' | 'threads'>;
  threads: ThreadRing[];
  /** The ops as executed, releases and cancels with the key they took (skipped ops dropped). */
  executed: Op[];
  stream: TraceStream | null;
}

/**
 * Run `wl`, recording into fresh rings of `capacity` slots (and to `path` as a stream, polled
 * after every op, when given).
 */
export function record(wl: Workload, opts: { capacity?: number; path?: string } = {}): Recording {
  const W = wl.workers;
  const P = wl.producers.length;
  const A = wl.attachments;
  const capacity = opts.capacity ?? 1024;
  const mem = replayMemory({ ...wl, tasks: wl.tasks.length }); // its producers registered at tick 0
  const i32 = mem.i32;
  const globalW = mem.globalWord;
  const clock = new SetClock();
  const cpus = wl.workerCpus;
  const chainsArr = preferenceChains(cpus);
  const chains = chainsArr.map((c) => Int32Array.from(c));
  const idx = (f: (w: number) => number): Int32Array => Int32Array.from({ length: W }, (_, w) => f(w));
  let cpuNow = -1;
  const view: RouteView = {
    i32, tailW: idx((w) => mem.tailWord(w)), headW: idx((w) => mem.workerWord(w, W_HEAD)),
    runW: idx((w) => mem.workerWord(w, W_RUN_TOKEN)), cpuMaskW: idx((w) => mem.workerWord(w, W_CPU_MASK)),
    startingW: H_STARTING, // the model's workers never start: the word stays 0
    currentCpu: () => cpuNow,
  };
  cpus.forEach((c, w) => { if (c !== null) i32[view.cpuMaskW[w]!] = 1 << c; });

  // Threads: attachments 0..A-1, workers 0..W-1 (a worker submits as attachment A + w).
  const threads: ThreadRing[] = [];
  const recs: Recorder[] = [];
  const mk = (cls: number, index: number, kind: ThreadRing['kind'], name: string): Recorder => {
    const ring = new TraceRing(new Int32Array(new SharedArrayBuffer(TraceRing.words(capacity) * 4)), 0, capacity, true);
    threads.push({ ring, writerClass: cls, writerIndex: index, kind, name });
    const rec = new Recorder(ring, cls as 0 | 1, index);
    recs.push(rec);
    return rec;
  };
  const attRec = Array.from({ length: A }, (_, a) => mk(WRITER_ATTACHMENT, a, a === 0 ? 'main' : 'attached', a === 0 ? 'main' : `producer-${a}`));
  const workerRec = Array.from({ length: W }, (_, w) => mk(WRITER_WORKER, w, 'worker', `worker ${w}`));
  const meta: Recording['meta'] = {
    clock: { originMicros: 0, wallMs: null }, workers: W, ringCapacity: wl.ringCapacity, globalSlots: wl.globalSlots,
    cpuTie: wl.cpuTie, workerCpus: cpus, chains: chainsArr,
    producers: wl.producers.map((p, i) => ({ name: `p${i}`, rate: p.rate, burst: p.burst, slots: p.slots, registeredAt: 0 })),
    tasks: wl.tasks.map((weight, i) => ({ name: `task${i}`, weight })),
  };
  const stream = opts.path === undefined ? null : new TraceStream(opts.path, threads, meta, 8);
  attRec.forEach((r, a) => r.meta(0, a === 0 ? 'main' : `producer-${a}`, a));
  workerRec.forEach((r, w) => { r.cpu = cpus[w] ?? -1; r.meta(0, `worker ${w}`, 100 + w); });

  // Per submitting thread (attachment a, or worker w as A + w): tick source, guesses, gates.
  const subs = new Map<number, { ticks: TickSource; guess: Int32Array; gates: ProducerGate[] }>();
  const sub = (s: number): { ticks: TickSource; guess: Int32Array; gates: ProducerGate[] } => {
    let t = subs.get(s);
    if (t === undefined) {
      t = { ticks: new TickSource(clock), guess: new Int32Array(P + 1), gates: [] };
      subs.set(s, t);
    }
    return t;
  };
  const gate = (s: number, p: number): ProducerGate => {
    const t = sub(s);
    return (t.gates[p] ??= new ProducerGate(i32, mem, p, wl.producers[p]!, t.guess, t.ticks, null));
  };
  const recOf = (s: number): Recorder => (s < A ? attRec[s]! : workerRec[s - A]!);

  let lastWriter: Recorder | null = null;
  /** Every record is written through here: a change of thread moves the clock one tick. */
  const on = (rec: Recorder): Recorder => {
    if (lastWriter !== null && lastWriter !== rec) clock.t++;
    lastWriter = rec;
    return rec;
  };

  const queues: Tok[][] = Array.from({ length: W }, () => []);
  const running: Tok[][] = Array.from({ length: W }, () => []);
  const owned = new Map<number, Tok[]>();
  const byKey = new Map<number, Tok>();
  const nextIndex = new Map<number, number>();
  const setRun = (w: number): void => { i32[view.runW[w]!] = running[w]!.length > 0 ? 1 : 0; };
  const occupancy = new Int32Array(W);
  const executed: Op[] = [];

  for (const o of wl.ops) {
    switch (o.op) {
      case 'advance':
        clock.t += o.ticks;
        executed.push(o);
        break;
      case 'submit': {
        let s = o.att % A;
        let parent: Tok | undefined;
        if (o.child) {
          const w = o.att % W;
          parent = running[w]![0];
          if (parent !== undefined) s = A + w;
        }
        const rec = on(recOf(s));
        const p = o.producer % P;
        const task = o.task % wl.tasks.length;
        const weight = wl.tasks[task] === null ? 3 : ['heavy', 'medium', 'light'].indexOf(wl.tasks[task]!);
        const limits = wl.producers[p]!;
        const now = clock.t;
        if (o.tick !== undefined) clock.t = o.tick; // this thread's own reading
        const tick = clock.t;
        if (s < A) rec.cpu = o.cpu; // a worker stays on the CPU it is pinned to
        const g = gate(s, p);
        let reason = g.admitWithGlobal(globalW, wl.globalSlots, P); // steps 2-3
        let w = -1;
        let cpuTie = false;
        if (reason === ADMITTED) { // step 4: route, claim
          const chain = chains[weight]!;
          cpuNow = wl.cpuTie ? rec.cpu : -1; // the CPU the submitting thread is on
          w = route(chain, view);
          cpuNow = -1;
          cpuTie = w !== route(chain, view);
          for (let k = 0; k < W; k++) occupancy[k] = ((i32[view.tailW[k]!]! - i32[view.headW[k]!]!) | 0) + (i32[view.runW[k]!] !== 0 ? 1 : 0);
          if (((i32[view.tailW[w]!]! - i32[view.headW[w]!]!) | 0) >= wl.ringCapacity) {
            sub(s).guess[P] = Atomics.sub(i32, globalW, 1) - 1;
            g.rollback();
            reason = R_RING_FULL;
          }
        }
        const pw = Atomics.load(i32, mem.producerWord(p, P_PACKED));
        const gw = Atomics.load(i32, globalW);
        const ew = Atomics.load(i32, mem.producerWord(p, P_EARNED));
        const pa = parent?.att ?? -1;
        const pi = parent?.index ?? -1;
        const pg = parent?.gen ?? -1;
        if (reason === ADMITTED) {
          const index = nextIndex.get(s) ?? 0;
          nextIndex.set(s, index + 1);
          const t: Tok = { key: tokenKey(s, index, 1), att: s, index, producer: p, task, owner: s, state: 'pending', worker: -1, gen: 1 };
          rec.submitted(tick, p, task, weight, s, index, 1, pa, pi, pg, pw, gw, ew, 0);
          rec.routed(tick, p, task, weight, s, index, 1, chains[weight]!, occupancy, chains[weight]!.indexOf(w), cpuTie);
          i32[view.tailW[w]!]!++;
          queues[w]!.push(t);
          byKey.set(t.key, t);
          owned.set(s, [...(owned.get(s) ?? []), t]);
        } else {
          const limit = reason === R_PRODUCER_SLOTS ? limits.slots : reason === R_GLOBAL_SLOTS ? wl.globalSlots : reason === R_RING_FULL ? wl.ringCapacity : 0;
          rec.rejected(tick, p, task, reason, pa, pi, pg, pw, gw, ew, limit);
        }
        clock.t = now;
        executed.push(o);
        break;
      }
      case 'pop': { // worker.ts Run steps 1-3
        const w = o.worker % W;
        const t = queues[w]!.shift();
        if (t === undefined) break;
        const pos = i32[view.headW[w]!]!;
        i32[view.headW[w]!]!++;
        const rec = on(workerRec[w]!);
        if (t.state === 'pending') {
          t.state = 'running';
          t.worker = w;
          running[w]!.push(t);
          setRun(w);
          rec.started(clock.t, t.producer, t.task, t.att, t.index, t.gen, w, w, pos, 0);
        } else {
          rec.started(clock.t, t.producer, t.task, t.att, t.index, t.gen, w, w, pos, START_SKIPPED);
        }
        executed.push(o);
        break;
      }
      case 'steal': { // design §4.2a: the oldest pending cell of the victim whose chain holds the thief
        const w = o.worker % W;
        const v = o.victim % W;
        if (v === w) break;
        const mask = stealMask(chainsArr, w);
        const k = queues[v]!.findIndex((t) => {
          const weight = wl.tasks[t.task] === null ? 3 : ['heavy', 'medium', 'light'].indexOf(wl.tasks[t.task]!);
          return t.state === 'pending' && (mask & (1 << weight)) !== 0;
        });
        if (k < 0) break;
        const t = queues[v]![k]!;
        const pos = i32[view.headW[v]!]! + k;
        const rec = on(workerRec[w]!);
        rec.stolen(clock.t, t.producer, t.task, t.att, t.index, t.gen, w, v, pos, k + 1);
        t.state = 'running';
        t.worker = w;
        running[w]!.push(t);
        setRun(w);
        rec.started(clock.t, t.producer, t.task, t.att, t.index, t.gen, w, v, pos, START_STOLEN);
        executed.push(o);
        break;
      }
      case 'finish': { // the worker's end of a run (Complete step 5)
        const w = o.worker % W;
        const t = running[w]!.shift();
        if (t === undefined) break;
        setRun(w);
        if (t.state === 'running') { t.state = 'done'; t.abandoned = false; }
        on(workerRec[w]!).resolved(clock.t, t.producer, t.task, t.att, t.index, t.gen, w, o.outcome, 0, 0);
        (t as Tok & { outcome?: number }).outcome = o.outcome;
        executed.push(o);
        break;
      }
      case 'release': { // Complete step 7: the owner resolves, slots back (global, then producer)
        const owners = [...owned.keys()].sort((x, y) => x - y);
        if (owners.length === 0) break;
        let t: Tok | undefined;
        let ready: number[] = [];
        if (o.key !== undefined) {
          t = byKey.get(o.key);
          if (t === undefined || t.state === 'released' || t.state === 'retracted') break;
        } else {
          const owner = owners[o.owner % owners.length]!;
          const done = owned.get(owner)!.filter((x) => x.state === 'done');
          if (done.length === 0) break;
          t = done[o.pick % done.length]!;
          ready = done.map((x) => x.key);
        }
        const outcome = (t as Tok & { outcome?: number }).outcome ?? 3;
        t.state = 'released';
        const g = sub(t.owner).guess;
        releaseSlots(i32, mem.producerWord(t.producer, P_PACKED), globalW, g, t.producer, P);
        on(recOf(t.owner)).released(clock.t, t.producer, t.task, t.att, t.index, t.gen, outcome, Atomics.load(i32, globalW), Atomics.load(i32, mem.producerWord(t.producer, P_PACKED)));
        executed.push({ ...o, key: t.key, ready });
        break;
      }
      case 'cancel': { // design §4.5: PENDING -> RETRACTED, resolved at once
        const owners = [...owned.keys()].sort((x, y) => x - y);
        if (owners.length === 0) break;
        let t: Tok | undefined;
        if (o.key !== undefined) {
          t = byKey.get(o.key);
          if (t === undefined || t.state !== 'pending') break;
        } else {
          const owner = owners[o.owner % owners.length]!;
          const pending = owned.get(owner)!.filter((x) => x.state === 'pending');
          if (pending.length === 0) break;
          t = pending[o.pick % pending.length]!;
        }
        t.state = 'retracted';
        const rec = on(recOf(t.owner));
        rec.cancelled(clock.t, t.producer, t.task, t.att, t.index, t.gen, false, 0, true);
        releaseSlots(i32, mem.producerWord(t.producer, P_PACKED), globalW, sub(t.owner).guess, t.producer, P);
        rec.released(clock.t, t.producer, t.task, t.att, t.index, t.gen, OUTCOMES.indexOf('retracted'), Atomics.load(i32, globalW), Atomics.load(i32, mem.producerWord(t.producer, P_PACKED)));
        executed.push({ ...o, key: t.key });
        break;
      }
      case 'die': { // design §4.8: its runs abandoned (released later by their owners), a replacement
        const w = o.worker % W;
        const sup = on(attRec[0]!);
        const first = running[w]![0];
        sup.workerDied(clock.t, w, 1, 1, first?.att ?? -1, first?.index ?? -1, first?.gen ?? -1);
        for (const t of running[w]!) { t.state = 'done'; t.abandoned = true; (t as Tok & { outcome?: number }).outcome = 3; }
        running[w] = [];
        setRun(w);
        sup.respawned(clock.t, w, 1, 200 + w, 0);
        executed.push(o);
        break;
      }
      case 'retry': { // design §4.8 step 2: same token, next generation, a fresh cell, routed again
        const owners = [...owned.keys()].sort((x, y) => x - y);
        if (owners.length === 0) break;
        let t: Tok | undefined;
        if (o.key !== undefined) {
          t = byKey.get(o.key);
          if (t === undefined || t.state !== 'done' || t.abandoned !== true) break;
        } else {
          const owner = owners[o.owner % owners.length]!;
          const cands = owned.get(owner)!.filter((x) => x.state === 'done' && x.abandoned === true);
          if (cands.length === 0) break;
          t = cands[o.pick % cands.length]!;
        }
        const weight = wl.tasks[t.task] === null ? 3 : ['heavy', 'medium', 'light'].indexOf(wl.tasks[t.task]!);
        const chain = chains[weight]!;
        const rec = recOf(t.owner);
        cpuNow = wl.cpuTie ? rec.cpu : -1;
        const w = route(chain, view);
        cpuNow = -1;
        const cpuTie = w !== route(chain, view);
        if (((i32[view.tailW[w]!]! - i32[view.headW[w]!]!) | 0) >= wl.ringCapacity) break; // not modelled: a full ring
        on(rec);
        for (let k = 0; k < W; k++) occupancy[k] = ((i32[view.tailW[k]!]! - i32[view.headW[k]!]!) | 0) + (i32[view.runW[k]!] !== 0 ? 1 : 0);
        const old = t.key;
        t.gen++;
        t.key = tokenKey(t.att, t.index, t.gen);
        byKey.delete(old);
        byKey.set(t.key, t);
        t.attempt = (t.attempt ?? 0) + 1;
        rec.retried(clock.t, t.producer, t.task, t.att, t.index, t.gen, t.worker, t.attempt, 0);
        rec.routed(clock.t, t.producer, t.task, weight, t.att, t.index, t.gen, chain, occupancy, chain.indexOf(w), cpuTie);
        t.state = 'pending';
        t.abandoned = false;
        i32[view.tailW[w]!]!++;
        queues[w]!.push(t);
        executed.push({ ...o, key: old });
        break;
      }
      case 'leak': { // design §4.9/§4.10: a thread dies between its gates and its token; the freeze recounts
        const s = o.att % A;
        const p = o.producer % P;
        if (wl.producers[p]!.rate !== 0) break; // a rated bucket's token would be gone unrecorded: not replayable
        // Whatever the gates said (it died before recording), the supervisor freezes and recounts:
        // what is recorded does not depend on the decision nobody recorded.
        gate(s, p).admitWithGlobal(globalW, wl.globalSlots, P);
        const sup = on(attRec[0]!);
        sup.frozen(clock.t, 0, 1, 0);
        const live = [...byKey.values()].filter((t) => t.state !== 'released' && t.state !== 'retracted');
        const gBefore = Atomics.load(i32, globalW);
        Atomics.store(i32, globalW, live.length);
        sup.reconciled(clock.t, 0, -1, gBefore, live.length);
        const pw = mem.producerWord(p, P_PACKED);
        const pBefore = Atomics.load(i32, pw);
        const mine = live.filter((t) => t.producer === p).length;
        Atomics.store(i32, pw, pack(tokensOf(pBefore), mine));
        sup.reconciled(clock.t, 1, p, inflightOf(pBefore), mine);
        sup.frozen(clock.t, 1, 1, 0);
        executed.push(o);
        break;
      }
    }
    stream?.poll();
  }
  return { meta, threads, executed, stream };
}
