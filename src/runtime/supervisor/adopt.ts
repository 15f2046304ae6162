/**
 * Producer death (docs/design.md §4.9): the supervisor adopts the completion ring of an attached
 * thread that is gone, and closes its books.
 *
 * Who writes what: the attachment's state word (close CAS ACTIVE -> CLOSING: exactly one
 * reconciler; release -> FREE at the end, src/shm/words/attachment.ts); from CLOSING on, its
 * completion head, token words, stats and payload arena are the supervisor's, on the starting
 * thread, as they were the dead owner's. The workers still write its completion cells.
 */
import { A_STATE, C_ATT, C_KIND, C_SPILL, P_PACKED } from '../../shm/layout.js';
import { CF_SPILLED, CF_TOMBSTONE, lowOf } from '../../shm/words/cell.js';
import { close as closeAttachment, release as releaseAttachment } from '../../shm/words/attachment.js';
import { TK_FREE, free, genOf } from '../../shm/words/token.js';
import { arenaScavenge } from '../../shm/arena.js';
import { releaseSlots } from '../../admission/gate.js';
import { releaseIo } from '../../admission/io-class.js';
import { OUTCOMES } from '../../admission/outcomes.js';
import { deadBooks, deadResolved } from '../guard-house.js';
import { S_ADMITTED, S_RESOLVED } from '../../admission/reasons.js';
import { H_GEN, H_TOKEN, H_WORKER, HEADER_WORDS, readCompletion, resultArena } from '../completion.js';
import type { SupervisorContext } from './context.js';
import type { Reconciler } from './reconcile.js';

/** The header of the cell drainAdopted is at (one per thread: the supervisor is synchronous). */
const header = new Int32Array(HEADER_WORDS);

/**
 * Attachment a's thread is gone (found by the watchdog's liveness check, or told directly):
 * 1. ACTIVE -> CLOSING (CAS): exactly one reconciler.
 * 2. Under a freeze (§4.10): its claimed, unpublished cell becomes a tombstone; a token it made
 *    PENDING but never published is freed; the counters are recounted, which gives back every
 *    slot its unfinished submit held, wherever it died (Reconciler.reconcile).
 * 3. Its admitted tasks still run: drainAdopted now, then each watchdog tick until it is done.
 */
export function recoverAttachment(rec: Reconciler, a: number): void {
  const ctx = rec.ctx;
  if (!closeAttachment(ctx.i32, ctx.mem.attachWord(a, A_STATE))) return;
  const run = (): boolean => {
    if (!rec.freeze()) return false;
    try {
      rec.reconcile([], [a], { reason: `attached thread ${a} died`, retryable: false });
    } finally {
      rec.unfreeze();
    }
    ctx.onEvent(`attached thread ${a} is gone: reconciled (its admitted tasks run; results dropped)`);
    if (!drainAdopted(ctx, a)) ctx.adopted.add(a);
    return true;
  };
  if (!run()) ctx.backlog.push(run);
}

/**
 * §4.9 steps 3-4: consume dead attachment a's completions in its place (results dropped, slots
 * released, outcomes counted); true once nothing of it is left: its books closed (admitted =
 * resolved), its arena scavenged, its slot FREE.
 */
export function drainAdopted(ctx: SupervisorContext, a: number): boolean {
  const i32 = ctx.i32;
  const mem = ctx.mem;
  const L = ctx.L;
  const ring = ctx.compRings[a]!;
  let pos = ring.head();
  while (ring.readable(pos)) {
    const cell = ring.cellWord(pos);
    const kind = readCompletion(i32, cell, header);
    ctx.codec.discard(cell, resultArena(L.maxAttachments, header[H_WORKER]!));
    pos = (pos + 1) | 0;
    ring.release(pos);
    if (kind & CF_TOMBSTONE) continue;
    const t = header[H_TOKEN]!;
    const tw = mem.tokenWord(a, t);
    const word = Atomics.load(i32, tw);
    if (word === TK_FREE || genOf(word) !== header[H_GEN]) continue;
    free(i32, tw); // with the release below: the supervisor never runs inside a freeze here
    const p = i32[mem.tokenMetaWord(a, t)]!;
    const io = i32[mem.tokenIoWord(a, t)]!; // §4.1 step 3a's slot, first (the mirror order of §4.3 step 7)
    if (io !== 0) releaseIo(mem, io - 1, 1, null);
    releaseSlots(i32, mem.producerWord(p, P_PACKED), mem.globalWord);
    i32[mem.statWord(a, p, S_RESOLVED + lowOf(kind))]!++;
    deadResolved(mem, a, t, lowOf(kind)); // §4.16: its task's health, its probe given back
  }
  for (let t = 0; t < L.tokenCapacity; t++) {
    if (Atomics.load(i32, mem.tokenWord(a, t)) !== TK_FREE) return false;
  }
  // Its books: a submit it died in counts as not admitted, so admitted = resolved.
  for (let p = 0; p < L.maxProducers; p++) {
    let resolved = 0;
    for (let o = 0; o < OUTCOMES.length; o++) resolved += i32[mem.statWord(a, p, S_RESOLVED + o)]!;
    i32[mem.statWord(a, p, S_ADMITTED)] = resolved;
  }
  deadBooks(mem, a); // §4.16: the same for its health rows

  // Nothing of it is live: its payload arena holds only chunks of cells still to be skipped.
  const referenced = new Set<number>();
  for (const r of ctx.subRings) {
    ctx.forEachPublished(r, (cell) => {
      const kind = i32[cell + C_KIND]!;
      if (i32[cell + C_ATT] === a && (kind & (CF_SPILLED | CF_TOMBSTONE)) === CF_SPILLED) referenced.add(i32[cell + C_SPILL]!);
    });
  }
  arenaScavenge(mem, a, referenced);
  releaseAttachment(i32, mem.attachWord(a, A_STATE));
  return true;
}
