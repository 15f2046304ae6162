/**
 * Values into cells and back.
 *
 * Inline (no allocation on the hot path): undefined, null, booleans, int32 and float64 numbers,
 * 64-bit bigints, strings, Uint8Array/Buffer and ArrayBuffer up to C_INLINE_BYTES, and other
 * structured-clonable values (plain objects, arrays, Map, Set, Date, typed arrays, ...) whose
 * v8.serialize form fits. Anything larger spills into the writer's shared arena (arena.ts); a
 * value larger than the whole arena is a PayloadError, and so is one that cannot be cloned.
 *
 * Two phases so that a bad value never touches shared state: prepare() classifies the value and
 * does everything that can throw or allocate (serialization, arena reservation); write() only
 * copies into the claimed cell and cannot fail.
 *
 * Errors (thrown by tasks) travel as { name, message, stack, props } and come back as Errors of
 * the same built-in class with the same own enumerable properties (e.g. `code`).
 */
import * as types from 'node:util/types'; // not node:util: a worker need not load util.js (start-up)
import { receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { C_DATA_BYTE, C_DATA_WORD, C_INLINE_BYTES, C_KIND, C_LEN, C_SPILL, Memory } from '../shm/layout.js';
import { CF_BUFFER, CF_SPILLED, CF_TOMBSTONE, kindWord, tagOf } from '../shm/words/cell.js';
import { ARENA_FULL, ArenaWriter, arenaDataByte, arenaFree } from '../shm/arena.js';
import { PayloadError, SLUICE_ERROR_CLASSES, describe } from '../errors.js';
import { uncloneable } from './uncloneable.js';
import { CompactReader, CompactWriter } from './compact.js';
import { v8 } from '../builtins.js';

export const T_UNDEFINED = 0;
export const T_NULL = 1;
export const T_FALSE = 2;
export const T_TRUE = 3;
export const T_INT = 4;
export const T_F64 = 5;
export const T_BIGINT = 6;
export const T_STRING = 7;
export const T_U8 = 8;
export const T_AB = 9;
export const T_V8 = 10;
export const T_ERROR = 11;
/** Small plain objects and arrays of primitives: compact.ts's format instead of v8.serialize. */
export const T_COMPACT = 12;
/**
 * The value is too large for the arena and travels by message (the large-value path, below):
 * the cell carries this tag, the message's sequence number (C_DATA_WORD) and the byte length.
 */
export const T_PORT = 13;

/**
 * The large-value path (docs/design.md §3.4). A value larger than the writer's arena
 * (spillBytes - 8) travels by postMessage on a per-worker MessageChannel made at spawn
 * (supervisor.ts): from the starting thread to the worker (payloads), from the worker back
 * (results of the starting thread's tasks). The cell carries T_PORT and a sequence number; the
 * receiver takes the message synchronously (receiveMessageOnPort) when it reads the cell. The
 * bytes are prepared before admission (what can throw or run user code: serialization, copies),
 * and posted by write() with their ArrayBuffer transferred (no copy), before the cell is
 * published: a reader that sees the cell finds the message in its port's queue.
 */
export interface BigMessage {
  seq: number; tag: number; flags: number; bytes: Uint8Array;
  /** T_V8 only: the caller's listed ArrayBuffers, transferred; `bytes` names them by index (v8 transferArrayBuffer). */
  abs?: readonly ArrayBuffer[];
}

const { isUint8Array, isArrayBuffer, isNativeError } = types;
/** %TypedArray%.prototype.byteLength: reads the internal slot, whatever the object says of itself. */
const typedArrayByteLength = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype) as object, 'byteLength')!.get! as (this: Uint8Array) => number;
const arrayBufferDetachedGetter = Object.getOwnPropertyDescriptor(ArrayBuffer.prototype, 'detached')?.get as ((this: ArrayBuffer) => boolean) | undefined;
function arrayBufferDetached(ab: ArrayBuffer): boolean {
  if (arrayBufferDetachedGetter !== undefined) return arrayBufferDetachedGetter.call(ab);
  try {
    new Uint8Array(ab); // throws on a detached buffer
    return false;
  } catch {
    return true;
  }
}

