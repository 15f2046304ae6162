// The compact encoding of small structured values (src/runtime/compact.ts, codec tag T_COMPACT):
// what comes back is exactly what structured clone makes, the fast path is taken exactly where
// the format can carry the value, and the encoder runs no user code.
import { beforeEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import v8 from 'node:v8';
import { isDeepStrictEqual, types } from 'node:util';
import { Codec, PREPARE_FULL, T_COMPACT } from '../src/runtime/codec.js';
import { COMPACT_MAX_BYTES, COMPACT_MAX_DEPTH, COMPACT_MAX_OBJECTS, CompactReader, CompactWriter } from '../src/runtime/compact.js';
import { uncloneable } from '../src/runtime/options.js';
import { C_DEADLINE, C_KIND, Memory } from '../src/shm/layout.js';
import { CF_SPILLED, tagOf } from '../src/shm/words/cell.js';
import { PayloadError } from '../src/errors.js';
import { smallMemory } from './helpers/shm.js';

let mem: Memory;
let codec: Codec;
let cell: number;

beforeEach(() => {
  mem = smallMemory({ spillBytes: 1 << 16, maxAttachments: 1 });
  codec = new Codec(mem, 0);
  cell = mem.subRingByte(0) >> 2;
});

/** prepare + write + read through the real codec; the tag it chose and whether it spilled. */
function viaCodec(value: unknown): { back: unknown; tag: number; spilled: boolean } {
  expect(codec.prepare(value)).not.toBe(PREPARE_FULL);
  codec.write(cell, 1);
  const kind = mem.i32[cell + C_KIND]!;
  return { back: codec.read(cell, 0), tag: tagOf(kind), spilled: (kind & CF_SPILLED) !== 0 };
}

/**
 * a and b are the same structure: same prototypes, same own keys in the same order with the same
 * attributes, Object.is on every leaf (so -0 and NaN count), holes where holes are, and the same
 * sharing (a pair seen twice must be seen twice together). isDeepStrictEqual alone ignores key
 * order and sharing.
 */
function same(a: unknown, b: unknown, seen = new Map<object, object>()): boolean {
  if (typeof a !== 'object' || a === null || typeof b !== 'object' || b === null) return Object.is(a, b);
  if (seen.has(a)) return seen.get(a) === b;
  seen.set(a, b);
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b) || Array.isArray(a) !== Array.isArray(b)) return false;
  if (!isDeepStrictEqual(a, b)) return false; // Maps, Dates, typed arrays, boxed values: their internal slots
  const ka = Reflect.ownKeys(a);
  const kb = Reflect.ownKeys(b);
  if (ka.length !== kb.length || ka.some((k, i) => k !== kb[i])) return false;
  for (const k of ka) {
    const da = Object.getOwnPropertyDescriptor(a, k)!;
    const db = Object.getOwnPropertyDescriptor(b, k)!;
    if (da.enumerable !== db.enumerable || da.writable !== db.writable || da.configurable !== db.configurable) return false;
    if ('get' in da || 'get' in db || !same(da.value, db.value, seen)) return false;
  }
  return true;
}

// ---- generated values: a spec, materialized into a (possibly hostile) value ----------------

type Leaf = { t: 'leaf'; v: unknown };
type Exotic = { t: 'exotic'; k: ExoticKind };
type Prop = { k: string; kind: 'data' | 'getter' | 'setter' | 'nonenum'; v: Spec };
type Obj = { t: 'obj'; proto: 'object' | 'null' | 'class'; props: Prop[]; sym: boolean };
type Item = { hole: boolean; accessor: boolean; v: Spec };
type Arr = { t: 'arr'; items: Item[]; extra: boolean; sub: boolean };
type Spec = Leaf | Exotic | Obj | Arr;
type Top = { t: 'plain'; v: Spec } | { t: 'shared'; v: Spec } | { t: 'cycle'; v: Spec };

