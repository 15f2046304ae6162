import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { C_DATA_WORD } from '../../src/shm/layout.js';
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
      expect(ring.claim(rb.claimRingW(0), rb.claimPosW(0))).toBe(p);
      expect(ring.size()).toBe(p + 1);
    }
    expect(ring.claim(rb.claimRingW(0), rb.claimPosW(0))).toBe(RING_FULL);
    expect(ring.size()).toBe(4);
  });

  it('a claimed cell is not readable until published, and publishing a later one does not expose it', () => {
    const rb = ringBuffer(4);
    const { ring } = rb;
    const p0 = ring.claim(rb.claimRingW(0), rb.claimPosW(0));
    const p1 = ring.claim(rb.claimRingW(0), rb.claimPosW(0));
    expect(ring.readable(p0)).toBe(false);
    ring.publish(p1, rb.claimRingW(0));
    expect(ring.readable(p0)).toBe(false);
    expect(ring.readable(p1)).toBe(true);
    ring.publish(p0, rb.claimRingW(0));
    expect(ring.readable(p0)).toBe(true);
  });

  it('a ring never hands out a cell the consumer has not released', () => {
    const rb = ringBuffer(2);
    const { ring, i32 } = rb;
    const claim = (): number => ring.claim(rb.claimRingW(0), rb.claimPosW(0));
    for (const p of [claim(), claim()]) ring.publish(p, rb.claimRingW(0));
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
      ring.publish(ring.claim(rb.claimRingW(0), rb.claimPosW(0)), rb.claimRingW(0));
      ring.release(p + 1);
    }
    // Cells 0 and 1 still hold the publication words of positions 0 and 1.
    expect(ring.readable(2)).toBe(false);
    expect(ring.readable(3)).toBe(false);
    expect(ring.claim(rb.claimRingW(0), rb.claimPosW(0))).toBe(2);
    expect(ring.readable(2)).toBe(false);
  });

  it('a claim records (ring id, position) in the writer\'s claim record, and publish clears the ring word', () => {
    const rb = ringBuffer(2, { id: 5 });
    const { ring, i32 } = rb;
    const [ringW, posW] = [rb.claimRingW(0), rb.claimPosW(0)];
    expect(i32[ringW]).toBe(-1);
    const p0 = ring.claim(ringW, posW);
    expect([i32[ringW], i32[posW]]).toEqual([5, p0]);
    const p1 = ring.claim(ringW, posW);
    expect([i32[ringW], i32[posW]]).toEqual([5, p1]);
    ring.publish(p1, ringW);
    expect(i32[ringW]).toBe(-1);
    // A claim that finds the ring full records nothing.
    expect(ring.claim(ringW, posW)).toBe(RING_FULL);
    expect(i32[ringW]).toBe(-1);
  });

  it('a claim that loses its CAS race and then finds the ring full leaves no claim record naming another writer\'s position', () => {
    const rb = ringBuffer(2, { id: 5 });
    const { ring, i32 } = rb;
    const [ringW, posW] = [rb.claimRingW(0), rb.claimPosW(0)];
    i32[rb.tailW] = 1; // position 0 is claimed by another writer; one cell left
    // Force the interleaving: another writer claims position 1 between our claim's tail load and
    // its CAS. claim() reads tailWord once for the load and once for the CAS.
    let reads = 0;
    Object.defineProperty(ring, 'tailWord', {
      get: () => {
        if (++reads === 2) Atomics.store(i32, rb.tailW, 2);
        return rb.tailW;
      },
    });
    expect(ring.claim(ringW, posW)).toBe(RING_FULL);
    expect(reads).toBeGreaterThanOrEqual(2); // the race was really injected
    // We hold no claim, so recovery must not find a record naming position 1 (not ours).
    expect(i32[ringW]).toBe(-1);
  });

  it('size() counts claimed-but-unpublished cells and drops as the consumer releases', () => {
    const rb = ringBuffer(4);
    const { ring } = rb;
    ring.claim(rb.claimRingW(0), rb.claimPosW(0));
    ring.claim(rb.claimRingW(0), rb.claimPosW(0));
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
        const pos = ring.claim(rb.claimRingW(0), rb.claimPosW(0));
        if (model.length === capacity) {
          expect(pos).toBe(RING_FULL);
        } else {
          expect(pos).toBe((start + pushed) | 0);
          pushed++;
          i32[ring.cellWord(pos) + C_DATA_WORD] = o.push;
          ring.publish(pos, rb.claimRingW(0));
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
    const rb = ringBuffer(CAP, { writers: PRODUCERS, ctlBlocks: PRODUCERS + 2 });
    fastForward(rb, START);
    const { i32 } = rb;
    const consumerW = rb.ctlW(PRODUCERS);
    const verdictW = rb.ctlW(PRODUCERS + 1);
    const common = { sab: rb.sab, id: rb.id, tailW: rb.tailW, headW: rb.headW, cellsByte: rb.cellsByte, capacity: CAP };
    const threads = [
      fixture('ring-consumer.mjs', { ...common, producers: PRODUCERS, perProducer: PER, ctlW: consumerW, verdictW }),
      ...Array.from({ length: PRODUCERS }, (_, p) => fixture('ring-producer.mjs', {
        ...common, producer: p, count: PER, claimRingW: rb.claimRingW(p), claimPosW: rb.claimPosW(p), ctlW: rb.ctlW(p),
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
    for (let p = 0; p < PRODUCERS; p++) expect(i32[rb.claimRingW(p)]).toBe(-1);
  });
});