/** prepare() returns this when the value needs arena space and the arena is full right now. */
export const PREPARE_FULL = -1;

const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;

const ERROR_CLASSES: Record<string, ErrorConstructor> = {
  Error, TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError,
};

export interface ErrorRecord {
  name: string; message: string; stack: string | undefined; props: Record<string, unknown>;
  cause?: unknown; errors?: unknown[];
  /** The class names of its prototype chain, nearest first (its constructors' own names): what a registered class is matched by. */
  classes?: string[];
}

/** Registered error classes by class name (Runtime.start / Runtime.attach `errors`; options.ts). */
export type ErrorClasses = ReadonlyMap<string, object>;

/** Encoder/decoder bound to one thread's views and (for writing) its own spill arena. */
export class Codec {
  private readonly i32: Int32Array;
  private readonly u8: Uint8Array;
  private readonly f64: Float64Array;
  private readonly i64: BigInt64Array;
  private readonly buf: Buffer;
  private readonly arena: ArenaWriter;
  private readonly compact = new CompactWriter();
  private readonly compactReader: CompactReader;
  /** Error classes rebuilt when this thread decodes a task's error (the `errors` option); null: none. */
  errorClasses: ErrorClasses | null = null;

  // Result of the last prepare(), consumed by write().
  private tag = 0;
  private flags = 0;
  private len = 0;
  private spill = 0;
  private bytes: Uint8Array | null = null;
  private str = '';
  private num = 0;
  private big = 0n;
  /** The large-value path: the bytes to post (and the tag they decode as), or null. */
  private bigBytes: Uint8Array | null = null;
  private bigTag = 0;
  /** Transfer bigBytes' buffer (ours, or the caller's listed buffer) rather than copy it. */
  private bigMove = false;
  /** The caller's own view when its buffer was listed in `transfer` (moved, never copied). */
  private bigListed: Uint8Array | null = null;
  /** An object payload serialized with the listed buffers by reference (prepareTransferring), or null. */
  private bigAbs: readonly ArrayBuffer[] | null = null;

  /**
   * Where write() posts values that take the large-value path, by target (submissions: the
   * worker slot; a worker's results: index 0, its own port), or null: no such path here (a value
   * over the arena is a PayloadError, as on attached threads). Set by the owner.
   */
  sendPorts: readonly (MessagePort | null)[] | null = null;
  /** Whether the value being prepared may take the large-value path (a worker: for attachment 0's tasks only). */
  bigOk = false;
  /** Buffers the caller listed in `transfer` for the value being prepared (the submit path), or null. */
  transferList: readonly ArrayBuffer[] | null = null;
  /** The next sequence number per target (wrapping int32); a worker starts at its spawn's base. */
  private readonly sendSeq: Int32Array;
  /** The port a value written by `writer` arrives on, or null (set by the owner). */
  recvPort: (writer: number) => MessagePort | null = () => null;
  /** Messages taken off a port before their cell was read, by writer and sequence number. */
  private readonly pending = new Map<number, Map<number, BigMessage>>();

  constructor(readonly mem: Memory, writer: number) {
    this.i32 = mem.i32;
    this.u8 = mem.u8;
    this.f64 = mem.f64;
    this.i64 = new BigInt64Array(mem.sab);
    this.buf = mem.buf;
    this.arena = new ArenaWriter(mem, writer);
    this.compactReader = new CompactReader(mem.u8, mem.buf);
    this.sendSeq = new Int32Array(Math.max(1, mem.layout.workers));
  }

  /** A worker's results start at its spawn's base, so sequence numbers never repeat across a slot's threads. */
  seqBase(base: number): void { this.sendSeq[0] = base | 0; }

  /**
   * Classify `value` and reserve what it needs. Throws PayloadError for a value that cannot be
   * carried; returns PREPARE_FULL if it needs arena space that is not free right now (nothing
   * is held then); otherwise the tag. Call abandon() if the cell is not written after all.
   */
  prepare(value: unknown, what = 'payload'): number {
    this.flags = 0;
    this.bytes = null;
    this.len = 0;
    this.bigAbs = null;
    // A number here, anything else out of line: a body small enough for the submit path's
    // optimized code to inline (docs/performance.md, eighth session: inlining).
    if (typeof value !== 'number') return this.prepareOther(value, what);
    this.num = value;
    return (this.tag = (value | 0) === value && !Object.is(value, -0) ? T_INT : T_F64);
  }

