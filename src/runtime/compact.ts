/**
 * The compact encoding of small structured values (codec.ts tag T_COMPACT; docs/design.md 2.3a).
 *
 * v8.serialize + v8.deserialize cost ~5-8 µs here for a `[checksum, µs]` or `{ v, tag }`; this
 * encodes the common shapes in a few hundred ns and decodes them without a Deserializer:
 *
 *  - plain objects: a prototype of exactly Object.prototype (not null: a null-prototype object
 *    could be a module namespace, whose reads throw), no internal slots util.types can see,
 *    and only own enumerable string-keyed properties without a getter (symbol keys and
 *    non-enumerable properties are skipped, as structured clone skips them);
 *  - arrays: prototype exactly Array.prototype, dense (no holes), no enumerable property but
 *    the indices, no element with a getter;
 *  - leaves: numbers (int8, int32, float64: -0 and NaN included), strings (latin1 or UTF-16
 *    code units, so lone surrogates survive), booleans, null, undefined, 64-bit bigints.
 *
 * Anything else anywhere in the value -- a Proxy, an accessor, a hole, a Map, a Date, a typed
 * array, a class instance, a cycle or a shared reference (structured clone keeps the sharing;
 * this format cannot), more than COMPACT_MAX_DEPTH levels, COMPACT_MAX_OBJECTS containers or
 * COMPACT_MAX_BYTES bytes -- makes encode() return -1 and the codec takes the structured-clone
 * path (T_V8) for the whole value.
 *
 * Hostile values: the encoder runs no user code. Every object is checked with util.types.isProxy
 * (which runs no trap) before anything else touches it; for a non-Proxy, getPrototypeOf,
 * Array.isArray, Object.keys and __lookupGetter__ of an own key run no JavaScript; and a
 * property's value is read only after it is known to have no getter. So a getter runs at most once, in the fallback's own v8.serialize, exactly as the
 * structured-clone path alone would run it. encode() never throws.
 *
 * Known limit: an object whose internal slots util.types cannot report (WeakRef,
 * FinalizationRegistry, embedder objects) and whose prototype was replaced by Object.prototype
 * travels as a plain object of its own enumerable data properties instead of failing to clone.
 *
 * Decoding builds exactly what structured clone builds: property order (integer keys first, as
 * the engine orders them anyway), -0, undefined-valued keys, array length. It defines
 * properties, it never assigns through a setter: a key that Object.prototype has (`__proto__`,
 * `toString`, or one a program added) is defined with Object.defineProperty, and arrays are
 * built by literals or by slicing an array this module owns, never by assignment into a hole.
 */
import * as types from 'node:util/types'; // not node:util: a worker need not load util.js (start-up)

const { isProxy, isArgumentsObject, isBoxedPrimitive, isDate, isRegExp, isMap, isSet, isWeakMap, isWeakSet, isPromise,
  isMapIterator, isSetIterator, isGeneratorObject, isNativeError, isAnyArrayBuffer } = types;
const isView = ArrayBuffer.isView;
const getProto = Object.getPrototypeOf;
const ownKeys = Object.keys;
const ownDescriptor = Object.getOwnPropertyDescriptor;
const defineProperty = Object.defineProperty;
const isArray = Array.isArray;
const hasOwn = Object.prototype.hasOwnProperty;
// Annex B, present in every Node: the getter of an own key, or undefined; allocates nothing.
// eslint-disable-next-line @typescript-eslint/unbound-method
const lookupGetter = (Object.prototype as unknown as { __lookupGetter__(k: PropertyKey): unknown }).__lookupGetter__;
const slice = Array.prototype.slice;
const fromCharCode = String.fromCharCode;
const OBJECT_PROTO = Object.prototype;
const ARRAY_PROTO = Array.prototype;

/** Bounds: a compact value is small by definition; anything bigger is v8.serialize's business. */
export const COMPACT_MAX_BYTES = 2048;
export const COMPACT_MAX_DEPTH = 8;
export const COMPACT_MAX_OBJECTS = 64;

// One byte per value, then its body.
const K_UNDEFINED = 0;
const K_NULL = 1;
const K_FALSE = 2;
const K_TRUE = 3;
const K_I8 = 4; // int in [-128, 127]: 1 byte
const K_I32 = 5; // 4 bytes LE
const K_F64 = 6; // 8 bytes LE (anything else: -0, NaN, fractions, beyond int32)
const K_BIG = 7; // 8 bytes LE, signed
const K_LATIN1 = 8; // varint n, n bytes (every code unit < 256)
const K_UTF16 = 9; // varint n, 2n bytes (UTF-16LE code units, lone surrogates as they are)
const K_ARRAY = 10; // varint n, n values
const K_OBJECT = 11; // varint n, n × (latin1/utf16 key, value)

