// The waker (docs/design.md 3.2): publish-then-read-state against store-PARKED-then-re-check,
// under every interleaving; Atomics.wait modelled as compare-and-sleep, woken only by a notify.
import { afterAll, describe, expect, it } from 'vitest';
import { finds, passes, printReports } from './expect.js';
import { wakerModel } from './models/waker.js';

afterAll(() => printReports('waker'));

describe('waker: correct', () => {
  it('no lost wake-up: the consumer never sleeps with an item queued, in any interleaving of 1 producer x 2 items and the consumer', () => {
    passes(wakerModel({ items: [2] }));
  });

  it('no lost wake-up and one notify per sleep, with 2 producers racing to wake the consumer', () => {
    passes(wakerModel({ items: [1, 1] }));
  });

  it('the same with 2 producers x 2 and 1 x 1 items, within 3 preemptions', () => {
    passes(wakerModel({ items: [2, 1] }), { preemptions: 3 });
  });
});

describe('waker: plain publishes through store buffers (TSO) and the consumer\'s process barrier (layout.ts plainPublish)', () => {
  it('no lost wake-up and one notify per sleep (1 producer x 2 items)', () => {
    passes(wakerModel({ items: [2], order: 'tso' }));
  });

  it('the same with 2 producers racing to wake the consumer, within 4 preemptions', () => {
    passes(wakerModel({ items: [1, 1], order: 'tso' }), { preemptions: 4 });
  });

  it('the same with 2 producers x 2 and 1 x 1 items, within 2 preemptions', () => {
    passes(wakerModel({ items: [2, 1], order: 'tso' }), { preemptions: 2 });
  });

  it('without the barrier, a publish still in its store buffer is missed by the re-check: the consumer sleeps with an item queued', () => {
    const e = finds(wakerModel({ items: [1], order: 'tso', bug: 'no-barrier' }), 'no deadlock');
    expect(e.message).toContain('C asleep in parkSync(): Atomics.wait(word, PARKED)');
  });

  it('with the barrier, dropping the re-check after it still loses a wake-up', () => {
    finds(wakerModel({ items: [1], order: 'tso', bug: 'no-recheck-after-park' }), 'no deadlock');
  });
});

describe('waker: planted bugs are found', () => {
  it('dropping the re-check after announcing PARKED loses a wake-up (a deadlock with an item queued)', () => {
    const e = finds(wakerModel({ items: [1], bug: 'no-recheck-after-park' }), 'no deadlock');
    expect(e.message).toContain('C asleep in parkSync(): Atomics.wait(word, PARKED)');
  });

  it('a wake that stores RUNNING instead of CASing PARKED -> RUNNING notifies twice for one sleep', () => {
    finds(wakerModel({ items: [1, 1], bug: 'wake-store-not-cas' }), 'one wake per sleep: at most one notify per PARKED announcement');
  });
});
