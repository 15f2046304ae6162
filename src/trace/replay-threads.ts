/**
 * Replay of a runtime's own full recording (docs/design.md §4.15 steps 5-6): each deciding
 * thread re-made on its own, from its own records, in its ring order.
 *
 * Why per thread. Threads decide concurrently on shared words (a producer's PACKED and EARNED,
 * the global count) and read ring occupancies that workers move; no order of the records says
 * which CAS came first. But each thread's decisions are a deterministic function of what it
 * read, and a full recording logs exactly the reads it could not know (read-log.ts): SEEN
 * records, at the thread's read count, and its guesses that moved between two decisions. The
 * router decides on a copy it recorded (ROUTE occupancies, CPU). So replay gives every thread a
 * private memory equal to that thread's view, and runs the real gates (gate.ts) and the real
 * router (routing.ts) on it; before each read the read log puts back what the thread saw.
 *
 *   SEEN (guess)   the thread's guess of a word at a decision's start: set in its guess table.
 *   SEEN (read)    queued; stored into the private memory just before the read it was seen at.
 *   REFILL         the 'clear' timer's refill: a fresh reading at TICK, then the bucket refilled.
 *   SUBMIT_*       decision: the gates at the recorded admission tick (K3's TICK_* flags say
 *                  whether the reading was reused and the decision re-made at a fresh one);
 *                  'io-class' (the class words are shared and not logged), 'ring-full' and
 *                  'no-workers' (the claim) are inputs: the gates are rolled back as the
 *                  runtime does; 'arena-full', 'draining', 'closed' are inputs.
 *   ROUTE          decision: route() on the recorded occupancies (an input when cut).
 *   META           a thread starts writing the slot's ring (the first, or one taking over a
 *                  dead thread's slot): its replay starts over, as its read log does.
 *   RELEASE        the thread's view of the global word and of the producer's PACKED word one
 *                  less, its guesses of them those views (the recorder's read log does the same
 *                  at the same record, so a read that finds them right was not recorded).
 *   others         not decisions of an admitting thread (workers' records: their effect on a
 *                  decision arrives as SEEN). A ring that ends, or a thread that is
 *                  replaced, between an admitted SUBMIT and its ROUTE was cut there by a death.
 */
import { ADMITTED, ProducerGate } from '../admission/gate.js';
import { logSub, setReadLog, type ReadLog } from '../admission/read-log.js';
import { R_ARENA_FULL, R_CLOSED, R_DRAINING, R_IO_CLASS, R_NO_WORKERS, R_RING_FULL } from '../admission/reasons.js';
import { TickSource } from '../admission/tick.js';
import { Memory, P_EARNED, P_LAST_MS, P_PACKED } from '../shm/layout.js';
import { route, RouteSnapshot } from '../runtime/routing.js';
import { mergeThreads } from './chrome.js';
import type { TraceFile } from './file.js';
import {
  REJECTED_FLAGS_SHIFT, ROUTE_INPUT_CUT, RecordKind, SEEN_EARNED, SEEN_GLOBAL, SEEN_GUESS, SEEN_LAST_MS, SEEN_PACKED,
  TICK_REUSED, WRITER_ATTACHMENT, emptyRecord, packRoute, rejectionLimit, unpackRoute, type TraceRecord,
} from './records.js';
import { Decisions, weightIndexOf, type Divergence, type ReplayResult } from './replay.js';

const INPUT_REASONS: ReadonlySet<number> = new Set([R_ARENA_FULL, R_DRAINING, R_CLOSED]);

/** A TickSource whose readings are the recording's: the next advance() reuses or reads `next`. */
class ScriptedTicks extends TickSource {
  next = 0;
  reuseNext = false;
  constructor() { super({ now: () => 0 }); }
  override advance(): void {
    this.advances = (this.advances + 1) | 0;
    if (this.reuseNext) { this.reused = this.advanceReused = true; return; }
    this.advanceReused = false;
    this.fresh();
  }
  override fresh(): void {
    this.value = this.next;
    this.gen = (this.gen + 1) | 0;
    this.reused = false;
  }
}

/** One recorded thread, re-made: its private memory is its view of the gate words. */
class ThreadReplay implements ReadLog {
  readonly mem: Memory;
  readonly i32: Int32Array;
  readonly guess: Int32Array;
  readonly ticks = new ScriptedTicks();
  readonly gates: (ProducerGate | undefined)[] = [];
  /** SEEN reads not yet injected: [read count, word, value]. */
  private readonly pending: number[] = [];
  private reads = 0;
  /** An admitted decision's ROUTE, expected next. */
  route: TraceRecord | null = null;

