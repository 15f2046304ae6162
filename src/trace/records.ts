/**
 * Trace records: one fixed-size binary layout for every decision the runtime makes
 * (../shared/DESIGN.md §5a). A record is 16 int32 words = 64 bytes, the same for every kind,
 * so a ring slot, a file frame and a replay input are all the same 64 bytes.
 *
 *   word  bits     field
 *    0    31..0    SEQ      the ring's commit word (ring.ts): 2p+1 while position p is being
 *                           written, 2p+2 once committed. Never written by encodeRecord.
 *    1    31..24   VERSION  RECORD_VERSION
 *         23..16   KIND     RecordKind (0 is never a record: a zeroed slot decodes to nothing)
 *         15..0    AUX      kind-specific 16-bit field (reason, outcome, weight class, ...)
 *    2    31..24   WCLASS   writer class: 0 attachment (0 = the starting thread), 1 worker
 *         23..16   WINDEX   writer index (attachment or worker slot, <= 255: docs/design.md §2)
 *         15..0    CPU      the CPU the writer was on (getcpu), 0xffff = unknown
 *    3    31..16   PRODUCER producer index, 0xffff = none
 *         15..0    TASK     task id (16-bit, as in a cell's kind word), 0xffff = none
 *    4    23..16   TOKEN    the token's attachment (the thread that owns it)
 *         15..0             the token index (T <= 2^16); the whole word -1 = no token
 *    5    31..0    GEN      token generation (21 bits), -1 = none
 *    6    31..0    WORKER   the worker concerned (runs it, was chosen, died), -1 = none
 *    7    31..0    TICK_LO  clock tick (µs, integer, < 2^53): low 32 bits
 *    8    31..0    TICK_HI  clock tick: high 21 bits
 *    9    31..0    PARENT   parent token, packed as TOKEN (-1 = not submitted by a task)
 *   10    31..0    PGEN     parent generation, -1 = none
 *   11-14          K0..K3   kind-specific words (KIND_FIELDS names them)
 *   15    31..0    CHECK    a hash of words 1..14 (checkWord): a record copied out whole
 *                           verifies; a mix of two records, or a frame cut short in a file,
 *                           does not (with probability 1 - 2^-32)
 *
 * Bytes per record: 64 (RECORD_BYTES), including the commit word and the check word.
 * Writers: whoever owns the slot (ring.ts). This file only encodes and decodes words.
 */
import { OUTCOMES } from '../admission/outcomes.js';
import { REJECT_REASONS, R_GLOBAL_SLOTS, R_PRODUCER_SLOTS, R_RING_FULL } from '../admission/reasons.js';

/**
 * 5: a full recording's RELEASE moves its writer's view of the gate words (replay-threads.ts):
 * the read log records no SEEN for a word only this thread's own releases moved. The frames are
 * unchanged; replay of a version-4 file would re-make its views wrongly, so it is refused.
 * 4: kind 19 SUBMIT_ROUTED, an admitted SUBMIT with its ROUTE folded in (one frame where there
 * were two; decodeFrames gives both records back, foldRoute says when and how).
 * 3: kinds 15 SEEN and 16 REFILL (a full recording's read log); SUBMIT_* ticks are the
 * admission tick of rated decisions, K3 of SUBMIT_ADMITTED its TICK_* flags.
 * 2: kind 14 RELEASE (the owner resolved a token and gave its slots back: what admission sees);
 * RESOLVE is the worker's end of a run; START aux bit 1 (a popped cell whose token was no longer
 * pending: skipped). Replay needs all three (src/trace/README.md, "Replay").
 */
export const RECORD_VERSION = 5;
export const RECORD_WORDS = 16;
export const RECORD_BYTES = RECORD_WORDS * 4;

// ---- word indices (relative to the record's first word) ----
export const R_SEQ = 0;
export const R_HEAD = 1;
export const R_THREAD = 2;
export const R_PT = 3;
export const R_TOKEN = 4;
export const R_GEN = 5;
export const R_WORKER = 6;
export const R_TICK_LO = 7;
export const R_TICK_HI = 8;
export const R_PARENT = 9;
export const R_PGEN = 10;
export const R_K0 = 11;
export const R_CHECK = 15;
/** Kind-specific words per record. */
export const K_WORDS = 4;

