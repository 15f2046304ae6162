/**
 * The recording seam's trace side: one Recorder per thread, one method per decision. The runtime
 * calls `rec?.submitted(...)` etc. at the decision points of docs/design.md §4 (src/trace/README.md,
 * "The recording seam"); each call fills this thread's one reused TraceRecord from plain integers
 * and appends it to this thread's ring (ring.ts): no allocation, no wait, no shared write other
 * than the ring's own slot and NEXT.
 *
 * Who calls what (the thread whose ring it is):
 *   submitter (an attachment, or a worker whose running task submits)
 *       submitted + routed, rejected, cancelled, released (its own tokens), retried + routed
 *   worker  started, resolved, stolen
 *   supervisor (attachment 0)  workerDied, respawned, frozen, reconciled, released (for a dead
 *       owner)
 * Records are written after the decision is final (the CAS won, the refusal re-checked), inside
 * the window where there is one (design §4.10), so a freeze never sees a half-made decision
 * recorded as made. Tokens are (attachment, index, generation); -1 in all three = none.
 */
import { FOLD_NO_CPU, ROUTE_CPU_TIE, foldRoute, packRoute, RECORD_VERSION, RecordKind, emptyRecord, type TraceRecord, type WriterClass } from './records.js';
import type { TraceRing } from './ring.js';

export class Recorder {
  /** The CPU this thread runs on, as last read (getcpu); -1 = unknown. Stamped on every record. */
  cpu = -1;
  private readonly r: TraceRecord = emptyRecord();

  /**
   * `ring`: this thread's ring (a worker slot's ring survives its thread: a replacement calls
   * `ring.adopt()` before recording). `writerClass`/`writerIndex`: the thread's identity, as
   * the file's thread table names it (attachment a, or worker slot w).
   */
  constructor(readonly ring: TraceRing, readonly writerClass: WriterClass, readonly writerIndex: number) {
    this.r.writerClass = writerClass;
    this.r.writerIndex = writerIndex;
  }

  /** Reset the shared fields and set kind, tick and provenance (token, producer, task). */
  private begin(kind: number, tick: number, producer: number, task: number, tokenAtt: number, token: number, gen: number): TraceRecord {
    const r = this.r;
    r.kind = kind;
    r.tick = tick;
    r.cpu = this.cpu;
    r.producer = producer;
    r.task = task;
    r.tokenAtt = tokenAtt;
    r.token = token;
    r.gen = gen;
    r.aux = 0;
    r.worker = -1;
    r.parentAtt = -1;
    r.parent = -1;
    r.parentGen = -1;
    r.k0 = 0;
    r.k1 = 0;
    r.k2 = 0;
    r.k3 = 0;
    return r;
  }

  /**
   * The hot records (submit, route, start, run end, release): their words straight into the ring
   * (TraceRing.appendWords), as encodeRecord would make them from the same fields.
   */
  private put(
    kind: number, aux: number, tick: number, producer: number, task: number, tokenAtt: number, token: number, gen: number,
    worker: number, parentAtt: number, parent: number, parentGen: number, k0: number, k1: number, k2: number, k3: number,
  ): void {
    this.ring.appendWords(
      (RECORD_VERSION << 24) | ((kind & 0xff) << 16) | (aux & 0xffff),
      ((this.writerClass & 0xff) << 24) | ((this.writerIndex & 0xff) << 16) | (this.cpu < 0 ? 0xffff : this.cpu & 0xffff),
      ((producer < 0 ? 0xffff : producer & 0xffff) << 16) | (task < 0 ? 0xffff : task & 0xffff),
      token < 0 ? -1 : ((tokenAtt & 0xff) << 16) | (token & 0xffff),
      gen, worker, tick,
      parent < 0 ? -1 : ((parentAtt & 0xff) << 16) | (parent & 0xffff),
      parentGen, k0, k1, k2, k3,
    );
  }