  private prepareOther(value: unknown, what: string): number {
    switch (typeof value) {
      case 'undefined': return (this.tag = T_UNDEFINED);
      case 'boolean': return (this.tag = value ? T_TRUE : T_FALSE);
      case 'string': return this.prepareString(value);
      case 'bigint':
        if (value >= I64_MIN && value <= I64_MAX) { this.big = value; return (this.tag = T_BIGINT); }
        return this.prepareBytes(T_V8, serialize(value, what));
      case 'object':
        if (value === null) return (this.tag = T_NULL);
        return this.prepareObject(value, what);
      default:
        throw new PayloadError(`${what} cannot be sent to a worker: it is ${describe(value)}`);
    }
  }

  /**
   * An object is user code: its prototype, `constructor`, `byteLength` and getters may lie or
   * throw, and a Proxy traps everything. So it is classified by internal slots only (node:util
   * types, which run no JavaScript), a Uint8Array's length is read with the intrinsic getter (an
   * own `byteLength` of 1 on a 1 MiB array must not make write() copy 1 MiB into a 92-byte cell),
   * and anything that throws while being read is a PayloadError, never the user's own throw.
   */
  private prepareObject(value: object, what: string): number {
    // A small plain object or array of primitives: the compact format (compact.ts), which runs
    // no user code, or -1 and everything below as if it had not looked.
    const n = this.compact.encode(value);
    if (n >= 0) return this.prepareBytes(T_COMPACT, this.compact.buf, n);
    if (isUint8Array(value)) {
      // Not a Proxy (it has the internal slot), so getPrototypeOf runs no trap.
      const proto = Object.getPrototypeOf(value) as unknown;
      if (proto === Uint8Array.prototype || proto === Buffer.prototype) {
        if (proto === Buffer.prototype) this.flags = CF_BUFFER;
        return this.prepareBytes(T_U8, value, typedArrayByteLength.call(value));
      }
      return this.prepareBytes(T_V8, serialize(value, what)); // a subclass: as structured clone sees it
    }
    if (isArrayBuffer(value)) {
      if (arrayBufferDetached(value)) throw new PayloadError(`${what} is a detached ArrayBuffer`);
      return this.prepareBytes(T_AB, new Uint8Array(value));
    }
    if (isNativeError(value)) {
      let rec: ErrorRecord;
      try {
        rec = errorRecord(value);
      } catch {
        throw new PayloadError(`${what} is an Error that could not be read (a getter or Proxy trap threw)`);
      }
      return this.prepareBytes(T_ERROR, serialize(rec, what));
    }
    if (this.transferList !== null && this.transferList.length > 0 && this.bigOk && this.sendPorts !== null) return this.prepareTransferring(value, what);
    return this.prepareBytes(T_V8, serialize(value, what));
  }

  /**
   * An object payload with a `transfer` list, on the thread that has the large-value path: it is
   * serialized with the listed ArrayBuffers by reference (v8 transferArrayBuffer) and takes the
   * message path whatever its size, the buffers moved with the message, not copied. (A Uint8Array
   * inside it is still copied by the serializer; its buffer, if listed, moves as well.)
   */
  private prepareTransferring(value: object, what: string): number {
    const list = this.transferList!;
    let bytes: Buffer;
    try {
      const ser = new (v8().DefaultSerializer)();
      ser.writeHeader();
      for (let i = 0; i < list.length; i++) ser.transferArrayBuffer(i, list[i]!);
      ser.writeValue(value);
      bytes = ser.releaseBuffer();
    } catch {
      throw new PayloadError(`${what} cannot be cloned: ${uncloneable(value, v8().serialize)}`);
    }
    this.tag = T_V8;
    this.bytes = bytes;
    this.len = bytes.byteLength;
    this.bigAbs = list;
    return this.prepareBig(this.len);
  }

