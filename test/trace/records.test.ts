import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  KIND_FIELDS, KIND_NAMES, LABEL_BYTES, RECORD_BYTES, RECORD_WORDS, RecordKind, R_CHECK, R_HEAD, R_SEQ,
  checkWord, decodeFrames, decodeRecord, details, emptyRecord, encodeRecord, packRoute, recordFault, tokenKey, unpackRoute,
} from '../../src/trace/records.js';
import { arbRecord } from './arbitraries.js';

describe('trace records: one fixed-size layout', () => {
  it('a record is 16 int32 words, 64 bytes, for every kind', () => {
    expect(RECORD_WORDS).toBe(16);
    expect(RECORD_BYTES).toBe(64);
    for (const name of KIND_NAMES) if (name !== undefined) expect(KIND_FIELDS[name].k).toHaveLength(4);
  });

  it('every kind round-trips: decode(encode(r)) equals r, and the check word verifies (property)', () => {
    const i32 = new Int32Array(RECORD_WORDS * 3);
    fc.assert(fc.property(arbRecord, fc.integer({ min: 0, max: 2 }), (r, slot) => {
      const at = slot * RECORD_WORDS;
      i32[at + R_SEQ] = 12345; // the ring's word: encode must leave it alone
      encodeRecord(r, i32, at);
      expect(i32[at + R_SEQ]).toBe(12345);
      expect(recordFault(i32, at)).toBeNull();
      expect(decodeRecord(i32, at)).toEqual(r);
    }), { numRuns: 5000 });
  });

  it('the generator covers every kind', () => {
    const seen = new Set(fc.sample(arbRecord, 3000).map((r) => r.kind));
    expect([...seen].sort((a, b) => a - b)).toEqual(Object.values(RecordKind).sort((a, b) => a - b));
  });

  it('a mix of two records fails the check word (property)', () => {
    const a = new Int32Array(RECORD_WORDS);
    const b = new Int32Array(RECORD_WORDS);
    fc.assert(fc.property(arbRecord, arbRecord, fc.integer({ min: R_HEAD, max: R_CHECK - 1 }), (ra, rb, cut) => {
      encodeRecord(ra, a, 0);
      encodeRecord(rb, b, 0);
      const mixed = a.slice();
      mixed.set(b.subarray(cut + 1), cut + 1); // words 0..cut from a, the rest (with b's check) from b
      const differs = a.subarray(R_HEAD, cut + 1).some((v, i) => v !== b[R_HEAD + i]);
      fc.pre(differs);
      expect(recordFault(mixed, 0)).toBe('check');
    }), { numRuns: 3000 });
  });

  it('a zeroed frame is empty, a foreign version or kind is refused, not decoded', () => {
    const i32 = new Int32Array(RECORD_WORDS);
    expect(recordFault(i32, 0)).toBe('empty');
    const r = emptyRecord();
    r.kind = RecordKind.START;
    encodeRecord(r, i32, 0);
    expect(recordFault(i32, 0)).toBeNull();
    i32[R_HEAD] = (i32[R_HEAD]! & 0x00ffffff) | (9 << 24);
    i32[R_CHECK] = checkWord(i32, 0);
    expect(recordFault(i32, 0)).toBe('version');
    encodeRecord(r, i32, 0);
    i32[R_HEAD] = (i32[R_HEAD]! & ~0x00ff0000) | (200 << 16);
    i32[R_CHECK] = checkWord(i32, 0);
    expect(recordFault(i32, 0)).toBe('kind');
  });

  it('a META label longer than 16 bytes is cut at a UTF-8 boundary', () => {
    const i32 = new Int32Array(RECORD_WORDS);
    const r = emptyRecord();
    r.kind = RecordKind.META;
    r.label = 'ingest-αβγδεζηθ-and-more';
    encodeRecord(r, i32, 0);
    const back = decodeRecord(i32, 0).label!;
    expect(new TextEncoder().encode(back).length).toBeLessThanOrEqual(LABEL_BYTES);
    expect(r.label.startsWith(back)).toBe(true);
    expect(back.length).toBeGreaterThan(8);
  });

  it('details() names the kind-specific words: the reason and the outcome by name', () => {
    const r = emptyRecord();
    r.kind = RecordKind.SUBMIT_REJECTED;
    r.aux = 2;
    r.k0 = (3 << 16) | 4;
    expect(details(r)).toEqual({ reason: 'global-slots', producerWord: (3 << 16) | 4, globalWord: 0, earnedWord: 0, limit: 0 });
    r.kind = RecordKind.RESOLVE;
    r.aux = 3;
    expect(details(r).outcome).toBe('abandoned');
  });

  it('tokenKey is injective over (attachment, index, generation) and a safe integer', () => {
    fc.assert(fc.property(
      fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0x1fffff })),
      fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0x1fffff })),
      (a, b) => {
        const ka = tokenKey(...a);
        expect(Number.isSafeInteger(ka)).toBe(true);
        expect(ka === tokenKey(...b)).toBe(a.every((v, i) => v === b[i]));
      },
    ));
  });

  it('a ROUTE record keeps the chain summary: length, chosen index and worker, and the first eight occupancies saturated at 255 (property)', () => {
    const i32 = new Int32Array(RECORD_WORDS);
    fc.assert(fc.property(
      fc.uniqueArray(fc.integer({ min: 0, max: 254 }), { minLength: 1, maxLength: 20 }),
      fc.array(fc.integer({ min: 0, max: 100_000 }), { minLength: 255, maxLength: 255 }),
      fc.nat(), fc.integer({ min: 0, max: 3 }), fc.boolean(),
      (chain, occupancy, pick, weightClass, cpuTie) => {
        const chosen = pick % chain.length;
        const r = emptyRecord();
        r.kind = RecordKind.ROUTE;
        packRoute(r, weightClass, chain, occupancy, chosen, cpuTie);
        encodeRecord(r, i32, 0);
        const back = decodeRecord(i32, 0);
        expect(back.worker).toBe(chain[chosen]);
        expect(unpackRoute(back)).toEqual({
          weightClass, cpuTie, chainLength: chain.length, chosen, chosenOccupancy: occupancy[chain[chosen]!],
          occupancies: chain.slice(0, 8).map((w) => Math.min(255, occupancy[w]!)),
        });
      },
    ), { numRuns: 2000 });
  });
  it('a forged file: any frame, SUBMIT_ROUTED with arbitrary words included, decodes without throwing; a SUBMIT_ROUTED is read as SUBMIT_ADMITTED then ROUTE at its position (property)', () => {
    fc.assert(fc.property(fc.array(fc.tuple(arbRecord, fc.boolean(), fc.integer({ min: 0, max: 1000 })), { minLength: 1, maxLength: 8 }), (items) => {
      const frames = new Int32Array(items.length * RECORD_WORDS);
      items.forEach(([r, routed, pos], i) => {
        const rec = routed ? { ...r, kind: RecordKind.SUBMIT_ROUTED } : r;
        encodeRecord(rec, frames, i * RECORD_WORDS);
        frames[i * RECORD_WORDS + R_SEQ] = 2 * pos + 2;
      });
      const { records, positions, bad } = decodeFrames(frames);
      expect(bad).toBe(0);
      const want: number[] = [];
      const at: number[] = [];
      items.forEach(([r, routed, pos]) => {
        if (routed || r.kind === RecordKind.SUBMIT_ROUTED) { want.push(RecordKind.SUBMIT_ADMITTED, RecordKind.ROUTE); at.push(pos, pos); } else { want.push(r.kind); at.push(pos); }
      });
      expect(records.map((r) => r.kind)).toEqual(want);
      expect(positions).toEqual(at);
      for (const r of records) expect(r.kind).not.toBe(RecordKind.SUBMIT_ROUTED);
    }), { numRuns: 2000 });
  });
});
