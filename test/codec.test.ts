import { beforeEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Codec, PREPARE_FULL } from '../src/runtime/codec.js';
import { ArenaWriter, arenaLive } from '../src/shm/arena.js';
import { C_DEADLINE, C_INLINE_BYTES, C_KIND, C_LEN, C_SPILL, Memory } from '../src/shm/layout.js';
import { CF_SPILLED } from '../src/shm/words/cell.js';
import { types } from 'node:util';
import { PayloadError, RejectedError } from '../src/errors.js';
import { smallMemory } from './helpers/shm.js';

const SPILL = 1 << 16;
const TASK_ID = 0x1234; // what a submission ORs into the kind word's low 16 bits

let mem: Memory;
let codec: Codec;
let arena: ArenaWriter; // a second view of the codec's arena (writer 0), to watch used()
let cell: number; // word index of submission ring 0's first cell

beforeEach(() => {
  mem = smallMemory({ spillBytes: SPILL, maxAttachments: 1 });
  codec = new Codec(mem, 0);
  arena = new ArenaWriter(mem, 0);
  cell = mem.subRingByte(0) >> 2;
});

/** prepare + write into the cell; returns whether it spilled. */
function put(value: unknown): boolean {
  expect(codec.prepare(value)).not.toBe(PREPARE_FULL);
  codec.write(cell, TASK_ID);
  const kind = mem.i32[cell + C_KIND]!;
  expect(kind & 0xffff).toBe(TASK_ID);
  return (kind & CF_SPILLED) !== 0;
}

/** Byte-wise equality (fast, for large arrays). */
function sameBytes(x: Uint8Array, y: Uint8Array): boolean {
  return Buffer.from(x.buffer, x.byteOffset, x.byteLength).equals(Buffer.from(y.buffer, y.byteOffset, y.byteLength));
}

function roundTrip(value: unknown): unknown {
  put(value);
  return codec.read(cell, 0);
}

// Note: fast-check keeps arrays and strings to ~10 elements unless told size: 'max'.

/**
 * Well-formed strings of any code points, UTF-8 lengths 1, 2, 3 and 4 equally likely. (Built by
 * hand: fc.string({ unit: 'binary' }) spends seconds building its tables on first use.)
 */
const codePoint = fc.oneof(
  fc.integer({ min: 0, max: 0x7f }),
  fc.integer({ min: 0x80, max: 0x7ff }),
  fc.integer({ min: 0x800, max: 0xffff }).filter((c) => c < 0xd800 || c > 0xdfff),
  fc.integer({ min: 0x10000, max: 0x10ffff }),
).map((c) => String.fromCodePoint(c));
const text = (minLength: number, maxLength: number): fc.Arbitrary<string> =>
  fc.array(codePoint, { minLength, maxLength, size: 'max' }).map((cs) => cs.join(''));

/** Any JS value v8 can clone, of every shape the codec special-cases or hands to v8. */
const clonable = fc.anything({
  withBigInt: true, withBoxedValues: true, withDate: true, withMap: true, withSet: true,
  withTypedArray: true, withSparseArray: true, withNullPrototype: false, withObjectString: true,
});

