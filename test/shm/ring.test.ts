import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { C_DATA_WORD, C_KIND } from '../../src/shm/layout.js';
import { CF_BUFFER, CF_RETRYABLE, CF_SPILLED, CF_TOMBSTONE, CF_WEIGHT_MASK } from '../../src/shm/words/cell.js';
import { RING_FULL, Ring } from '../../src/shm/ring.js';
import { fastForward, fixture, ringBuffer, runThreads } from '../helpers/shm.js';

describe('Ring: single thread', () => {
  it('a capacity that is not a power of two is a RangeError', () => {
    const { i32 } = ringBuffer(8);
    for (const bad of [0, -1, 3, 6, 12, 100]) {
      expect(() => new Ring(i32, 0, 0, 32, 128, bad)).toThrow(RangeError);
    }
    for (const ok of [1, 2, 4, 64]) expect(new Ring(i32, 0, 0, 32, 128, ok).capacity).toBe(ok);
  });

  it('claims consecutive positions and reports RING_FULL exactly at capacity', () => {
    const rb = ringBuffer(4);
    const { ring } = rb;
    for (let p = 0; p < 4; p++) {
      expect(ring.claim()).toBe(p);
      expect(ring.size()).toBe(p + 1);
    }
    expect(ring.claim()).toBe(RING_FULL);
    expect(ring.size()).toBe(4);
  });

  it('a claimed cell is not readable until published, and publishing a later one does not expose it', () => {
    const rb = ringBuffer(4);
    const { ring } = rb;
    const p0 = ring.claim();
    const p1 = ring.claim();
    expect(ring.readable(p0)).toBe(false);
    ring.publish(p1);
    expect(ring.readable(p0)).toBe(false);
    expect(ring.readable(p1)).toBe(true);
    ring.publish(p0);
    expect(ring.readable(p0)).toBe(true);
  });

  it('a ring never hands out a cell the consumer has not released', () => {
    const rb = ringBuffer(2);
    const { ring, i32 } = rb;
    const claim = (): number => ring.claim();
    for (const p of [claim(), claim()]) ring.publish(p);
    // Both cells are published and readable, but not released: nothing more may be claimed.
    expect(ring.readable(0)).toBe(true);
    expect(claim()).toBe(RING_FULL);
    // Released one: exactly one more position, in cell 0, and the consumer's copy is untouched
    // until then.
    i32[ring.cellWord(0) + C_DATA_WORD] = 111;
    ring.release(1);
    expect(ring.head()).toBe(1);
    expect(claim()).toBe(2);
    expect(ring.cellWord(2)).toBe(ring.cellWord(0));
    expect(claim()).toBe(RING_FULL);
  });

  it("a previous lap's publication does not make a cell readable for the next lap", () => {
    const rb = ringBuffer(2);
    const { ring } = rb;
    for (let p = 0; p < 2; p++) {
      ring.publish(ring.claim());
      ring.release(p + 1);
    }
    // Cells 0 and 1 still hold the publication words of positions 0 and 1.
    expect(ring.readable(2)).toBe(false);
    expect(ring.readable(3)).toBe(false);
    expect(ring.claim()).toBe(2);
    expect(ring.readable(2)).toBe(false);
  });

  it('tombstone() publishes a cell its claimer never published: readable, tombstone flag set, only the keep-flags of its old kind kept', () => {
    const rb = ringBuffer(4);
    const { ring, i32 } = rb;
    const KEEP = CF_SPILLED | CF_WEIGHT_MASK; // e.g. what recovery keeps of a submission's kind
    const [p0, p1, p2] = [ring.claim(), ring.claim(), ring.claim()];
    // p0 and p2 are published; p1's claimer wrote a kind word with every bit set and a payload
    // word, then died before publishing.
    for (const p of [p0, p2]) {
      i32[ring.cellWord(p) + C_KIND] = 0x1234;
      ring.publish(p);
    }
    i32[ring.cellWord(p1) + C_KIND] = -1;
    i32[ring.cellWord(p1) + C_DATA_WORD] = 0x5151;
    expect(ring.readable(p1)).toBe(false);
    ring.tombstone(p1, C_KIND, CF_TOMBSTONE, KEEP);
    expect(ring.readable(p1)).toBe(true);
    expect(i32[ring.cellWord(p1) + C_KIND]).toBe(CF_TOMBSTONE | KEEP);
    // Nothing else changes: not the cell's other words, not its neighbours, not head or tail.
    expect(i32[ring.cellWord(p1) + C_DATA_WORD]).toBe(0x5151);
    for (const p of [p0, p2]) {
      expect(ring.readable(p)).toBe(true);
      expect(i32[ring.cellWord(p) + C_KIND]).toBe(0x1234);
    }
    expect([ring.head(), ring.size()]).toEqual([0, 3]);
    expect(ring.claim()).toBe(3);
  });

  it('tombstone() of any old kind word, at any position (across the int32 wraps), gives exactly tombstoneFlag | (old & keepFlags) (property)', () => {
    const flagsOf = fc.subarray([CF_SPILLED, CF_TOMBSTONE, CF_BUFFER, 1 << 27, 1 << 28, CF_RETRYABLE, 1 << 30, 1 << 31])
      .map((fs) => fs.reduce((a, f) => a | f, 0));
    const start = fc.oneof(fc.integer(), fc.constantFrom(0, -1, -2, 2 ** 31 - 1, -(2 ** 31)));
    fc.assert(fc.property(fc.integer(), flagsOf, start, fc.integer({ min: 0, max: 3 }), (old, keep, s, before) => {
      const rb = ringBuffer(4);
      const { ring, i32 } = rb;
      fastForward(rb, s);
      for (let k = 0; k < before; k++) ring.publish(ring.claim()); // published cells ahead of it
      const p = ring.claim();
      expect(p).toBe((s + before) | 0);
      i32[ring.cellWord(p) + C_KIND] = old;
      expect(ring.readable(p)).toBe(false);
      ring.tombstone(p, C_KIND, CF_TOMBSTONE, keep);
      expect(ring.readable(p)).toBe(true);
      expect(i32[ring.cellWord(p) + C_KIND]).toBe(CF_TOMBSTONE | (old & keep));
      expect(ring.readable((p + 1) | 0)).toBe(false);
    }));
  });

  it('size() counts claimed-but-unpublished cells and drops as the consumer releases', () => {
    const rb = ringBuffer(4);
    const { ring } = rb;
    ring.claim();
    ring.claim();
    expect(ring.size()).toBe(2);
    ring.release(1);
    expect(ring.size()).toBe(1);
  });
});