  constructor(readonly P: number, shape: { workers: number; ringCapacity: number; globalSlots: number; tasks: number }) {
    this.mem = Memory.create({
      workers: shape.workers, ringCapacity: shape.ringCapacity, globalSlots: shape.globalSlots, maxProducers: Math.max(1, P),
      maxAttachments: 1, spillBytes: 1024, taskCount: shape.tasks, spinMicros: 0, asyncLimit: 1,
    });
    this.i32 = this.mem.i32;
    this.guess = new Int32Array(P + 1);
  }

  wordOf(which: number, p: number): number {
    switch (which) {
      case SEEN_GLOBAL: return this.mem.globalWord;
      case SEEN_PACKED: return this.mem.producerWord(p, P_PACKED);
      case SEEN_EARNED: return this.mem.producerWord(p, P_EARNED);
      case SEEN_LAST_MS: return this.mem.producerWord(p, P_LAST_MS);
      default: return -1;
    }
  }

  /** A SEEN record: a guess now, or a read to inject later. False if it names no word. */
  seen(r: TraceRecord): boolean {
    if ((r.aux & SEEN_GUESS) !== 0) {
      const gi = (r.aux & 0xff) === SEEN_GLOBAL ? this.P : r.producer;
      if (gi < 0 || gi > this.P) return false;
      this.guess[gi] = r.k0;
      return true;
    }
    if (r.aux !== SEEN_GLOBAL && (r.producer < 0 || r.producer >= this.P)) return false;
    const w = this.wordOf(r.aux, r.producer);
    if (w < 0) return false;
    this.pending.push(r.k1, w, r.k0);
    return true;
  }

  before(w: number): void {
    this.reads = (this.reads + 1) | 0;
    const q = this.pending;
    while (q.length > 0 && q[0] === this.reads) {
      if (q[1] === w) Atomics.store(this.i32, w, q[2]!);
      q.splice(0, 3);
    }
  }
  read(): void {}
  wrote(): void {}
  readWrote(): void {}

  /** A RELEASE on this thread's ring: its view of the global word and p's PACKED each one less, its guesses those views (recording.ts ThreadReadLog.released). */
  released(p: number): void {
    if (p < 0 || p >= this.P) return;
    const i32 = this.i32;
    const pw = this.mem.producerWord(p, P_PACKED);
    this.guess[p] = i32[pw] = (i32[pw]! - 1) | 0;
    const gw = this.mem.globalWord;
    this.guess[this.P] = i32[gw] = (i32[gw]! - 1) | 0;
  }
}

