/**
 * Reconciliation after a death (docs/design.md §4.8 steps 1-5 and 7, §4.9 step 2, §4.10 steps
 * 2-5), the shutdown's orphans (§4.7 step 6), and every completion the supervisor writes.
 *
 * A thread can be terminated at any instruction, so nothing it wrote last can be trusted to be
 * complete. Every span that moves a shared counter or claims a cell runs in its thread's window;
 * the supervisor sets the freeze word and waits until no live thread is in a window (freeze()).
 * Then every claimed, unpublished cell belongs to a dead thread (tombstone it), and the counters
 * are recounted from the token words, which outside windows are exactly what holds a slot.
 *
 * Who writes what here (the starting thread, synchronously, never inside one of its own windows):
 * - the freeze word (set and cleared by freeze/unfreeze, src/shm/window.ts);
 * - under the freeze: tombstones of unpublished cells in any ring, token words of dead threads
 *   (src/shm/words/token.ts transitions), the global and per-producer in-flight counts, a dead
 *   attachment's stats;
 * - outside it, by CAS only (a live owner may win): PENDING -> RETRACTED and RUNNING -> ABANDONED
 *   (resolveOrphans, retire);
 * - completion cells in any attachment's ring: 'abandoned' and 'retracted' with a short reason,
 *   always inline, through the one completion writer (cells.ts writeCompletion);
 * - a retired slot's ring head (§4.8 step 7) and W_FAILED; a dead worker's W_RUN_TOKEN.
 */
import { deadResolved } from '../guard-house.js';
import {
  A_STATE, A_WAKER, A_WINDOW, C_ATT, C_GEN, C_KIND, C_PRODUCER, C_SPILL, C_TOKEN, H_BARRIER, Memory, P_PACKED,
  W_FAILED, W_HEAD, W_RUN_TOKEN, W_WAKER, W_WINDOW,
} from '../../shm/layout.js';
import { CF_RETRYABLE, CF_SPILLED, CF_TOMBSTONE } from '../../shm/words/cell.js';
import { isActive, isFree } from '../../shm/words/attachment.js';
import { RING_FULL } from '../../shm/ring.js';
import { freeze, inWindow, unfreeze } from '../../shm/window.js';
import {
  TK_ABANDONED, TK_DONE, TK_FREE, TK_PENDING, TK_RETRACTED, TK_RUNNING, abandonRunning, free, genOf, retract, settleAbandoned,
  stateOf, workerOf,
} from '../../shm/words/token.js';
import { wake } from '../../shm/waker.js';
import { arenaScavenge } from '../../shm/arena.js';
import { O_ABANDONED, O_RETRACTED } from '../../admission/outcomes.js';
import { inflightOf, withInflight } from '../../shm/words/gate.js';
import { S_RESOLVED } from '../../admission/reasons.js';
import { recountIo } from '../../admission/io-class.js';
import { threadAlive } from '../native/liveness.js';
import { processBarrier } from '../native/affinity.js';
import { clipReason, writeCompletion } from '../cells.js';
import type { Ending, SupervisorContext } from './context.js';

export class Reconciler {
  private readonly i32: Int32Array;
  private readonly mem: Memory;
  private readonly L: Memory['layout'];
  /**
   * The freeze's process barrier when the runtime's threads store their window flags plainly
   * (layout.ts H_BARRIER, shm/window.ts): this thread's, which Runtime.start found; a barrier
   * that cannot run fails every freeze rather than freeze without it.
   */
  private readonly barrier: (() => boolean) | null;

  constructor(readonly ctx: SupervisorContext) {
    this.i32 = ctx.i32;
    this.mem = ctx.mem;
    this.L = ctx.L;
    this.barrier = ctx.i32[H_BARRIER] === 1 ? (processBarrier() ?? (() => false)) : null;
  }