const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;

/**
 * True if `v` has internal slots util.types can see (then structured clone makes it a Date, a
 * Map, ... or refuses it, whatever its prototype says).
 */
function exotic(v: object): boolean {
  return isView(v) || isAnyArrayBuffer(v) || isNativeError(v) || isDate(v) || isRegExp(v) || isMap(v) || isSet(v) ||
    isBoxedPrimitive(v) || isArgumentsObject(v) || isWeakMap(v) || isWeakSet(v) || isPromise(v) || isMapIterator(v) ||
    isSetIterator(v) || isGeneratorObject(v);
}

/**
 * An array of `n` own undefined elements, made by definition (Array.from), so that storing into
 * it later never reaches a setter a program put on Array.prototype (a hole would).
 */
function ownSlots<T>(n: number): (T | undefined)[] {
  return Array.from({ length: n }, () => undefined);
}

/** Encoder into its own scratch buffer; one per Codec (one thread). */
export class CompactWriter {
  /** The encoded bytes of the last successful encode(): [0, its return value). */
  readonly buf: Buffer = Buffer.alloc(COMPACT_MAX_BYTES + 16);
  private readonly dv = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  private pos = 0;
  private readonly seen: (object | undefined)[] = ownSlots(COMPACT_MAX_OBJECTS);
  private nSeen = 0;

  /** The encoded length of `value` (an object), or -1: take the structured-clone path. */
  encode(value: object): number {
    this.pos = 0;
    this.nSeen = 0;
    let ok: boolean;
    try {
      ok = this.container(value, 0);
    } catch {
      ok = false; // nothing here runs user code; defensive only
    }
    const seen = this.seen;
    for (let i = 0; i < this.nSeen; i++) seen[i] = undefined; // hold no user object
    return ok ? this.pos : -1;
  }

  private container(v: object, depth: number): boolean {
    // isProxy first: every other question asked of a Proxy (even Array.isArray of a revoked one) may run or throw.
    if (depth >= COMPACT_MAX_DEPTH || this.nSeen >= COMPACT_MAX_OBJECTS || isProxy(v)) return false;
    const seen = this.seen;
    for (let i = 0; i < this.nSeen; i++) if (seen[i] === v) return false; // a cycle or a shared reference
    seen[this.nSeen++] = v;
    if (isArray(v)) {
      if (getProto(v) !== ARRAY_PROTO) return false;
      const a = v as unknown[];
      const n = a.length; // an Array's own data property
      if (n > COMPACT_MAX_BYTES) return false;
      // Exactly the indices 0..n-1, enumerable, and nothing else: Object.keys lists integer keys
      // first, ascending, so n keys whose last is n-1 are those.
      const keys = ownKeys(a);
      if (keys.length !== n || (n > 0 && keys[n - 1] !== `${n - 1}`)) return false;
      if (!this.room(6)) return false;
      this.buf[this.pos++] = K_ARRAY;
      this.varint(n);
      for (let i = 0; i < n; i++) {
        if (lookupGetter.call(a, i) !== undefined) return false; // an accessor element
        if (!this.value(a[i], depth)) return false;
      }
      return true;
    }
    if (getProto(v) !== OBJECT_PROTO || exotic(v)) return false;
    const keys = ownKeys(v);
    const n = keys.length;
    if (!this.room(6)) return false;
    this.buf[this.pos++] = K_OBJECT;
    this.varint(n);
    for (let i = 0; i < n; i++) {
      const k = keys[i]!;
      // An own key: __lookupGetter__ stops at it (a data property: undefined). A setter-only
      // accessor reads as undefined without a call, as structured clone reads it.
      if (lookupGetter.call(v, k) !== undefined) return false;
      if (!this.string(k) || !this.value((v as Record<string, unknown>)[k], depth)) return false;
    }
    return true;
  }