describe('Codec: round trips (property)', () => {
  it('numbers, including -0, NaN, ±Infinity and non-int32 integers, come back identical', () => {
    const special = fc.constantFrom(-0, NaN, Infinity, -Infinity, 2 ** 31, -(2 ** 31), 2 ** 31 - 1, 2 ** 53, Number.MIN_VALUE, -Number.MAX_VALUE);
    fc.assert(fc.property(fc.oneof(fc.integer(), fc.double(), fc.maxSafeInteger(), special), (n) => {
      expect(Object.is(roundTrip(n), n)).toBe(true);
    }));
  });

  it('bigints of 64 bits and beyond come back identical', () => {
    const i64 = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
    const wide = fc.bigInt({ min: -(2n ** 300n), max: 2n ** 300n });
    const edges = fc.constantFrom(-(2n ** 63n), 2n ** 63n - 1n, 2n ** 63n, -(2n ** 63n) - 1n, 2n ** 64n);
    fc.assert(fc.property(fc.oneof(i64, wide, edges), (b) => { expect(roundTrip(b)).toBe(b); }));
  });

  it('booleans, null and undefined come back identical', () => {
    for (const v of [true, false, null, undefined]) expect(roundTrip(v)).toBe(v);
  });

  it(`strings come back identical, inline up to ${C_INLINE_BYTES} UTF-8 bytes and spilled beyond`, () => {
    const near = fc.integer({ min: C_INLINE_BYTES - 8, max: C_INLINE_BYTES + 8 });
    const strings = fc.oneof(
      text(0, 60), // 1-4 bytes per code point: straddles the limit
      near.map((n) => 'a'.repeat(n)),
      fc.tuple(near, fc.constantFrom('é', '€', '😀')).map(([n, c]) => c + 'b'.repeat(n - Buffer.byteLength(c))),
      text(100, 1500),
    );
    fc.assert(fc.property(strings, (s) => {
      const spilled = put(s);
      expect(spilled).toBe(Buffer.byteLength(s) > C_INLINE_BYTES);
      expect(codec.read(cell, 0)).toBe(s);
    }));
  });

  it('a string with lone surrogates comes back identical (it cannot travel as UTF-8)', () => {
    for (const s of ['a\uD800b', '\uDC00', 'x\uD83D'.repeat(40)]) expect(roundTrip(s)).toBe(s);
  });

  it('a Uint8Array comes back as a Uint8Array with the same bytes, a Buffer as a Buffer', () => {
    const bytes = fc.oneof(fc.uint8Array({ maxLength: 200, size: 'max' }), fc.uint8Array({ maxLength: 20_000, size: 'max' }));
    fc.assert(fc.property(bytes, fc.boolean(), (u8, asBuffer) => {
      const value = asBuffer ? Buffer.from(u8) : u8;
      expect(put(value)).toBe(u8.byteLength > C_INLINE_BYTES);
      const out = codec.read(cell, 0) as Uint8Array;
      expect(Buffer.isBuffer(out)).toBe(asBuffer);
      expect(out).toBeInstanceOf(Uint8Array);
      expect(sameBytes(out, u8)).toBe(true);
    }));
  });

  it('a view into a larger buffer carries only its own bytes', () => {
    const big = Buffer.from('0123456789abcdef'.repeat(20));
    for (const view of [big.subarray(3, 10), big.subarray(5, 300), new Uint8Array(big.buffer, big.byteOffset + 7, 150)]) {
      const out = roundTrip(view) as Uint8Array;
      expect(Buffer.from(out).equals(Buffer.from(view))).toBe(true);
    }
  });

  it('an ArrayBuffer comes back as an ArrayBuffer with the same bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 5_000, size: 'max' }), (u8) => {
      const out = roundTrip(u8.slice().buffer);
      expect(out).toBeInstanceOf(ArrayBuffer);
      expect(sameBytes(new Uint8Array(out as ArrayBuffer), u8)).toBe(true);
    }));
  });

  it('plain objects, arrays, Map, Set, Date and typed arrays deep-equal the original', () => {
    fc.assert(fc.property(clonable, (v) => { expect(roundTrip(v)).toStrictEqual(v); }), { numRuns: 300 });
    // Big enough to spill, mostly.
    fc.assert(fc.property(fc.array(clonable, { minLength: 10, maxLength: 30, size: 'max' }), (v) => {
      expect(roundTrip(v)).toStrictEqual(v);
    }), { numRuns: 50 });
    fc.assert(fc.property(fc.jsonValue(), (v) => { expect(roundTrip(v)).toStrictEqual(v); }));
    fc.assert(fc.property(fc.dictionary(fc.string(), fc.integer()), fc.array(fc.string()), fc.date(), (d, a, date) => {
      const value = { map: new Map(Object.entries(d)), set: new Set(a), date };
      expect(roundTrip(value)).toStrictEqual(value);
    }));
  });

  it('spilled round trips reuse the arena: 50 values of a quarter of it each all fit, one after another', () => {
    const s = 'x'.repeat(SPILL / 4);
    for (let i = 0; i < 50; i++) expect(roundTrip(s + i)).toBe(s + i); // put() asserts no PREPARE_FULL
  });
});

