/**
 * Model of the window and the freeze (docs/design.md 4.10 steps 1-2, 5; shm/window.ts
 * ThreadWindow.enter/leave and freeze/unfreeze, supervisor/reconcile.ts): submitters enter their
 * window (store flag = 1, load freeze; frozen: store 0, wait, retry), do their window's work,
 * leave (store 0); the supervisor stores freeze = 1, waits until no live window flag is set,
 * acts, clears.
 *
 * Two orders (`order`):
 *   'sc'   (the symmetric protocol) every flag store is sequentially consistent (Atomics.store):
 *          each side stores then loads, so one of them sees the other.
 *   'tso'  (the asymmetric protocol, layout.ts H_BARRIER) the submitters' flag stores are plain
 *          stores on x86, which enter the thread's store buffer and reach memory later, in order
 *          (a FIFO per thread): a `SB<s>` actor commits the oldest one whenever it is scheduled.
 *          The thread's own later load of the freeze word does not wait for them (TSO's one
 *          reordering). Its locked instructions (the window's gate CAS, an Atomics.store's
 *          xchg) wait until its buffer is empty. The supervisor, after its sequentially
 *          consistent freeze store, runs the process barrier (membarrier(2)): one step that
 *          empties every thread's store buffer into memory (every CPU of the process ran a full
 *          barrier before the call returns; a store made after a thread's barrier point stays
 *          buffered, and that thread's next load of the freeze word sees 1).
 */
import { ST_FREEZE } from '../../../src/shm/layout.js';
import { add, cas, load, notify, store, until, writing, type Actor, type Model, type Op, type Steps } from '../explorer.js';

export type WindowBug =
  /** The supervisor scans the window flags before it stores freeze = 1. */
  | 'scan-before-freeze'
  /** enterWindow loads the freeze word before it stores its flag. */
  | 'load-before-flag'
  /** order 'tso': the supervisor does not run the process barrier after its freeze store. */
  | 'no-barrier';

export interface WindowConfig {
  readonly submitters: number;
  /** Windows each submitter enters. */
  readonly rounds: number;
  /** Freezes the supervisor performs. */
  readonly freezes: number;
  /** 'sc' (default): flag stores are Atomics.store; 'tso': plain, through store buffers, and the freezer's barrier. */
  readonly order?: 'sc' | 'tso';
  readonly bug?: WindowBug;
}

const FREEZE = ST_FREEZE; // word 1, as in the state block
const WORK = 0; // what the windows protect (a counter the supervisor recounts)
const WINDOW0 = 2;

/**
 * A store buffer in one word: bits 1..0 the number of buffered stores (at most 2 here: a leave's
 * 0 then the next enter's 1), bit 2 the oldest value, bit 3 the next one (flags are 0 or 1).
 */
const lenOf = (b: number): number => b & 3;
const push = (b: number, v: number): number => (lenOf(b) === 0 ? 1 | (v << 2) : 2 | (b & 4) | (v << 3));
const head = (b: number): number => (b >> 2) & 1;
const pop = (b: number): number => (lenOf(b) === 2 ? 1 | (((b >> 3) & 1) << 2) : 0);

interface WindowState {
  /** Submitters between window entry and exit (each its own flag). */
  readonly inside: boolean[];
  /** The supervisor is acting (reconciling). */
  acting: boolean;
}