  private value(x: unknown, depth: number): boolean {
    switch (typeof x) {
      case 'number': {
        if (!this.room(9)) return false;
        const buf = this.buf;
        if ((x | 0) === x && (x !== 0 || 1 / x > 0)) {
          if (x >= -128 && x <= 127) {
            buf[this.pos] = K_I8;
            buf[this.pos + 1] = x & 0xff;
            this.pos += 2;
          } else {
            buf[this.pos] = K_I32;
            this.dv.setInt32(this.pos + 1, x, true);
            this.pos += 5;
          }
        } else {
          buf[this.pos] = K_F64;
          this.dv.setFloat64(this.pos + 1, x, true);
          this.pos += 9;
        }
        return true;
      }
      case 'string': return this.string(x);
      case 'boolean':
      case 'undefined':
        if (!this.room(1)) return false;
        this.buf[this.pos++] = x === undefined ? K_UNDEFINED : x ? K_TRUE : K_FALSE;
        return true;
      case 'object':
        if (x === null) {
          if (!this.room(1)) return false;
          this.buf[this.pos++] = K_NULL;
          return true;
        }
        return this.container(x, depth + 1);
      case 'bigint':
        if (x < I64_MIN || x > I64_MAX || !this.room(9)) return false;
        this.buf[this.pos] = K_BIG;
        this.dv.setBigInt64(this.pos + 1, x, true);
        this.pos += 9;
        return true;
      default: return false; // symbol, function: structured clone refuses them
    }
  }

  private string(s: string): boolean {
    const n = s.length;
    if (!this.room(6 + n)) return false;
    const buf = this.buf;
    const start = this.pos;
    buf[this.pos++] = K_LATIN1;
    this.varint(n);
    let p = this.pos;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c > 0xff) {
        // Not latin1: UTF-16 code units, as they are.
        this.pos = start;
        if (!this.room(6 + 2 * n)) return false;
        buf[this.pos++] = K_UTF16;
        this.varint(n);
        this.pos += buf.write(s, this.pos, 'utf16le');
        return true;
      }
      buf[p++] = c;
    }
    this.pos = p;
    return true;
  }

  private varint(n: number): void {
    const buf = this.buf;
    while (n > 0x7f) {
      buf[this.pos++] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    buf[this.pos++] = n;
  }

  private room(k: number): boolean {
    return this.pos + k <= COMPACT_MAX_BYTES;
  }
}

/** Arrays up to this length are built by literals; longer ones by slicing `stack`. */
const LITERAL_MAX = 6;

const SPECIES_GETTER = ownDescriptor(Array, Symbol.species)?.get;
/**
 * Whether Array.prototype.slice on a plain Array runs no user code: Array.prototype.constructor
 * is still the data property Array, and Array[Symbol.species] still the built-in getter. Read
 * through descriptors (a program may have made either an accessor); ~60 ns, arrays of 7+ only.
 */
function speciesIntact(): boolean {
  const c = ownDescriptor(ARRAY_PROTO, 'constructor');
  if (c === undefined || !hasOwn.call(c, 'value') || c.value !== Array) return false;
  const s = ownDescriptor(Array, Symbol.species);
  return s !== undefined && hasOwn.call(s, 'get') && s.get === SPECIES_GETTER && SPECIES_GETTER !== undefined;
}

/**
 * Decoder reading straight from a thread's view of shared memory. Bytes it does not understand
 * (a corrupt or torn cell: peekInline) make it throw; every read is bounded by the value's length.
 */
export class CompactReader {
  private readonly dv: DataView;
  private pos = 0;
  private end = 0;
  /** Array elements being decoded (a stack: nested arrays above their parent's). Own data elements only. */
  private readonly stack: unknown[] = ownSlots(COMPACT_MAX_BYTES);
  private sp = 0;
  /** Recent short latin1 strings (keys, tags), by a hash of their bytes. */
  private readonly strings: (string | undefined)[] = ownSlots(64);

  constructor(private readonly u8: Uint8Array, private readonly buf: Buffer) {
    this.dv = new DataView(u8.buffer, u8.byteOffset, u8.byteLength);
  }

  read(at: number, len: number): unknown {
    this.pos = at;
    this.end = at + len;
    this.sp = 0;
    const v = this.value(0);
    if (this.pos !== this.end) throw corrupt();
    return v;
  }