  /**
   * Crash recovery for slot w (§4.8 steps 1-5), under a freeze; retried each tick if no freeze
   * could be had. `then` (the respawn, §4.8 step 6) runs only after it: the replacement reuses
   * index w and must not be mistaken for the dead thread.
   */
  recoverWorker(w: number, ending: Ending, then: () => void): void {
    const ctx = this.ctx;
    const reason = clipReason(ending.reason);
    if (ctx.seam !== null) ctx.seam.workerDied(w, ending.retryable);
    const run = (): boolean => {
      if (!this.freeze()) return false;
      try {
        this.reconcile([w], [], { reason, retryable: ending.retryable });
      } finally {
        this.unfreeze();
      }
      ctx.endings.delete(-1 - w);
      Atomics.store(this.i32, this.mem.workerWord(w, W_RUN_TOKEN), 0);
      // §4.8 step 5. w's result arena: chunks that published completions still name stay; the rest are free.
      const referenced = new Set<number>();
      const i32 = this.i32;
      for (let a = 0; a < this.L.maxAttachments; a++) {
        ctx.forEachPublished(ctx.compRings[a]!, (cell) => {
          const kind = i32[cell + C_KIND]!;
          if (i32[cell + C_PRODUCER] === w && (kind & (CF_SPILLED | CF_TOMBSTONE)) === CF_SPILLED) referenced.add(i32[cell + C_SPILL]!);
        });
      }
      arenaScavenge(this.mem, this.L.maxAttachments + w, referenced);
      ctx.onEvent(`worker ${w} replaced: ${reason}`);
      then();
      return true;
    };
    if (!run()) ctx.backlog.push(run);
  }

  // ---- the freeze (§4.10 step 2) ----

  /**
   * Set the freeze word and wait until no live thread is inside a window. False (and unfrozen)
   * if a live thread stays inside one for a second: the caller retries later.
   */
  freeze(): boolean {
    if (!freeze(this.i32, this.mem.freezeWord, this.liveInWindow, 1000, this.barrier)) return false;
    if (this.ctx.seam !== null) this.ctx.seam.frozen();
    return true;
  }

  unfreeze(): void {
    unfreeze(this.i32, this.mem.freezeWord);
  }

  /**
   * The freeze's liveness predicate: some live thread is inside its window. An attachment counts
   * when ACTIVE, its flag set and its thread not known dead (a dead owner's flag may stay set);
   * a worker when its thread object exists (a dead worker's slot is null until respawned).
   * Attachment 0 is this thread, never inside a window while it freezes.
   */
  private readonly liveInWindow = (): boolean => {
    const i32 = this.i32;
    for (let a = 1; a < this.L.maxAttachments; a++) {
      if (!isActive(i32, this.mem.attachWord(a, A_STATE))) continue;
      if (!inWindow(i32, this.mem.attachWord(a, A_WINDOW))) continue;
      if (threadAlive(this.ctx.identity(a)) !== false) return true;
    }
    for (let w = 0; w < this.L.workers; w++) {
      if (this.ctx.workers[w] !== null && inWindow(i32, this.mem.workerWord(w, W_WINDOW))) return true;
    }
    return false;
  };

