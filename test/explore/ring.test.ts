// The ring (docs/design.md 3.1) under every interleaving of its producers and its consumer, with
// the capacity shrunk to 2 and 4, and with a producer that dies between claim and publish while
// the freeze (4.10 step 3) tombstones its cell.
import { afterAll, describe, expect, it } from 'vitest';
import { finds, passes, printReports } from './expect.js';
import { ringModel } from './models/ring.js';

afterAll(() => printReports('ring'));

describe('ring: correct', () => {
  it('no item is lost or duplicated, FIFO per producer, capacity never exceeded, in any interleaving of 2 producers x 2 items and 1 consumer, capacity 2', () => {
    passes(ringModel({ capacity: 2, items: [2, 2] }));
  });

  it('the same with capacity 4, within 3 preemptions', () => {
    passes(ringModel({ capacity: 4, items: [2, 2] }), { preemptions: 3 });
  });

  it('the same with positions wrapping at 2^31 and at 2^32', () => {
    passes(ringModel({ capacity: 2, items: [2, 1], start: 0x7fffffff - 1 }));
    passes(ringModel({ capacity: 2, items: [2, 1], start: -2 }));
  });

  it('a producer that dies between claim and publish: the freeze tombstones its cell, the consumer skips it and never stalls, no live item is lost (1 live producer x 2 items)', () => {
    passes(ringModel({ capacity: 2, items: [2], dying: true }));
  });

  for (let k = 0; k <= 8; k++) {
    it(`a producer killed after ${k} of its steps (window, claim, publish, leave: anywhere): the ring never stalls, no live item is lost, and exactly the cell it claimed and never published is tombstoned`, () => {
      passes(ringModel({ capacity: 2, items: [1], killedAfter: k }));
    });
  }

  it('the same with 2 live producers, within 2 preemptions', () => {
    const r = passes(ringModel({ capacity: 2, items: [1, 1], dying: true }), { preemptions: 2 });
    expect(r.pruned).toBeGreaterThan(0);
  });
});

describe('ring: planted bugs are found', () => {
  it('claim() that tests capacity only before its CAS loop exceeds the capacity', () => {
    const e = finds(ringModel({ capacity: 2, items: [2, 2], bug: 'capacity-checked-before-cas-loop' }), 'capacity never exceeded');
    expect(e.message).toContain('CAS tail (BUG: no capacity test on retry)');
  });

  it('a consumer that stores head before copying reads a cell rewritten by the next lap', () => {
    finds(ringModel({ capacity: 2, items: [2, 2], bug: 'head-before-copy' }), 'the consumer reads only the cell published for its position');
  });

  it('a freeze that does not wait for live windows tombstones a live producer\'s cell: its item is lost', () => {
    finds(ringModel({ capacity: 2, items: [1], dying: true, bug: 'freeze-ignores-windows' }), 'no item lost or duplicated');
    // With a killed producer the consumer does not know how many cells come: it waits for the
    // live producer's item, which the freeze tombstoned, forever.
    finds(ringModel({ capacity: 2, items: [1], killedAfter: 5, bug: 'freeze-ignores-windows' }), 'no deadlock');
  });
});
