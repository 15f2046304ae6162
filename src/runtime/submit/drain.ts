/**
 * The owner side of Complete (docs/design.md §4.3 step 7): drain this thread's completion ring,
 * resolve each live token exactly once, give its slots back, then run user callbacks. Also the
 * retry of §4.8 (a token whose worker died, re-pushed with its next generation) and every other
 * resolve of this thread (cancel §4.5, close §4.7), which all end in resolve().
 *
 * Owner: the attachment's thread is the ring's only consumer (it alone moves its head) and the
 * only writer of its token table. User code (callbacks, promise reactions) never runs inside a
 * window: callbacks are queued and run after the chunk's window closed.
 */
import { CF_RETRYABLE, CF_TOMBSTONE, lowOf } from '../../shm/words/cell.js';
import { RING_FULL, type Ring } from '../../shm/ring.js';
import { markPending, nextGen } from '../../shm/words/token.js';
import { writeSubmission } from '../cells.js';
import { H_GEN, H_TOKEN, H_WORKER, HEADER_WORDS, readCompletion, resultArena } from '../completion.js';
import { route } from '../routing.js';
import { PREPARE_FULL } from '../codec.js';
import { O_ABANDONED, O_FULFILLED, O_REJECTED, O_RETRACTED, type Token, outcomeError } from '../token.js';
import { AbandonedError, PayloadError, RetractedError, thrownText } from '../../errors.js';
import { callUser, reportUncaught } from '../user-code.js';
import type { Attachment } from './attachment.js';
import { RUN_SINK, type Callback, type TokenTable } from './token-table.js';
import type { SlotReturn } from './release.js';

/** Completions drained per window (bounds how long a supervisor freeze may wait for this thread). */
export const DRAIN_CHUNK = 64;

export class Drain {
  /** Where this thread's consumption of its completion ring stands. */
  head: number;
  /** Inside drain(): a callback's nested drain returns 0 (the running loop picks up what arrived). */
  draining = false;
  private readonly ring: Ring;
  private readonly table: TokenTable;
  /** The completion header being read (completion.ts: one reader for both consumers of a completion ring). */
  private readonly header = new Int32Array(HEADER_WORDS);
  private readonly slots: SlotReturn;
  private deferredCount = 0;
  private readonly deferredCb: Array<Callback | undefined> = new Array<Callback | undefined>(DRAIN_CHUNK).fill(undefined);
  private readonly deferredValue: unknown[] = new Array<unknown>(DRAIN_CHUNK).fill(undefined);
  private readonly deferredOutcome = new Int32Array(DRAIN_CHUNK);
  private readonly deferredTag = new Int32Array(DRAIN_CHUNK);
  /** Callbacks resolved outside a drain (retractPending, abandonRemaining): run by runLate(). */
  private readonly late: Array<{ cb: Callback; outcome: number; value: unknown; tag: number }> = [];
  /** Retries that found no free cell (or arena space): re-pushed after the next drain. */
  private readonly retryQueue: Token[] = [];

  constructor(private readonly att: Attachment) {
    this.ring = att.completions;
    this.table = att.table;
    this.slots = att.slots;
    this.head = this.ring.head();
  }

  /** Drain chunks so far (wrapping): a chunk's resolves may share one clock reading in a recording (seam.resolved). */
  private chunk = 0;

  /** Drain every published completion; resolve each token exactly once. Returns how many. */
  drain(): number {
    const ring = this.ring;
    if (this.draining) return 0;
    this.draining = true;
    let n = 0;
    // Chunks of at most DRAIN_CHUNK completions, each inside one window (§4.10) and without
    // user code: every slot the chunk frees is given back (in bulk) before the window closes,
    // and only then do the chunk's callbacks run. Promise reactions run later anyway.
    try {
      while (ring.readable(this.head)) {
        this.att.window.enter();
        this.slots.deferring = true;
        this.chunk = (this.chunk + 1) & 0x3fffffff;
        try {
          n += this.drainChunk();
        } finally {
          this.slots.flush();
          this.slots.deferring = false;
          this.att.window.leave();
        }
        this.runDeferred();
      }
    } finally {
      this.draining = false;
    }
    if (this.retryQueue.length > 0) this.retryPending();
    if (n > 0) this.table.checkIdle();
    return n;
  }

