/**
 * A thread's record ring: single writer, any number of readers, a flight recorder (the writer
 * overwrites the oldest record, never waits). Records are 64-byte frames (records.ts); the
 * region is a 128-byte header block, then `capacity` slots of RECORD_WORDS words.
 *
 *   header word 0  NEXT      the next position (records appended, mod 2^32): the writer, a
 *                            hint for readers (the slot words are the truth)
 *   header word 1  CAPACITY  slots (a power of two): whoever lays the region out, once
 *   header word 2  MAGIC     TRACE_MAGIC once laid out: same
 *   header word 3  WRAPS     times NEXT wrapped past 2^32: the writer (so counts stay exact)
 *   slot word 0    SEQ       the writer only: 2p+1 while it writes position p into the slot,
 *                            2p+2 once the record is whole (a per-slot seqlock)
 *   slot words 1..15         the writer only, between its two SEQ stores
 *
 * Append (the writer; no allocation, no wait):
 *   1. SEQ = 2p+1 (a plain store in appendWords, the hot records'; Atomics.store in append): the
 *      slot is being rewritten. Readers that load SEQ from here on see an odd value or a later
 *      one, and refuse the slot.
 *   2. Plain stores of words 1..15 (encodeRecord).
 *   3. SEQ = 2p+2: committed (Atomics.store in append; a plain store in appendWords, below).
 *   4. Plain store NEXT = p+1 (and WRAPS + 1 when that wraps to 0).
 *
 * Read position p (any thread, on a copy; never writes the region):
 *   1. s1 = SEQ (an acquire load, shm/order.ts). Accept only s1 === 2p+2: p is committed and not yet overwritten.
 *   2. Copy words 1..15 out (plain loads).
 *   3. s2 = SEQ (an acquire load). Accept only s2 === s1.
 *   4. Decode the copy, and (unless told not to) verify its CHECK word.
 *
 * Why a reader never decodes a torn record. The writer writes a slot only between steps 1 and 3
 * of an append, and every append to the slot of position p after p itself (p + capacity,
 * p + 2·capacity, ...) begins with an SEQ store that is not 2p+2. If any word of the copy came
 * from such a later append, that append's step-1 store precedes the word's store, which precedes
 * the reader's copy of it, which precedes the reader's step 3: so s2 is that append's odd value
 * or a later one, never 2p+2, and the copy is refused. And a reader that sees 2p+2 at step 1
 * copies p's words (or a later append's, refused as above), never the slot's older record: p's
 * body stores precede its commit store. What carries "precedes" here: x86 keeps stores in order
 * and loads in order (TSO), V8 emits a typed array's stores in program order (they are on its
 * effect chain; the plain step-1 and step-3 stores included) and does not move typed-array
 * accesses across Atomics operations. So on x86-64 no store of an append needs to be an Atomics
 * one: appendWords, the hot records' path, makes all of them plain (a seq-cst store is an xchg,
 * which waits for the slot's cache line before the thread goes on: ~5-12 ns a record here,
 * bench/tail/record-cost.ts). On a weakly ordered CPU (arm64, where plain stores may become
 * visible out of order) that argument does not hold, and step 4 is what stops a torn copy: the
 * CHECK word is a hash of words 1..14, so a mix of two records fails it (2^-32). A
 * writer that dies at any instant leaves its last slot odd (refused) or whole (accepted): no
 * third state, so a dead thread's ring is read exactly like a live one.
 *
 * Positions are int32 and wrap; 2p+2 aliases only across 2^31 appends, far more than a reader
 * ever lags. Counts (`lost`) are exact: WRAPS carries the high part. (NEXT and WRAPS are two
 * plain words: a reader in the one instant the writer wraps, once per 2^32 appends, may count
 * 2^32 too few; the positions it reads are right either way, they are taken mod 2^32.)
 */
import {
  RECORD_WORDS, R_SEQ, checkWord, decodeRecord, emptyRecord, encodeRecord, recordFault,
  type TraceRecord,
} from './records.js';
import { loadAcquire } from '../shm/order.js';

/**
 * Local copies of records.ts's slot geometry for the append path: V8 does not constant-fold an
 * imported binding (each use is a module-cell load with a hole check), and append is hot.
 */
const SLOT_WORDS = 16;
const SEQ = 0;
if (SLOT_WORDS !== RECORD_WORDS || SEQ !== R_SEQ) throw new Error('sluice: trace slot geometry out of date');

