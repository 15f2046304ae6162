/**
 * Replay (../shared/DESIGN.md §5 invariant 5, §5a): re-drive admission and routing from a full
 * recording's inputs with the real code, and compare the decisions it makes with the recorded
 * ones, bit for bit.
 *
 * The machine: a fresh runtime memory laid out by shm/layout.ts (the header's workers, ring
 * capacity, global slots, producers), the producers' blocks initialised as registration does
 * (bucket full, refill anchored at the registration tick), and per recorded thread its own
 * TickSource and guess table, as each runtime thread has. Decisions are made by the real gates
 * (admission/gate.ts ProducerGate.admitWithGlobal: refill, producer CAS, global CAS, rollback)
 * and the real router (runtime/routing.ts route) reading the real words: ring tail and head,
 * run record, CPU mask.
 *
 * Records are taken in one order: each thread's in its ring order, threads merged by tick
 * (chrome.ts mergeThreads). Inputs and decisions:
 *
 *   SUBMIT_*     input: who submitted (thread, producer, task, parent), at which tick, on which
 *                CPU. Decision: admitted (the gate words after) or the reason (the gate words,
 *                the limit). 'arena-full', 'draining' and 'closed' are inputs (payload sizes and
 *                the runtime state are not recorded): copied, gates untouched. 'no-workers' runs
 *                the gates and rolls back, like the runtime.
 *   ROUTE        decision: the worker chosen, the occupancies read, the CPU tie. The ring's tail
 *                moves at the submit decision (the claim), before the record.
 *   START        input: a worker popped a cell (the ring's head moves unless stolen; the run
 *                record is set unless skipped). RESOLVE: input, the run record cleared.
 *   RELEASE      input: the owner gave the token's slots back (releaseSlots, global then producer).
 *   RETRY        input: a re-push, followed by its ROUTE decision.
 *   WORKER_DIED  input: the worker's run record cleared. RECONCILE: input, the counter set to
 *                its recounted value.
 *   others       not replayed (META, CANCEL, STEAL, respawn, freeze: their effects arrive as
 *                the records above).
 *
 * The first decision whose replayed words 1..14 differ from the recorded ones is the
 * divergence; replay stops there (what follows depends on it). The hash is over the words 1..14
 * of every decision replayed.
 */
import type { Clock } from '../admission/clock.js';
import { ADMITTED, initProducerGate, ProducerGate, releaseSlots } from '../admission/gate.js';
import { R_ARENA_FULL, R_CLOSED, R_DRAINING, R_NO_WORKERS, R_RING_FULL, REJECT_REASONS } from '../admission/reasons.js';
import { TickSource } from '../admission/tick.js';
import { H_STARTING, Memory, P_EARNED, P_PACKED, W_CPU_MASK, W_HEAD, W_RUN_TOKEN } from '../shm/layout.js';
import { pack, tokensOf } from '../shm/words/gate.js';
import { route, type RouteView } from '../runtime/routing.js';
import { mergeThreads } from './chrome.js';
import { replayThreads } from './replay-threads.js';
import type { TraceFile, TraceMeta, WeightName } from './file.js';
import {
  RECORD_WORDS, RecordKind, START_SKIPPED, START_STOLEN, decodeRecord, details, emptyRecord, encodeRecord, kindName,
  packRoute, rejectionLimit, tokenKey, type TraceRecord,
} from './records.js';
export { rejectionLimit };

/** A clock replay sets to each record's tick (threads' readings may step back across threads). */
export class ReplayClock implements Clock {
  t = 0;
  now(): number { return this.t; }
}

const WEIGHT_INDEX: Record<WeightName, number> = { heavy: 0, medium: 1, light: 2 };
/** Chain index of a task: its weight class, or 3 (routing.ts ANY_WEIGHT) without one. */
export function weightIndexOf(meta: TraceMeta, task: number): number {
  const w = meta.tasks[task]?.weight;
  return w === null || w === undefined ? 3 : WEIGHT_INDEX[w];
}