  /** The thread's name (at most 16 bytes of UTF-8 kept) and Node threadId; first record of a thread. */
  meta(tick: number, label: string, threadId: number): void {
    const r = this.begin(RecordKind.META, tick, -1, -1, -1, -1, -1);
    r.aux = threadId & 0xffff;
    r.label = label;
    this.ring.append(r);
    delete r.label;
  }

  /**
   * Submit steps 2-5 admitted (design §4.1): the token it got, the submitting task's token as
   * parent (-1s from a plain thread), the gate words the winning CASes wrote (producer PACKED,
   * global count) and EARNED after the refill; tickFlags bit 0: the tick was a reused reading.
   * Followed by routed() for the same token.
   */
  submitted(
    tick: number, producer: number, task: number, weightClass: number, tokenAtt: number, token: number, gen: number,
    parentAtt: number, parent: number, parentGen: number, producerWord: number, globalWord: number, earnedWord: number, tickFlags: number,
  ): void {
    this.put(RecordKind.SUBMIT_ADMITTED, weightClass, tick, producer, task, tokenAtt, token, gen, -1, parentAtt, parent, parentGen,
      producerWord, globalWord, earnedWord, tickFlags);
  }

  /**
   * submitted() then routed() for the same token, in one frame when the route fits
   * (records.ts foldRoute: a chain of at most FOLD_MAX_CHAIN, occupancies below 255, the router's
   * CPU none or this thread's), else as the two records. `routerCpu`: the CPU route() read (-1:
   * none), which the ROUTE carries as its CPU.
   */
  submittedRouted(
    tick: number, producer: number, task: number, weightClass: number, tokenAtt: number, token: number, gen: number,
    parentAtt: number, parent: number, parentGen: number, producerWord: number, globalWord: number, earnedWord: number, tickFlags: number,
    chain: ArrayLike<number>, occupancy: ArrayLike<number>, chosen: number, cpuTie: boolean, routerCpu: number,
  ): void {
    const r = this.r;
    r.cpu = this.cpu;
    r.k3 = tickFlags;
    if (foldRoute(r, weightClass, chain, occupancy, chosen, cpuTie, routerCpu)) {
      this.put(RecordKind.SUBMIT_ROUTED, r.aux, tick, producer, task, tokenAtt, token, gen, r.worker, parentAtt, parent, parentGen,
        producerWord, globalWord, earnedWord, r.k3);
      return;
    }
    this.submitted(tick, producer, task, weightClass, tokenAtt, token, gen, parentAtt, parent, parentGen, producerWord, globalWord, earnedWord, tickFlags);
    const cpu = this.cpu;
    this.cpu = routerCpu;
    this.routed(tick, producer, task, weightClass, tokenAtt, token, gen, chain, occupancy, chosen, cpuTie);
    this.cpu = cpu;
  }

  /**
   * submittedRouted()'s folded frame, for a route the caller knows folds (foldRoute's conditions:
   * a weight class <= 0xff, tick flags in bits 1..0, a chain of 1..FOLD_MAX_CHAIN workers with
   * occupancies in 0..254 packed 8 bits each from chain[0] in `packedOcc`, a router CPU none or
   * this thread's): the same words foldRoute makes (test/trace/recorder.test.ts compares them).
   */
  submittedRoutedPacked(
    tick: number, producer: number, task: number, weightClass: number, tokenAtt: number, token: number, gen: number,
    parentAtt: number, parent: number, parentGen: number, producerWord: number, globalWord: number, earnedWord: number, tickFlags: number,
    chainLength: number, packedOcc: number, chosen: number, worker: number, cpuTie: boolean, routerCpu: number,
  ): void {
    this.put(RecordKind.SUBMIT_ROUTED, weightClass | (cpuTie ? ROUTE_CPU_TIE : 0), tick, producer, task, tokenAtt, token, gen, worker,
      parentAtt, parent, parentGen, producerWord, globalWord, earnedWord,
      tickFlags | (chosen << 2) | (chainLength << 4) | (routerCpu < 0 ? FOLD_NO_CPU : 0) | (packedOcc << 8));
  }

