/**
 * Steal (docs/design.md §4.2a): an idle worker, inside its spin budget, takes the oldest
 * untried queued task of a sibling that has been inside one task for STALL_MS, and runs it.
 *
 * Owner: the thief writes nothing of the victim's ring (never its head, never a cell): it reads
 * the victim's tail, head (plain loads, then one RMW that writes back what it read) and
 * W_FAILED and run record, and CASes the stolen cell's token word PENDING -> RUNNING|thief
 * (`claimRun`, as §4.2 step 2). It writes only its own W_STOLEN and, through WorkerLoop.execute,
 * its own run record, counters and the completion (§4.2 step 4, §4.3 steps 5-6). The per-victim
 * look state below is this thread's alone.
 */
import { C_ATT, C_DEADLINE, C_GEN, C_KIND, C_PRODUCER, C_TOKEN, H_STARTING, type Memory, slotStarting, W_FAILED, W_HEAD, W_RUN_TOKEN, W_STOLEN } from '../../shm/layout.js';
import { CF_SPILLED, CF_TOMBSTONE, tagOf, weightOf } from '../../shm/words/cell.js';
import { T_PORT } from '../codec.js';
import { Ring } from '../../shm/ring.js';
import { claimRun } from '../../shm/words/token.js';
import { loadAcquire } from '../../shm/order.js';
import type { Codec } from '../codec.js';
import type { WorkerLoop } from './loop.js';

/**
 * A sibling that has been inside one task for this long (run record set, ring head unmoved)
 * while cells wait in its ring is stalled: an idle worker takes its oldest cell. Well above a
 * trivial task (~1 µs here). A sibling merely descheduled between tasks (the main thread took
 * its CPU) is left alone: stealing from it too cost 10-25% of trivial-task throughput here
 * (docs/performance.md).
 */
const STALL_MS = 0.005;
/** Cells of one sibling a look tries at most. */
const STEAL_SCAN = 8;
const STEAL_RAN = 0;
const STEAL_SKIP = 1;
const STEAL_STOP = 2;
/** An idle spin looks at its siblings when it starts, every this many clock reads (~4 µs), and before it parks. */
export const STEAL_EVERY = 8;

/** One worker's looks at its siblings. Built only when the worker may steal (a non-zero mask). */
export class Stealer {
  private readonly i32: Int32Array;
  private readonly stolenW: number;
  /** The other workers' submission rings, W_FAILED and run-record words, and what the last look saw. */
  private readonly victims: Ring[] = [];
  private readonly victimFailedW: number[] = [];
  private readonly victimRunW: number[] = [];
  /** The victims' slot indices (their bit in H_STARTING). */
  private readonly victimIndex: number[] = [];
  private readonly seenHead: Int32Array;
  private readonly seenRun: Int32Array;
  /** Per victim: the next position to try (positions before it, from its head, were tried). */
  private readonly tried: Int32Array;
  /** When (head, run record) were first seen so (performance.now() ms), or -1: not stalled at the last look. */
  private readonly seenAt: Float64Array;

  /** `codec`: the loop's (peekInline only). `stealMask`: the weight classes this worker may steal (WorkerData.stealMask), non-zero. */
  constructor(
    private readonly loop: WorkerLoop, private readonly mem: Memory, private readonly codec: Codec,
    private readonly w: number, private readonly stealMask: number,
  ) {
    const L = mem.layout;
    this.i32 = mem.i32;
    this.stolenW = mem.workerWord(w, W_STOLEN);
    for (let v = 0; v < L.workers; v++) {
      if (v === w) continue;
      this.victims.push(new Ring(mem.i32, v, mem.tailWord(v), mem.workerWord(v, W_HEAD), mem.subRingByte(v), L.ringCapacity));
      this.victimFailedW.push(mem.workerWord(v, W_FAILED));
      this.victimRunW.push(mem.workerWord(v, W_RUN_TOKEN));
      this.victimIndex.push(v);
    }
    this.seenHead = new Int32Array(this.victims.length);
    this.seenRun = new Int32Array(this.victims.length);
    this.tried = new Int32Array(this.victims.length);
    this.seenAt = new Float64Array(this.victims.length).fill(-1);
  }