const NONE16 = 0xffff;
/** Metadata labels: UTF-8, at most this many bytes (the K words). */
export const LABEL_BYTES = K_WORDS * 4;

/**
 * Record kinds. The numbers are the wire format: append, never renumber (bump RECORD_VERSION
 * if a meaning changes).
 */
export const RecordKind = {
  /** A thread's name and identity: written once when the thread starts writing. */
  META: 1,
  SUBMIT_ADMITTED: 2,
  SUBMIT_REJECTED: 3,
  ROUTE: 4,
  START: 5,
  RESOLVE: 6,
  CANCEL: 7,
  RETRY: 8,
  STEAL: 9,
  WORKER_DIED: 10,
  WORKER_RESPAWNED: 11,
  FREEZE: 12,
  RECONCILE: 13,
  RELEASE: 14,
  /** A gate word's value read by a deciding thread that differs from the last it read or wrote there (read-log.ts). */
  SEEN: 15,
  /** The 'clear' timer brought a producer's bucket up to a fresh reading, outside any submit. */
  REFILL: 16,
  /** A task's breaker moved (the Guard House, design §4.16). */
  BREAKER: 17,
  /** An operator's action (docs/design.md §4.17): drain, resume, kill, isolate, release. */
  ADMIN: 18,
  /**
   * SUBMIT_ADMITTED and its ROUTE in one frame (foldRoute): what the runtime writes when the route
   * fits. Storage only: decodeFrames reads it back as the two records, so no reader sees it.
   */
  SUBMIT_ROUTED: 19,
} as const;
export type RecordKindName = keyof typeof RecordKind;
export type RecordKindCode = (typeof RecordKind)[RecordKindName];
export const KIND_NAMES: readonly (RecordKindName | undefined)[] = (() => {
  const names: (RecordKindName | undefined)[] = [];
  for (const [name, code] of Object.entries(RecordKind)) names[code] = name as RecordKindName;
  return names;
})();
export const MAX_KIND = KIND_NAMES.length - 1;

/**
 * What AUX and K0..K3 mean, per kind (names used by details() and the Chrome export's args).
 * An empty string is an unused word (written 0).
 */