  /**
   * A submit refused with `reason` (admission/reasons.ts code), with the gate words as they are
   * after the refusal (any rollback done) and the limit it was refused against (producer slots,
   * globalSlots, the ring capacity for 'ring-full'; 0 when the reason has none).
   */
  rejected(
    tick: number, producer: number, task: number, reason: number, parentAtt: number, parent: number, parentGen: number,
    producerWord: number, globalWord: number, earnedWord: number, limit: number,
  ): void {
    this.put(RecordKind.SUBMIT_REJECTED, reason, tick, producer, task, -1, -1, -1, -1, parentAtt, parent, parentGen,
      producerWord, globalWord, earnedWord, limit);
  }

  /**
   * Submit step 4 (or a retry's re-push): the chain walked (worker indices in preference order),
   * the occupancy route() read per worker (indexed by worker), the index in the chain it chose,
   * and whether the tie went to the submitter's CPU. Record what the router read, not a second
   * reading: replay compares it.
   */
  routed(
    tick: number, producer: number, task: number, weightClass: number, tokenAtt: number, token: number, gen: number,
    chain: ArrayLike<number>, occupancy: ArrayLike<number>, chosen: number, cpuTie: boolean,
  ): void {
    const r = this.r;
    packRoute(r, weightClass, chain, occupancy, chosen, cpuTie);
    this.put(RecordKind.ROUTE, r.aux, tick, producer, task, tokenAtt, token, gen, r.worker, -1, -1, -1, r.k0, r.k1, r.k2, r.k3);
  }

  /**
   * Run step 2 (or a steal's step 5): worker `worker` popped the cell at `ringPosition` of ring
   * `ring`; flags: START_STOLEN, START_SKIPPED (the token was no longer pending: nothing runs,
   * but the ring's head moved).
   */
  started(
    tick: number, producer: number, task: number, tokenAtt: number, token: number, gen: number,
    worker: number, ring: number, ringPosition: number, flags: number,
  ): void {
    this.put(RecordKind.START, flags, tick, producer, task, tokenAtt, token, gen, worker, -1, -1, -1, ring, ringPosition, 0, 0);
  }

  /** Complete step 5, the worker's side: the run ended with `outcome` (admission/outcomes.ts code). */
  resolved(
    tick: number, producer: number, task: number, tokenAtt: number, token: number, gen: number,
    worker: number, outcome: number, valueBytes: number, flags: number,
  ): void {
    this.put(RecordKind.RESOLVE, outcome, tick, producer, task, tokenAtt, token, gen, worker, -1, -1, -1, valueBytes, flags, 0, 0);
  }

  /**
   * Complete step 7 (or a cancel's, a close's, the supervisor's resolve): the owner resolved the
   * token and gave its slots back; the global and producer words after the release. One per
   * admitted token: what admission replays.
   */
  released(
    tick: number, producer: number, task: number, tokenAtt: number, token: number, gen: number,
    outcome: number, globalWord: number, producerWord: number,
  ): void {
    this.put(RecordKind.RELEASE, outcome, tick, producer, task, tokenAtt, token, gen, -1, -1, -1, -1, globalWord, producerWord, 0, 0);
  }

  /** Cancel steps 1-3: the token word seen, whether the cancel won, whether it was forced. */
  cancelled(
    tick: number, producer: number, task: number, tokenAtt: number, token: number, gen: number,
    forced: boolean, tokenWord: number, won: boolean,
  ): void {
    const r = this.begin(RecordKind.CANCEL, tick, producer, task, tokenAtt, token, gen);
    r.aux = forced ? 1 : 0;
    r.k0 = tokenWord;
    r.k1 = won ? 1 : 0;
    this.ring.append(r);
  }

  /** A retryable abandoned token re-pushed (design §4.8 step 2): attempt n, abandoned on `worker`. */
  retried(
    tick: number, producer: number, task: number, tokenAtt: number, token: number, gen: number,
    worker: number, attempt: number, retriesLeft: number,
  ): void {
    const r = this.begin(RecordKind.RETRY, tick, producer, task, tokenAtt, token, gen);
    r.worker = worker;
    r.aux = attempt;
    r.k0 = retriesLeft;
    this.ring.append(r);
  }

