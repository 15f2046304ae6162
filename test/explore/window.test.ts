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

describe('window: planted bugs are found', () => {
  it('a supervisor that scans the flags before storing freeze acts while a submitter is inside', () => {
    finds(windowModel({ submitters: 2, rounds: 1, freezes: 1, bug: 'scan-before-freeze' }), 'while the supervisor acts, no submitter is inside its window');
  });

  it('a submitter that loads freeze before storing its flag enters while the supervisor acts', () => {
    finds(windowModel({ submitters: 1, rounds: 1, freezes: 1, bug: 'load-before-flag' }), 'while the supervisor acts, no submitter is inside its window');
  });
});