export const TRACE_MAGIC = 0x54524331; // "TRC1"
export const T_NEXT = 0;
export const T_CAPACITY = 1;
export const T_MAGIC = 2;
export const T_WRAPS = 3;
/** Header words: one 128-byte block, so slot 0 starts on a block. */
export const T_HEADER_WORDS = 32;

/** What a snapshot saw. */
export interface Snapshot {
  /** The committed records, oldest first, at consecutive positions. */
  records: TraceRecord[];
  /** Position of records[0] (when records is empty: the position the next record will take). */
  first: number;
  /**
   * Records appended before records[0] that are gone: overwritten, or being overwritten during
   * the copy. (With `max` below the capacity, older records still in the ring are not counted.)
   */
  lost: number;
  /** Slots refused during the copy (odd, overwritten between the two loads, or failing CHECK). */
  refused: number;
}

export class TraceRing {
  readonly mask: number;
  /** Word index of slot 0. */
  readonly slots: number;
  /** The writer's next position (writer side only; readers use the shared words). */
  private next: number;
  /** A reader's private copy of one slot. */
  private readonly scratch = new Int32Array(RECORD_WORDS);

  /**
   * A view of a ring at word index `base` of `i32` (128-byte aligned, so slots sit on blocks:
   * the layout's job). `init` lays the region out (once, before any writer or reader uses it):
   * every word zero, then the header; `zeroed` says the words are zero already (a fresh
   * SharedArrayBuffer's are), so only the header is written and a slot's page is first touched
   * when a writer records into it. Otherwise the header must already say `capacity`. A writer
   * taking over a ring that was written before calls adopt().
   */
  constructor(readonly i32: Int32Array, readonly base: number, readonly capacity: number, init = false, zeroed = false) {
    if (capacity < 2 || (capacity & (capacity - 1)) !== 0 || capacity > 2 ** 24) {
      throw new RangeError(`trace ring capacity must be a power of two in [2, 2^24], got ${capacity}`);
    }
    if (base < 0 || base + TraceRing.words(capacity) > i32.length) {
      throw new RangeError(`trace ring at word ${base} with ${capacity} slots does not fit in ${i32.length} words`);
    }
    this.mask = capacity - 1;
    this.slots = base + T_HEADER_WORDS;
    if (init) {
      if (!zeroed) i32.fill(0, base, base + TraceRing.words(capacity));
      Atomics.store(i32, base + T_CAPACITY, capacity);
      Atomics.store(i32, base + T_MAGIC, TRACE_MAGIC);
    } else if (Atomics.load(i32, base + T_MAGIC) !== TRACE_MAGIC || Atomics.load(i32, base + T_CAPACITY) !== capacity) {
      throw new RangeError(`no trace ring of ${capacity} slots at word ${base}`);
    }
    this.next = Atomics.load(i32, base + T_NEXT);
  }

  /** Words a ring of `capacity` slots occupies (a multiple of 32: 128-byte blocks). */
  static words(capacity: number): number { return T_HEADER_WORDS + capacity * RECORD_WORDS; }

  /** Word index of the slot that holds position p. */
  slotWord(pos: number): number { return this.slots + (pos & this.mask) * RECORD_WORDS; }

  // ---- writer ----

  /**
   * Writer: take over the ring (a new thread in a dead writer's slot, or after a restart): the
   * next position follows the last committed record. Only one writer may append at a time.
   */
  adopt(): void {
    const total = this.appended();
    this.next = total | 0;
    this.i32[this.base + T_WRAPS] = Math.floor(total / 0x1_0000_0000);
    this.i32[this.base + T_NEXT] = this.next;
  }

  /** Writer: append a record, overwriting the oldest when full. */
  append(r: TraceRecord): void {
    const i32 = this.i32;
    const pos = this.next;
    const slot = this.slots + (pos & this.mask) * SLOT_WORDS;
    // safety: this thread is the only writer of the slot and of NEXT (one ring per thread).
    Atomics.store(i32, slot + SEQ, (2 * pos + 1) | 0); // §4.15 step 1: open
    encodeRecord(r, i32, slot); // §4.15 step 2: body
    Atomics.store(i32, slot + SEQ, (2 * pos + 2) | 0); // §4.15 step 3: commit
    const next = (this.next = (pos + 1) | 0);
    i32[this.base + T_NEXT] = next; // §4.15 step 4: hint
    if (next === 0) i32[this.base + T_WRAPS]++;
  }

