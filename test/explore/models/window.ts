/**
 * Model of the window and the freeze (docs/design.md 4.10 steps 1-2, 5; attachment.ts
 * enterWindow/leaveWindow, supervisor/reconcile.ts freeze/unfreeze): submitters enter their window (store
 * flag = 1, load freeze; frozen: store 0, wait, retry), do their window's work, leave (store 0);
 * the supervisor stores freeze = 1, waits until no live window flag is set, acts, clears.
 * Dekker: each side stores then loads, seq-cst, so one of them sees the other.
 */
import { ST_FREEZE } from '../../../src/shm/layout.js';
import { add, load, notify, store, until, type Actor, type Model, type Steps } from '../explorer.js';

export type WindowBug =
  /** The supervisor scans the window flags before it stores freeze = 1. */
  | 'scan-before-freeze'
  /** enterWindow loads the freeze word before it stores its flag. */
  | 'load-before-flag';

export interface WindowConfig {
  readonly submitters: number;
  /** Windows each submitter enters. */
  readonly rounds: number;
  /** Freezes the supervisor performs. */
  readonly freezes: number;
  readonly bug?: WindowBug;
}

const FREEZE = ST_FREEZE; // word 1, as in the state block
const WORK = 0; // what the windows protect (a counter the supervisor recounts)
const WINDOW0 = 2;

interface WindowState {
  /** Submitters between window entry and exit (each its own flag). */
  readonly inside: boolean[];
  /** The supervisor is acting (reconciling). */
  acting: boolean;
}

export function windowModel(cfg: WindowConfig): Model<WindowState> {
  const bug = cfg.bug;
  function setup() {
    const mem = new Int32Array(WINDOW0 + cfg.submitters);
    const state: WindowState = { inside: new Array(cfg.submitters).fill(false), acting: false };

    /** attachment.ts enterWindow(). */
    function* enterWindow(s: number): Steps<void> {
      const flag = WINDOW0 + s;
      for (;;) {
        if (bug === 'load-before-flag') {
          const frozen = yield load(FREEZE, 'enterWindow(): load freeze (BUG: before the flag)');
          yield store(flag, 1, 'enterWindow(): store window = 1');
          if (frozen === 0) { state.inside[s] = true; return; }
        } else {
          yield store(flag, 1, 'enterWindow(): store window = 1');
          if ((yield load(FREEZE, 'enterWindow(): load freeze')) === 0) { state.inside[s] = true; return; }
        }
        yield store(flag, 0, 'enterWindow(): frozen: store window = 0');
        // Atomics.wait(freeze, 1, 5): a 5 ms nap at most, then retry: a poll until it clears.
        yield until([FREEZE], (m) => m[FREEZE] !== 1, 'enterWindow(): Atomics.wait(freeze, 1, 5) until cleared');
      }
    }

    function* submitter(s: number): Actor {
      for (let r = 0; r < cfg.rounds; r++) {
        yield* enterWindow(s);
        yield add(WORK, 1, 'the window\'s work (e.g. a gate CAS)');
        yield store(WINDOW0 + s, 0, 'leaveWindow(): store window = 0');
        state.inside[s] = false;
      }
    }

    /** supervisor/reconcile.ts freeze(): the scan of every live window flag; a busy one: nap, scan again. */
    function* scan(): Steps<void> {
      for (let s = 0; s < cfg.submitters;) {
        const flag = WINDOW0 + s;
        if ((yield load(flag, `freeze(): load window[${s}]`)) === 0) { s++; continue; }
        yield until([flag], (m) => m[flag] === 0, `freeze(): nap until window[${s}] clears, then scan again`);
        s = 0;
      }
    }

    function* supervisor(): Actor {
      for (let f = 0; f < cfg.freezes; f++) {
        if (bug === 'scan-before-freeze') {
          yield* scan();
          yield store(FREEZE, 1, 'freeze(): store freeze = 1 (BUG: after the scan)');
        } else {
          yield store(FREEZE, 1, 'freeze(): store freeze = 1');
          yield* scan();
        }
        yield load(WORK, 'reconcile(): recount (acts on what the windows protect)');
        state.acting = true;
        yield store(FREEZE, 0, 'unfreeze(): store freeze = 0');
        state.acting = false;
        yield notify(FREEZE, Infinity, 'unfreeze(): Atomics.notify(freeze)');
      }
    }

    const actors = Array.from({ length: cfg.submitters }, (_, s) => ({ name: `S${s}`, run: submitter(s) }));
    actors.push({ name: 'supervisor', run: supervisor() });
    return { mem, state, actors };
  }

  return {
    name: `window(${cfg.submitters} submitters x ${cfg.rounds}, ${cfg.freezes} freezes${bug ? `, BUG ${bug}` : ''})`,
    setup,
    invariants: [
      {
        name: 'while the supervisor acts, no submitter is inside its window',
        check: (_m, s) => {
          if (!s.acting) return null;
          const at = s.inside.flatMap((x, i) => (x ? [`S${i}`] : []));
          return at.length === 0 ? null : `${at.join(', ')} inside`;
        },
      },
    ],
    finals: [
      {
        name: 'every window entered and left, the freeze cleared',
        check: (m) => (m[WORK] === cfg.submitters * cfg.rounds && m[FREEZE] === 0 ? null : `work ${m[WORK]}, freeze ${m[FREEZE]}`),
      },
    ],
    wordName: (w) => (w === FREEZE ? 'freeze' : w === WORK ? 'work' : `window[${w - WINDOW0}]`),
  };
}