export const KIND_FIELDS: Readonly<Record<RecordKindName, { aux: string; k: readonly [string, string, string, string] }>> = {
  // aux: the Node threadId (low 16 bits); K0..K3: the label (UTF-8, zero-padded). CPU: for a
  // worker, the CPU it pinned itself to.
  META: { aux: 'threadId', k: ['', '', '', ''] },
  // The gate words after the winning CAS: producer PACKED (tokens 31..16 | in flight 15..0),
  // the global count, the bucket's EARNED word. K3: TICK_* flags (full recordings: the words
  // are the deciding thread's view of them, read-log.ts).
  SUBMIT_ADMITTED: { aux: 'weightClass', k: ['producerWord', 'globalWord', 'earnedWord', 'tickFlags'] },
  // aux: index into REJECT_REASONS. The gate words the refusal was decided on, and the limit
  // it compared against (slots, globalSlots, or 0 when the reason has none) in K3 bits 27..0,
  // the TICK_* flags in bits 29..28 (REJECTED_FLAGS_SHIFT).
  SUBMIT_REJECTED: { aux: 'reason', k: ['producerWord', 'globalWord', 'earnedWord', 'limit'] },
  // aux: 15..8 flags (bit 8: the tie went to the submitter's CPU; bit 9 ROUTE_INPUT_CUT: the
  // occupancies below are not all the router read), 7..0 weight class. CPU: the CPU the router read.
  // WORKER: the chosen worker. K0: chain length 31..16 | chosen index in the chain 15..0.
  // K1: occupancy of the chosen ring. K2, K3: occupancies of chain[0..3], chain[4..7],
  // 8 bits each (saturated at 255), chain[0] in bits 7..0. packRoute / unpackRoute build and read them.
  ROUTE: { aux: 'classAndFlags', k: ['chain', 'chosenOccupancy', 'occupancies0to3', 'occupancies4to7'] },
  // WORKER: the worker that popped the cell. aux: START_STOLEN (taken from a sibling's ring; the
  // cell stays there until that sibling passes it), START_SKIPPED (the cell's token was no
  // longer pending, retracted or stolen: the head moved, nothing runs). K0: the ring it came
  // from (a worker index), K1: its position in that ring.
  START: { aux: 'flags', k: ['ring', 'ringPosition', '', ''] },
  // The worker's end of a run (its run record cleared), written by the worker. aux: index into
  // OUTCOMES. K0: value bytes, K1: flags (bit 0 retryable, bit 1 spilled).
  RESOLVE: { aux: 'outcome', k: ['valueBytes', 'flags', '', ''] },
  // aux: 1 when forced. K0: the token state word seen, K1: 1 when the cancel won.
  CANCEL: { aux: 'forced', k: ['tokenWord', 'won', '', ''] },
  // aux: the attempt number (1 = the first retry). WORKER: the worker it was abandoned on.
  // K0: retries left after this one.
  RETRY: { aux: 'attempt', k: ['retriesLeft', '', '', ''] },
  // WORKER: the thief. aux: cells looked at. K0: the victim worker, K1: the cell's position.
  STEAL: { aux: 'looked', k: ['victim', 'victimPosition', '', ''] },
  // aux: cause (0 exit, 1 uncaught error, 2 out of memory, 3 terminated at a deadline).
  // K0: exit code. TOKEN/GEN: the token it was running (none if idle).
  WORKER_DIED: { aux: 'cause', k: ['exitCode', '', '', ''] },
  // aux: restart count of the slot. K0: the new thread's Node threadId, K1: its OS tid.
  WORKER_RESPAWNED: { aux: 'restarts', k: ['threadId', 'tid', '', ''] },
  // aux: phase (0 begin, 1 done, 2 abandoned after its timeout). K0: dead threads,
  // K1: tombstones published.
  FREEZE: { aux: 'phase', k: ['deadThreads', 'tombstones', '', ''] },
  // aux: 0 the global count, 1 a producer's in-flight (PRODUCER names it).
  // K0: the value before, K1: the value after (the count of token words not FREE).
  RECONCILE: { aux: 'counter', k: ['before', 'after', '', ''] },
  // The owner resolved the token (index freed, the token settled) and gave its producer and
  // global slots back (design §4.3 step 7, a cancel's or a close's resolve, the supervisor for a
  // dead owner). Written by the thread that resolves it. What admission sees, so replay's input.
  // aux: index into OUTCOMES. K0: the global word after, K1: the producer word after.
  RELEASE: { aux: 'outcome', k: ['globalWord', 'producerWord', '', ''] },
  // Full recordings only (admission/read-log.ts, design §4.15 step 5): a deciding thread read
  // VALUE from a gate word and had last read or written something else there (another thread
  // moved it). aux: the word (SEEN_GLOBAL, or SEEN_PACKED / SEEN_EARNED / SEEN_LAST_MS of
  // PRODUCER). K1: the thread's read count at that read (wrapping), where replay injects it.
  SEEN: { aux: 'word', k: ['value', 'read', '', ''] },
  // TICK: the fresh reading the producer's bucket was brought up to (producer.ts onClearTimer).
  REFILL: { aux: '', k: ['', '', '', ''] },
  // An operator's action through sluice/observe (§4.17), written by the starting thread. aux:
  // index into ADMIN_ACTIONS. TASK: the task isolated or released; TOKEN/GEN: the token killed.
  // K0: the dashboard session, K1: 1 when the action took effect.
  ADMIN: { aux: 'action', k: ['session', 'ok', '', ''] },
  // A task's breaker moved (design §4.16), written by the thread whose CAS moved it. TASK: the
  // task. aux: why (shm/words/breaker.ts WHY_NAMES). K0: the state it left, K1: the state it
  // entered (STATE_NAMES: 0 closed, 1 open, 2 half-open, 3 isolated).
  BREAKER: { aux: 'why', k: ['from', 'to', '', ''] },
  // SUBMIT_ADMITTED's words, with the route folded in (foldRoute): aux 7..0 the weight class,
  // bit 8 the CPU tie; WORKER the chosen worker; K3 the tick flags and the route (foldRoute).
  SUBMIT_ROUTED: { aux: 'classAndFlags', k: ['producerWord', 'globalWord', 'earnedWord', 'tickFlagsAndRoute'] },
};

