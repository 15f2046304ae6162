// fast-check generators of trace records that stay inside the layout's field ranges.
import fc from 'fast-check';
import { KIND_NAMES, RecordKind, type TraceRecord } from '../../src/trace/records.js';

const kinds = KIND_NAMES.map((n, code) => (n === undefined ? -1 : code)).filter((c) => c > 0);
const none = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | -1> => fc.oneof(fc.constant(-1 as const), arb);

/** A token reference (attachment, index, generation), or none in all three fields. */
const tokenRef = fc.oneof(
  fc.constant([-1, -1, -1] as const),
  fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0x1fffff })),
);

export const arbRecord: fc.Arbitrary<TraceRecord> = fc.record({
  kind: fc.constantFrom(...kinds),
  aux: fc.integer({ min: 0, max: 0xffff }),
  writerClass: fc.integer({ min: 0, max: 1 }),
  writerIndex: fc.integer({ min: 0, max: 255 }),
  cpu: none(fc.integer({ min: 0, max: 0xfffe })),
  producer: none(fc.integer({ min: 0, max: 0xfffe })),
  task: none(fc.integer({ min: 0, max: 0xfffe })),
  tok: tokenRef,
  worker: none(fc.integer({ min: 0, max: 254 })),
  tick: fc.oneof(fc.integer({ min: 0, max: 2 ** 32 + 5 }), fc.maxSafeNat()),
  par: tokenRef,
  k: fc.array(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), { minLength: 4, maxLength: 4 }),
  label: fc.string({ unit: 'grapheme', maxLength: 6 }),
}).map(({ tok, par, k, label, ...r }) => {
  const rec: TraceRecord = {
    ...r,
    tokenAtt: tok[0], token: tok[1], gen: tok[2],
    parentAtt: par[0], parent: par[1], parentGen: par[2],
    k0: k[0]!, k1: k[1]!, k2: k[2]!, k3: k[3]!,
  };
  if (rec.kind === RecordKind.META) {
    rec.k0 = rec.k1 = rec.k2 = rec.k3 = 0;
    rec.label = label;
  }
  return rec;
}).filter((r) => r.kind !== RecordKind.META || new TextEncoder().encode(r.label).length <= 16);