  /** Release what prepare() reserved, when the cell will not be written (a rejected submit). */
  abandon(): void {
    if (this.flags & CF_SPILLED) this.arena.unalloc(this.spill);
    this.flags = 0;
    this.bytes = null;
    this.bigBytes = null;
    this.bigAbs = null;
  }

  /** Write the prepared value into the cell at word `cell`, OR-ing `kindLow` into its kind word. */
  write(cell: number, kindLow: number, target = 0): void {
    const i32 = this.i32;
    const tag = this.tag;
    i32[cell + C_KIND] = kindWord(kindLow, tag, this.flags);
    if (tag === T_PORT) return this.post(cell, target);
    switch (tag) {
      case T_INT: i32[cell + C_DATA_WORD] = this.num; return;
      case T_F64: this.f64[(cell + C_DATA_WORD) >> 1] = this.num; return;
      case T_BIGINT: this.i64[(cell + C_DATA_WORD) >> 1] = this.big; return;
      case T_UNDEFINED: case T_NULL: case T_TRUE: case T_FALSE: return;
    }
    i32[cell + C_LEN] = this.len;
    let at: number;
    if (this.flags & CF_SPILLED) {
      i32[cell + C_SPILL] = this.spill;
      at = this.arena.dataByte(this.spill);
    } else {
      at = cell * 4 + C_DATA_BYTE;
    }
    if (tag === T_STRING && this.bytes === null) {
      this.buf.write(this.str, at, this.len, 'utf8');
      this.str = '';
    } else if (tag === T_COMPACT) {
      // The writer's scratch holds more than this value: copy its `len` bytes only.
      const src = this.bytes!;
      const u8 = this.u8;
      const n = this.len;
      if (n <= 96) for (let i = 0; i < n; i++) u8[at + i] = src[i]!;
      else u8.set(src.subarray(0, n), at);
      this.bytes = null;
    } else {
      this.u8.set(this.bytes!, at);
      this.bytes = null;
    }
  }

  /**
   * Decode the value in the cell at word `cell`; `writer` is the arena its spill lives in.
   * Copies everything out, so the cell and the spill chunk may be reused as soon as this returns.
   */
  read(cell: number, writer: number): unknown {
    const kind = this.i32[cell + C_KIND]!;
    if (tagOf(kind) === T_PORT) return this.readBig(cell, kind, writer);
    if ((kind & CF_SPILLED) === 0) return this.decode(cell, kind, cell * 4 + C_DATA_BYTE);
    const spill = this.i32[cell + C_SPILL]!;
    const value = this.decode(cell, kind, arenaDataByte(this.mem, writer, spill));
    this.free(cell, kind, writer, spill);
    return value;
  }

  /**
   * Decode an inline value from a cell that another thread may reuse while we read (a steal,
   * docs/design.md 4.2a): `kind` is the kind word as the caller read it, and nothing shared is
   * written, so a torn read costs only a wasted decode (the caller validates afterwards). A
   * spilled value or an impossible length throws.
   */
  peekInline(cell: number, kind: number): unknown {
    if (kind & CF_SPILLED) throw new Error('sluice: spilled values are not peeked');
    const tag = tagOf(kind);
    if (tag >= T_STRING && (this.i32[cell + C_LEN]! >>> 0) > C_INLINE_BYTES) throw new Error('sluice: torn cell');
    return this.decode(cell, kind, cell * 4 + C_DATA_BYTE);
  }

  /** The value of a cell whose bytes (if any) start at byte `at`. Copies everything out. */
  private decode(cell: number, kind: number, at: number): unknown {
    const tag = tagOf(kind);
    switch (tag) {
      case T_INT: return this.i32[cell + C_DATA_WORD];
      case T_F64: return this.f64[(cell + C_DATA_WORD) >> 1];
      case T_BIGINT: return this.i64[(cell + C_DATA_WORD) >> 1];
      case T_UNDEFINED: return undefined;
      case T_NULL: return null;
      case T_TRUE: return true;
      case T_FALSE: return false;
    }
    const len = this.i32[cell + C_LEN]!;
    switch (tag) {
      case T_STRING: return this.buf.toString('utf8', at, at + len);
      case T_U8: {
        const copy = this.u8.slice(at, at + len);
        return kind & CF_BUFFER ? Buffer.from(copy.buffer, 0, len) : copy;
      }
      case T_AB: return this.u8.slice(at, at + len).buffer;
      case T_COMPACT: return this.compactReader.read(at, len);
      case T_V8: return v8().deserialize(this.u8.slice(at, at + len));
      case T_ERROR: return rebuildError(v8().deserialize(this.u8.slice(at, at + len)) as ErrorRecord, this.errorClasses);
      default: throw new Error(`sluice: corrupt cell (tag ${tag})`);
    }
  }