  /**
   * One look (§4.2a steps 1-2): take the oldest untried queued task of a sibling that has been
   * inside the same task for STALL_MS, and run it here. Returns whether a task was stolen (and
   * run, or started if async).
   */
  trySteal(now: number): boolean {
    const i32 = this.i32;
    const victims = this.victims;
    const starting = loadAcquire(i32, H_STARTING);
    for (let k = 0; k < victims.length; k++) {
      const v = victims[k]!;
      const h = Atomics.load(i32, v.headWord);
      if (((Atomics.load(i32, v.tailWord) - h) | 0) <= 0) {
        this.seenAt[k] = -1;
        continue;
      }
      // §4.2a step 1: a slot still starting (no ready thread: its cells wait for its boot), or
      // inside a task (its run record set), the same one as at the last look, for STALL_MS.
      if (!slotStarting(starting, this.victimIndex[k]!)) {
        const running = Atomics.load(i32, this.victimRunW[k]!);
        if (running === 0 || this.seenAt[k]! < 0 || this.seenHead[k] !== h || this.seenRun[k] !== running) {
          this.seenHead[k] = h;
          this.seenRun[k] = running;
          this.seenAt[k] = running === 0 ? -1 : now;
          continue;
        }
        if (now - this.seenAt[k]! < STALL_MS) continue;
      }
      this.seenAt[k] = -1;
      // §4.2a step 2: from the oldest cell not yet tried (cells this worker stole stay queued
      // until the victim passes them), a few at a time.
      const tail = Atomics.load(i32, v.tailWord);
      const tried = this.tried[k]!;
      let p = ((tried - h) | 0) > 0 && ((tail - tried) | 0) >= 0 ? tried : h;
      for (let n = 0; n < STEAL_SCAN && ((tail - p) | 0) > 0; n++, p = (p + 1) | 0) {
        const r = this.stealAt(v, p, this.victimFailedW[k]!);
        if (r === STEAL_STOP) break;
        this.tried[k] = (p + 1) | 0;
        if (r === STEAL_RAN) return true;
      }
    }
    return false;
  }

  /**
   * Copy out the cell at position p of ring v, validate the copy, claim its token, run it
   * (§4.2a steps 2-5; step 6 is the victim's own §4.2 step 2 failing later).
   * Who may write what: the victim owns head and releases p only after its own CAS on the
   * cell's token; a producer rewrites the cell only after that release. So the copy is taken
   * first (peekInline writes nothing shared), then validated by reading head with an RMW (a
   * full barrier: the copy's plain loads cannot move past it) -- p not yet released means the
   * cell was not rewritten during the copy -- and only then is the token CASed PENDING ->
   * RUNNING|this worker, exactly as §4.2 step 2 does. The victim's own CAS later fails and it
   * skips the cell, as for a retracted task. Spilled payloads are left alone: their chunk is
   * freed by whoever copies it out, which would race the victim's skip.
   */
  private stealAt(v: Ring, p: number, failedW: number): number {
    const i32 = this.i32;
    if (!v.readable(p)) return STEAL_STOP; // still being written: the victim stalls there too
    const cell = v.cellWord(p);
    const kind = i32[cell + C_KIND]!;
    if ((kind & (CF_TOMBSTONE | CF_SPILLED)) !== 0 || tagOf(kind) === T_PORT) return STEAL_SKIP; // a message goes to its worker only
    if ((this.stealMask & (1 << weightOf(kind))) === 0) return STEAL_SKIP;
    const att = i32[cell + C_ATT]!;
    const t = i32[cell + C_TOKEN]!;
    const gen = i32[cell + C_GEN]!;
    const deadlineMs = i32[cell + C_DEADLINE]!;
    const producer = i32[cell + C_PRODUCER]!;
    // §4.2a step 3: the copy.
    let payload: unknown;
    let decodeError: unknown = null;
    try {
      payload = this.codec.peekInline(cell, kind);
    } catch (err) {
      decodeError = err;
    }
    // §4.2a step 4: validate. A retired slot (supervisor: W_FAILED, then head moved back) is never a victim.
    if (((p - Atomics.add(i32, v.headWord, 0)) | 0) < 0 || Atomics.load(i32, failedW) !== 0) return STEAL_STOP;
    // §4.2a step 5: claim, then run as §4.2 step 4.
    if (!claimRun(i32, this.mem.tokenWord(att, t), gen, this.w)) {
      return STEAL_SKIP; // started (by its worker or by us), or retracted
    }
    i32[this.stolenW]!++;
    this.loop.execute(kind, att, t, gen, deadlineMs, payload, decodeError, producer, true);
    return STEAL_RAN;
  }
}