const EXOTIC = ['map', 'set', 'date', 'u8', 'i16', 'regexp', 'boxed', 'mapObjProto', 'dateObjProto', 'args', 'fn', 'sym', 'proxy', 'arrProxy', 'revoked', 'error'] as const;
type ExoticKind = (typeof EXOTIC)[number];

const string = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.constantFrom('', 'x', 'tag', 'é', 'ÿ', '€', '\u0100', '😀', '\ud800', 'a\udc00b', 'x'.repeat(40), 'é'.repeat(20)),
);
const leaf: fc.Arbitrary<Leaf> = fc.oneof(
  fc.integer({ min: -200, max: 200 }),
  fc.integer(),
  fc.constantFrom(0, -0, NaN, Infinity, -Infinity, 2 ** 31, -(2 ** 31), 2 ** 31 - 1, 127, 128, -128, -129, 2 ** 53, Number.MIN_VALUE),
  fc.double(),
  string,
  fc.boolean(),
  fc.constantFrom(null, undefined),
  fc.bigInt({ min: -(2n ** 64n), max: 2n ** 64n }),
).map((v) => ({ t: 'leaf', v }));
const key = fc.oneof(
  fc.constantFrom('v', 'tag', 'sum', 'us', '__proto__', 'toString', 'constructor', 'hasOwnProperty', '0', '1', '10', '-1', '01', '4294967295', ''),
  fc.string({ maxLength: 6 }),
);