  /** Free a cell's spill chunk without decoding it (a retracted or tombstoned cell). */
  discard(cell: number, writer: number): void {
    const kind = this.i32[cell + C_KIND]!;
    if (kind & CF_SPILLED) this.free(cell, kind, writer, this.i32[cell + C_SPILL]!);
    else if ((kind & CF_TOMBSTONE) === 0 && tagOf(kind) === T_PORT) {
      // Its message is taken and dropped, if this thread is its receiver (a retracted cell).
      this.take(this.recvPort(writer), writer, this.i32[cell + C_DATA_WORD]!);
    }
  }

  // ---- the large-value path (BigMessage, above) ----

  /**
   * §3.4 step 3. write() for T_PORT: number the message, post it (its buffer transferred), fill the cell.
   * Cannot throw: a transfer the platform refuses (an untransferable buffer) is retried as a
   * copy; a post that fails even so leaves the receiver without the message, and the task is
   * rejected with a PayloadError saying the value was lost (readBig).
   */
  private post(cell: number, target: number): void {
    const i32 = this.i32;
    const seq = this.sendSeq[target]!;
    this.sendSeq[target] = (seq + 1) | 0;
    i32[cell + C_DATA_WORD] = seq;
    i32[cell + C_LEN] = this.len;
    const bytes = this.bigBytes!;
    this.bigBytes = null;
    const port = this.sendPorts?.[target] ?? null;
    if (port === null) return;
    const abs = this.bigAbs;
    this.bigAbs = null;
    const msg: BigMessage = { seq, tag: this.bigTag, flags: this.flags, bytes };
    const moved: ArrayBuffer[] = this.bigMove ? [bytes.buffer as ArrayBuffer] : [];
    if (abs !== null) {
      msg.abs = abs;
      moved.push(...abs);
    }
    try {
      port.postMessage(msg, moved);
    } catch {
      try {
        port.postMessage({ ...msg, bytes: bytes.slice() }); // copies (abs too): still correct
      } catch { /* lost: readBig reports it */ }
    }
  }

  /** §3.4 steps 4-5. The value of a T_PORT cell: its message, taken off the writer's port (missing: lost). */
  private readBig(cell: number, kind: number, writer: number): unknown {
    const len = this.i32[cell + C_LEN]! >>> 0;
    // No port (its worker thread ended): what it held was absorbed into `pending`.
    const msg = this.take(this.recvPort(writer), writer, this.i32[cell + C_DATA_WORD]!);
    if (msg === undefined) throw new Error(`the value (${len} bytes, sent by message) was lost: the worker thread it was sent to or from was replaced`);
    return decodeBig(msg, kind);
  }

  /**
   * The message numbered `seq` from `writer`: already taken off the port, or taken now. Others
   * found on the way wait in `pending` for their own cells (an earlier cell retracted by the
   * canceller is read later or never; a message whose cell is never read is dropped with its port).
   */
  private take(port: MessagePort | null, writer: number, seq: number): BigMessage | undefined {
    let pending = this.pending.get(writer);
    const early = pending?.get(seq);
    if (early !== undefined) {
      pending!.delete(seq);
      return early;
    }
    if (port === null) return undefined;
    for (;;) {
      const m = receiveMessageOnPort(port) as { message: BigMessage } | undefined;
      if (m === undefined) return undefined;
      const msg = m.message;
      if (msg.seq === seq) return msg;
      if (pending === undefined) this.pending.set(writer, (pending = new Map()));
      pending.set(msg.seq, msg);
    }
  }

