// The gate words (docs/design.md 2.1, 4.1 steps 2-3, 4.3 step 7): submitters on a producer word
// and the global word, each CAS attempt decided by gate.ts itself, under every interleaving.
import { afterAll, describe, expect, it } from 'vitest';
import { finds, passes, printReports } from './expect.js';
import { gateModel, type GateConfig } from './models/gate.js';

afterAll(() => printReports('gate'));

const unrated = (slots: number) => ({ limits: { rate: 0, burst: 0, slots } });

/** 3 submitters on one producer (slots 2) against a global ceiling of 1: both refusals happen. */
const threeOnOne: GateConfig = {
  producers: [unrated(2)], globalLimit: 1,
  submitters: [{ producer: 0, rounds: 1 }, { producer: 0, rounds: 1 }, { producer: 0, rounds: 1 }],
};
/**
 * Two producers whose slots (1 + 1) partition the ceiling (2); producer 0 submits twice, producer
 * 1 once, and the owner's pump resolves the tasks on its own thread.
 */
const isolation: GateConfig = {
  producers: [unrated(1), unrated(1)], globalLimit: 2, isolation: true, resolver: true,
  submitters: [{ producer: 0, rounds: 2 }, { producer: 1, rounds: 1 }],
};

describe('gate: correct', () => {
  it('in flight <= slots and global <= limit in every state, a rejected attempt leaves both words as they were, quiescent counters are zero (3 submitters, slots 2, global 1)', () => {
    passes(gateModel(threeOnOne));
  });

  it('the same for 3 submitters on one producer with slots 1, global 2', () => {
    passes(gateModel({ ...threeOnOne, producers: [unrated(1)], globalLimit: 2 }));
  });

  it('the same for 2 submitters on a producer with slots 1 and 1 on another with slots 2, global 2, two rounds each, within 3 preemptions', () => {
    passes(gateModel({
      producers: [unrated(1), unrated(2)], globalLimit: 2,
      submitters: [{ producer: 0, rounds: 2 }, { producer: 0, rounds: 1 }, { producer: 1, rounds: 2 }],
    }), { preemptions: 3 });
  });

  it('a rated producer (burst 1): the token and the slot are taken together and rolled back together', () => {
    passes(gateModel({
      producers: [{ limits: { rate: 1000, burst: 1, slots: 2 }, tokens: 1 }], globalLimit: 1,
      submitters: [{ producer: 0, rounds: 1 }, { producer: 0, rounds: 1 }],
    }));
  });

  it('isolation (invariant 6): with slots partitioning the ceiling, a producer within its slots is never refused global-slots, because the release order is global first', () => {
    passes(gateModel(isolation));
  });
});

describe('gate: planted bugs are found', () => {
  it('releasing the producer slot before the global one lets global count a task no producer counts', () => {
    const e = finds(gateModel({ ...isolation, bug: 'release-producer-first' }), 'global never counts a task its producer no longer counts (global <= sum of in flight)');
    expect(e.message).toContain('releaseSlots(): Atomics.sub(producer[0], 1)');
  });

  it('... and so a producer within its slots is refused global-slots (the isolation the order exists for)', () => {
    const m = gateModel({ ...isolation, bug: 'release-producer-first' });
    finds({ ...m, invariants: m.invariants!.filter((i) => !i.name.startsWith('global never counts')) },
      'isolation: a producer within its slots is never refused global-slots when the slots partition the ceiling');
  });

  it('no rollback on a global refusal leaks the producer slot', () => {
    finds(gateModel({ ...threeOnOne, bug: 'no-rollback-on-global-refusal' }), 'a rejected attempt leaves both words as they were (each word = what its holders hold)');
  });
});