/** Replay a runtime's full recording (meta.replay === 'threads'). */
export function replayThreads(file: Pick<TraceFile, 'meta' | 'records'>): ReplayResult {
  const meta = file.meta;
  const P = Math.max(1, meta.producers.length);
  const shape = { ...meta, tasks: meta.tasks.length };
  const W = meta.workers;
  const masks = meta.workerCpus.map((c) => (c !== null && c >= 0 && c < 32 ? 1 << c : 0));
  const chains = meta.chains.map((c) => Int32Array.from(c));
  const snap = new RouteSnapshot(W);
  const occupancies = new Int32Array(W);
  const threads = new Map<number, ThreadReplay>();
  const decisions = new Decisions();
  let inputs = 0;
  let divergence: Divergence | null = null;
  const records = mergeThreads(file.records);

  const gateOf = (t: ThreadReplay, p: number): ProducerGate => {
    let g = t.gates[p];
    if (g === undefined) {
      const l = meta.producers[p]!;
      g = new ProducerGate(t.i32, t.mem, p, { rate: l.rate, burst: l.burst, slots: l.slots }, t.guess, t.ticks, null);
      t.gates[p] = g;
    }
    return g;
  };

  for (let at = 0; at < records.length && divergence === null; at++) {
    const r = records[at]!;
    if (r.writerClass !== WRITER_ATTACHMENT) continue;
    let t = threads.get(r.writerIndex);
    if (r.kind === RecordKind.META) {
      // A thread starts writing this slot's ring: the first, or one taking over a dead one's slot
      // with a fresh read log (its counts and shadow start over). A dead writer may have been
      // cut between an admitted SUBMIT and its ROUTE (both are written at once otherwise).
      if (t !== undefined && t.route !== null) inputs++;
      threads.set(r.writerIndex, new ThreadReplay(P, shape));
      continue;
    }
    if (t === undefined) threads.set(r.writerIndex, (t = new ThreadReplay(P, shape)));
    if (t.route !== null && r.kind !== RecordKind.ROUTE) { divergence = decisions.compare(at, r, t.route); break; }
    switch (r.kind) {
      case RecordKind.SEEN:
        inputs++;
        if (!t.seen(r)) divergence = decisions.compare(at, r, { ...r, aux: 0xffff });
        break;
      case RecordKind.RELEASE:
        t.released(r.producer);
        break;
      case RecordKind.REFILL: {
        inputs++;
        if (r.producer < 0 || r.producer >= P || meta.producers[r.producer] === undefined) break;
        t.ticks.next = r.tick;
        setReadLog(t);
        try { gateOf(t, r.producer).refillNow(); } finally { setReadLog(null); }
        break;
      }
      case RecordKind.SUBMIT_ADMITTED:
      case RecordKind.SUBMIT_REJECTED: {
        const out: TraceRecord = { ...emptyRecord(), ...r };
        const limits = meta.producers[r.producer];
        const recordedReason = r.kind === RecordKind.SUBMIT_REJECTED ? r.aux : ADMITTED;
        if (INPUT_REASONS.has(recordedReason)) { inputs++; divergence = decisions.compare(at, r, out); break; }
        if (limits === undefined) { divergence = decisions.compare(at, r, { ...out, aux: 0xffff }); break; }
        const flags = r.kind === RecordKind.SUBMIT_ADMITTED ? r.k3 & 3 : (r.k3 >>> REJECTED_FLAGS_SHIFT) & 3;
        t.ticks.next = r.tick;
        t.ticks.reuseNext = (flags & TICK_REUSED) !== 0;
        const gate = gateOf(t, r.producer);
        setReadLog(t);
        let reason: number;
        try {
          reason = gate.admitWithGlobal(t.mem.globalWord, meta.globalSlots, P);
          if (reason === ADMITTED && (recordedReason === R_RING_FULL || recordedReason === R_NO_WORKERS || recordedReason === R_IO_CLASS)) {
            // The I/O class gate or the claim refused (inputs): undone as the runtime does, global first.
            t.guess[P] = logSub(t.i32, t.mem.globalWord, 1) - 1;
            gate.rollback();
            reason = recordedReason;
          }
        } finally {
          setReadLog(null);
          t.ticks.reuseNext = false;
        }
        out.k0 = Atomics.load(t.i32, t.mem.producerWord(r.producer, P_PACKED));
        out.k1 = Atomics.load(t.i32, t.mem.globalWord);
        out.k2 = Atomics.load(t.i32, t.mem.producerWord(r.producer, P_EARNED));
        if (reason === ADMITTED) {
          Object.assign(out, { kind: RecordKind.SUBMIT_ADMITTED, aux: r.kind === RecordKind.SUBMIT_ADMITTED ? r.aux : weightIndexOf(meta, r.task), k3: flags });
          if (r.kind !== RecordKind.SUBMIT_ADMITTED) Object.assign(out, { tokenAtt: -1, token: -1, gen: -1 });
        } else {
          Object.assign(out, {
            kind: RecordKind.SUBMIT_REJECTED, aux: reason, tokenAtt: -1, token: -1, gen: -1, worker: -1,
            k3: (rejectionLimit(reason, limits.slots, meta.globalSlots, meta.ringCapacity) & 0x0fffffff) | (flags << REJECTED_FLAGS_SHIFT),
          });
        }
        divergence = decisions.compare(at, r, out);
        if (divergence === null && reason === ADMITTED) t.route = r;
        break;
      }
      case RecordKind.ROUTE: {
        const submit = t.route;
        t.route = null;
        if (submit === null) { divergence = decisions.compare(at, r, { ...r, aux: 0xffff }); break; }
        if ((r.aux & ROUTE_INPUT_CUT) !== 0) { inputs++; divergence = decisions.compare(at, r, r); break; }
        const chain = chains[r.aux & 0xff] ?? chains[weightIndexOf(meta, r.task)]!;
        const u = unpackRoute(r);
        occupancies.fill(0);
        u.occupancies.forEach((o, i) => { if (i < chain.length) occupancies[chain[i]!] = o; });
        snap.set(occupancies, masks, r.cpu);
        const w = route(chain, snap);
        snap.cpu = -1;
        const plain = route(chain, snap);
        const out: TraceRecord = { ...emptyRecord(), ...r };
        packRoute(out, r.aux & 0xff, chain, occupancies, chain.indexOf(w), w !== plain);
        divergence = decisions.compare(at, r, out);
        break;
      }
      default:
        break;
    }
  }
  // A thread whose ring ends right after an admitted SUBMIT was cut there (it died, or was
  // terminated, between the two records): its ROUTE was never written. Not a divergence.
  for (const t of threads.values()) if (t.route !== null) inputs++;
  return decisions.result(inputs, divergence);
}