  /**
   * Under a freeze, with no live thread inside a window (§4.8 steps 1-4, §4.9 step 2, §4.10
   * steps 3-5):
   * 1. every claimed, unpublished cell (in any ring) was claimed by a dead thread: tombstone it;
   * 2. tokens of dead workers: RUNNING -> ABANDONED with an 'abandoned' completion (retryable
   *    unless the reason is its own deadline); abandoned by the watchdog, or DONE without a
   *    published completion: an 'abandoned' completion;
   * 3. tokens of dead attachments that are PENDING in no published cell never run: FREE,
   *    counted retracted; DONE with no published completion were consumed by the dead owner
   *    before it could free them: FREE, counted abandoned (the result died with its owner);
   * 4. the counters are recounted from the token words: global = tokens not FREE; each
   *    producer's in flight = its tokens not FREE; each I/O class's count = its tokens not FREE
   *    (tokenIo). Outside windows that is exact (§4.10);
   * 5. every worker and attachment is woken: a dead thread may have published and died before
   *    its wake-up call.
   */
  reconcile(deadWorkers: number[], deadAtts: number[], ending: Ending): void {
    const i32 = this.i32;
    const L = this.L;
    const ctx = this.ctx;
    if (ctx.seam !== null) ctx.seam.reconciled(deadWorkers.length, deadAtts.length);
    // 1.
    for (const ring of [...ctx.subRings, ...ctx.compRings]) {
      const end = Atomics.load(i32, ring.tailWord);
      for (let pos = ring.head(); pos !== end; pos = (pos + 1) | 0) {
        // Keep no flag: its writer may have died between the kind word and the spill word, so a
        // spill position there may be stale. The dead writer's chunk is scavenged instead.
        if (!ring.readable(pos)) ring.tombstone(pos, C_KIND, CF_TOMBSTONE, 0);
      }
    }
    // Published cells, for 2 and 3.
    const queued = new Set<number>(); // (att, token, gen) still waiting in a submission ring
    for (const ring of ctx.subRings) {
      ctx.forEachPublished(ring, (cell) => {
        if ((i32[cell + C_KIND]! & CF_TOMBSTONE) === 0) queued.add(key(i32[cell + C_ATT]!, i32[cell + C_TOKEN]!, i32[cell + C_GEN]!));
      });
    }
    const dead = new Set(deadWorkers);
    const closing = new Set(deadAtts);
    for (let a = 0; a < L.maxAttachments; a++) {
      if (isFree(i32, this.mem.attachWord(a, A_STATE))) continue;
      for (let t = 0; t < L.tokenCapacity; t++) {
        const tw = this.mem.tokenWord(a, t);
        const word = Atomics.load(i32, tw);
        if (word === TK_FREE) continue;
        const state = stateOf(word);
        const gen = genOf(word);
        const w = workerOf(word);
        if (closing.has(a) && state === TK_PENDING && !queued.has(key(a, t, gen))) {
          // 3. Its submit died before publishing: it never runs.
          free(i32, tw);
          i32[this.mem.statWord(a, i32[this.mem.tokenMetaWord(a, t)]!, S_RESOLVED + O_RETRACTED)]!++;
          deadResolved(this.mem, a, t, O_RETRACTED); // §4.16: its task's health, its probe given back
          continue;
        }
        if (closing.has(a) && state === TK_RETRACTED) {
          free(i32, tw); // retracted by its dead owner, never resolved: nothing will
          continue;
        }
        if (closing.has(a) && state === TK_DONE && !dead.has(w) && !this.completionPublished(a, t, gen, w)) {
          // Its dead owner consumed the completion and died before freeing the token (live
          // workers are outside their windows now, so a DONE token's completion is published or
          // consumed). The result died with its owner.
          free(i32, tw);
          i32[this.mem.statWord(a, i32[this.mem.tokenMetaWord(a, t)]!, S_RESOLVED + O_ABANDONED)]!++;
          deadResolved(this.mem, a, t, O_ABANDONED); // §4.16: its task's health, its probe given back
          continue;
        }
        if (state === TK_PENDING || !dead.has(w)) continue;
        // 2.
        if (state === TK_RUNNING) {
          // Under the freeze nothing else moves this word: the CAS always wins here.
          if (abandonRunning(i32, tw, gen, w)) this.abandon(a, t, gen, w, ending.reason, ending.retryable);
        } else if (state === TK_ABANDONED) {
          this.abandon(a, t, gen, w, ctx.endings.get(-1 - w)?.reason ?? ending.reason, false);
        } else if (state === TK_DONE && !this.completionPublished(a, t, gen, w)) {
          this.abandon(a, t, gen, w, clipReason(`${ending.reason} (while returning its result)`), ending.retryable);
        }
      }
    }
    // 5. A dead thread may have published a cell and died before waking its consumer: wake all.
    for (let w = 0; w < L.workers; w++) wake(i32, this.mem.workerWord(w, W_WAKER));
    for (let a = 0; a < L.maxAttachments; a++) wake(i32, this.mem.attachWord(a, A_WAKER));
    // 4.
    const inflight = new Int32Array(L.maxProducers);
    let global = 0;
    for (let a = 0; a < L.maxAttachments; a++) {
      for (let t = 0; t < L.tokenCapacity; t++) {
        if (Atomics.load(i32, this.mem.tokenWord(a, t)) === TK_FREE) continue;
        global++;
        inflight[i32[this.mem.tokenMetaWord(a, t)]!]!++;
      }
    }
    Atomics.store(i32, this.mem.globalWord, global);
    for (let p = 0; p < L.maxProducers; p++) {
      const pw = this.mem.producerWord(p, P_PACKED);
      for (;;) {
        const old = Atomics.load(i32, pw);
        if (inflightOf(old) === inflight[p]) break;
        if (Atomics.compareExchange(i32, pw, old, withInflight(old, inflight[p]!)) === old) break;
      }
    }
    // §4.10 step 4 for the I/O class counts: each := its tokens not FREE (by their class word).
    recountIo(this.mem);
  }