describe('Ring: behaves as a bounded FIFO queue (property, vs a model)', () => {
  type Op = { push: number } | 'pop';
  const op: fc.Arbitrary<Op> = fc.oneof(fc.integer().map((v) => ({ push: v })), fc.constant('pop' as const));

  /** Run ops against the ring and a model queue; every decision and value must agree. */
  function agreesWithModel(capacity: number, start: number, ops: Op[]): void {
    const rb = ringBuffer(capacity);
    const { ring, i32 } = rb;
    fastForward(rb, start);
    const model: number[] = [];
    let pushed = 0;
    for (const o of ops) {
      if (o === 'pop') {
        const head = ring.head();
        expect(ring.readable(head)).toBe(model.length > 0);
        if (model.length > 0) {
          expect(i32[ring.cellWord(head) + C_DATA_WORD]).toBe(model.shift());
          ring.release((head + 1) | 0);
        }
      } else {
        const pos = ring.claim();
        if (model.length === capacity) {
          expect(pos).toBe(RING_FULL);
        } else {
          expect(pos).toBe((start + pushed) | 0);
          pushed++;
          i32[ring.cellWord(pos) + C_DATA_WORD] = o.push;
          ring.publish(pos);
          model.push(o.push);
        }
      }
      expect(ring.size()).toBe(model.length);
    }
  }

  const capacity = fc.constantFrom(1, 2, 4, 8);
  const ops = fc.array(op, { maxLength: 200, size: 'max' }); // 'max': lengths up to 200, not fast-check's default ~10

  it('from position 0', () => {
    fc.assert(fc.property(capacity, ops, (c, o) => agreesWithModel(c, 0, o)));
  });

  it('across the int32 sign boundary (starting at 2^31 - 5)', () => {
    fc.assert(fc.property(capacity, ops, (c, o) => agreesWithModel(c, 2 ** 31 - 5, o)));
  });

  it('across the 2^32 wrap back to 0 (starting at -3)', () => {
    fc.assert(fc.property(capacity, ops, (c, o) => agreesWithModel(c, -3, o)));
  });
});

describe('Ring: concurrent producers', () => {
  it('4 producer threads x 200k items through a 64-cell ring: each item arrives exactly once, each producer in order', async () => {
    const PRODUCERS = 4;
    const PER = 200_000;
    const CAP = 64;
    // Start just below 2^31 so the run crosses the int32 sign boundary.
    const START = 2 ** 31 - 300_000;
    // Control blocks: 0..3 producers' pushed/full counters, 4 the consumer's, 5 its verdicts.
    const rb = ringBuffer(CAP, { ctlBlocks: PRODUCERS + 2 });
    fastForward(rb, START);
    const { i32 } = rb;
    const consumerW = rb.ctlW(PRODUCERS);
    const verdictW = rb.ctlW(PRODUCERS + 1);
    const common = { sab: rb.sab, id: rb.id, tailW: rb.tailW, headW: rb.headW, cellsByte: rb.cellsByte, capacity: CAP };
    const threads = [
      fixture('ring-consumer.mjs', { ...common, producers: PRODUCERS, perProducer: PER, ctlW: consumerW, verdictW }),
      ...Array.from({ length: PRODUCERS }, (_, p) => fixture('ring-producer.mjs', {
        ...common, producer: p, count: PER, ctlW: rb.ctlW(p),
      })),
    ];
    await runThreads(threads, 60_000, () => {
      const pushed = Array.from({ length: PRODUCERS }, (_, p) => i32[rb.ctlW(p)]);
      return `pushed per producer ${pushed.join(',')}; consumed ${i32[consumerW]}; tail ${i32[rb.tailW]} head ${i32[rb.headW]}`;
    });

    // Verdicts written by the consumer: out-of-order or unknown items, then the count per producer.
    expect({ violations: i32[verdictW], firstBad: i32[verdictW + 1] }).toEqual({ violations: 0, firstBad: 0 });
    const received = Array.from({ length: PRODUCERS }, (_, p) => i32[verdictW + 2 + p]);
    expect(received).toEqual(Array(PRODUCERS).fill(PER));
    expect(i32[consumerW]).toBe(PRODUCERS * PER);
    expect(i32[rb.tailW]).toBe((START + PRODUCERS * PER) | 0);
    expect(i32[rb.headW]).toBe((START + PRODUCERS * PER) | 0);
  });
});