export function windowModel(cfg: WindowConfig): Model<WindowState> {
  const bug = cfg.bug;
  const tso = cfg.order === 'tso';
  const S = cfg.submitters;
  const BUF0 = WINDOW0 + S; // store buffer of submitter s: word BUF0 + s
  const DONE0 = BUF0 + S; // 1 once submitter s has finished (its store buffer's actor may stop)
  function setup() {
    const mem = new Int32Array(DONE0 + S);
    const state: WindowState = { inside: new Array(S).fill(false), acting: false };
    const flagOf = (s: number): number => WINDOW0 + s;
    const bufOf = (s: number): number => BUF0 + s;

    /** A plain store of the flag (order 'tso'): into the thread's store buffer. */
    function* bufferedStore(s: number, v: number, label: string): Steps<void> {
      for (;;) {
        const b = mem[bufOf(s)]!;
        if ((yield cas(bufOf(s), b, push(b, v), `${label} (plain: into the store buffer)`)) === b) return;
      }
    }

    /** A locked instruction's wait: the thread's store buffer empties before it runs. */
    const drained = (s: number, label: string): Op => until([bufOf(s)], (m) => m[bufOf(s)] === 0, `${label}: waits for the store buffer to drain`);

    /** The flag's store as the protocol makes it: Atomics.store ('sc'), or plain ('tso'). */
    function* storeFlag(s: number, v: number, label: string): Steps<void> {
      if (tso) yield* bufferedStore(s, v, label);
      else yield store(flagOf(s), v, label);
    }

    /** An Atomics.store of the flag: sequentially consistent in either order (an xchg drains the buffer first). */
    function* storeFlagSc(s: number, v: number, label: string): Steps<void> {
      if (tso) yield drained(s, label);
      yield store(flagOf(s), v, label);
    }

    /** shm/window.ts ThreadWindow.enter(). */
    function* enterWindow(s: number): Steps<void> {
      if (bug === 'load-before-flag') {
        const frozen = yield load(FREEZE, 'enter(): load freeze (BUG: before the flag)');
        yield* storeFlag(s, 1, 'enter(): store window = 1');
        if (frozen === 0) { state.inside[s] = true; return; }
      } else {
        yield* storeFlag(s, 1, 'enter(): store window = 1');
        if ((yield load(FREEZE, 'enter(): load freeze')) === 0) { state.inside[s] = true; return; }
      }
      // frozen(): Atomics.store 0, wait, Atomics.store 1, load freeze again (all sequentially consistent).
      for (;;) {
        yield* storeFlagSc(s, 0, 'frozen(): store window = 0');
        // Atomics.wait(freeze, 1, 5): a 5 ms nap at most, then retry: a poll until it clears.
        yield until([FREEZE], (m) => m[FREEZE] !== 1, 'frozen(): Atomics.wait(freeze, 1, 5) until cleared');
        yield* storeFlagSc(s, 1, 'frozen(): store window = 1');
        if ((yield load(FREEZE, 'frozen(): load freeze')) === 0) { state.inside[s] = true; return; }
      }
    }

    function* submitter(s: number): Actor {
      for (let r = 0; r < cfg.rounds; r++) {
        yield* enterWindow(s);
        if (tso) yield drained(s, 'the window\'s work (a gate CAS, lock cmpxchg)');
        yield add(WORK, 1, 'the window\'s work (e.g. a gate CAS)');
        // leave(): storeRelease, a plain store on x86 ('tso'); Atomics.store in the 'sc' model.
        yield* storeFlag(s, 0, 'leave(): store window = 0');
        state.inside[s] = false;
      }
      if (tso) yield store(DONE0 + s, 1, 'the thread ends');
    }

    /** Submitter s's store buffer: commits its oldest store to memory whenever scheduled. */
    function* storeBuffer(s: number): Actor {
      const buf = bufOf(s);
      const flag = flagOf(s);
      for (;;) {
        yield writing(until([buf, DONE0 + s], (m) => m[buf] !== 0 || m[DONE0 + s] === 1, `store buffer: commit window[${s}]'s oldest store`), [flag, buf]);
        const b = mem[buf]!;
        if (b === 0) return; // the thread ended with its buffer empty
        mem[flag] = head(b);
        mem[buf] = pop(b);
      }
    }

    /** The process barrier (membarrier(2)): every thread's store buffer emptied into memory, in order. */
    function barrier(): Op {
      const words = Array.from({ length: S }, (_, s) => [flagOf(s), bufOf(s)]).flat();
      return writing(until(words, () => true, 'freeze(): the process barrier (membarrier: every CPU runs a full barrier)'), words);
    }
    function commitAll(): void {
      for (let s = 0; s < S; s++) {
        for (let b = mem[bufOf(s)]!; b !== 0; b = pop(b)) mem[flagOf(s)] = head(b);
        mem[bufOf(s)] = 0;
      }
    }

    /** supervisor/reconcile.ts freeze(): the scan of every live window flag; a busy one: nap, scan again. */
    function* scan(): Steps<void> {
      for (let s = 0; s < S;) {
        const flag = flagOf(s);
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
          if (tso && bug !== 'no-barrier') {
            yield barrier();
            commitAll();
          }
          yield* scan();
        }
        yield load(WORK, 'reconcile(): recount (acts on what the windows protect)');
        state.acting = true;
        yield store(FREEZE, 0, 'unfreeze(): store freeze = 0');
        state.acting = false;
        yield notify(FREEZE, Infinity, 'unfreeze(): Atomics.notify(freeze)');
      }
    }

    const actors = Array.from({ length: S }, (_, s) => ({ name: `S${s}`, run: submitter(s) }));
    if (tso) for (let s = 0; s < S; s++) actors.push({ name: `SB${s}`, run: storeBuffer(s) });
    actors.push({ name: 'supervisor', run: supervisor() });
    return { mem, state, actors };
  }

  return {
    name: `window(${S} submitters x ${cfg.rounds}, ${cfg.freezes} freezes${tso ? ', plain flag stores (TSO) and the process barrier' : ''}${bug ? `, BUG ${bug}` : ''})`,
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
        check: (m) => (m[WORK] === S * cfg.rounds && m[FREEZE] === 0 && m.subarray(WINDOW0, WINDOW0 + S).every((f) => f === 0)
          ? null : `work ${m[WORK]}, freeze ${m[FREEZE]}, flags ${[...m.subarray(WINDOW0, WINDOW0 + S)].join(',')}`),
      },
    ],
    wordName: (w) => (w === FREEZE ? 'freeze' : w === WORK ? 'work' : w < BUF0 ? `window[${w - WINDOW0}]` : w < DONE0 ? `storeBuffer[${w - BUF0}]` : `done[${w - DONE0}]`),
  };
}