/** SEEN's aux: which gate word. */
export const SEEN_GLOBAL = 0;
export const SEEN_PACKED = 1;
export const SEEN_EARNED = 2;
export const SEEN_LAST_MS = 3;
/** SEEN aux bit: not a read but the thread's guess of the word at a decision's start (it moved since the last one). */
export const SEEN_GUESS = 0x100;
/** SUBMIT_* K3 (admitted) tick flags: the decision's first advance() reused a reading; it was then re-decided at a fresh one. */
export const TICK_REUSED = 1;
export const TICK_REDECIDED = 2;
export const REJECTED_FLAGS_SHIFT = 28;

/** ADMIN's actions, by aux index: append, never renumber. */
export const ADMIN_ACTIONS = ['drain', 'resume', 'kill', 'isolate', 'release'] as const;
export type AdminAction = (typeof ADMIN_ACTIONS)[number];

/** START's aux bits. */
export const START_STOLEN = 1;
export const START_SKIPPED = 2;

export const WRITER_ATTACHMENT = 0;
export const WRITER_WORKER = 1;
export type WriterClass = typeof WRITER_ATTACHMENT | typeof WRITER_WORKER;

/**
 * A decoded record: a plain object, every field a number (-1 = none) except `label`.
 * Writers reuse one object per thread, so appending allocates nothing.
 */
export interface TraceRecord {
  kind: number;
  aux: number;
  writerClass: number;
  writerIndex: number;
  cpu: number;
  producer: number;
  task: number;
  tokenAtt: number;
  token: number;
  gen: number;
  worker: number;
  tick: number;
  parentAtt: number;
  parent: number;
  parentGen: number;
  k0: number;
  k1: number;
  k2: number;
  k3: number;
  /** META only: the thread's label (at most LABEL_BYTES of UTF-8). */
  label?: string;
}

/** A record with every field "none": the object a writer keeps and fills in. */
export function emptyRecord(): TraceRecord {
  return {
    kind: 0, aux: 0, writerClass: 0, writerIndex: 0, cpu: -1, producer: -1, task: -1,
    tokenAtt: -1, token: -1, gen: -1, worker: -1, tick: 0, parentAtt: -1, parent: -1,
    parentGen: -1, k0: 0, k1: 0, k2: 0, k3: 0,
  };
}

/**
 * Hash of words 1..14 of the record at `at`: two independent multiply-xor lanes (odd and even
 * words, so the CPU runs them in parallel), then a murmur3-style finish. Each step is a bijection
 * of the lane given the word, so changing any one word always changes the result; a mix of two
 * records passes with probability about 2^-32. Not cryptographic: it detects accidents (torn
 * copies, cut frames), not forgeries.
 */
export function checkWord(i32: Int32Array, at: number): number { return check(i32, at); }

/** checkWord itself: a local function, so encodeRecord's call to it is a constant V8 can inline. */
function check(i32: Int32Array, at: number): number {
  // Word offsets are literals here and in encodeRecord (see HOT PATH below).
  let a = 0x9e3779b9 | 0;
  let b = 0x7f4a7c15 | 0;
  for (let w = 1; w < 15; w += 2) { // R_HEAD .. R_CHECK - 1
    a = Math.imul(a ^ i32[at + w]!, 0x85ebca6b);
    b = Math.imul(b ^ i32[at + w + 1]!, 0xcc9e2d51);
  }
  let h = a ^ ((b << 16) | (b >>> 16));
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) | 0;
}