  /** Steal step 5 won (design §4.2a): `thief` took the cell at `victimPosition` of `victim`'s ring. */
  stolen(
    tick: number, producer: number, task: number, tokenAtt: number, token: number, gen: number,
    thief: number, victim: number, victimPosition: number, looked: number,
  ): void {
    const r = this.begin(RecordKind.STEAL, tick, producer, task, tokenAtt, token, gen);
    r.worker = thief;
    r.aux = looked;
    r.k0 = victim;
    r.k1 = victimPosition;
    this.ring.append(r);
  }

  /**
   * The supervisor heard worker `worker` die (cause: 0 exit, 1 uncaught error, 2 out of memory,
   * 3 terminated at a deadline), running the given token (-1s if idle).
   */
  workerDied(tick: number, worker: number, cause: number, exitCode: number, tokenAtt: number, token: number, gen: number): void {
    const r = this.begin(RecordKind.WORKER_DIED, tick, -1, -1, tokenAtt, token, gen);
    r.worker = worker;
    r.aux = cause;
    r.k0 = exitCode;
    this.ring.append(r);
  }

  /** A replacement thread started in slot `worker` (design §4.8 step 6). */
  respawned(tick: number, worker: number, restarts: number, threadId: number, tid: number): void {
    const r = this.begin(RecordKind.WORKER_RESPAWNED, tick, -1, -1, -1, -1, -1);
    r.worker = worker;
    r.aux = restarts;
    r.k0 = threadId;
    r.k1 = tid;
    this.ring.append(r);
  }

  /** The freeze (design §4.10): phase 0 begin, 1 done, 2 abandoned after its timeout. */
  frozen(tick: number, phase: number, deadThreads: number, tombstones: number): void {
    const r = this.begin(RecordKind.FREEZE, tick, -1, -1, -1, -1, -1);
    r.aux = phase;
    r.k0 = deadThreads;
    r.k1 = tombstones;
    this.ring.append(r);
  }

  /**
   * Freeze step 4: a counter recounted. counter 0: the global count (producer -1); 1: producer
   * `producer`'s in-flight. Before and after.
   */
  reconciled(tick: number, counter: number, producer: number, before: number, after: number): void {
    const r = this.begin(RecordKind.RECONCILE, tick, producer, -1, -1, -1, -1);
    r.aux = counter;
    r.k0 = before;
    r.k1 = after;
    this.ring.append(r);
  }

  /** A gate word's value this thread read and had not last read or written there (read-log.ts). */
  seen(tick: number, word: number, producer: number, value: number, read: number): void {
    const r = this.begin(RecordKind.SEEN, tick, producer, -1, -1, -1, -1);
    r.aux = word;
    r.k0 = value;
    r.k1 = read;
    this.ring.append(r);
  }

  /** The 'clear' timer refilled `producer`'s bucket at the fresh reading `tick`. */
  refilled(tick: number, producer: number): void {
    this.begin(RecordKind.REFILL, tick, producer, -1, -1, -1, -1);
    this.ring.append(this.r);
  }

  /** An operator's action (design §4.17): ADMIN_ACTIONS index, session, target task or token, whether it took effect. */
  admin(tick: number, action: number, session: number, task: number, tokenAtt: number, token: number, gen: number, ok: boolean): void {
    const r = this.begin(RecordKind.ADMIN, tick, -1, task, tokenAtt, token, gen);
    r.aux = action;
    r.k0 = session;
    r.k1 = ok ? 1 : 0;
    this.ring.append(r);
  }

  /** A task's breaker moved from state `from` to `to`, for `why` (design §4.16). */
  breaker(tick: number, task: number, from: number, to: number, why: number): void {
    const r = this.begin(RecordKind.BREAKER, tick, -1, task, -1, -1, -1);
    r.aux = why;
    r.k0 = from;
    r.k1 = to;
    this.ring.append(r);
  }
}