  /** A port that will receive nothing more (its worker thread ended): keep what it holds for the cells still to be read. */
  absorb(port: MessagePort, writer: number): void {
    let pending = this.pending.get(writer);
    for (let m = receiveMessageOnPort(port) as { message: BigMessage } | undefined; m !== undefined; m = receiveMessageOnPort(port) as { message: BigMessage } | undefined) {
      if (pending === undefined) this.pending.set(writer, (pending = new Map()));
      pending.set(m.message.seq, m.message);
    }
  }

  /**
   * §3.4 step 2.
   * prepare() for a value over the arena, when this thread has the large-value path: the bytes
   * to post, made now (copies, serialization: everything that can throw) so write() cannot fail.
   * Returns T_PORT. The bytes are ours (a fresh copy, or the serializer's buffer) and their buffer
   * is transferred; a Uint8Array/Buffer/ArrayBuffer payload whose buffer the caller listed in
   * `transfer` is posted as is, its buffer moved (no copy; detached in the caller by the post).
   */
  private prepareBig(n: number): number {
    const tag = this.tag;
    let bytes: Uint8Array;
    let move = true;
    this.bigListed = null;
    if (tag === T_STRING) {
      bytes = Buffer.from(this.str, 'utf8');
      this.str = '';
    } else {
      const src = this.bytes!;
      this.bytes = null;
      const listed = this.transferList;
      if ((tag === T_U8 || tag === T_AB) && listed !== null && listed.includes(src.buffer as ArrayBuffer)) {
        bytes = src; // the caller's own buffer, moved
        this.bigListed = src;
      } else if (tag === T_U8 || tag === T_AB) {
        bytes = new Uint8Array(n);
        bytes.set(src);
      } else {
        bytes = src; // the serializer's own buffer
      }
    }
    // A buffer that holds more than these bytes (a pooled Buffer) is not ours to move: the post copies it.
    if (bytes !== this.bigListed && (bytes.byteOffset !== 0 || bytes.byteLength !== bytes.buffer.byteLength)) move = false;
    this.bigBytes = bytes;
    this.bigTag = tag;
    this.bigMove = move;
    this.len = n;
    this.tag = T_PORT;
    return T_PORT;
  }

  /** Free a cell's chunk: idempotent, so a cell read again after a crash is safe (arena.ts). */
  private free(_cell: number, _kind: number, writer: number, spill: number): void {
    arenaFree(this.mem, writer, spill);
  }

  private prepareString(s: string): number {
    // UTF-8 cannot carry lone surrogates; such a string takes the structured-clone path.
    if (!s.isWellFormed()) return this.prepareBytes(T_V8, serialize(s, 'string'));
    this.tag = T_STRING;
    const n = s.length * 3 <= C_INLINE_BYTES ? -1 : Buffer.byteLength(s, 'utf8');
    if (n < 0) {
      // Short enough to fit whatever its encoding: measure while writing, straight into the cell.
      this.len = Buffer.byteLength(s, 'utf8');
      this.str = s;
      return T_STRING;
    }
    this.len = n;
    this.str = s;
    if (n <= C_INLINE_BYTES) return T_STRING;
    return this.reserve(n);
  }

  /** `len`: the bytes' true length (the intrinsic getter's; never a user's `byteLength`). */
  private prepareBytes(tag: number, bytes: Uint8Array, len = bytes.byteLength): number {
    this.tag = tag;
    this.bytes = bytes;
    this.len = len;
    if (this.len <= C_INLINE_BYTES) return tag;
    return this.reserve(this.len);
  }

  private reserve(n: number): number {
    if (n > this.arena.maxValueBytes && this.bigOk && this.sendPorts !== null) return this.prepareBig(n);
    if (n > this.arena.maxValueBytes) {
      this.bytes = null;
      this.str = '';
      throw new PayloadError(
        `value of ${n} bytes exceeds the spill arena (${this.arena.maxValueBytes} bytes); raise Runtime.start({ spillBytes })`,
      );
    }
    const pos = this.arena.alloc(n);
    if (pos === ARENA_FULL) {
      this.bytes = null;
      this.str = '';
      return PREPARE_FULL;
    }
    this.spill = pos;
    this.flags |= CF_SPILLED;
    return this.tag;
  }
}