/*
 * HOT PATH: checkWord and encodeRecord run on every append, and use literal word offsets rather
 * than the R_* constants: V8 does not constant-fold a module's exported bindings (each use is a
 * module-cell load, and a call through one is not inlined), which measured 44 ns against 20 ns
 * per encode here. The literals are the
 * R_* values; the assertion below keeps them honest.
 */
if (R_HEAD !== 1 || R_THREAD !== 2 || R_PT !== 3 || R_TOKEN !== 4 || R_GEN !== 5 || R_WORKER !== 6
  || R_TICK_LO !== 7 || R_TICK_HI !== 8 || R_PARENT !== 9 || R_PGEN !== 10 || R_K0 !== 11 || R_CHECK !== 15
  || RECORD_VERSION !== 5 || RecordKind.META !== 1) {
  throw new Error('sluice: trace record offsets and the literals of the hot path disagree');
}

function packToken(att: number, index: number): number {
  return index < 0 ? -1 : ((att & 0xff) << 16) | (index & 0xffff);
}

function n16(v: number): number { return v < 0 ? 0xffff : v & 0xffff; } // 0xffff = NONE16
function d16(v: number): number { return v === NONE16 ? -1 : v; }

const utf8 = new TextEncoder();
const utf8d = new TextDecoder();
let labelScratch: Uint8Array | undefined;

/**
 * Write words 1..15 of `r` at word index `at` (word 0, the commit word, is the ring's). Plain
 * stores: the ring publishes them. Allocates nothing except for a META record's label.
 * Field ranges: writer index, token attachment <= 255; producer, task, cpu, aux <= 0xfffe
 * (0xffff is "none"); token index <= 0xffff; tick an integer in [0, 2^53).
 */
export function encodeRecord(r: TraceRecord, i32: Int32Array, at: number): void {
  i32[at + 1] = (5 << 24) | ((r.kind & 0xff) << 16) | (r.aux & 0xffff); // HEAD: version 5
  i32[at + 2] = ((r.writerClass & 0xff) << 24) | ((r.writerIndex & 0xff) << 16) | n16(r.cpu); // THREAD
  i32[at + 3] = (n16(r.producer) << 16) | n16(r.task); // PT
  i32[at + 4] = packToken(r.tokenAtt, r.token); // TOKEN
  i32[at + 5] = r.gen; // GEN
  i32[at + 6] = r.worker; // WORKER
  const tick = r.tick;
  i32[at + 7] = tick | 0; // TICK_LO: ToInt32 is modulo 2^32 (and, unlike %, no call)
  i32[at + 8] = (tick / 0x1_0000_0000) | 0; // TICK_HI
  i32[at + 9] = packToken(r.parentAtt, r.parent); // PARENT
  i32[at + 10] = r.parentGen; // PGEN
  if (r.kind === 1) { // META
    writeLabel(r.label ?? '', i32, at + 11);
  } else {
    i32[at + 11] = r.k0;
    i32[at + 12] = r.k1;
    i32[at + 13] = r.k2;
    i32[at + 14] = r.k3;
  }
  i32[at + 15] = check(i32, at); // CHECK
}

function writeLabel(label: string, i32: Int32Array, at: number): void {
  const bytes = (labelScratch ??= new Uint8Array(LABEL_BYTES * 2 + 8));
  bytes.fill(0);
  // Encode into a longer scratch, then cut at a UTF-8 boundary at or below LABEL_BYTES.
  const { written } = utf8.encodeInto(label.slice(0, LABEL_BYTES * 2), bytes);
  let n = Math.min(written, LABEL_BYTES);
  while (n > 0 && n < written && (bytes[n]! & 0xc0) === 0x80) n--;
  bytes.fill(0, n);
  for (let w = 0; w < K_WORDS; w++) {
    const b = w * 4;
    i32[at + w] = bytes[b]! | (bytes[b + 1]! << 8) | (bytes[b + 2]! << 16) | (bytes[b + 3]! << 24);
  }
}