describe('Codec: errors', () => {
  it('an Error keeps its class, message, stack and own enumerable properties (TypeError stays TypeError)', () => {
    const e = Object.assign(new TypeError('bad input'), { code: 'E_BAD', detail: { nested: { list: [1, 'two', null] } } });
    const out = roundTrip(e) as TypeError & { code: string; detail: unknown };
    expect(out).toBeInstanceOf(TypeError);
    expect(out.name).toBe('TypeError');
    expect(out.message).toBe('bad input');
    expect(out.stack).toBe(e.stack);
    expect(out.code).toBe('E_BAD');
    expect(out.detail).toStrictEqual({ nested: { list: [1, 'two', null] } });
  });

  it('a custom-named error keeps its name, whether it is an own property or on the prototype', () => {
    class QuotaError extends Error {
      constructor(message: string) { super(message); this.name = 'QuotaError'; }
    }
    class ProtoNamedError extends Error {}
    ProtoNamedError.prototype.name = 'ProtoNamedError';
    for (const [e, name] of [[new QuotaError('over'), 'QuotaError'], [new ProtoNamedError('p'), 'ProtoNamedError']] as const) {
      const out = roundTrip(e) as Error;
      expect(out).toBeInstanceOf(Error);
      expect(out.name).toBe(name);
      expect(out.message).toBe(e.message);
      expect(out.stack).toBe(e.stack);
    }
  });

  it('a rebuilt error of sluice\'s or of a registered class is a real error: sent on again, it keeps its class, message and fields', () => {
    class QuotaError extends Error {
      constructor(readonly limit: number) { super(`over ${limit}`); this.name = 'QuotaError'; }
    }
    codec.errorClasses = new Map([['QuotaError', QuotaError.prototype]]);
    try {
      for (const [e, Cls] of [[new RejectedError('producer-slots', 'refused'), RejectedError], [new QuotaError(3), QuotaError]] as const) {
        const once = roundTrip(e) as Error;
        expect(once).toBeInstanceOf(Cls);
        expect(types.isNativeError(once)).toBe(true); // what structured clone and prepare() carry as an error
        // A second hop: a nested task's parent throwing its child's error again, a caught error sent to a task.
        const twice = roundTrip(once) as Error & Record<string, unknown>;
        expect(twice).toBeInstanceOf(Cls);
        expect(types.isNativeError(twice)).toBe(true);
        expect([twice.name, twice.message, twice.stack]).toEqual([e.name, e.message, e.stack]);
        expect(structuredClone(twice)).toBeInstanceOf(Error);
      }
      expect((roundTrip(roundTrip(new RejectedError('rate', 'x'))) as RejectedError).reason).toBe('rate');
      expect((roundTrip(roundTrip(new QuotaError(7))) as QuotaError).limit).toBe(7);
    } finally {
      codec.errorClasses = null;
    }
  });

  it('any error class, message and properties round-trip, once and again (property)', () => {
    const builtins = { Error, TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError } as const;
    // Sluice's own classes are rebuilt without their constructor: they must come back as real errors too.
    const own = { RejectedError: (m: string) => new RejectedError('closed', m), PayloadError: (m: string) => new PayloadError(m) } as const;
    const name = fc.constantFrom(...Object.keys(builtins), ...Object.keys(own), 'QuotaError', 'Custom');
    const key = fc.string({ minLength: 1 }).filter((k) => !['name', 'message', 'stack', '__proto__', 'code', 'reason'].includes(k));
    fc.assert(fc.property(name, fc.string(), fc.dictionary(key, fc.jsonValue()), fc.boolean(), (n, message, props, twice) => {
      const make = own[n as keyof typeof own];
      const Ctor = make !== undefined ? (n === 'RejectedError' ? RejectedError : PayloadError) : builtins[n as keyof typeof builtins] ?? Error;
      const e = make !== undefined ? make(message) : new (Ctor as ErrorConstructor)(message);
      if (make === undefined && !(n in builtins)) e.name = n;
      Object.assign(e, props);
      // A second hop, as a nested task's parent rethrowing its child's error, or a caught error sent to a task.
      const once = roundTrip(e) as Error & Record<string, unknown>;
      const out = (twice ? roundTrip(once) : once) as Error & Record<string, unknown>;
      expect(types.isNativeError(out)).toBe(true);
      expect(Object.getPrototypeOf(out)).toBe(Ctor.prototype); // not out.constructor: props may shadow it
      expect([out.name, out.message, out.stack]).toEqual([e.name, message, e.stack]);
      for (const [k, v] of Object.entries(props)) expect(out[k]).toStrictEqual(v);
    }));
  });
});