/** The value a BigMessage carries (its bytes are the receiver's own: no copy where the type allows). */
function decodeBig(msg: BigMessage, kind: number): unknown {
  const b = msg.bytes;
  switch (msg.tag) {
    case T_STRING: return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8');
    case T_U8: return kind & CF_BUFFER ? Buffer.from(b.buffer, b.byteOffset, b.byteLength) : b;
    case T_AB: return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? b.buffer : b.slice().buffer;
    case T_V8: {
      const abs = msg.abs;
      if (abs === undefined) return v8().deserialize(b);
      const des = new (v8().DefaultDeserializer)(b);
      des.readHeader();
      for (let i = 0; i < abs.length; i++) des.transferArrayBuffer(i, abs[i]!);
      return des.readValue();
    }
    case T_ERROR: return rebuildError(v8().deserialize(b) as ErrorRecord);
    default: throw new Error(`sluice: corrupt message (tag ${msg.tag})`);
  }
}

/**
 * v8.serialize, or a PayloadError saying what kind of value it refused. V8's DataCloneError
 * message quotes the value ("<value> could not be cloned."), so neither it nor the error is kept
 * (not even as the cause: an error's cause is printed with it).
 */
function serialize(value: unknown, what: string): Buffer {
  try {
    return v8().serialize(value);
  } catch {
    throw new PayloadError(`${what} cannot be cloned: ${uncloneable(value, v8().serialize)}`);
  }
}

/**
 * How deep a chain of `cause`s and `AggregateError.errors` is carried back (deeper links are
 * dropped; a cycle ends at its first repeat). A guess: enough for any real chain.
 */
const MAX_ERROR_DEPTH = 8;

/**
 * An Error as a clonable record: name, message, stack, own enumerable properties, `cause` and,
 * for an AggregateError, `errors` (each an Error record or a clonable value). Reading a thrown
 * error is user code (getters, Proxies): a read that throws makes errorRecord throw, and the
 * caller (the worker's complete, 4.3 step 5) replaces the error with one of sluice's own.
 */
export function errorRecord(err: Error, depth = 0, seen: Set<unknown> = new Set()): ErrorRecord {
  seen.add(err);
  const props: Record<string, unknown> = {};
  for (const key of Object.keys(err)) {
    if (key === 'cause' || key === 'errors') continue;
    const v = (err as unknown as Record<string, unknown>)[key];
    props[key] = clonable(v) ? v : `[${describe(v)}: not clonable]`;
  }
  const rec: ErrorRecord = { name: String(err.name), message: String(err.message), stack: err.stack === undefined ? undefined : String(err.stack), props };
  const classes = classNames(err);
  if (classes.length > 0) rec.classes = classes;
  if (depth < MAX_ERROR_DEPTH) {
    if (Object.prototype.hasOwnProperty.call(err, 'cause')) {
      const cause = (err as { cause?: unknown }).cause;
      if (!seen.has(cause)) rec.cause = linked(cause, depth, seen);
    }
    if (err instanceof AggregateError) {
      const errors = (err as AggregateError).errors;
      if (Array.isArray(errors)) rec.errors = errors.filter((e) => !seen.has(e)).map((e) => linked(e, depth, seen));
    }
  }
  return rec;
}

/**
 * The names of the classes on `err`'s prototype chain below Error.prototype, nearest first, at
 * most 8: each prototype's own `constructor` and that function's own `name`, read as data
 * properties only (a getter is skipped, never run). A Proxy's traps may still run and throw:
 * errorRecord's caller handles that (4.12 step 3).
 */
function classNames(err: Error): string[] {
  const out: string[] = [];
  let proto: unknown = Object.getPrototypeOf(err);
  for (let i = 0; i < 8 && proto !== null && typeof proto === 'object' && proto !== Error.prototype; i++) {
    const ctor: unknown = Object.getOwnPropertyDescriptor(proto, 'constructor')?.value;
    const name: unknown = typeof ctor === 'function' ? Object.getOwnPropertyDescriptor(ctor, 'name')?.value : undefined;
    if (typeof name === 'string' && name.length > 0 && name.length <= 128) out.push(name);
    proto = Object.getPrototypeOf(proto);
  }
  return out;
}

