/**
 * Model of the ring (docs/design.md 3.1, src/shm/ring.ts): producers claim / write / publish,
 * one consumer copies out / releases, and optionally a producer that dies between claim and
 * publish, reconciled by a freeze (4.10 steps 1-3: windows, tombstone).
 *
 * The cells are real cell layouts (CELL_WORDS each, C_SEQ, C_KIND, CF_TOMBSTONE) addressed by a
 * real Ring instance's cellWord(); positions, capacity test and wrap arithmetic as in ring.ts.
 * An item is written as (producer, k) in C_PRODUCER / C_DATA_WORD and its position in C_TOKEN
 * (a ghost tag: which lap the consumer expects to read).
 */
import { RING_FULL, Ring } from '../../../src/shm/ring.js';
import { C_DATA_WORD, C_KIND, C_PRODUCER, C_SEQ, C_TOKEN, CELL_WORDS } from '../../../src/shm/layout.js';
import { CF_TOMBSTONE } from '../../../src/shm/words/cell.js';
import {
  cas, check, killedAfter, load, read, store, until, writing, type Actor, type Model, type Steps,
} from '../explorer.js';

export type RingBug =
  /** claim() tests capacity once, before its CAS loop, not again after a lost CAS. */
  | 'capacity-checked-before-cas-loop'
  /** The consumer stores head before copying the cell out. */
  | 'head-before-copy'
  /** The freeze tombstones without waiting for live windows to close. */
  | 'freeze-ignores-windows';

export interface RingConfig {
  readonly capacity: number;
  /** Items each live producer pushes. */
  readonly items: readonly number[];
  /** A producer that enters its window, claims one cell and dies before publishing; a freeze actor reconciles. */
  readonly dying?: boolean;
  /**
   * Instead of `dying`: a producer that pushes one item and is killed after this many of its
   * steps (0 = before its first; past its last it survives). The freeze reconciles if it died.
   */
  readonly killedAfter?: number;
  /** First position (tests wrap: near 2^31 and 2^32). */
  readonly start?: number;
  readonly bug?: RingBug;
}

const TAIL = 0;
const HEAD = 1;
const FREEZE = 2;
/** Window flags of producers 0..3 at 3.., DEAD flag of the dying producer at 8. */
const WINDOW0 = 3;
const DEAD = 8; // 1 died, 2 (killedAfter) finished alive
const FREEZE_DONE = 9; // killedAfter: the supervisor has nothing more to do
const CELLS_BYTE = 128; // cell 0 at word 32

interface RingState {
  /** Per consumed cell: producer * 100 + k, or -1 for a tombstone (consumer only). */
  readonly consumed: number[];
  /** Items each producer published (producer only). */
  readonly published: number[][];
  /** Positions each producer claimed (producer only). */
  readonly claimed: number[];
}