const { spec } = fc.letrec<{ spec: Spec; obj: Obj; arr: Arr }>((tie) => ({
  spec: fc.oneof({ depthSize: 'small', withCrossShrink: true },
    leaf,
    fc.constantFrom(...EXOTIC).map((k): Exotic => ({ t: 'exotic', k })),
    tie('obj'),
    tie('arr'),
  ) as fc.Arbitrary<Spec>,
  obj: fc.record({
    proto: fc.oneof({ weight: 8, arbitrary: fc.constant('object' as const) }, { weight: 1, arbitrary: fc.constantFrom('null' as const, 'class' as const) }),
    props: fc.uniqueArray(fc.record({
      k: key,
      kind: fc.oneof({ weight: 12, arbitrary: fc.constant('data' as const) }, { weight: 1, arbitrary: fc.constantFrom('getter' as const, 'setter' as const, 'nonenum' as const) }),
      v: tie('spec'),
    }), { maxLength: 5, selector: (p) => p.k }),
    sym: fc.boolean(),
  }).map((o): Obj => ({ t: 'obj', ...o })),
  arr: fc.record({
    items: fc.array(fc.record({
      hole: fc.oneof({ weight: 15, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
      accessor: fc.oneof({ weight: 15, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
      v: tie('spec'),
    }), { maxLength: 9 }),
    extra: fc.oneof({ weight: 10, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
    sub: fc.oneof({ weight: 10, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  }).map((a): Arr => ({ t: 'arr', ...a })),
}));
const top: fc.Arbitrary<Top> = fc.oneof(
  { weight: 10, arbitrary: spec.map((v): Top => ({ t: 'plain', v })) },
  { weight: 1, arbitrary: spec.map((v): Top => ({ t: 'shared', v })) },
  { weight: 1, arbitrary: spec.map((v): Top => ({ t: 'cycle', v })) },
);

class Klass { }
class SubArray<T> extends Array<T> { }

/** Counts every getter call and Proxy trap the materialized values see. */
const calls = { n: 0 };
const counted = <T>(v: T) => function get(): T { calls.n++; return v; };
const countingHandler: ProxyHandler<object> = Object.fromEntries(
  ['get', 'getPrototypeOf', 'ownKeys', 'getOwnPropertyDescriptor', 'has', 'set', 'defineProperty', 'isExtensible', 'apply']
    .map((t) => [t, (...args: unknown[]) => { calls.n++; return (Reflect as unknown as Record<string, (...a: unknown[]) => unknown>)[t]!(...args); }]),
);

function materialize(s: Spec): unknown {
  switch (s.t) {
    case 'leaf': return s.v;
    case 'exotic':
      switch (s.k) {
        case 'map': return new Map([[1, 'a']]);
        case 'set': return new Set([1]);
        case 'date': return new Date(86_400_000);
        case 'u8': return new Uint8Array([1, 2]);
        case 'i16': return new Int16Array([-1, 2]);
        case 'regexp': return /a+/g;
        case 'boxed': return new Number(3);
        case 'mapObjProto': return Reflect.construct(Map, [], Object);
        case 'dateObjProto': { const d = new Date(5); Object.setPrototypeOf(d, Object.prototype); return d; }
        case 'args': return (function (..._a: unknown[]) { return arguments; })(1, 2);
        case 'fn': return () => 1;
        case 'sym': return Symbol('s');
        case 'proxy': return new Proxy({ a: 1 }, countingHandler);
        case 'arrProxy': return new Proxy([1, 2], countingHandler);
        case 'revoked': { const r = Proxy.revocable({}, {}); r.revoke(); return r.proxy; }
        case 'error': return new RangeError('r');
      }
      break;
    case 'obj': {
      const o: object = s.proto === 'object' ? {} : s.proto === 'null' ? Object.create(null) : new Klass();
      for (const p of s.props) {
        const v = materialize(p.v);
        if (p.kind === 'getter') Object.defineProperty(o, p.k, { get: counted(v), enumerable: true, configurable: true });
        else if (p.kind === 'setter') Object.defineProperty(o, p.k, { set() { calls.n++; }, enumerable: true, configurable: true });
        else Object.defineProperty(o, p.k, { value: v, writable: true, enumerable: p.kind === 'data', configurable: true });
      }
      if (s.sym) (o as Record<symbol, unknown>)[Symbol('k')] = 1;
      return o;
    }
    case 'arr': {
      const a: unknown[] = s.sub ? new SubArray<unknown>() : [];
      s.items.forEach((it, i) => {
        if (it.hole) return;
        const v = materialize(it.v);
        if (it.accessor) Object.defineProperty(a, i, { get: counted(v), enumerable: true, configurable: true });
        else Object.defineProperty(a, i, { value: v, writable: true, enumerable: true, configurable: true });
      });
      a.length = s.items.length;
      if (s.extra) (a as unknown as Record<string, unknown>).extra = 1;
      return a;
    }
  }
  throw new Error('unreachable');
}

function build(t: Top): unknown {
  const v = materialize(t.v);
  if (t.t === 'shared') return [v, v];
  if (t.t === 'cycle') {
    const o: Record<string, unknown> = { v };
    o.self = o;
    return o;
  }
  return v;
}

// ---- the oracle: where the compact path must be taken ----------------------------------------

const I64 = 2n ** 63n;
const varintLen = (n: number): number => (n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : 4);
const strLen = (s: string): number => 1 + varintLen(s.length) + (/^[\x00-\xff]*$/.test(s) ? s.length : 2 * s.length);

/** The encoded size if the spec is compactable, else null. `state.containers` counts containers. */
function compactSize(s: Spec, depth: number, state: { containers: number }): number | null {
  switch (s.t) {
    case 'leaf': {
      const v = s.v;
      if (typeof v === 'number') return Number.isInteger(v) && !Object.is(v, -0) && (v | 0) === v ? (v >= -128 && v <= 127 ? 2 : 5) : 9;
      if (typeof v === 'string') return strLen(v);
      if (typeof v === 'bigint') return v >= -I64 && v < I64 ? 9 : null;
      return 1;
    }
    case 'exotic': return null;
    case 'obj': {
      if (s.proto !== 'object' || depth >= COMPACT_MAX_DEPTH || ++state.containers > COMPACT_MAX_OBJECTS) return null;
      const props = s.props.filter((p) => p.kind !== 'nonenum'); // skipped by both
      let n = 1 + varintLen(props.length);
      for (const p of props) {
        if (p.kind === 'getter') return null;
        // A setter-only accessor reads as undefined, no call made (structured clone reads it so too).
        const v = p.kind === 'setter' ? 1 : compactSize(p.v, depth + 1, state);
        if (v === null) return null;
        n += strLen(p.k) + v;
      }
      return n;
    }
    case 'arr': {
      if (s.sub || s.extra || depth >= COMPACT_MAX_DEPTH || ++state.containers > COMPACT_MAX_OBJECTS) return null;
      let n = 1 + varintLen(s.items.length);
      for (const it of s.items) {
        if (it.hole || it.accessor) return null;
        const v = compactSize(it.v, depth + 1, state);
        if (v === null) return null;
        n += v;
      }
      return n;
    }
  }
}

function oracle(t: Top): 'compact' | 'fallback' | 'either' {
  if (t.t === 'cycle') return 'fallback';
  if (t.t === 'shared' && (t.v.t === 'obj' || t.v.t === 'arr' || t.v.t === 'exotic')) return 'fallback';
  const spec: Spec = t.t === 'shared' ? { t: 'arr', items: [{ hole: false, accessor: false, v: t.v }, { hole: false, accessor: false, v: t.v }], extra: false, sub: false } : t.v;
  if (spec.t !== 'obj' && spec.t !== 'arr') return 'fallback'; // not an object: the codec's own tags
  const n = compactSize(spec, 0, { containers: 0 });
  if (n === null || n > COMPACT_MAX_BYTES) return 'fallback';
  return n <= COMPACT_MAX_BYTES - 16 ? 'compact' : 'either'; // the writer reserves a few bytes ahead
}

/** What the codec did before the compact path, user code included: v8.serialize, then the description on failure. */
function oldPathCalls(v: unknown): number {
  const before = calls.n;
  try { v8.serialize(v); } catch { uncloneable(v, v8.serialize); }
  return calls.n - before;
}

describe('compact encoding: against structured clone (property)', () => {
  it('every generated value (hostile and edge ones included) comes back exactly as structuredClone makes it, or fails as before; the compact path is taken exactly where the format carries the value; the encoder runs no user code', () => {
    const seenTags = new Set<string>();
    fc.assert(fc.property(top, (t) => {
      const value = build(t);
      const expected = oracle(t);
      // The compact encoder alone: no getter, no trap.
      const before = calls.n;
      const n = new CompactWriter().encode(value as object);
      expect(calls.n - before).toBe(0);
      if (typeof value === 'object' && value !== null) {
        if (expected === 'compact') expect(n).toBeGreaterThan(0);
        if (expected === 'fallback') expect(n).toBe(-1);
      }
      // structured clone, and the user code it runs.
      let clone: unknown;
      let cloneThrew = false;
      const c0 = calls.n;
      try { clone = structuredClone(value); } catch { cloneThrew = true; }
      const cloneCalls = calls.n - c0;
      // The codec: what comes back, and the user code it runs (never more than the old path).
      const old = oldPathCalls(value);
      const p0 = calls.n;
      if (cloneThrew) {
        expect(() => codec.prepare(value)).toThrow(PayloadError);
        expect(calls.n - p0).toBe(old);
        seenTags.add('threw');
        return;
      }
      const r = viaCodec(value);
      expect(calls.n - p0).toBe(cloneCalls);
      if (expected === 'compact') expect(r.tag).toBe(T_COMPACT);
      if (expected === 'fallback') expect(r.tag).not.toBe(T_COMPACT);
      seenTags.add(r.tag === T_COMPACT ? 'compact' : 'other');
      expect(isDeepStrictEqual(r.back, clone)).toBe(true);
      expect(same(r.back, clone)).toBe(true);
    }), { numRuns: 1500 });
    // The generator reached every branch.
    expect([...seenTags].sort()).toEqual(['compact', 'other', 'threw']);
  });

  it('results of the common shapes take the compact path and come back exactly', () => {
    const cases: unknown[] = [
      [12345, 78.5], [1, -0], { v: 2, tag: 'x' }, { sum: 1.5, us: 50.25, tag: 'x' }, [], {}, [NaN, Infinity, -Infinity],
      { a: undefined }, [undefined, null, true, false], { ['__proto__']: 5, a: 1 },
      { 2: 'b', z: 1, 1: 'a' }, [2n ** 63n - 1n, -(2n ** 63n)], ['é€😀', '\ud800'], { nested: { deeper: [[[1]]] } },
      Array.from({ length: 40 }, (_, i) => i * 1.25),
    ];
    for (const v of cases) {
      const r = viaCodec(v);
      expect(r.tag, JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : x))).toBe(T_COMPACT);
      expect(same(r.back, structuredClone(v))).toBe(true);
    }
    // Own '__proto__' stays an own data property; it does not become the prototype.
    const p = JSON.parse('{"__proto__": {"evil": 1}, "a": 1}') as object;
    const back = viaCodec(p).back as object;
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
    expect(Object.keys(back)).toEqual(['__proto__', 'a']);
    expect(same(back, structuredClone(p))).toBe(true);
  });
});

describe('compact encoding: bounds', () => {
  const nest = (d: number): unknown => (d === 0 ? 1 : [nest(d - 1)]);
  it(`nesting up to ${COMPACT_MAX_DEPTH} containers is compact, one more falls back (same value either way)`, () => {
    const ok = nest(COMPACT_MAX_DEPTH);
    const deep = nest(COMPACT_MAX_DEPTH + 1);
    expect(viaCodec(ok).tag).toBe(T_COMPACT);
    const r = viaCodec(deep);
    expect(r.tag).not.toBe(T_COMPACT);
    expect(same(r.back, deep)).toBe(true);
  });

  it(`more than ${COMPACT_MAX_OBJECTS} containers or ${COMPACT_MAX_BYTES} bytes falls back; a compact value past the cell spills and comes back`, () => {
    const many = Array.from({ length: COMPACT_MAX_OBJECTS }, () => ({}));
    expect(viaCodec(many).tag).not.toBe(T_COMPACT); // 64 objects + the array
    const fits = Array.from({ length: COMPACT_MAX_OBJECTS - 1 }, () => ({}));
    expect(viaCodec(fits).tag).toBe(T_COMPACT);
    const big = 'x'.repeat(COMPACT_MAX_BYTES);
    expect(viaCodec([big]).tag).not.toBe(T_COMPACT);
    const spilled = Array.from({ length: 150 }, (_, i) => i + 0.5); // 150 × 9 bytes
    const r = viaCodec(spilled);
    expect([r.tag, r.spilled]).toEqual([T_COMPACT, true]);
    expect(same(r.back, spilled)).toBe(true);
  });

  it('a large compact value followed by a small one writes only the small one\'s bytes (the next cell and the deadline word are untouched)', () => {
    viaCodec(Array.from({ length: 150 }, (_, i) => i + 0.5)); // fills the writer's scratch
    const next = cell + 32;
    mem.i32.fill(0x5a5a5a5a, next, next + 32);
    expect(codec.prepare([1, 2])).not.toBe(PREPARE_FULL);
    mem.i32[cell + C_DEADLINE] = 0x1234;
    codec.write(cell, 1);
    expect(mem.i32[cell + C_DEADLINE]).toBe(0x1234);
    expect([...mem.i32.subarray(next, next + 32)].every((w) => w === 0x5a5a5a5a)).toBe(true);
    expect(codec.read(cell, 0)).toEqual([1, 2]);
  });
});

describe('compact decoding: hostile environment and corrupt bytes', () => {
  it('decoding defines properties and elements: setters a program put on Object.prototype and Array.prototype, and a replaced Array.prototype.constructor, are never called', () => {
    const values: unknown[] = [{ x: 1, y: [1, 2, 3, 4, 5, 6, 7, 8] }, [1, 2], Array.from({ length: 12 }, (_, i) => ({ x: i }))];
    const encoded = values.map((v) => { const w = new CompactWriter(); const n = w.encode(v as object); return Buffer.from(w.buf.subarray(0, n)); });
    let hits = 0;
    const hit = (): void => { hits++; };
    const saved = Object.getOwnPropertyDescriptor(Array.prototype, 'constructor')!;
    Object.defineProperty(Object.prototype, 'x', { set: hit, get: () => { hits++; return 0; }, configurable: true });
    for (let i = 0; i < 12; i++) Object.defineProperty(Array.prototype, i, { set: hit, get: () => { hits++; return 0; }, configurable: true });
    Object.defineProperty(Array.prototype, 'constructor', { get() { hits++; return Array; }, configurable: true });
    const u8 = new Uint8Array(new SharedArrayBuffer(4096));
    const buf = Buffer.from(u8.buffer);
    const back: unknown[] = [undefined, undefined, undefined];
    try {
      const reader = new CompactReader(u8, buf); // made in the polluted environment too
      for (let i = 0; i < 3; i++) { // (no Array.prototype.map here: it would read the polluted constructor)
        u8.set(encoded[i]!, 0);
        back[i] = reader.read(0, encoded[i]!.length);
      }
    } finally {
      delete (Object.prototype as Record<string, unknown>).x;
      for (let i = 0; i < 12; i++) delete (Array.prototype as unknown as Record<number, unknown>)[i];
      Object.defineProperty(Array.prototype, 'constructor', saved);
    }
    expect(hits).toBe(0);
    back.forEach((b, i) => expect(same(b, structuredClone(values[i]))).toBe(true));
  });

  it('arbitrary bytes (a torn cell read by a thief) decode to something or throw the decoder\'s own error, within the bytes given (property)', () => {
    const u8 = new Uint8Array(new SharedArrayBuffer(4096));
    const reader = new CompactReader(u8, Buffer.from(u8.buffer));
    const valid = fc.oneof(leaf, spec).map((s) => { const w = new CompactWriter(); const v = materialize(s); const n = typeof v === 'object' && v !== null ? w.encode(v) : -1; return n < 0 ? Buffer.alloc(0) : Buffer.from(w.buf.subarray(0, n)); });
    fc.assert(fc.property(
      fc.oneof(fc.uint8Array({ maxLength: 96 }), valid.chain((b) => fc.tuple(fc.constant(b), fc.nat(), fc.nat(255)).map(([b2, i, x]) => { const c = Buffer.from(b2); if (c.length) c[i % c.length] = x; return c; }))),
      fc.nat(8),
      (bytes, cut) => {
        u8.fill(0xee);
        u8.set(bytes, 16);
        const len = Math.max(0, bytes.length - cut);
        try {
          reader.read(16, len);
        } catch (e) {
          expect((e as Error).message).toBe('sluice: corrupt compact value');
        }
      },
    ), { numRuns: 3000 });
  });
});

describe('compact encoding: what it does not look at', () => {
  it('a Proxy (of an object or an array) falls back before any trap runs; the codec then refuses it as before', () => {
    let traps = 0;
    const handler = new Proxy({}, { get: () => () => { traps++; throw new Error('trap'); } });
    for (const target of [{ a: 1 }, [1, 2]]) {
      const p = new Proxy(target, handler);
      expect(new CompactWriter().encode(p)).toBe(-1);
      expect(new CompactWriter().encode({ inner: p })).toBe(-1);
      expect(traps).toBe(0);
      expect(() => codec.prepare({ inner: p })).toThrow(PayloadError);
    }
    expect(types.isProxy(new Proxy({}, {}))).toBe(true);
  });
});
