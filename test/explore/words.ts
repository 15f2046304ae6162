/**
 * The packed words' transitions, as the models use them: old value in, new value (or refusal)
 * out. This file is the plug-in point for the redesign that moves each word's legal transitions
 * into src/shm/words/ (one file per word): each function here then becomes a re-export of that
 * file's function, and every model follows it without change.
 *
 * Until then, where src has the decision inside a function that also does the atomics (the gate
 * CAS loops), the decision is taken from the real function itself, run against a private
 * one-word scratch array whose value is the old value and whose guess is right: the real code
 * then makes exactly one attempt (one CAS, or one load on a refusal), and the scratch word holds
 * what it wrote. Where src builds the word by hand at each site (the token word), the expression
 * is copied from the site it cites.
 */
import {
  ADMITTED, admitGlobal, admitProducer, inflightOf, pack, releaseSlots, rollbackProducer, tokensOf, type Limits,
} from '../../src/admission/gate.js';
import {
  TK_ABANDONED as TK_ABANDONED_STATE, TK_DONE, TK_FREE, TK_PENDING, TK_RETRACTED, TK_RUNNING, TK_WORKER_SHIFT, genOf, stateOf, tokenWord,
} from '../../src/shm/words/token.js';
import { WAKER_PARKED, WAKER_RUNNING } from '../../src/shm/waker.js';
import type { WordSpec } from './explorer.js';

export { inflightOf, pack, tokensOf };

const scratch = new Int32Array(2);
const guess = new Int32Array(2);

/** A refusal code (R_*), or the value to CAS in. */
export type Decision = { readonly next: number; readonly refusal?: undefined } | { readonly refusal: number; readonly next?: undefined };

// ---- the producer gate word (gate.ts; docs/design.md 2.1) ----

/** gate.ts admitProducer, one attempt from `old`: the word it CASes in, or its refusal. */
export function producerAdmit(old: number, limits: Limits): Decision {
  scratch[0] = old;
  guess[0] = old;
  const r = admitProducer(scratch, 0, limits, guess, 0);
  return r === ADMITTED ? { next: scratch[0]! } : { refusal: r };
}

/** gate.ts rollbackProducer (casUntil), one attempt from `old`: the word it CASes in. */
export function producerRollback(old: number, limits: Limits): number {
  scratch[0] = old;
  guess[0] = old;
  rollbackProducer(scratch, 0, limits, guess, 0);
  return scratch[0]!;
}

// ---- the global word (gate.ts; docs/design.md 4.1 step 3) ----

/** gate.ts admitGlobal, one attempt from `old`: old + 1, or a refusal (R_GLOBAL_SLOTS). */
export function globalAdmit(old: number, limit: number): Decision {
  scratch[0] = old;
  guess[0] = old;
  return admitGlobal(scratch, 0, limit, guess, 0) ? { next: scratch[0]! } : { refusal: 2 /* R_GLOBAL_SLOTS */ };
}

/**
 * gate.ts releaseSlots: the two deltas it applies and their order, read off the real function:
 * it runs on a scratch pair (producer word 0, global word 1) and reports which changed first.
 */
export function releaseOrder(): { first: 'global' | 'producer'; producerDelta: number; globalDelta: number } {
  // Record the order by making the words distinguishable: the guess table receives the values
  // in program order (global at gi first, then the producer at pi), so read them back in order.
  scratch[0] = 10;
  scratch[1] = 20;
  const seen: string[] = [];
  const g = new Proxy(new Int32Array(2), {
    set(t, k, v) {
      seen.push(k === '0' ? 'producer' : 'global');
      t[Number(k)] = v as number;
      return true;
    },
  });
  releaseSlots(scratch, 0, 1, g as unknown as Int32Array, 0, 1);
  return { first: seen[0] === 'global' ? 'global' : 'producer', producerDelta: scratch[0]! - 10, globalDelta: scratch[1]! - 20 };
}

// ---- the token word (docs/design.md 2.2; src/shm/words/token.ts, whose encoders these are) ----
// The real encoder builds every word the models write, so the models and src agree by construction.

/** PENDING (owner, submit step 5). */
export const tokenPending = (gen: number): number => tokenWord(gen, 0, TK_PENDING);
/** RUNNING by worker w. */
export const tokenRunning = (gen: number, w: number): number => tokenWord(gen, w, TK_RUNNING);
/** RETRACTED by the owner's cancel. */
export const tokenRetracted = (gen: number): number => tokenWord(gen, 0, TK_RETRACTED);
/** DONE by worker w. */
export const tokenDone = (gen: number, w: number): number => tokenWord(gen, w, TK_DONE);
export const tokenFree = (): number => TK_FREE;
export const tokenState = stateOf;
export const tokenGen = genOf;

// ---- legal transitions, checked by the explorer on every atomic write (Model.words) ----
// The redesign's src/shm/words/ files are meant to own these tables; until then they are
// docs/design.md's, written out once here.

const STATE_NAMES = ['FREE', 'PENDING', 'RUNNING', 'RETRACTED', 'DONE', 'ABANDONED'];

/** docs/design.md 2.2: the token word's transitions; the generation changes only through FREE. */
export const tokenWordSpec = (covers: (w: number) => boolean): WordSpec => ({
  name: 'token word',
  covers,
  legal: (before, after) => {
    const a = tokenState(before);
    const b = tokenState(after);
    if (after === TK_FREE) return a === TK_RETRACTED || a === TK_DONE || a === TK_RUNNING || a === TK_ABANDONED_STATE; // resolve, forced cancel, recovery
    if (a === TK_FREE) return b === TK_PENDING; // submit: FREE -> PENDING (a new generation)
    if (tokenGen(before) !== tokenGen(after)) return false;
    if (a === TK_PENDING) return b === TK_RUNNING || b === TK_RETRACTED;
    if (a === TK_RUNNING) return b === TK_DONE || b === TK_ABANDONED_STATE;
    if (a === TK_ABANDONED_STATE) return b === TK_DONE;
    return false;
  },
  show: (v) => (v === TK_FREE ? 'FREE' : `${STATE_NAMES[tokenState(v)] ?? tokenState(v)}|w${(v >>> TK_WORKER_SHIFT) & 0xff}|gen ${tokenGen(v)}`),
});

/** docs/design.md 3.2 / waker.ts: the consumer stores any state; anyone else only CASes PARKED -> RUNNING. */
export const wakerWordSpec = (covers: (w: number) => boolean, consumer: string): WordSpec => ({
  name: 'waker word',
  covers,
  legal: (before, after, writer) => writer === consumer || (before === WAKER_PARKED && after === WAKER_RUNNING),
  show: (v) => ['RUNNING', 'SPINNING', 'PARKED'][v] ?? String(v),
});