  /**
   * Writer: append, as append() does, a record given as its words 1..14 (records.ts layout,
   * built by the Recorder's hot methods without a TraceRecord object in between). Plain stores
   * only (the header says why that is enough), and CHECK computed from the arguments.
   */
  appendWords(
    head: number, thread: number, pt: number, token: number, gen: number, worker: number, tick: number,
    parent: number, pgen: number, k0: number, k1: number, k2: number, k3: number,
  ): void {
    const i32 = this.i32;
    const pos = this.next;
    const slot = this.slots + (pos & this.mask) * SLOT_WORDS;
    const lo = tick | 0;
    const hi = tick > 0xffffffff ? (tick / 0x1_0000_0000) | 0 : 0;
    // records.ts check() of words 1..14, computed from the values in registers (the same function
    // of the same words: odd words in lane a, even words in lane b), not re-read from the slot.
    let a = Math.imul(0x9e3779b9 ^ head, 0x85ebca6b);
    let b = Math.imul(0x7f4a7c15 ^ thread, 0xcc9e2d51);
    a = Math.imul(a ^ pt, 0x85ebca6b);
    b = Math.imul(b ^ token, 0xcc9e2d51);
    a = Math.imul(a ^ gen, 0x85ebca6b);
    b = Math.imul(b ^ worker, 0xcc9e2d51);
    a = Math.imul(a ^ lo, 0x85ebca6b);
    b = Math.imul(b ^ hi, 0xcc9e2d51);
    a = Math.imul(a ^ parent, 0x85ebca6b);
    b = Math.imul(b ^ pgen, 0xcc9e2d51);
    a = Math.imul(a ^ k0, 0x85ebca6b);
    b = Math.imul(b ^ k1, 0xcc9e2d51);
    a = Math.imul(a ^ k2, 0x85ebca6b);
    b = Math.imul(b ^ k3, 0xcc9e2d51);
    let h = a ^ ((b << 16) | (b >>> 16));
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    // safety: this thread is the only writer of the slot and of NEXT (one ring per thread).
    i32[slot + SEQ] = (2 * pos + 1) | 0; // §4.15 step 1: open (a plain store here: see the header)
    i32[slot + 1] = head; // §4.15 step 2: body
    i32[slot + 2] = thread;
    i32[slot + 3] = pt;
    i32[slot + 4] = token;
    i32[slot + 5] = gen;
    i32[slot + 6] = worker;
    i32[slot + 7] = lo;
    i32[slot + 8] = hi;
    i32[slot + 9] = parent;
    i32[slot + 10] = pgen;
    i32[slot + 11] = k0;
    i32[slot + 12] = k1;
    i32[slot + 13] = k2;
    i32[slot + 14] = k3;
    i32[slot + 15] = h ^ (h >>> 16);
    i32[slot + SEQ] = (2 * pos + 2) | 0; // §4.15 step 3: commit (a plain store here: see the header)
    const next = (this.next = (pos + 1) | 0);
    i32[this.base + T_NEXT] = next; // §4.15 step 4: hint
    if (next === 0) i32[this.base + T_WRAPS]++;
  }

  /** Writer: records appended so far (mod 2^32). */
  position(): number { return this.next; }

  // ---- readers ----

  /**
   * Reader: records committed so far (a safe integer: WRAPS · 2^32 + NEXT). NEXT is a hint: a
   * writer that died between its commit and its NEXT store left one more committed record,
   * found by probing the slot after it.
   */
  appended(): number {
    const i32 = this.i32;
    const wraps = loadAcquire(i32, this.base + T_WRAPS);
    let total = wraps * 0x1_0000_0000 + (loadAcquire(i32, this.base + T_NEXT) >>> 0);
    if (loadAcquire(i32, this.base + T_WRAPS) !== wraps) return this.appended(); // NEXT wrapped meanwhile
    for (let probes = 0; probes < this.capacity; probes++) {
      const end = total | 0;
      if (loadAcquire(i32, this.slotWord(end) + R_SEQ) !== ((2 * end + 2) | 0)) break;
      total++;
    }
    return total;
  }