/** The reasons replay takes from the trace instead of deciding (their inputs are not recorded). */
const INPUT_REASONS: ReadonlySet<number> = new Set([R_ARENA_FULL, R_DRAINING, R_CLOSED]);

export interface Divergence {
  /** Index in the merged record stream (what `sluice trace show` numbers). */
  index: number;
  /** How many decisions agreed before it. */
  decision: number;
  recorded: TraceRecord;
  replayed: TraceRecord;
  /** The fields that differ (details() names). */
  fields: string[];
}

export interface ReplayResult {
  identical: boolean;
  /** Decisions compared (identical: all of them). */
  decisions: number;
  /** Inputs applied. */
  inputs: number;
  /** Hash of the replayed decisions' words 1..14 (16 hex digits), and of the recorded ones. */
  hash: string;
  recordedHash: string;
  divergence: Divergence | null;
}

/** Why a file cannot be replayed (null: it can). */
export function notReplayable(file: Pick<TraceFile, 'meta' | 'bad' | 'missing' | 'lost'> & { records?: readonly TraceRecord[] }): string | null {
  if (file.meta.mode !== 'stream') return 'a flight-recorder window cannot be replayed: it does not start at the start of the run (show, explain and export it instead)';
  if (file.meta.notReplayable !== undefined) return file.meta.notReplayable;
  if ((file.lost ?? 0) > 0) return `the recording lost ${file.lost} records (the drainer fell behind): its inputs are incomplete`;
  if (file.missing > 0) return `${file.missing} records are missing between records of one thread: the inputs are incomplete`;
  if (file.bad > 0) return `${file.bad} frames do not verify: the inputs are incomplete`;
  // A decision on a producer the file has no limits for (a file cut short whose producer table
  // was only in its trailer: written by sluice before trace file version 2).
  const known = file.meta.producers.length;
  const unknown = file.records?.find((r) => r.producer >= known && (r.kind === RecordKind.SUBMIT_ADMITTED || r.kind === RecordKind.SUBMIT_REJECTED || r.kind === RecordKind.REFILL));
  if (unknown !== undefined) return `a decision names producer ${unknown.producer}, which is not in the file's producer table (${known} producers): the inputs are incomplete`;
  return null;
}

/** A 64-bit running hash over int32 words (two multiply-xor lanes), as hex. */
class Hash {
  private a = 0x811c9dc5 | 0;
  private b = 0x9e3779b9 | 0;
  add(w: number): void {
    this.a = Math.imul(this.a ^ w, 0x01000193);
    this.b = Math.imul(this.b ^ w, 0x85ebca6b) ^ (this.a >>> 15);
  }
  hex(): string { return (this.a >>> 0).toString(16).padStart(8, '0') + (this.b >>> 0).toString(16).padStart(8, '0'); }
}

/** The decisions compared so far: both hashes, and the first divergence. */
export class Decisions {
  private readonly replayedHash = new Hash();
  private readonly recordedHash = new Hash();
  count = 0;
  private readonly a = new Int32Array(RECORD_WORDS);
  private readonly b = new Int32Array(RECORD_WORDS);

  /** Compare a decision's words 1..14; the divergence, or null (and one more identical decision). */
  compare(at: number, recorded: TraceRecord, replayed: TraceRecord): Divergence | null {
    const { a, b } = this;
    encodeRecord(recorded, a, 0);
    encodeRecord(replayed, b, 0);
    let same = true;
    for (let w = 1; w < RECORD_WORDS - 1; w++) {
      this.recordedHash.add(a[w]!);
      this.replayedHash.add(b[w]!);
      if (a[w] !== b[w]) same = false;
    }
    if (same) { this.count++; return null; }
    const x = decodeRecord(a, 0);
    const y = decodeRecord(b, 0);
    const dx = { ...x, ...details(x) } as Record<string, unknown>;
    const dy = { ...y, ...details(y) } as Record<string, unknown>;
    const fields = [...new Set([...Object.keys(dx), ...Object.keys(dy)])].filter((f) => dx[f] !== dy[f]);
    return { index: at, decision: this.count, recorded: x, replayed: y, fields };
  }

