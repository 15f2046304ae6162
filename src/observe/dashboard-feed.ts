/**
 * The dashboard's listener on the recording seam (src/runtime/observers.ts): the live execution
 * feed (the latest resolutions, cancels, worker events and operator actions of the starting
 * thread) and latency histograms (submit to resolve, per producer) of the tokens that thread
 * submitted. A seam listener's rules hold (design §7.1): it never throws, never blocks and
 * allocates nothing per call: every array is made once, sized by the token table and the feed.
 */
import type { Seam } from '../trace/seam.js';

/** Feed entry kinds. */
export const FEED_RESOLVED = 0;
export const FEED_CANCELLED = 1;
export const FEED_WORKER_DIED = 2;
export const FEED_RESPAWNED = 3;
export const FEED_ADMIN = 4;
export const FEED_RETIRED = 5;

/**
 * Log-linear latency buckets in µs: bucket 0 is [0, 1); then 4 sub-buckets per power of two
 * (bucket 1 + 4e + s covers [2^e (1 + s/4), 2^e (1 + (s+1)/4))), up to 2^BUCKET_OCTAVES µs (~68 s);
 * the last bucket takes everything above.
 */
export const SUB_BUCKETS = 4;
export const BUCKET_OCTAVES = 26;
export const BUCKETS = 1 + BUCKET_OCTAVES * SUB_BUCKETS + 1;

/** Bucket index of a latency in µs (log-linear: relative error under 25%). */
export function bucketOf(us: number): number {
  if (!(us >= 1)) return 0;
  const e = Math.floor(Math.log2(us));
  if (e >= BUCKET_OCTAVES) return BUCKETS - 1;
  const s = Math.min(SUB_BUCKETS - 1, Math.floor((us / 2 ** e - 1) * SUB_BUCKETS));
  return 1 + e * SUB_BUCKETS + s;
}

/** Upper bound (exclusive) of bucket b in µs (Infinity for the last). */
export function bucketUpper(b: number): number {
  if (b === 0) return 1;
  if (b >= BUCKETS - 1) return Infinity;
  const e = Math.floor((b - 1) / SUB_BUCKETS);
  const s = (b - 1) % SUB_BUCKETS;
  return 2 ** e * (1 + (s + 1) / SUB_BUCKETS);
}

/** The q-quantile (0..1) of a histogram, as its bucket's upper bound; null when empty. */
export function quantile(counts: ArrayLike<number>, q: number): number | null {
  let total = 0;
  for (let b = 0; b < counts.length; b++) total += counts[b]!;
  if (total === 0) return null;
  const rank = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  for (let b = 0; b < counts.length; b++) {
    seen += counts[b]!;
    if (seen >= rank) return bucketUpper(b);
  }
  return bucketUpper(counts.length - 1);
}

export interface FeedEntry {
  seq: number;
  /** Wall-clock ms. */
  at: number;
  kind: 'resolved' | 'cancelled' | 'worker-died' | 'respawned' | 'retired' | 'admin';
  /** The token's key as att:index#gen, or null. */
  token: string | null;
  producer: number;
  task: number;
  /** An outcome index (resolved), a worker slot (worker events), an action index (admin). */
  code: number;
  /** Submit to resolve, µs (resolved, when this thread saw the submit); -1 otherwise. */
  latencyUs: number;
  /** Admin: the session; cancelled: 1 when forced. */
  session: number;
  ok: boolean;
}

const KINDS: FeedEntry['kind'][] = ['resolved', 'cancelled', 'worker-died', 'respawned', 'admin', 'retired'];

export class FeedListener implements Seam {
  private readonly admittedAt: Float64Array;
  private readonly genOf: Int32Array;
  private readonly taskOf: Int32Array;
  /** Per producer (index < maxProducers), BUCKETS counts each. */
  readonly hist: Int32Array;
  // The feed ring: `size` entries, column by column.
  private seq = 0;
  private readonly fKind: Int8Array;
  private readonly fAt: Float64Array;
  private readonly fAtt: Int32Array;
  private readonly fTok: Int32Array;
  private readonly fGen: Int32Array;
  private readonly fProd: Int32Array;
  private readonly fTask: Int32Array;
  private readonly fCode: Int32Array;
  private readonly fLat: Float64Array;
  private readonly fSession: Int32Array;
  private readonly fOk: Uint8Array;

