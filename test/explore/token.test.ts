// The token word (docs/design.md 2.2, 4.2 steps 2-3, 4.2a, 4.5): the worker's PENDING -> RUNNING
// CAS, a thief's, and the owner's cancel CAS race; then the index is reused with the next
// generation while the stale cell is still queued.
import { afterAll, describe, expect, it } from 'vitest';
import { finds, passes, printReports } from './expect.js';
import { tokenModel } from './models/token.js';

afterAll(() => printReports('token'));

describe('token: correct', () => {
  it('exactly one of the worker and the canceller wins; a retracted token never runs; the stale cell of a reused index never wins', () => {
    passes(tokenModel({ thief: false }));
  });

  it('the same with a thief: exactly one winner per generation, the body runs at most once, in any interleaving of owner, worker and thief', () => {
    passes(tokenModel({ thief: true }));
  });
});

describe('token: planted bugs are found', () => {
  it('a cancel that loads PENDING and then stores RETRACTED (no CAS) writes an illegal transition of the token word', () => {
    const e = finds(tokenModel({ thief: true, bug: 'cancel-plain-store' }), 'token word: only legal transitions');
    expect(e.detail).toMatch(/owner changed token from (RUNNING|DONE)\|w0\|gen 7 to RETRACTED\|w0\|gen 7/);
  });

  it('... and lets the worker win too (with the word\'s transition table left out)', () => {
    const m = tokenModel({ thief: true, bug: 'cancel-plain-store' });
    finds({ ...m, words: [] }, 'exactly one winner per generation');
  });

  it('a worker that CASes the word\'s own PENDING generation instead of its cell\'s runs a stale cell', () => {
    finds(tokenModel({ thief: false, bug: 'cas-ignores-cell-generation' }), 'a stale generation never wins');
  });
});