function readLabel(i32: Int32Array, at: number): string {
  const bytes = new Uint8Array(LABEL_BYTES);
  for (let w = 0; w < K_WORDS; w++) {
    const v = i32[at + w]!;
    bytes[w * 4] = v & 0xff;
    bytes[w * 4 + 1] = (v >>> 8) & 0xff;
    bytes[w * 4 + 2] = (v >>> 16) & 0xff;
    bytes[w * 4 + 3] = (v >>> 24) & 0xff;
  }
  let n = bytes.indexOf(0);
  if (n < 0) n = LABEL_BYTES;
  return utf8d.decode(bytes.subarray(0, n));
}

/** Why a frame did not decode. */
export type DecodeFault = 'empty' | 'version' | 'kind' | 'check';

/**
 * Classify the 16 words at `at`: null when they form a record this version decodes, otherwise
 * why not. Plain reads: call it on a private copy (a ring snapshot, a file frame).
 */
export function recordFault(i32: Int32Array, at: number, verify = true): DecodeFault | null {
  const head = i32[at + R_HEAD]!;
  if (head === 0) return 'empty';
  if (head >>> 24 !== RECORD_VERSION) return 'version';
  const kind = (head >>> 16) & 0xff;
  if (KIND_NAMES[kind] === undefined) return 'kind'; // 0, past the last, or a number not (yet) used
  if (verify && i32[at + R_CHECK] !== check(i32, at)) return 'check';
  return null;
}

/** Decode the record at `at` into `out` (or a new object). Call recordFault first. */
export function decodeRecord(i32: Int32Array, at: number, out: TraceRecord = emptyRecord()): TraceRecord {
  const head = i32[at + R_HEAD]!;
  out.kind = (head >>> 16) & 0xff;
  out.aux = head & 0xffff;
  const thread = i32[at + R_THREAD]!;
  out.writerClass = thread >>> 24;
  out.writerIndex = (thread >>> 16) & 0xff;
  out.cpu = d16(thread & 0xffff);
  const pt = i32[at + R_PT]!;
  out.producer = d16(pt >>> 16);
  out.task = d16(pt & 0xffff);
  const token = i32[at + R_TOKEN]!;
  out.tokenAtt = token === -1 ? -1 : (token >>> 16) & 0xff;
  out.token = token === -1 ? -1 : token & 0xffff;
  out.gen = i32[at + R_GEN]!;
  out.worker = i32[at + R_WORKER]!;
  out.tick = (i32[at + R_TICK_HI]! >>> 0) * 0x1_0000_0000 + (i32[at + R_TICK_LO]! >>> 0);
  const parent = i32[at + R_PARENT]!;
  out.parentAtt = parent === -1 ? -1 : (parent >>> 16) & 0xff;
  out.parent = parent === -1 ? -1 : parent & 0xffff;
  out.parentGen = i32[at + R_PGEN]!;
  if (out.kind === RecordKind.META) {
    out.k0 = out.k1 = out.k2 = out.k3 = 0;
    out.label = readLabel(i32, at + R_K0);
  } else {
    out.k0 = i32[at + R_K0]!;
    out.k1 = i32[at + R_K0 + 1]!;
    out.k2 = i32[at + R_K0 + 2]!;
    out.k3 = i32[at + R_K0 + 3]!;
    delete out.label;
  }
  return out;
}

/** The kind's name, or `kind <n>` for a code this version does not know. */
export function kindName(kind: number): string {
  return KIND_NAMES[kind] ?? `kind ${kind}`;
}

/** The kind-specific fields under their names (for humans and the Chrome export's args). */
export function details(r: TraceRecord): Record<string, number | string> {
  const name = KIND_NAMES[r.kind];
  const out: Record<string, number | string> = {};
  if (name === undefined) return out;
  const spec = KIND_FIELDS[name];
  if (name === 'SUBMIT_REJECTED') out.reason = REJECT_REASONS[r.aux] ?? r.aux;
  else if (name === 'RESOLVE' || name === 'RELEASE') out.outcome = OUTCOMES[r.aux] ?? r.aux;
  else out[spec.aux] = r.aux;
  const ks = [r.k0, r.k1, r.k2, r.k3];
  spec.k.forEach((field, i) => { if (field !== '') out[field] = ks[i]!; });
  if (name === 'META' && r.label !== undefined) out.label = r.label;
  return out;
}