  /**
   * §4.7 step 6 for the other threads: the workers are gone, so a live token of another
   * attachment will never be completed by one. Complete it here, so nothing that thread awaits
   * waits forever (and its pump lets it exit): PENDING -> RETRACTED ('retracted'), RUNNING ->
   * ABANDONED ('abandoned'). Each by CAS, which the owner's own cancel may win instead. DONE
   * has its completion already. Only after every worker exited or was given up.
   */
  resolveOrphans(): void {
    const i32 = this.i32;
    for (let a = 1; a < this.L.maxAttachments; a++) {
      if (!isActive(i32, this.mem.attachWord(a, A_STATE))) continue;
      for (let t = 0; t < this.L.tokenCapacity; t++) {
        const tw = this.mem.tokenWord(a, t);
        const word = Atomics.load(i32, tw);
        if (word === TK_FREE) continue;
        const state = stateOf(word);
        const gen = genOf(word);
        if (state === TK_PENDING) {
          if (retract(i32, tw, gen)) {
            this.complete(a, t, gen, 0, O_RETRACTED, 'the runtime closed before the task started', false);
          }
        } else if (state === TK_RUNNING) {
          if (abandonRunning(i32, tw, gen, workerOf(word))) {
            this.abandon(a, t, gen, workerOf(word), 'the runtime closed while the task was running', false);
          }
        }
      }
    }
  }

  /** §4.8 step 7, a slot that keeps dying: retract what is queued in its ring and freeze the ring full. */
  retire(w: number): void {
    if (this.ctx.seam !== null) this.ctx.seam.retired(w);
    const i32 = this.i32;
    Atomics.store(i32, this.mem.workerWord(w, W_FAILED), 1);
    const ring = this.ctx.subRings[w]!;
    // Freeze first: head = tail - capacity makes the ring read full, so no new claims land.
    const headW = this.mem.workerWord(w, W_HEAD);
    let pos = Atomics.load(i32, headW);
    const tail = Atomics.load(i32, ring.tailWord);
    Atomics.store(i32, headW, (tail - ring.capacity) | 0);
    const drain = (): boolean => {
      const end = Atomics.load(i32, ring.tailWord);
      while (pos !== end) {
        if (!ring.readable(pos)) return false; // a live producer is still writing it: next tick
        this.retractCell(ring.cellWord(pos), `worker slot ${w} retired after repeated crashes`);
        pos = (pos + 1) | 0;
      }
      return true;
    };
    if (!drain()) this.ctx.backlog.push(drain);
    this.ctx.onEvent(`worker slot ${w} keeps dying: retired (not respawned)`);
    this.ctx.onSlotRetired(w);
    this.ctx.onRetired();
  }

  private retractCell(cell: number, reason: string): void {
    const i32 = this.i32;
    const kind = i32[cell + C_KIND]!;
    const att = i32[cell + C_ATT]!;
    this.ctx.codec.discard(cell, att);
    if (kind & CF_TOMBSTONE) return;
    const t = i32[cell + C_TOKEN]!;
    const gen = i32[cell + C_GEN]!;
    if (!retract(i32, this.mem.tokenWord(att, t), gen)) return;
    this.complete(att, t, gen, 0, O_RETRACTED, reason, false);
  }

  // ---- completions written by the supervisor (§4.3 step 6's cell, cells.ts writeCompletion) ----

  /** An 'abandoned' completion for (a, t, gen). */
  private abandon(a: number, t: number, gen: number, w: number, reason: string, retryable: boolean): void {
    this.complete(a, t, gen, w, O_ABANDONED, reason, retryable);
    // DONE = "a completion for this token exists": a second recovery will not write another (§4.8 step 3).
    settleAbandoned(this.i32, this.mem.tokenWord(a, t), gen);
  }

  private complete(a: number, t: number, gen: number, w: number, outcome: number, reason: string, retryable: boolean): void {
    const ctx = this.ctx;
    const ring = ctx.compRings[a]!;
    const write = (): boolean => {
      const p = ring.claim();
      if (p === RING_FULL) return false; // the ring holds a tombstone or a duplicate: retry next tick
      ctx.codec.prepare(clipReason(reason), 'reason'); // inline: never spills, never PREPARE_FULL
      writeCompletion(ring, p, ctx.codec, outcome, a, t, gen, w, retryable ? CF_RETRYABLE : 0);
      wake(this.i32, this.mem.attachWord(a, A_WAKER));
      return true;
    };
    if (!write()) ctx.backlog.push(write);
  }

  private completionPublished(a: number, t: number, gen: number, w: number): boolean {
    let found = false;
    const i32 = this.i32;
    this.ctx.forEachPublished(this.ctx.compRings[a]!, (cell) => {
      if ((i32[cell + C_KIND]! & CF_TOMBSTONE) !== 0) return; // its other words are stale
      if (i32[cell + C_TOKEN] === t && i32[cell + C_GEN] === gen && i32[cell + C_PRODUCER] === w) found = true;
    });
    return found;
  }
}

function key(a: number, t: number, gen: number): number {
  return (a * 0x10000 + t) * 0x200000 + gen; // < 2^53: a < 256, t < 2^16, gen < 2^21
}