  result(inputs: number, divergence: Divergence | null): ReplayResult {
    return {
      identical: divergence === null, decisions: this.count, inputs, hash: this.replayedHash.hex(), recordedHash: this.recordedHash.hex(), divergence,
    };
  }
}

interface Thread {
  ticks: TickSource;
  guess: Int32Array;
  gates: (ProducerGate | undefined)[];
  /** An admitted submit whose ROUTE record comes next from this thread. */
  route: TraceRecord | null;
}

/** Replay `file` (a stream recording; see notReplayable). */
/**
 * A fresh memory laid out like the recorded runtime's gates and rings (what replay re-drives),
 * its producers registered as registry.ts does, each at its tick (`registeredAt`, default 0).
 */
export function replayMemory(shape: {
  workers: number; ringCapacity: number; globalSlots: number; tasks: number;
  producers: readonly { rate: number; burst: number; slots: number; registeredAt?: number }[];
}): Memory {
  const mem = Memory.create({
    workers: shape.workers, ringCapacity: shape.ringCapacity, globalSlots: shape.globalSlots, maxProducers: Math.max(1, shape.producers.length),
    maxAttachments: 1, spillBytes: 1024, taskCount: shape.tasks, spinMicros: 0, asyncLimit: 1,
  });
  shape.producers.forEach((p, i) => initProducerGate(mem, i, p, p.registeredAt ?? 0));
  return mem;
}