describe('Codec: what cannot be carried', () => {
  it('a function, a symbol, or an object holding one is a PayloadError, and nothing is reserved', () => {
    put('y'.repeat(1000)); // something already held in the arena
    const used = arena.used();
    for (const bad of [() => 1, Symbol('s'), { f() { return 1; }, pad: 'z'.repeat(1000) }, [1, Symbol('t')], new Map([[1, () => 2]])]) {
      expect(() => codec.prepare(bad)).toThrow(PayloadError);
      expect(arena.used()).toBe(used);
    }
    // The codec is still usable, and the value held before is intact.
    expect(codec.read(cell, 0)).toBe('y'.repeat(1000));
    expect(roundTrip({ ok: 1 })).toStrictEqual({ ok: 1 });
  });

  it('a value nested too deeply to clone is a PayloadError that says so, not one that blames a class; something refused below the walk\'s depth is named as such', () => {
    const nest = (levels: number, leaf: unknown, wrap: (x: unknown) => unknown): unknown => {
      let v = leaf;
      for (let i = 0; i < levels; i++) v = wrap(v);
      return v;
    };
    const used = arena.used();
    // Deep enough to run v8.serialize out of stack (found by a user's 100,000-level result).
    for (const deep of [nest(100_000, [], (x) => [x]), nest(100_000, {}, (o) => ({ o })), { a: [1, nest(100_000, [], (x) => [x])] }]) {
      expect(() => codec.prepare(deep)).toThrow(/cannot be cloned: it is nested too deeply: the serializer ran out of stack$/);
      expect(arena.used()).toBe(used);
    }
    // A function 100 levels down: past the walk's 64, but not too deep to clone.
    expect(() => codec.prepare(nest(100, () => 1, (x) => [x]))).toThrow(/it contains something structured clone refuses, deeper than 64 levels/);
    // A shallow one is still named where it is.
    expect(() => codec.prepare(nest(3, () => 1, (x) => [x]))).toThrow(/it contains a function \(at depth 3\)/);
    // Moderately deep values that clone are carried.
    expect(roundTrip(nest(1000, 7, (x) => [x]))).toStrictEqual(nest(1000, 7, (x) => [x]));
  });

  it('a value larger than the arena is a PayloadError naming spillBytes; the largest that fits spills', () => {
    for (const tooBig of [new Uint8Array(arena.maxValueBytes + 1), 'x'.repeat(SPILL)]) {
      let err: unknown;
      try { codec.prepare(tooBig); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(PayloadError);
      expect((err as PayloadError).code).toBe('ERR_SLUICE_PAYLOAD');
      expect((err as Error).message).toMatch(/spillBytes/);
      expect(arena.used()).toBe(0);
    }
    const largest = new Uint8Array(arena.maxValueBytes).fill(9);
    expect(put(largest)).toBe(true);
    expect(arena.used()).toBe(SPILL);
    expect(sameBytes(codec.read(cell, 0) as Uint8Array, largest)).toBe(true);
  });

});

describe('Codec: spill space', () => {
  it('PREPARE_FULL when the arena is full, reserving nothing; abandon() gives a reservation back', () => {
    const big = new Uint8Array(40_000).fill(1);
    const other = new Uint8Array(30_000).fill(2);
    expect(codec.prepare(big)).not.toBe(PREPARE_FULL);
    expect(arena.used()).toBeGreaterThanOrEqual(40_000);
    codec.abandon();
    expect(arena.used()).toBe(0);

    expect(put(big)).toBe(true); // held: the cell is "published" and not yet read
    const used = arena.used();
    expect(codec.prepare(other)).toBe(PREPARE_FULL);
    expect(arena.used()).toBe(used);
    codec.abandon(); // after PREPARE_FULL there is nothing to give back
    expect(arena.used()).toBe(used);
  });

  it('read() of a spilled value frees its chunk: the arena takes the next large value', () => {
    const big = new Uint8Array(40_000).fill(3);
    expect(put(big)).toBe(true);
    expect(codec.prepare(big)).toBe(PREPARE_FULL);
    expect(sameBytes(codec.read(cell, 0) as Uint8Array, big)).toBe(true);
    expect(codec.prepare(big)).not.toBe(PREPARE_FULL);
  });

  it('a cell read twice (as after a crash) is harmless: the second free does not free a later allocation that reuses the bytes', () => {
    const [cellS, cellA, cellB] = [cell, cell + 32, cell + 64]; // three cells of submission ring 0
    const small = 'z'.repeat(200); // spilled: arena [0, 256)
    const a = new Uint8Array(40_000).fill(5); // arena [256, 40320)
    for (const [c, v] of [[cellS, small], [cellA, a]] as const) {
      expect(codec.prepare(v)).not.toBe(PREPARE_FULL);
      codec.write(c, TASK_ID);
    }
    const [posS, posA] = [mem.i32[cellS + C_SPILL]!, mem.i32[cellA + C_SPILL]!];
    expect([posS, posA]).toEqual([0, 256]);
    expect(codec.read(cellS, 0)).toBe(small);
    expect(sameBytes(codec.read(cellA, 0) as Uint8Array, a)).toBe(true);
    // The arena reclaims both chunks and gives their bytes to the next value of a's size, spilled
    // through the same writer: b's chunk starts exactly where small's did (one lap later) and
    // covers a's old position in its middle. b's data is a's position as int32 everywhere.
    const b = new Uint8Array(new Int32Array(a.byteLength / 4).fill(posA).buffer);
    expect(codec.prepare(b)).not.toBe(PREPARE_FULL);
    codec.write(cellB, TASK_ID);
    const posB = mem.i32[cellB + C_SPILL]!;
    expect(posB).toBe(SPILL);
    expect(arena.dataByte(posB)).toBe(mem.arenaByte(0) + 8);
    expect(arenaLive(mem, 0, posB)).toBe(true);
    // The first cells are read again and discarded again (recovery may do either): each frees
    // its old chunk a second (and third) time.
    codec.read(cellS, 0); // decodes whatever b has put in those bytes now
    codec.read(cellA, 0);
    codec.discard(cellS, 0);
    codec.discard(cellA, 0);
    expect(arenaLive(mem, 0, posB)).toBe(true);
    // The writer still counts b's chunk as held: an arena-sized value does not fit now.
    expect(codec.prepare(new Uint8Array(arena.maxValueBytes))).toBe(PREPARE_FULL);
    expect(sameBytes(codec.read(cellB, 0) as Uint8Array, b)).toBe(true);
    expect(arenaLive(mem, 0, posB)).toBe(false);
  });

  it('discard() frees a spilled value without decoding it', () => {
    const big = 'q'.repeat(40_000);
    expect(put(big)).toBe(true);
    expect(codec.prepare(big)).toBe(PREPARE_FULL);
    codec.discard(cell, 0);
    expect(codec.prepare(big)).not.toBe(PREPARE_FULL);
  });
});

describe('Codec: peekInline (what a stealing worker copies, docs/design.md 4.2a)', () => {
  it('decodes any inline value as read() does and writes nothing shared; refuses spilled values and impossible lengths (property)', () => {
    fc.assert(fc.property(fc.oneof(clonable, text(0, 120), fc.double(), fc.bigInt()), (value) => {
      const spilled = put(value);
      const kind = mem.i32[cell + C_KIND]!;
      const before = Buffer.from(mem.u8).toString('base64');
      if (spilled) {
        expect(() => codec.peekInline(cell, kind)).toThrow();
      } else {
        const peeked = codec.peekInline(cell, kind);
        expect(Buffer.from(mem.u8).toString('base64')).toBe(before);
        expect(peeked).toEqual(codec.read(cell, 0));
      }
      if (spilled) codec.read(cell, 0); // free the chunk for the next run
    }), { numRuns: 200 });
    // A torn length (a cell rewritten under the thief) is refused, not read out of bounds.
    put('short');
    mem.i32[cell + C_LEN] = 1 << 30;
    expect(() => codec.peekInline(cell, mem.i32[cell + C_KIND]!)).toThrow(/torn/);
  });
});

describe('Codec: cells', () => {
  it(`an inline payload of up to ${C_INLINE_BYTES} bytes survives the submission cell's deadline word`, () => {
    for (const value of [Buffer.alloc(C_INLINE_BYTES, 0xab), 'x'.repeat(C_INLINE_BYTES), 'y'.repeat(C_INLINE_BYTES - 3)]) {
      expect(put(value)).toBe(false);
      mem.i32[cell + C_DEADLINE] = 500; // as Producer.submit step 5 does, after codec.write()
      expect(codec.read(cell, 0)).toStrictEqual(value);
    }
  });
});

describe('Codec: values that lie about themselves (issue 16)', () => {
  /** The cell after `cell` must be untouched by a write into `cell`. */
  const nextCellUntouched = (f: () => void): void => {
    const next = cell + 32;
    mem.i32.fill(0x5a5a5a5a, next, next + 32);
    f();
    expect([...mem.i32.subarray(next, next + 32)].every((w) => w === 0x5a5a5a5a)).toBe(true);
  };

  it('a Uint8Array whose own byteLength lies is carried by its true length (no write past the cell)', () => {
    const big = new Uint8Array(4096).fill(7);
    Object.defineProperty(big, 'byteLength', { value: 1 });
    nextCellUntouched(() => {
      expect(put(big)).toBe(true); // 4096 bytes: spilled, as its true length says
    });
    expect(sameBytes(codec.read(cell, 0) as Uint8Array, new Uint8Array(4096).fill(7))).toBe(true);
  });

  it('a Uint8Array subclass with a lying byteLength getter and a faked constructor goes through v8.serialize, consistently', () => {
    class Liar extends Uint8Array { override get byteLength(): number { return 1; } }
    const v = new Liar(300).fill(3);
    Object.defineProperty(v, 'constructor', { value: Uint8Array });
    nextCellUntouched(() => { put(v); });
    // v8.serialize asks the view for its byteLength (node's host-object writer): it carries
    // what the getter says, as a consistent record, never more than it wrote.
    const back = codec.read(cell, 0) as Uint8Array;
    expect(back).toBeInstanceOf(Uint8Array);
    expect(back.every((b) => b === 3)).toBe(true);
  });

  it('a Proxy, an Error whose getters throw and a detached ArrayBuffer are PayloadErrors, never the user\'s own throw', () => {
    const trap = (): never => { throw new Error('trap'); };
    const proxy = new Proxy({}, { get: trap, getPrototypeOf: trap, ownKeys: trap, has: trap, getOwnPropertyDescriptor: trap });
    expect(() => codec.prepare(proxy)).toThrow(PayloadError);
    const err = new Error('x');
    Object.defineProperty(err, 'message', { get: trap });
    expect(() => codec.prepare(err)).toThrow(PayloadError);
    const ab = new ArrayBuffer(8);
    structuredClone(ab, { transfer: [ab] });
    expect(() => codec.prepare(ab)).toThrow(PayloadError);
    expect(arena.used()).toBe(0);
  });
});