  /**
   * Reader: copy position p's frame (16 words, SEQ = 2p+2 included) to `dst` at word `at`; true
   * if it was committed and whole (steps 1-4 in the header). Never writes the region.
   */
  copyFrame(pos: number, dst: Int32Array, at: number, verify = true): boolean {
    const i32 = this.i32;
    const slot = this.slotWord(pos);
    const want = (2 * pos + 2) | 0;
    if (loadAcquire(i32, slot + R_SEQ) !== want) return false; // 1.
    for (let w = 1; w < RECORD_WORDS; w++) dst[at + w] = i32[slot + w]!; // 2.
    if (loadAcquire(i32, slot + R_SEQ) !== want) return false; // 3.
    dst[at + R_SEQ] = want;
    return recordFault(dst, at, verify) === null; // 4.
  }

  /** Reader: copy position p out and decode it into `out`; true if it was committed and whole. */
  read(pos: number, out: TraceRecord, verify = true): boolean {
    if (!this.copyFrame(pos, this.scratch, 0, verify)) return false;
    decodeRecord(this.scratch, 0, out);
    return true;
  }

  /**
   * Reader (a full recording's drainer): copy the committed records from `from` (a count of
   * records appended, as `appended()` gives) on, as raw frames into `frames` from frame `start`
   * on (the frames before it are left alone), at most as many as fit. Records the writer has already overwritten, or overwrites during the copy, are counted
   * in `lost` and skipped. Returns where to continue. No allocation beyond the result object:
   * the frames go to a file as they are (64 bytes each, little-endian, SEQ = 2p+2 first).
   *
   * The read steps of the header, a run of consecutive slots at a time: one block copy of the run
   * (V8 copies out of a shared buffer forward, word by word, so each slot's SEQ is read before
   * its words: step 1 reads the copy's SEQ, step 2 is the copy), then each slot's SEQ loaded
   * again (step 3); a frame keeps its place only if both are 2p+2. Step 4, the check word, is
   * left to whoever reads the file (readTrace verifies every frame): on x86 a frame the seqlock
   * accepts is whole, and should a copy ever be torn (a CPU that reorders stores, a copy that
   * does not run forward) the frame fails its check word there and is counted bad, never decoded.
   */
  drain(from: number, frames: Int32Array, start = 0): { next: number; copied: number; lost: number } {
    const total = this.appended();
    let pos = from;
    let lost = 0;
    if (total - pos > this.capacity) { lost = total - this.capacity - pos; pos = total - this.capacity; }
    const room = Math.floor(frames.length / RECORD_WORDS);
    const i32 = this.i32;
    let end = start; // the next frame of `frames` to fill
    while (pos < total && end < room) {
      const first = pos & this.mask;
      const k = Math.min(total - pos, room - end, this.capacity - first); // up to the ring's end
      const src = this.slots + first * RECORD_WORDS;
      const base = end;
      frames.set(i32.subarray(src, src + k * RECORD_WORDS), base * RECORD_WORDS); // 1. and 2.
      for (let j = 0; j < k; j++) {
        const want = (2 * (pos + j) + 2) | 0;
        const at = (base + j) * RECORD_WORDS;
        if (frames[at + R_SEQ] !== want || loadAcquire(i32, src + j * RECORD_WORDS + R_SEQ) !== want) { lost++; continue; } // 3.
        if (end !== base + j) frames.copyWithin(end * RECORD_WORDS, at, at + RECORD_WORDS); // close the gap a refusal left
        end++;
      }
      pos += k;
    }
    return { next: pos, copied: end - start, lost };
  }

  /**
   * Reader: the latest committed records (at most `max`, default the capacity), oldest first,
   * at consecutive positions. Works the same on a dead writer's ring. With a live writer it is
   * the ring as it was during the copy: a record overwritten mid-copy is refused, and so is
   * everything older than it (the result stays consecutive).
   */
  snapshot(max = this.capacity, verify = true): Snapshot {
    const total = this.appended();
    const n = Math.min(max, this.capacity, total);
    const start = (total - n) | 0;
    const records: TraceRecord[] = [];
    let first = start;
    let refused = 0;
    for (let i = 0; i < n; i++) {
      const pos = (start + i) | 0;
      const r = emptyRecord();
      if (this.read(pos, r, verify)) {
        records.push(r);
      } else {
        refused++;
        records.length = 0; // keep the suffix after the last gap: consecutive positions
        first = (pos + 1) | 0;
      }
    }
    // Lost: everything the writer has lapped (positions before end - capacity), plus the
    // positions refused at the start of the copy (being overwritten while it ran).
    const lapped = Math.max(0, total - this.capacity);
    const lost = lapped + ((first - start) | 0);
    return { records, first: records.length === 0 ? total | 0 : first, lost, refused };
  }
}