export function replay(file: Pick<TraceFile, 'meta' | 'records'>): ReplayResult {
  if (file.meta.replay === 'threads') return replayThreads(file);
  const meta = file.meta;
  const W = meta.workers;
  const P = Math.max(1, meta.producers.length);
  const mem = replayMemory({ ...meta, tasks: meta.tasks.length });
  const i32 = mem.i32;
  const globalW = mem.globalWord;
  const clock = new ReplayClock();
  const index = (f: (w: number) => number): Int32Array => Int32Array.from({ length: W }, (_, w) => f(w));
  const view: RouteView & { cpu: number } = {
    i32,
    tailW: index((w) => mem.tailWord(w)),
    headW: index((w) => mem.workerWord(w, W_HEAD)),
    runW: index((w) => mem.workerWord(w, W_RUN_TOKEN)),
    cpuMaskW: index((w) => mem.workerWord(w, W_CPU_MASK)),
    startingW: H_STARTING, // stays 0: the model's workers are never starting
    cpu: -1,
    currentCpu(): number { return this.cpu; },
  };
  meta.workerCpus.forEach((c, w) => { if (c !== null && c >= 0 && c < 32) i32[view.cpuMaskW[w]!] = 1 << c; });
  const chains = meta.chains.map((c) => Int32Array.from(c));
  const running = new Int32Array(W);
  const queues: number[][] = Array.from({ length: W }, () => []);
  const occupancy = new Int32Array(W);
  const producerOf = new Map<number, number>();

  const threads = new Map<number, Thread>();
  const threadOf = (r: TraceRecord): Thread => {
    const key = r.writerClass * 256 + r.writerIndex;
    let t = threads.get(key);
    if (t === undefined) {
      t = { ticks: new TickSource(clock), guess: new Int32Array(P + 1), gates: [], route: null };
      threads.set(key, t);
    }
    return t;
  };
  const gateOf = (t: Thread, p: number): ProducerGate => {
    let g = t.gates[p];
    if (g === undefined) {
      const l = meta.producers[p]!;
      g = new ProducerGate(i32, mem, p, { rate: l.rate, burst: l.burst, slots: l.slots }, t.guess, t.ticks, null);
      t.gates[p] = g;
    }
    return g;
  };
  const setRun = (w: number): void => { i32[view.runW[w]!] = running[w]! > 0 ? 1 : 0; };

  const decisionsLog = new Decisions();
  let inputs = 0;
  const records = mergeThreads(file.records);
  const decide = (at: number, recorded: TraceRecord, replayed: TraceRecord): Divergence | null => decisionsLog.compare(at, recorded, replayed);

  const routeFor = (t: Thread, r: TraceRecord): number => {
    // Submit step 4 / a retry's re-push: the real router, over the replayed words.
    const chain = chains[weightIndexOf(meta, r.task)]!;
    view.cpu = meta.cpuTie ? r.cpu : -1;
    const w = route(chain, view);
    view.cpu = -1;
    const plain = route(chain, view);
    for (let k = 0; k < W; k++) occupancy[k] = ((i32[view.tailW[k]!]! - i32[view.headW[k]!]!) | 0) + (i32[view.runW[k]!] !== 0 ? 1 : 0);
    const expected = emptyRecord();
    Object.assign(expected, r, { kind: RecordKind.ROUTE, worker: -1, parentAtt: -1, parent: -1, parentGen: -1 });
    delete expected.label;
    packRoute(expected, weightIndexOf(meta, r.task), chain, occupancy, chain.indexOf(w), w !== plain);
    t.route = expected;
    return w;
  };

  let divergence: Divergence | null = null;
  for (let at = 0; at < records.length && divergence === null; at++) {
    const r = records[at]!;
    const t = threadOf(r);
    if (t.route !== null && r.kind !== RecordKind.ROUTE) {
      // An admitted submit's ROUTE record is the next one of its thread.
      divergence = decide(at, r, t.route);
      break;
    }
    switch (r.kind) {
      case RecordKind.SUBMIT_ADMITTED:
      case RecordKind.SUBMIT_REJECTED: {
        const p = r.producer;
        const limits = meta.producers[p];
        const out = emptyRecord();
        Object.assign(out, r);
        if (r.kind === RecordKind.SUBMIT_REJECTED && INPUT_REASONS.has(r.aux)) {
          divergence = decide(at, r, out);
          inputs++;
          break;
        }
        if (limits === undefined) { divergence = decide(at, r, { ...out, kind: RecordKind.SUBMIT_REJECTED, aux: 0xffff }); break; }
        clock.t = r.tick;
        const gate = gateOf(t, p);
        let reason = gate.admitWithGlobal(globalW, meta.globalSlots, P);
        let w = -1;
        if (reason === ADMITTED) {
          w = routeFor(t, r);
          const full = ((i32[view.tailW[w]!]! - i32[view.headW[w]!]!) | 0) >= meta.ringCapacity;
          if (full || (r.kind === RecordKind.SUBMIT_REJECTED && r.aux === R_NO_WORKERS)) {
            t.guess[P] = Atomics.sub(i32, globalW, 1) - 1; // the runtime's order: global, then the producer
            gate.rollback();
            reason = full ? R_RING_FULL : R_NO_WORKERS;
            t.route = null;
          }
        }
        out.k0 = Atomics.load(i32, mem.producerWord(p, P_PACKED));
        out.k1 = Atomics.load(i32, globalW);
        out.k2 = Atomics.load(i32, mem.producerWord(p, P_EARNED));
        if (reason === ADMITTED) {
          Object.assign(out, { kind: RecordKind.SUBMIT_ADMITTED, aux: weightIndexOf(meta, r.task), worker: -1 });
          if (r.kind !== RecordKind.SUBMIT_ADMITTED) Object.assign(out, { tokenAtt: -1, token: -1, gen: -1, k3: 0 });
        } else {
          Object.assign(out, {
            kind: RecordKind.SUBMIT_REJECTED, aux: reason, tokenAtt: -1, token: -1, gen: -1, worker: -1,
            k3: rejectionLimit(reason, limits.slots, meta.globalSlots, meta.ringCapacity),
          });
        }
        divergence = decide(at, r, out);
        if (divergence === null && reason === ADMITTED) {
          // The claim (step 4): the ring's tail moves now; the cell holds this token.
          i32[view.tailW[w]!]!++;
          const key = tokenKey(r.tokenAtt, r.token, r.gen);
          queues[w]!.push(key);
          producerOf.set(key, p);
          t.route!.tokenAtt = r.tokenAtt;
          t.route!.token = r.token;
          t.route!.gen = r.gen;
        }
        break;
      }
      case RecordKind.ROUTE: {
        const expected = t.route ?? { ...emptyRecord(), kind: RecordKind.ROUTE, aux: 0xffff };
        t.route = null;
        divergence = decide(at, r, expected);
        break;
      }
      case RecordKind.RETRY: {
        inputs++;
        const w = routeFor(t, r);
        i32[view.tailW[w]!]!++;
        queues[w]!.push(tokenKey(r.tokenAtt, r.token, r.gen));
        break;
      }
      case RecordKind.START: {
        inputs++;
        const w = r.worker;
        const ring = r.k0;
        if (w < 0 || w >= W || ring < 0 || ring >= W) break;
        if ((r.aux & START_STOLEN) === 0) {
          i32[view.headW[ring]!]!++;
          queues[ring]!.shift();
        }
        if ((r.aux & START_SKIPPED) === 0) { running[w]!++; setRun(w); }
        break;
      }
      case RecordKind.RESOLVE: {
        inputs++;
        const w = r.worker;
        if (w >= 0 && w < W && running[w]! > 0) { running[w]!--; setRun(w); }
        break;
      }
      case RecordKind.WORKER_DIED: {
        inputs++;
        const w = r.worker;
        if (w >= 0 && w < W) { running[w] = 0; setRun(w); }
        break;
      }
      case RecordKind.RELEASE: {
        inputs++;
        const p = producerOf.get(tokenKey(r.tokenAtt, r.token, r.gen)) ?? r.producer;
        if (p >= 0 && p < P) releaseSlots(i32, mem.producerWord(p, P_PACKED), globalW, t.guess, p, P);
        break;
      }
      case RecordKind.RECONCILE: {
        inputs++;
        if (r.aux === 0) Atomics.store(i32, globalW, r.k1);
        else if (r.producer >= 0 && r.producer < P) {
          const word = mem.producerWord(r.producer, P_PACKED);
          const old = Atomics.load(i32, word);
          Atomics.store(i32, word, pack(tokensOf(old), r.k1));
        }
        break;
      }
      default:
        break;
    }
  }
  if (divergence === null) {
    for (const t of threads.values()) {
      if (t.route !== null) { divergence = decide(records.length, { ...emptyRecord(), kind: 0 }, t.route); break; }
    }
  }
  return decisionsLog.result(inputs, divergence);
}

