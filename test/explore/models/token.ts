/**
 * Model of the token word race (docs/design.md 2.2, 4.2 steps 2-3, 4.2a steps 1-6, 4.5): one token
 * index, PENDING with generation g0 and published in cell 0 of worker 0's ring. The owner
 * cancels it (PENDING -> RETRACTED CAS), worker 0 runs its ring (PENDING -> RUNNING|0 CAS, then
 * release), worker 1 steals from that ring (validate head, PENDING -> RUNNING|1 CAS). After the
 * token resolves, the owner reuses the index with generation g1 in cell 1, so the stale cell 0
 * (generation g0) is still in the ring when the index is PENDING again.
 */
import { C_GEN, C_SEQ } from '../../../src/shm/layout.js';
import { TK_DONE, TK_PENDING } from '../../../src/shm/words/token.js';
import { add, cas, check, load, store, until, type Actor, type Model, type Steps } from '../explorer.js';
import { tokenWordSpec, tokenDone, tokenFree, tokenGen, tokenPending, tokenRetracted, tokenRunning, tokenState } from '../words.js';

export type TokenBug =
  /** Cancel reads the word and then stores RETRACTED (check-then-act) instead of one CAS. */
  | 'cancel-plain-store'
  /** The worker CASes whatever PENDING generation the word holds, not the cell's. */
  | 'cas-ignores-cell-generation';

export interface TokenConfig {
  /** Include the thief (worker 1). */
  readonly thief: boolean;
  readonly bug?: TokenBug;
}

const TOKEN = 0;
const HEAD = 1; // worker 0's ring head
const FAILED = 2; // worker 0's W_FAILED (stays 0)
const CELL0 = 4; // cells: C_SEQ, C_GEN at CELL0 + i * 8
const cellWord = (pos: number): number => CELL0 + pos * 8;
const G0 = 7;
const G1 = 8;

interface TokenState {
  /** Who won each generation's PENDING CAS (written in steps that write TOKEN). */
  readonly winners: Map<number, string[]>;
  /** Bodies run, per generation (idem). */
  readonly runs: Map<number, number>;
  /** The owner's live generation of the index (written with its TOKEN stores). */
  live: number;
}

