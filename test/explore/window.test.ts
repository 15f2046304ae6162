// The window and the freeze (docs/design.md 4.10): submitters store their flag then load the
// freeze word; the supervisor stores the freeze word then scans the flags (Dekker).
import { afterAll, describe, it } from 'vitest';
import { finds, passes, printReports } from './expect.js';
import { windowModel } from './models/window.js';

afterAll(() => printReports('window'));

describe('window: correct', () => {
  it('while the supervisor acts no submitter is inside its window, and nobody deadlocks (2 submitters x 2 windows, 1 freeze)', () => {
    passes(windowModel({ submitters: 2, rounds: 2, freezes: 1 }));
  });

  it('the same with 2 freezes in a row, within 3 preemptions', () => {
    passes(windowModel({ submitters: 2, rounds: 2, freezes: 2 }), { preemptions: 3 });
  });
});

describe('window: plain flag stores through store buffers (TSO) and the freezer\'s process barrier (layout.ts H_BARRIER)', () => {
  it('while the supervisor acts no submitter is inside its window, and nobody deadlocks (2 submitters x 1 window, 1 freeze)', () => {
    passes(windowModel({ submitters: 2, rounds: 1, freezes: 1, order: 'tso' }));
  });

  it('the same for 1 submitter x 2 windows (its leave\'s 0 and next enter\'s 1 buffered together) and 2 freezes in a row', () => {
    passes(windowModel({ submitters: 1, rounds: 2, freezes: 2, order: 'tso' }));
  });

  it('the same for 2 submitters x 2 windows, 1 freeze, within 2 preemptions', () => {
    passes(windowModel({ submitters: 2, rounds: 2, freezes: 1, order: 'tso' }), { preemptions: 2 });
  });

  it('without the barrier, a flag still in its store buffer is missed: the supervisor acts while a submitter is inside', () => {
    finds(windowModel({ submitters: 1, rounds: 1, freezes: 1, order: 'tso', bug: 'no-barrier' }), 'while the supervisor acts, no submitter is inside its window');
  });

  it('with the barrier, a submitter that loads freeze before storing its flag is still found', () => {
    finds(windowModel({ submitters: 1, rounds: 1, freezes: 1, order: 'tso', bug: 'load-before-flag' }), 'while the supervisor acts, no submitter is inside its window');
  });
});

describe('window: planted bugs are found', () => {
  it('a supervisor that scans the flags before storing freeze acts while a submitter is inside', () => {
    finds(windowModel({ submitters: 2, rounds: 1, freezes: 1, bug: 'scan-before-freeze' }), 'while the supervisor acts, no submitter is inside its window');
  });

  it('a submitter that loads freeze before storing its flag enters while the supervisor acts', () => {
    finds(windowModel({ submitters: 1, rounds: 1, freezes: 1, bug: 'load-before-flag' }), 'while the supervisor acts, no submitter is inside its window');
  });
});