/** A token's identity across the runtime: attachment, index and generation in one safe integer. */
export function tokenKey(att: number, index: number, gen: number): number {
  return ((att & 0xff) * 0x20_0000 + (gen & 0x1f_ffff)) * 0x1_0000 + (index & 0xffff);
}

/**
 * Decode a recording: consecutive 64-byte frames (a drained ring, a file read back). Frames that
 * do not verify (a write cut short at a crash, a foreign version) are counted, not decoded. The
 * position of each record (mod 2^31) is in its SEQ word: (SEQ - 2) / 2.
 */
export function decodeFrames(frames: Int32Array, verify = true): { records: TraceRecord[]; positions: number[]; bad: number } {
  const records: TraceRecord[] = [];
  const positions: number[] = [];
  let bad = 0;
  const n = Math.floor(frames.length / RECORD_WORDS);
  for (let f = 0; f < n; f++) {
    const at = f * RECORD_WORDS;
    if (recordFault(frames, at, verify) !== null) { bad++; continue; }
    const r = decodeRecord(frames, at);
    const pos = ((frames[at + R_SEQ]! - 2) | 0) >> 1;
    records.push(r);
    positions.push(pos);
    // A folded SUBMIT + ROUTE (SUBMIT_ROUTED) is read back as the two records it stands for,
    // both at the frame's position: readers never see the fold.
    if (r.kind === RecordKind.SUBMIT_ROUTED) {
      records.push(unfoldRoute(r));
      positions.push(pos);
    }
  }
  return { records, positions, bad };
}

/** Folded K3 bit: the router read no CPU (the ROUTE's CPU is none); else it is the record's CPU. */
export const FOLD_NO_CPU = 1 << 6;
/** Longest chain foldRoute folds (its occupancies take K3's top three bytes). */
export const FOLD_MAX_CHAIN = 3;

/**
 * One frame for an admitted submit and its route (RECORD_VERSION 4): the submitting thread's
 * hottest pair, a record fewer per task. `s` is the SUBMIT_ADMITTED record as recorder.ts
 * `submitted` writes it (tick flags in K3 bits 1..0, WORKER -1); the route is what packRoute
 * takes. Folds only what fits without loss -- a weight class <= 0xff, a chain of at most
 * FOLD_MAX_CHAIN workers, every occupancy in 0..254 (else the ROUTE would be cut), and a router
 * CPU that is none or the record's own -- and returns false otherwise (write the two records).
 * Folded layout: kind SUBMIT_ROUTED; aux 7..0 the weight class, bit 8 the CPU tie (as ROUTE's);
 * WORKER the chosen worker; K3 bits 1..0 the tick flags, 3..2 the chosen index, 5..4 the chain length, bit 6 no router CPU,
 * then chain[0..2]'s occupancies, 8 bits each from bit 8. unfoldRoute is its inverse.
 */
export function foldRoute(
  s: TraceRecord, weightClass: number, chain: ArrayLike<number>, occupancy: ArrayLike<number>, chosen: number, cpuTie: boolean, routerCpu: number,
): boolean {
  const n = chain.length;
  if (n < 1 || n > FOLD_MAX_CHAIN || weightClass < 0 || weightClass > 0xff || (s.k3 & ~3) !== 0) return false;
  if (routerCpu >= 0 && routerCpu !== s.cpu) return false;
  let occ = 0;
  for (let i = 0; i < n; i++) {
    const o = occupancy[chain[i]!]!;
    if (!(o >= 0 && o <= 254)) return false;
    occ |= o << (8 * i);
  }
  s.kind = RecordKind.SUBMIT_ROUTED;
  s.aux = weightClass | (cpuTie ? ROUTE_CPU_TIE : 0);
  s.worker = chain[chosen]!;
  s.k3 = s.k3 | (chosen << 2) | (n << 4) | (routerCpu < 0 ? FOLD_NO_CPU : 0) | (occ << 8);
  return true;
}

/**
 * The ROUTE record a SUBMIT_ROUTED carries, exactly as recorder.ts `routed` would have written it;
 * and `s` itself is put back to the SUBMIT_ADMITTED `submitted` would have written.
 */