export function ringModel(cfg: RingConfig): Model<RingState> {
  const cap = cfg.capacity;
  const start = cfg.start ?? 0;
  const live = cfg.items.length;
  const dyingId = live; // its producer index
  const killed = cfg.killedAfter !== undefined;
  const liveTotal = cfg.items.reduce((a, b) => a + b, 0);
  const total = liveTotal + (cfg.dying ? 1 : 0);
  const words = CELLS_BYTE / 4 + cap * CELL_WORDS;
  const bug = cfg.bug;
  const windows = cfg.dying === true || killed;

  function setup() {
    const mem = new Int32Array(words);
    const ring = new Ring(mem, 0, TAIL, HEAD, CELLS_BYTE, cap);
    mem[TAIL] = start;
    mem[HEAD] = start;
    // Every cell reads as published by the lap before (ring.ts: the consumer never writes seq).
    for (let i = 0; i < cap; i++) mem[ring.cellWord((start + i) | 0) + C_SEQ] = (start + i - cap + 1) | 0;
    const state: RingState = { consumed: [], published: [...cfg.items, 1].map(() => []), claimed: [...cfg.items, 1].map(() => 0) };

    /** The words a claimer of pos writes with plain stores before publishing. */
    const body = (pos: number): number[] => [ring.cellWord(pos) + C_KIND];

    /** The head the last claim() read (for a caller that waits after 'ring-full'). */
    let seenHead = 0;

    /** ring.ts claim(). */
    function* claim(): Steps<number> {
      if (bug === 'capacity-checked-before-cas-loop') {
        let tail = yield load(TAIL, 'claim(): load tail');
        const head = (seenHead = yield load(HEAD, 'claim(): load head'));
        if (((tail - head) | 0) >= cap) return RING_FULL;
        for (;;) {
          const seen = yield writing(cas(TAIL, tail, (tail + 1) | 0, 'claim(): CAS tail (BUG: no capacity test on retry)'), body(tail));
          if (seen === tail) return tail;
          tail = seen;
        }
      }
      for (;;) {
        const tail = yield load(TAIL, 'ring.ts claim(): load tail');
        const head = (seenHead = yield load(HEAD, 'ring.ts claim(): load head'));
        if (((tail - head) | 0) >= cap) return RING_FULL;
        // The cell body's plain writes follow in this step (body()).
        if ((yield writing(cas(TAIL, tail, (tail + 1) | 0, 'ring.ts claim(): CAS tail -> tail + 1'), body(tail))) === tail) return tail;
      }
    }

    /** attachment.ts enterWindow() (4.10 step 1). */
    function* enterWindow(p: number): Steps<void> {
      for (;;) {
        yield store(WINDOW0 + p, 1, 'enterWindow(): store window = 1');
        if ((yield load(FREEZE, 'enterWindow(): load freeze')) === 0) return;
        yield store(WINDOW0 + p, 0, 'enterWindow(): frozen: store window = 0');
        yield until([FREEZE], (m) => m[FREEZE] !== 1, 'enterWindow(): Atomics.wait(freeze, 1, 5) until cleared');
      }
    }

    /** Window entered, a position claimed; 'ring-full' is retried once the consumer has moved. */
    function* claimInWindow(p: number): Steps<number> {
      for (;;) {
        if (windows) yield* enterWindow(p);
        const pos = yield* claim();
        if (pos !== RING_FULL) return pos;
        // Rejected 'ring-full': the caller retries; a retry before head moves is refused again.
        const head = seenHead;
        if (windows) yield store(WINDOW0 + p, 0, 'leaveWindow(): store window = 0');
        yield until([HEAD], (m) => m[HEAD] !== head, 'ring-full: retry once head moves');
      }
    }

    /** Submit steps 4-5 for one item: claim, write the cell, publish (inside the window when modelled). */
    function* push(p: number, k: number): Steps<void> {
      const pos = yield* claimInWindow(p);
      state.claimed[p]!++;
      // Plain writes of the body belong to the CAS step (published by the seq store below).
      const cell = ring.cellWord(pos);
      mem[cell + C_KIND] = 0;
      mem[cell + C_PRODUCER] = p;
      mem[cell + C_DATA_WORD] = k;
      mem[cell + C_TOKEN] = pos;
      yield store(cell + C_SEQ, (pos + 1) | 0, 'ring.ts publish(): store seq = pos + 1');
      state.published[p]!.push(k);
      if (windows) yield store(WINDOW0 + p, 0, 'leaveWindow(): store window = 0');
    }

    function* producerOf(p: number, items: number): Actor {
      for (let k = 0; k < items; k++) yield* push(p, k);
    }
    const producer = (p: number): Actor => producerOf(p, cfg.items[p]!);

    function* dying(): Actor {
      const pos = yield* claimInWindow(dyingId);
      const cell = ring.cellWord(pos);
      mem[cell + C_KIND] = 0x55; // a half-written body: the kind word, nothing else
      yield store(DEAD, 1, 'dies between claim and publish (its window flag stays 1)');
    }

    /** supervisor/reconcile.ts freeze() + reconcile() step 1 + unfreeze(). */
    function* freezer(): Actor {
      if ((yield until([DEAD], (m) => m[DEAD] !== 0, 'watchdog: finds the dead thread (or it finished)')) === 0 && mem[DEAD] === 2) {
        yield store(FREEZE_DONE, 1, 'nothing to reconcile');
        return;
      }
      yield store(FREEZE, 1, 'freeze(): store freeze = 1');
      if (bug !== 'freeze-ignores-windows') {
        // Scan the live threads' window flags; a busy one: nap, scan again (reduced: until it changes).
        for (let p = 0; p < live;) {
          if ((yield load(WINDOW0 + p, `freeze(): load window[${p}]`)) === 0) { p++; continue; }
          yield until([WINDOW0 + p], (m) => m[WINDOW0 + p] === 0, `freeze(): nap until window[${p}] clears`);
          p = 0;
        }
      }
      const end = yield load(TAIL, 'reconcile(): load tail');
      for (let pos = yield load(HEAD, 'reconcile(): ring.head()'); pos !== end; pos = (pos + 1) | 0) {
        const cell = ring.cellWord(pos);
        if ((yield load(cell + C_SEQ, `reconcile(): readable(${pos})`)) === ((pos + 1) | 0)) continue;
        // ring.ts tombstone(pos, C_KIND, CF_TOMBSTONE, 0): the kind word (plain), then publish.
        mem[cell + C_KIND] = CF_TOMBSTONE | (mem[cell + C_KIND]! & 0);
        yield store(cell + C_SEQ, (pos + 1) | 0, `tombstone(${pos}): store seq = pos + 1`);
      }
      yield store(FREEZE, 0, 'unfreeze(): store freeze = 0');
      if (killed) yield store(FREEZE_DONE, 1, 'reconciled');
    }

    /** worker.ts runOne(): the cell at head, copied out, then released. */
    function* consumer(): Actor {
      let head = start;
      const lastOf: number[] = [];
      let live = 0;
      for (let i = 0; killed || i < total; i++) {
        const cell = ring.cellWord(head);
        const h = head;
        if (killed) {
          // The number of cells is not known here: stop once everything is accounted for.
          const ready = (m: Int32Array): boolean => m[cell + C_SEQ] === ((h + 1) | 0);
          const over = (m: Int32Array): boolean => m[FREEZE_DONE] === 1 && live === liveTotal && m[TAIL] === h;
          yield until([cell + C_SEQ, FREEZE_DONE, TAIL], (m) => ready(m) || over(m), `ring.ts readable(${h}): poll seq (or every producer accounted for)`);
          if (!ready(mem)) return;
        } else {
          yield until([cell + C_SEQ], (m) => m[cell + C_SEQ] === ((h + 1) | 0), `ring.ts readable(${h}): poll seq until pos + 1`);
        }
        let item: number;
        if (bug === 'head-before-copy') {
          yield store(HEAD, (head + 1) | 0, 'release(): store head (BUG: before the copy)');
          item = yield* copy(cell, h);
        } else {
          item = yield* copy(cell, h);
          yield store(HEAD, (head + 1) | 0, 'ring.ts release(): store head = pos + 1');
        }
        if (item >= 0) {
          const p = Math.floor(item / 100);
          check(item % 100 > (lastOf[p] ?? -1), 'FIFO per producer', () => `consumed ${[...state.consumed, item].join(',')}`);
          lastOf[p] = item % 100;
        }
        state.consumed.push(item);
        if (item >= 0 && Math.floor(item / 100) < cfg.items.length) live++;
        head = (head + 1) | 0;
      }
    }

    /** The copy-out: plain reads of a published cell (its own step, so a concurrent rewrite shows). */
    function* copy(cell: number, pos: number): Steps<number> {
      const kind = yield read(cell + C_KIND, 'copy the cell out (plain reads)');
      if (kind & CF_TOMBSTONE) return -1;
      check(mem[cell + C_TOKEN] === pos, 'the consumer reads only the cell published for its position', () =>
        `at position ${pos} it read the cell of position ${mem[cell + C_TOKEN]} (rewritten by a later lap)`);
      return mem[cell + C_PRODUCER]! * 100 + mem[cell + C_DATA_WORD]!;
    }

    const actors: Array<{ name: string; run: Actor }> = cfg.items.map((_, p) => ({ name: `P${p}`, run: producer(p) }));
    if (cfg.dying) actors.push({ name: 'Pdying', run: dying() }, { name: 'freeze', run: freezer() });
    if (killed) {
      const victim = killedAfter(producerOf(dyingId, 1), cfg.killedAfter!,
        () => store(DEAD, 1, `killed after ${cfg.killedAfter} steps`), () => store(DEAD, 2, 'finished (not killed)'));
      actors.push({ name: 'Pkilled', run: victim }, { name: 'freeze', run: freezer() });
    }
    actors.push({ name: 'C', run: consumer() });
    return { mem, state, actors };
  }

  return {
    name: `ring(cap ${cap}, producers ${cfg.items.join('+')}${cfg.dying ? ' + dying' : ''}${killed ? ` + killed after ${cfg.killedAfter} steps` : ''}${start !== 0 ? `, from ${start >>> 0}` : ''}${bug ? `, BUG ${bug}` : ''})`,
    setup,
    invariants: [
      {
        name: 'capacity never exceeded',
        check: (m) => {
          const size = (m[TAIL]! - m[HEAD]!) | 0;
          return size >= 0 && size <= cap ? null : `tail - head = ${size}, capacity ${cap}`;
        },
      },
    ],
    finals: [
      {
        name: 'no item lost or duplicated',
        check: (_m, s) => {
          const want = s.published.flatMap((ks, p) => ks.map((k) => p * 100 + k)).sort((a, b) => a - b);
          const got = s.consumed.filter((x) => x >= 0).sort((a, b) => a - b);
          const tomb = s.consumed.length - got.length;
          if (want.join() !== got.join()) return `published ${want.join(',')} but consumed ${got.join(',')}`;
          const unpublished = killed ? s.claimed[dyingId]! - s.published[dyingId]!.length : cfg.dying ? 1 : 0;
          if (tomb !== unpublished) return `${tomb} tombstones consumed, ${unpublished} cells claimed and never published`;
          return null;
        },
      },
    ],
    wordName: (w) => {
      if (w === TAIL) return 'tail';
      if (w === HEAD) return 'head';
      if (w === FREEZE) return 'freeze';
      if (w === DEAD) return 'dead';
      if (w === FREEZE_DONE) return 'freezeDone';
      if (w >= WINDOW0 && w < DEAD) return `window[${w - WINDOW0}]`;
      const c = Math.floor((w - CELLS_BYTE / 4) / CELL_WORDS);
      const o = (w - CELLS_BYTE / 4) % CELL_WORDS;
      return `cell[${c}].${o === C_SEQ ? 'seq' : o === C_KIND ? 'kind' : `w${o}`}`;
    },
  };
}