  constructor(readonly attachment: number, tokenCapacity: number, readonly maxProducers: number, readonly size: number) {
    this.admittedAt = new Float64Array(tokenCapacity);
    this.genOf = new Int32Array(tokenCapacity).fill(-1);
    this.taskOf = new Int32Array(tokenCapacity).fill(-1);
    this.hist = new Int32Array(maxProducers * BUCKETS);
    this.fKind = new Int8Array(size);
    this.fAt = new Float64Array(size);
    this.fAtt = new Int32Array(size);
    this.fTok = new Int32Array(size);
    this.fGen = new Int32Array(size);
    this.fProd = new Int32Array(size);
    this.fTask = new Int32Array(size);
    this.fCode = new Int32Array(size);
    this.fLat = new Float64Array(size);
    this.fSession = new Int32Array(size);
    this.fOk = new Uint8Array(size);
  }

  /** The task a live token of this thread was submitted for (-1: not seen). */
  taskOfToken(index: number, gen: number): number {
    return index >= 0 && index < this.genOf.length && this.genOf[index] === gen ? this.taskOf[index]! : -1;
  }

  private push(kind: number, att: number, token: number, gen: number, producer: number, task: number, code: number, lat: number, session: number, ok: boolean): void {
    const i = this.seq++ % this.size;
    this.fKind[i] = kind;
    this.fAt[i] = Date.now();
    this.fAtt[i] = att;
    this.fTok[i] = token;
    this.fGen[i] = gen;
    this.fProd[i] = producer;
    this.fTask[i] = task;
    this.fCode[i] = code;
    this.fLat[i] = lat;
    this.fSession[i] = session;
    this.fOk[i] = ok ? 1 : 0;
  }

  /** Entries with seq > `after` (at most `size`), oldest first. Allocates: called per update, not per decision. */
  entries(after = -1): FeedEntry[] {
    const out: FeedEntry[] = [];
    const from = Math.max(after + 1, this.seq - this.size, 0);
    for (let s = from; s < this.seq; s++) {
      const i = s % this.size;
      const tok = this.fTok[i]!;
      out.push({
        seq: s, at: this.fAt[i]!, kind: KINDS[this.fKind[i]!]!,
        token: tok >= 0 ? `${this.fAtt[i]}:${tok}#${this.fGen[i]}` : null,
        producer: this.fProd[i]!, task: this.fTask[i]!, code: this.fCode[i]!, latencyUs: this.fLat[i]!,
        session: this.fSession[i]!, ok: this.fOk[i] === 1,
      });
    }
    return out;
  }

  get lastSeq(): number { return this.seq - 1; }

  admitted(_producer: number, task: number, att: number, token: number, gen: number): void {
    if (att !== this.attachment || token < 0 || token >= this.genOf.length) return;
    this.admittedAt[token] = performance.now();
    this.genOf[token] = gen;
    this.taskOf[token] = task;
  }
  rejected(): void {}
  started(): void {}
  ran(): void {}
  resolved(att: number, token: number, gen: number, producer: number, outcome: number): void {
    let lat = -1;
    let task = -1;
    if (att === this.attachment && token >= 0 && token < this.genOf.length && this.genOf[token] !== -1) {
      // A retry advances the generation: the submit this thread saw is still this token's.
      lat = (performance.now() - this.admittedAt[token]!) * 1000;
      task = this.taskOf[token]!;
      this.genOf[token] = -1;
      if (producer >= 0 && producer < this.maxProducers) this.hist[producer * BUCKETS + bucketOf(lat)]!++;
    }
    this.push(FEED_RESOLVED, att, token, gen, producer, task, outcome, lat, -1, true);
  }
  cancelled(att: number, token: number, gen: number, force: boolean): void {
    this.push(FEED_CANCELLED, att, token, gen, -1, this.taskOfToken(token, gen), force ? 1 : 0, -1, -1, true);
  }
  retried(): void {}
  workerDied(worker: number): void { this.push(FEED_WORKER_DIED, -1, -1, -1, -1, -1, worker, -1, -1, true); }
  respawned(worker: number): void { this.push(FEED_RESPAWNED, -1, -1, -1, -1, -1, worker, -1, -1, true); }
  retired(worker: number): void { this.push(FEED_RETIRED, -1, -1, -1, -1, -1, worker, -1, -1, true); }
  frozen(): void {}
  refilled(): void {}
  breaker(): void {}
  reconciled(): void {}
  admin(action: number, session: number, task: number, att: number, token: number, gen: number, ok: boolean): void {
    this.push(FEED_ADMIN, att, token, gen, -1, task, action, -1, session, ok);
  }
}