  private drainChunk(): number {
    const ring = this.ring;
    const i32 = this.att.i32;
    const table = this.table;
    const codec = this.att.codec;
    const header = this.header;
    const attachments = this.att.layout.maxAttachments;
    let pos = this.head;
    let n = 0;
    while (n < DRAIN_CHUNK && ring.readable(pos)) {
      const cell = ring.cellWord(pos);
      const kind = readCompletion(i32, cell, header);
      const t = header[H_TOKEN]!;
      const gen = header[H_GEN]!;
      const worker = header[H_WORKER]!;
      let outcome = lowOf(kind);
      let value: unknown;
      if (kind & CF_TOMBSTONE) {
        outcome = -1;
      } else {
        try {
          value = codec.read(cell, resultArena(attachments, worker));
        } catch (err) {
          outcome = O_REJECTED;
          value = new PayloadError(`task result could not be decoded: ${(err as Error).message}`, { cause: err });
        }
      }
      pos = (pos + 1) | 0;
      n++;
      if (outcome < 0 || table.gens[t] !== gen) continue; // tombstone, stale or duplicate
      const token = table.tokens[t];
      if (token === undefined) {
        if (table.callbacks[t] !== undefined) this.resolveCallback(t, outcome, value);
        continue;
      }
      if (outcome === O_ABANDONED && (kind & CF_RETRYABLE) !== 0 && token._retriesLeft > 0) {
        token._retriesLeft--;
        if (!this.repush(token)) this.retryQueue.push(token);
        continue;
      }
      // An 'abandoned' or 'retracted' completion carries its reason as a string.
      if (outcome === O_ABANDONED && typeof value === 'string') value = new AbandonedError(value);
      else if (outcome === O_RETRACTED && typeof value === 'string') value = new RetractedError(value);
      this.resolve(token, outcome, value);
    }
    ring.release(pos); // every cell of the chunk is copied out; workers may reuse them
    this.head = pos;
    return n;
  }

  /** Run the callbacks of the chunk just drained, in completion order. One that throws does not stop the others. */
  private runDeferred(): void {
    const k = this.deferredCount;
    this.deferredCount = 0;
    for (let i = 0; i < k; i++) {
      const cb = this.deferredCb[i]!;
      const outcome = this.deferredOutcome[i]!;
      const value = this.deferredValue[i];
      this.deferredCb[i] = undefined;
      this.deferredValue[i] = undefined;
      try {
        if (outcome === O_FULFILLED) cb(undefined, value, this.deferredTag[i]!);
        else cb(outcomeError(outcome, value), undefined, this.deferredTag[i]!);
      } catch (err) {
        reportUncaught(err); // the caller's error, reported as uncaught, with this thread's books intact
      }
    }
  }

  /** Run the callbacks resolved outside a drain, once every window is left. */
  runLate(): void {
    for (const c of this.late.splice(0)) {
      if (c.outcome === O_FULFILLED) callUser(c.cb, undefined, c.value, c.tag);
      else callUser(c.cb, outcomeError(c.outcome, c.value), undefined, c.tag);
    }
  }

  /**
   * §4.8 (retries): run a token again after its worker died: same token, same slots, next
   * generation, a fresh ring cell (the one submission-cell writer). False when no cell (or arena
   * space) is free right now.
   */
  private repush(token: Token): boolean {
    const att = this.att;
    const task = token._task!;
    const w = route(att.chains[task.weightIndex]!, att.routeView);
    const ring = att.rings[w]!;
    let prepared: number;
    try {
      prepared = att.codec.prepare(token._payload); // user code (getters): it may throw this time
    } catch (err) {
      // From the pump: the retry fails, the pump does not. Its first try was abandoned anyway.
      this.resolve(token, O_ABANDONED, new AbandonedError(`its worker died and the retry could not encode the payload again: ${thrownText(err)}`));
      return true;
    }
    if (prepared === PREPARE_FULL) return false;
    att.window.enter();
    try {
      const pos = ring.claim();
      if (pos === RING_FULL) {
        att.codec.abandon();
        return false;
      }
      const t = token._index;
      const gen = (this.table.gens[t] = nextGen(token._gen));
      token._gen = gen;
      markPending(att.i32, att.tokenWordOf(t), gen);
      writeSubmission(ring, pos, att.codec, task.id, task.weightIndex, att.index, t, gen, token._producer, token._deadlineMs);
      if (att.seam !== null) att.seam.retried(att.index, t, gen, w);
    } finally {
      att.window.leave();
    }
    att.wakeWorker(w);
    return true;
  }