  private value(depth: number): unknown {
    if (this.pos >= this.end) throw corrupt();
    const k = this.u8[this.pos++]!;
    switch (k) {
      case K_UNDEFINED: return undefined;
      case K_NULL: return null;
      case K_FALSE: return false;
      case K_TRUE: return true;
      case K_I8: this.need(1); return (this.u8[this.pos++]! << 24) >> 24;
      case K_I32: { this.need(4); const v = this.dv.getInt32(this.pos, true); this.pos += 4; return v; }
      case K_F64: { this.need(8); const v = this.dv.getFloat64(this.pos, true); this.pos += 8; return v; }
      case K_BIG: { this.need(8); const v = this.dv.getBigInt64(this.pos, true); this.pos += 8; return v; }
      case K_LATIN1: return this.latin1(this.count(1));
      case K_UTF16: {
        const n = this.count(2);
        const s = this.buf.toString('utf16le', this.pos, this.pos + 2 * n);
        this.pos += 2 * n;
        return s;
      }
      case K_ARRAY: return this.array(depth);
      case K_OBJECT: return this.object(depth);
      default: throw corrupt();
    }
  }

  private array(depth: number): unknown[] {
    if (depth >= COMPACT_MAX_DEPTH) throw corrupt();
    const n = this.count(1);
    switch (n) {
      case 0: return [];
      case 1: return [this.value(depth + 1)];
      case 2: { const a = this.value(depth + 1); return [a, this.value(depth + 1)]; }
      case 3: { const a = this.value(depth + 1); const b = this.value(depth + 1); return [a, b, this.value(depth + 1)]; }
    }
    const stack = this.stack;
    const base = this.sp;
    if (base + n > stack.length) throw corrupt();
    this.sp = base + n;
    for (let i = 0; i < n; i++) stack[base + i] = this.value(depth + 1);
    let out: unknown[];
    if (n <= LITERAL_MAX) {
      const s = stack;
      const b = base;
      out = n === 4 ? [s[b], s[b + 1], s[b + 2], s[b + 3]]
        : n === 5 ? [s[b], s[b + 1], s[b + 2], s[b + 3], s[b + 4]]
        : [s[b], s[b + 1], s[b + 2], s[b + 3], s[b + 4], s[b + 5]];
    } else if (speciesIntact()) {
      out = slice.call(stack, base, base + n) as unknown[]; // ArraySpeciesCreate makes a plain Array
    } else {
      out = [];
      for (let i = 0; i < n; i++) defineProperty(out, i, { __proto__: null, value: stack[base + i], writable: true, enumerable: true, configurable: true } as PropertyDescriptor);
    }
    for (let i = 0; i < n; i++) stack[base + i] = undefined;
    this.sp = base;
    return out;
  }

  private object(depth: number): Record<string, unknown> {
    if (depth >= COMPACT_MAX_DEPTH) throw corrupt();
    const n = this.count(2);
    const o: Record<string, unknown> = {};
    for (let i = 0; i < n; i++) {
      if (this.pos >= this.end) throw corrupt();
      const kt = this.u8[this.pos]!;
      if (kt !== K_LATIN1 && kt !== K_UTF16) throw corrupt();
      const key = this.value(depth) as string;
      const v = this.value(depth + 1);
      // Define, never assign: Object.prototype may have a setter of that name (`__proto__` has).
      if (key in OBJECT_PROTO) defineProperty(o, key, { __proto__: null, value: v, writable: true, enumerable: true, configurable: true } as PropertyDescriptor);
      else o[key] = v;
    }
    return o;
  }

  private latin1(n: number): string {
    const u8 = this.u8;
    const p = this.pos;
    this.pos = p + n;
    if (n === 0) return '';
    if (n > 16) return this.buf.toString('latin1', p, p + n);
    const h = (n * 7 + u8[p]! * 3 + u8[p + n - 1]!) & 63;
    const cached = this.strings[h];
    if (cached !== undefined && cached.length === n) {
      let i = 0;
      while (i < n && cached.charCodeAt(i) === u8[p + i]) i++;
      if (i === n) return cached;
    }
    let s = '';
    for (let i = 0; i < n; i++) s += fromCharCode(u8[p + i]!);
    this.strings[h] = s;
    return s;
  }

  /** A varint count of items of at least `unit` bytes each, bounded by the bytes left. */
  private count(unit: number): number {
    let n = 0;
    let shift = 0;
    for (;;) {
      if (this.pos >= this.end || shift > 21) throw corrupt();
      const b = this.u8[this.pos++]!;
      n |= (b & 0x7f) << shift;
      if (b < 0x80) break;
      shift += 7;
    }
    if (n * unit > this.end - this.pos) throw corrupt();
    return n;
  }

  private need(k: number): void {
    if (this.pos + k > this.end) throw corrupt();
  }
}

function corrupt(): Error {
  return new Error('sluice: corrupt compact value');
}