/** One line per field that differs, for humans. */
export function describeDivergence(d: Divergence, meta?: TraceMeta): string[] {
  const name = (r: TraceRecord): string => {
    const k = kindName(r.kind);
    if (r.kind === RecordKind.SUBMIT_REJECTED) return `${k} (${REJECT_REASONS[r.aux] ?? r.aux})`;
    return k;
  };
  const who = `thread ${d.recorded.writerClass === 1 ? 'worker' : 'attachment'} ${d.recorded.writerIndex}`;
  const producer = meta?.producers[d.recorded.producer]?.name;
  const lines = [
    `first divergence at record #${d.index} (after ${d.decision} identical decisions), tick ${d.recorded.tick}, ${who}${producer !== undefined ? `, producer '${producer}'` : ''}`,
    `  recorded: ${name(d.recorded)}`,
    `  replayed: ${name(d.replayed)}`,
  ];
  const x = { ...d.recorded, ...details(d.recorded) } as Record<string, unknown>;
  const y = { ...d.replayed, ...details(d.replayed) } as Record<string, unknown>;
  for (const f of d.fields) lines.push(`  ${f}: recorded ${fmt(x[f])}, replayed ${fmt(y[f])}`);
  return lines;
}

function fmt(v: unknown): string {
  if (typeof v === 'number' && (v > 0xffff || v < -1)) return `${v} (0x${(v >>> 0).toString(16)})`;
  return v === undefined ? '-' : String(v);
}