  private retryPending(): void {
    while (this.retryQueue.length > 0 && this.repush(this.retryQueue[0]!)) this.retryQueue.shift();
  }

  /** Resolve a token: free its index, give back its slots, count it, settle it. Exactly once. */
  resolve(token: Token, outcome: number, value: unknown): void {
    const t = token._index;
    const table = this.table;
    table.tokens[t] = undefined;
    table.gens[t] = nextGen(token._gen);
    if (token._cleanup !== null) {
      try {
        token._cleanup(); // ours (a timer, an intrinsic removeEventListener); the books must not depend on it
      } catch (err) {
        reportUncaught(err);
      }
    }
    this.slots.release(t, token._producer, outcome);
    this.guarded(t, outcome, token._producer, token.id, token._gen, value, token._payload);
    table.put(t);
    const seam = this.att.seam;
    if (seam !== null) seam.resolved(this.att.index, t, token._gen, token._producer, outcome, this.slots.deferring ? this.chunk : -1);
    token._settle(outcome, value);
  }

  /**
   * §4.16 steps 4-6: the outcome counted in this thread's health row for the token's task, and
   * fed to its breaker if it has a guard (a failed call may be quarantined: payload kept). Ours
   * only, no user code: it runs inside the drain's window.
   */
  private guarded(t: number, outcome: number, producer: number, tokenId: number, gen: number, value: unknown, payload: unknown): void {
    const v = this.att.i32[this.att.guard.tokenTaskBase + t]!;
    this.att.guard.resolved(v & 0xffff, (v >>> 16) - 1, outcome, producer, tokenId, gen, value, payload);
  }

  /**
   * resolve() for a callback-path admission; its callback runs after the books (runDeferred or
   * runLate). An rt.run admission (RUN_SINK) settles its call's promise last, as a Token's
   * resolve settles the Token's: a promise's resolving functions, no user code beyond a `then`
   * lookup on the value (the reactions run later).
   */
  resolveCallback(t: number, outcome: number, value: unknown): void {
    const table = this.table;
    const cb = table.callbacks[t]!;
    if (cb === RUN_SINK) {
      this.resolveRun(t, outcome, value);
      return;
    }
    const tag = table.cbTags[t]!;
    this.callbackBooks(t, table.cbProducers[t]!, outcome, value, -1);
    if (this.slots.deferring) {
      const k = this.deferredCount++;
      this.deferredCb[k] = cb;
      this.deferredOutcome[k] = outcome;
      this.deferredValue[k] = value;
      this.deferredTag[k] = tag;
    } else {
      this.late.push({ cb, outcome, value, tag });
    }
  }

  /**
   * The books of a callback-path admission's resolve (a callback's or an rt.run call's): its
   * index freed and its generation advanced, its slots back, its outcome counted and fed to the
   * Guard House (`tokenId` for a quarantined call; -1 none), recorded. No user code.
   */
  private callbackBooks(t: number, producer: number, outcome: number, value: unknown, tokenId: number): void {
    const table = this.table;
    table.callbacks[t] = undefined;
    const gen = table.gens[t]!;
    table.gens[t] = nextGen(gen);
    this.slots.release(t, producer, outcome);
    const payload = table.cbPayloads[t];
    table.cbPayloads[t] = undefined;
    this.guarded(t, outcome, producer, tokenId, gen, value, payload);
    table.put(t);
    const seam = this.att.seam;
    if (seam !== null) seam.resolved(this.att.index, t, gen, producer, outcome, this.slots.deferring ? this.chunk : -1);
  }

  /** resolveCallback() for an rt.run admission (Attachment.trackRun): the books as for a callback, then its sink, once. */
  private resolveRun(t: number, outcome: number, value: unknown): void {
    const table = this.table;
    const sink = table.sinks[t]!;
    table.sinks[t] = undefined;
    this.callbackBooks(t, table.cbProducers[t]!, outcome, value, table.runIds[t]!);
    if (outcome === O_FULFILLED) {
      sink.resolve(value);
      return;
    }
    // What a Token would deliver: an 'abandoned' or 'retracted' completion's reason string as its error.
    if (outcome === O_ABANDONED && typeof value === 'string') value = new AbandonedError(value);
    else if (outcome === O_RETRACTED && typeof value === 'string') value = new RetractedError(value);
    sink.reject(outcomeError(outcome, value));
  }
}