export function tokenModel(cfg: TokenConfig): Model<TokenState> {
  const bug = cfg.bug;

  function setup() {
    const mem = new Int32Array(CELL0 + 16);
    // Submitted: PENDING with g0 (producer.ts: store PENDING before publishing), cell 0 published.
    mem[TOKEN] = tokenPending(G0);
    mem[cellWord(0) + C_GEN] = G0;
    mem[cellWord(0) + C_SEQ] = 1;
    mem[cellWord(1) + C_SEQ] = 0;
    const state: TokenState = { winners: new Map(), runs: new Map(), live: G0 };
    const win = (gen: number, who: string): void => {
      state.winners.set(gen, [...(state.winners.get(gen) ?? []), who]);
    };
    /** `who` won generation `gen` with the cell of generation `cellGen` in hand. */
    const run = (gen: number, cellGen: number, who: string): void => {
      check(cellGen === state.live, 'a stale generation never wins', () => `${who} won the token with a cell of generation ${cellGen}; the live one is ${state.live}`);
      state.runs.set(gen, (state.runs.get(gen) ?? 0) + 1);
      win(gen, who);
    };

    /** attachment.ts cancelInWindow(): PENDING -> RETRACTED; won: resolve (free the word). */
    function* owner(): Actor {
      let won: boolean;
      if (bug === 'cancel-plain-store') {
        const w = yield load(TOKEN, 'cancel: load the token word (BUG: check-then-act)');
        won = w === tokenPending(G0);
        if (won) {
          yield store(TOKEN, tokenRetracted(G0), 'cancel: store RETRACTED (BUG: plain store)');
          win(G0, 'cancel');
        }
      } else {
        won = (yield cas(TOKEN, tokenPending(G0), tokenRetracted(G0), 'cancelInWindow(): CAS PENDING -> RETRACTED')) === tokenPending(G0);
        if (won) win(G0, 'cancel');
      }
      if (!won) {
        // Started: its completion arrives (4.3 step 7) once the word reads DONE.
        yield until([TOKEN], (m) => tokenState(m[TOKEN]!) === TK_DONE && tokenGen(m[TOKEN]!) === G0, 'pump: the completion for g0 arrives');
      }
      // resolve() -> release(): the word FREE, the generation advances (owner's table).
      yield store(TOKEN, tokenFree(), 'release(): store token FREE');
      state.live = -1;
      // The index is reused (producer.ts submit step 5): PENDING g1 before the cell is published.
      yield store(TOKEN, tokenPending(G1), 'submit: store token PENDING (g1)');
      state.live = G1;
      mem[cellWord(1) + C_GEN] = G1;
      yield store(cellWord(1) + C_SEQ, 2, 'publish cell 1 (g1)');
    }

    /** Run the body and complete: RUNNING|w -> DONE|w (worker.ts complete, 4.3 step 5). */
    function* runAndComplete(gen: number, w: number): Steps<void> {
      yield cas(TOKEN, tokenRunning(gen, w), tokenDone(gen, w), `complete(): CAS RUNNING|${w} -> DONE|${w}`);
    }

    /** worker.ts runOne() on positions 0 and 1. */
    function* worker0(): Actor {
      for (let pos = 0; pos < 2; pos++) {
        const cell = cellWord(pos);
        yield until([cell + C_SEQ], (m) => m[cell + C_SEQ] === pos + 1, `readable(${pos}): poll seq`);
        const cellGen = mem[cell + C_GEN]!; // the copy: plain reads of a published cell
        let gen = cellGen;
        let expect = tokenPending(gen);
        if (bug === 'cas-ignores-cell-generation') {
          const cur = yield load(TOKEN, 'load the token word (BUG: its generation, not the cell\'s)');
          if (tokenState(cur) === TK_PENDING) { gen = tokenGen(cur); expect = cur; }
        }
        const won = (yield cas(TOKEN, expect, tokenRunning(gen, 0), `runOne() step 2: CAS PENDING -> RUNNING|0 (gen ${gen})`)) === expect;
        if (won) run(gen, cellGen, 'worker 0');
        yield store(HEAD, pos + 1, 'runOne() step 3: release(pos): store head');
        if (won) yield* runAndComplete(gen, 0);
      }
    }

    /** worker.ts stealAt() over positions 0 and 1 of worker 0's ring. */
    function* thief(): Actor {
      for (let p = 0; p < 2; p++) {
        const cell = cellWord(p);
        if ((yield load(cell + C_SEQ, `stealAt(${p}): readable?`)) !== p + 1) return; // STEAL_STOP
        const gen = mem[cell + C_GEN]!; // peekInline: plain reads
        // Step 4: validate (Atomics.add(head, 0): a full barrier that never changes head), then W_FAILED.
        if (((p - (yield add(HEAD, 0, 'stealAt(): validate: Atomics.add(head, 0)'))) | 0) < 0) return;
        if ((yield load(FAILED, 'stealAt(): load W_FAILED')) !== 0) return;
        const won = (yield cas(TOKEN, tokenPending(gen), tokenRunning(gen, 1), `stealAt() step 5: CAS PENDING -> RUNNING|1 (gen ${gen})`)) === tokenPending(gen);
        if (!won) continue; // STEAL_SKIP
        run(gen, gen, 'thief');
        yield* runAndComplete(gen, 1);
      }
    }

    const actors = [{ name: 'owner', run: owner() }, { name: 'worker0', run: worker0() }];
    if (cfg.thief) actors.push({ name: 'thief', run: thief() });
    return { mem, state, actors };
  }

  return {
    name: `token(owner cancels, worker 0${cfg.thief ? ', thief' : ''}${bug ? `, BUG ${bug}` : ''})`,
    setup,
    invariants: [
      {
        name: 'exactly one winner per generation',
        check: (_m, s) => {
          for (const [g, who] of s.winners) if (who.length > 1) return `generation ${g} won by ${who.join(' and ')}`;
          return null;
        },
      },
      {
        name: 'the task body runs at most once; a retracted token never runs',
        check: (_m, s) => {
          for (const [g, n] of s.runs) {
            if (n > 1) return `generation ${g} ran ${n} times`;
            if (s.winners.get(g)?.includes('cancel')) return `generation ${g} was retracted and ran`;
          }
          return null;
        },
      },
    ],
    finals: [
      {
        name: 'every generation submitted has exactly one winner',
        check: (_m, s) => {
          for (const g of [G0, G1]) if ((s.winners.get(g)?.length ?? 0) !== 1) return `generation ${g}: ${s.winners.get(g)?.join(', ') ?? 'no winner'}`;
          return null;
        },
      },
    ],
    words: [tokenWordSpec((w) => w === TOKEN)],
    wordName: (w) => (w === TOKEN ? 'token' : w === HEAD ? 'head' : w === FAILED ? 'failed' : `cell[${Math.floor((w - CELL0) / 8)}].${(w - CELL0) % 8 === C_SEQ ? 'seq' : 'gen'}`),
  };
}