export function unfoldRoute(s: TraceRecord): TraceRecord {
  const k3 = s.k3;
  const chosen = (k3 >>> 2) & 3;
  const n = (k3 >>> 4) & 3;
  const occ = (k3 >>> 8) & ((1 << (8 * n)) - 1) & 0xffffff;
  const route: TraceRecord = {
    ...s, kind: RecordKind.ROUTE, aux: s.aux & (0xff | ROUTE_CPU_TIE),
    cpu: (k3 & FOLD_NO_CPU) !== 0 ? -1 : s.cpu, parentAtt: -1, parent: -1, parentGen: -1,
    k0: (n << 16) | chosen, k1: (occ >>> (8 * chosen)) & 0xff, k2: occ, k3: 0,
  };
  s.kind = RecordKind.SUBMIT_ADMITTED;
  s.aux &= 0xff;
  s.worker = -1;
  s.k3 = k3 & 3;
  return route;
}

/** ROUTE's aux flag: the tie went to the worker on the submitter's CPU (spin 0, docs/design.md §6). */
export const ROUTE_CPU_TIE = 1 << 8;
/** ROUTE aux: the chain is longer than 8 or an occupancy did not fit in 8 bits (replay takes the worker as given). */
export const ROUTE_INPUT_CUT = 1 << 9;

/**
 * Fill a ROUTE record's aux and K words from the chain the router walked: `chain` lists worker
 * indices in preference order, `occupancy` is what the router read per worker (indexed by worker),
 * `chosen` the index in the chain it took. Occupancies are kept for chain[0..7], 8 bits each,
 * saturated at 255. Allocates nothing.
 */
export function packRoute(
  r: TraceRecord, weightClass: number, chain: ArrayLike<number>, occupancy: ArrayLike<number>, chosen: number, cpuTie: boolean,
): void {
  r.aux = (weightClass & 0xff) | (cpuTie ? ROUTE_CPU_TIE : 0);
  r.worker = chain[chosen]!;
  r.k0 = ((chain.length & 0xffff) << 16) | (chosen & 0xffff);
  r.k1 = occupancy[chain[chosen]!]!;
  let lo = 0;
  let hi = 0;
  if (chain.length > 8) r.aux |= ROUTE_INPUT_CUT;
  for (let i = 0; i < 8 && i < chain.length; i++) {
    const raw = occupancy[chain[i]!]!;
    if (raw < 0 || raw > 254) r.aux |= ROUTE_INPUT_CUT;
    const o = Math.min(255, Math.max(0, raw));
    if (i < 4) lo |= o << (8 * i);
    else hi |= o << (8 * (i - 4));
  }
  r.k2 = lo;
  r.k3 = hi;
}

/** A ROUTE record's summary, as packRoute wrote it. */
export function unpackRoute(r: TraceRecord): {
  weightClass: number; cpuTie: boolean; chainLength: number; chosen: number; chosenOccupancy: number; occupancies: number[];
} {
  const chainLength = r.k0 >>> 16;
  const occupancies: number[] = [];
  for (let i = 0; i < 8 && i < chainLength; i++) occupancies.push(((i < 4 ? r.k2 : r.k3) >>> (8 * (i & 3))) & 0xff);
  return {
    weightClass: r.aux & 0xff, cpuTie: (r.aux & ROUTE_CPU_TIE) !== 0, chainLength, chosen: r.k0 & 0xffff,
    chosenOccupancy: r.k1, occupancies,
  };
}

/**
 * The limit a refusal is recorded against (SUBMIT_REJECTED K3): the producer's slots, the global
 * slots, the ring capacity; 0 for the reasons without one. The runtime's seam and replay use
 * this one definition.
 */
export function rejectionLimit(reason: number, producerSlots: number, globalSlots: number, ringCapacity: number): number {
  switch (reason) {
    case R_PRODUCER_SLOTS: return producerSlots;
    case R_GLOBAL_SLOTS: return globalSlots;
    case R_RING_FULL: return ringCapacity;
    default: return 0;
  }
}