/** A link of an error chain: an Error becomes a record (marked), anything else travels if it can. */
function linked(v: unknown, depth: number, seen: Set<unknown>): unknown {
  if (v instanceof Error) return { [ERROR_LINK]: errorRecord(v, depth + 1, seen) };
  return clonable(v) ? v : String(v);
}

/** Marks an Error record inside a chain (a plain object cannot have this key by accident). */
const ERROR_LINK = '__sluiceError';

function clonable(v: unknown): boolean {
  try {
    v8().serialize(v);
    return true;
  } catch {
    return false;
  }
}

function unlinked(v: unknown, classes: ErrorClasses | null): unknown {
  if (v !== null && typeof v === 'object' && ERROR_LINK in v) return rebuildError((v as Record<string, ErrorRecord>)[ERROR_LINK]!, classes);
  return v;
}

/**
 * The Error an error record stands for. A registered class (`classes`, matched against the
 * record's class names, nearest first) is rebuilt from its prototype, its constructor never
 * called (its arguments are unknown here, and it is user code); then sluice's own classes and
 * the built-ins by name, else an Error with that name. Every field is defined as an own data
 * property (never assigned: a setter or getter on a user's prototype is not run). Should the
 * registered path throw anyway (a Proxy prototype), the error is rebuilt as if unregistered,
 * with an own `rebuildFailed` saying which class and why: decoding never throws into the pump.
 */
export function rebuildError(r: ErrorRecord, classes: ErrorClasses | null = null): Error {
  if (classes !== null && r.classes !== undefined) {
    for (const c of r.classes) {
      const proto = classes.get(c);
      if (proto === undefined) continue;
      try {
        return fill(nativeWithProto(proto), r, classes, true);
      } catch (err) {
        const plain = rebuildError(r, null);
        const why = err instanceof Error ? 'rebuilding it threw' : 'rebuilding it failed';
        Object.defineProperty(plain, 'rebuildFailed', { value: `could not rebuild the error as the registered class ${c}: ${why}`, configurable: true, writable: true });
        return plain;
      }
    }
  }
  const own = SLUICE_ERROR_CLASSES[r.name];
  let err: Error;
  if (own !== undefined) {
    err = nativeWithProto(own.prototype);
    Object.defineProperty(err, 'message', { value: r.message, configurable: true, writable: true });
  } else if (r.errors !== undefined || r.name === 'AggregateError') {
    err = new AggregateError([], r.message);
  } else {
    err = new (ERROR_CLASSES[r.name] ?? Error)(r.message);
  }
  if (err.name !== r.name) Object.defineProperty(err, 'name', { value: r.name, configurable: true, writable: true });
  return fill(err, r, classes, false);
}

/**
 * A real Error (one with V8's error slot: util.types.isNativeError, what structured clone and this
 * codec carry as an error) whose prototype is `proto`, without running a constructor of the
 * class. An object made by Object.create(proto) is an error only by its prototype: thrown again
 * or sent on (a nested task's parent rethrowing its child's RejectedError, a caught error passed
 * to a task) it travelled as a plain object, its message and class lost.
 */
function nativeWithProto(proto: object): Error {
  const err = new Error();
  Object.setPrototypeOf(err, proto);
  return err;
}

/** Define a rebuilt error's fields: own data properties, never through a setter. */
function fill(err: Error, r: ErrorRecord, classes: ErrorClasses | null, registered: boolean): Error {
  const hidden = (key: string, value: unknown): void => { Object.defineProperty(err, key, { value, configurable: true, writable: true }); };
  if (registered) {
    // The prototype's name may be a getter, or differ: the record's name, as the worker read it.
    if (!Object.prototype.hasOwnProperty.call(r.props, 'name')) hidden('name', r.name);
    hidden('message', r.message);
  }
  hidden('stack', r.stack);
  // As the constructors install them: own, non-enumerable.
  if ('cause' in r) hidden('cause', unlinked(r.cause, classes));
  if (r.errors !== undefined) hidden('errors', r.errors.map((e) => unlinked(e, classes)));
  for (const key of Object.keys(r.props)) {
    Object.defineProperty(err, key, { value: r.props[key], configurable: true, writable: true, enumerable: true });
  }
  return err;
}
