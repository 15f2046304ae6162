/**
 * Model of the waker (docs/design.md 3.2, src/shm/waker.ts): producers publish an item, then
 * wake the consumer if it is parked (3.2 step 4); the consumer takes items, and when it finds
 * none spins (step 1), announces PARKED and re-checks (step 2), then sleeps while the word reads
 * PARKED (step 3, Atomics.wait / FUTEX_WAIT: compare and sleep atomically).
 *
 * The queue is reduced to its publication word: a count of published items (Atomics.add, a
 * seq-cst RMW, as the ring's seq-cst publish store is); "the queue has work" is a load of it.
 * The spin budget is one poll (more polls reach no other state).
 *
 * Two orders (`order`), as in models/window.ts:
 *   'sc'   (the symmetric protocol) every publish is sequentially consistent (Atomics.store).
 *   'tso'  (the asymmetric one, layout.ts plainPublish) a producer's publish is a plain store on
 *          x86: it enters the producer's store buffer (a FIFO; `SB<p>` commits its oldest store
 *          whenever scheduled) and the producer's own later load of the waker word does not
 *          wait for it. Its CAS (a locked instruction) waits until its buffer is empty. Each
 *          producer publishes into its own count (its cells), so the consumer's "the queue has
 *          work" loads every count. The consumer, between its PARKED store and its re-check,
 *          runs the process barrier (membarrier(2)): one step that empties every producer's
 *          buffer into memory.
 */
import { WAKER_PARKED, WAKER_RUNNING, WAKER_SPINNING } from '../../../src/shm/waker.js';
import { add, cas, load, notify, store, until, wait, writing, type Actor, type Model, type Op, type Steps } from '../explorer.js';
import { wakerWordSpec } from '../words.js';

export type WakerBug =
  /** The consumer sleeps right after announcing PARKED, without re-checking the queue. */
  | 'no-recheck-after-park'
  /** A producer that reads PARKED stores RUNNING instead of CASing it: every producer that saw PARKED notifies. */
  | 'wake-store-not-cas'
  /** order 'tso': the consumer re-checks without running the process barrier first. */
  | 'no-barrier';

export interface WakerConfig {
  /** Items each producer publishes. */
  readonly items: readonly number[];
  /** 'sc' (default): publishes are Atomics.store; 'tso': plain, through store buffers, and the consumer's barrier. */
  readonly order?: 'sc' | 'tso';
  readonly bug?: WakerBug;
}

const WORD = 0;
const PUBLISHED = 1;
/** Order 'tso': producer p's published count, its store buffer (stores not yet in memory), and whether it ended. */
const pubOf = (p: number): number => 2 + 3 * p;
const bufOf = (p: number): number => 3 + 3 * p;
const doneOf = (p: number): number => 4 + 3 * p;

interface WakerState {
  /** PARKED announcements (consumer only). */
  parks: number;
  /** Sleeps actually entered: waits that did not return not-equal at once (consumer only). */
  sleeps: number;
  /** notify() calls, per producer (each producer its own slot). */
  readonly notifies: number[];
  consumed: number;
}

export function wakerModel(cfg: WakerConfig): Model<WakerState> {
  const total = cfg.items.reduce((a, b) => a + b, 0);
  const bug = cfg.bug;
  const tso = cfg.order === 'tso';
  const P = cfg.items.length;

  function setup() {
    const mem = new Int32Array(2 + 3 * P);
    mem[WORD] = WAKER_RUNNING;
    const state: WakerState = { parks: 0, sleeps: 0, notifies: cfg.items.map(() => 0), consumed: 0 };

    /** A locked instruction's wait (order 'tso'): producer p's store buffer empties first. */
    const drained = (p: number, label: string): Op => until([bufOf(p)], (m) => m[bufOf(p)] === 0, `${label}: waits for the store buffer to drain`);

    /** waker.ts wake(). */
    function* wake(p: number): Steps<void> {
      if ((yield load(WORD, 'waker.ts wake(): load state')) !== WAKER_PARKED) return;
      if (tso) yield drained(p, 'wake(): CAS PARKED -> RUNNING');
      if (bug === 'wake-store-not-cas') yield store(WORD, WAKER_RUNNING, 'wake(): store RUNNING (BUG: not a CAS)');
      else if ((yield cas(WORD, WAKER_PARKED, WAKER_RUNNING, 'wake(): CAS PARKED -> RUNNING')) !== WAKER_PARKED) return;
      yield notify(WORD, 1, 'wake(): Atomics.notify(word, 1)');
      state.notifies[p]!++;
    }

    function* producer(p: number): Actor {
      for (let k = 0; k < cfg.items[p]!; k++) {
        if (tso) yield add(bufOf(p), 1, 'ring.ts publish(): plain store of the cell\'s seq (into the store buffer)');
        else yield add(PUBLISHED, 1, 'publish the item (seq-cst)');
        yield* wake(p);
      }
      if (tso) yield store(doneOf(p), 1, 'the thread ends');
    }

    /** Producer p's store buffer (order 'tso'): commits its oldest store to memory whenever scheduled. */
    function* storeBuffer(p: number): Actor {
      for (;;) {
        yield writing(until([bufOf(p), doneOf(p)], (m) => m[bufOf(p)] !== 0 || m[doneOf(p)] === 1, `store buffer: commit P${p}'s oldest publish`), [pubOf(p), bufOf(p)]);
        if (mem[bufOf(p)] === 0) return; // the thread ended with its buffer empty
        mem[pubOf(p)]!++;
        mem[bufOf(p)]!--;
      }
    }

    /** The process barrier (membarrier(2)): every producer's store buffer emptied into memory. */
    function barrier(): Op {
      const words = Array.from({ length: P }, (_, p) => [pubOf(p), bufOf(p)]).flat();
      return writing(until(words, () => true, 'waker.ts parkBarrier(): the process barrier (membarrier: every CPU runs a full barrier)'), words);
    }
    function commitAll(): void {
      for (let p = 0; p < P; p++) {
        mem[pubOf(p)]! += mem[bufOf(p)]!;
        mem[bufOf(p)] = 0;
      }
    }

    /** The worker loop: take work; none: spin, announce PARKED, re-check, sleep. */
    function* consumer(): Actor {
      const hasWork = function* (label: string): Steps<boolean> {
        if (!tso) return (yield load(PUBLISHED, label)) > state.consumed;
        let published = 0;
        for (let p = 0; p < P; p++) published += yield load(pubOf(p), `${label} (P${p}'s cells)`);
        return published > state.consumed;
      };
      while (state.consumed < total) {
        if (yield* hasWork('loop: the ring has a published cell?')) {
          state.consumed++;
          continue;
        }
        yield store(WORD, WAKER_SPINNING, 'waker.ts spinning(): store SPINNING'); // 3.2 step 1
        if (yield* hasWork('spin: poll the ring')) {
          yield store(WORD, WAKER_RUNNING, 'running(): store RUNNING');
          continue;
        }
        yield store(WORD, WAKER_PARKED, 'announcePark(): store PARKED'); // 3.2 step 2
        state.parks++;
        if (tso && bug !== 'no-barrier') {
          yield barrier();
          commitAll();
        }
        if (bug !== 'no-recheck-after-park') {
          if (yield* hasWork('re-check the ring after announcing PARKED')) {
            yield store(WORD, WAKER_RUNNING, 'running(): store RUNNING');
            continue;
          }
        }
        const r = yield wait(WORD, WAKER_PARKED, 'parkSync(): Atomics.wait(word, PARKED)'); // 3.2 step 3
        if (r === 0) state.sleeps++;
        yield store(WORD, WAKER_RUNNING, 'parkSync(): store RUNNING');
      }
    }

    const actors = cfg.items.map((_, p) => ({ name: `P${p}`, run: producer(p) }));
    if (tso) for (let p = 0; p < P; p++) actors.push({ name: `SB${p}`, run: storeBuffer(p) });
    actors.push({ name: 'C', run: consumer() });
    return { mem, state, actors };
  }

  const notifies = (s: WakerState): number => s.notifies.reduce((a, b) => a + b, 0);
  return {
    name: `waker(producers ${cfg.items.join('+')}${tso ? ', plain publishes (TSO) and the consumer\'s process barrier' : ''}${bug ? `, BUG ${bug}` : ''})`,
    setup,
    invariants: [
      {
        name: 'one wake per sleep: at most one notify per PARKED announcement',
        check: (_m, s) => (notifies(s) <= s.parks ? null : `${notifies(s)} notifies for ${s.parks} announcements`),
      },
    ],
    finals: [
      {
        name: 'every item consumed, the consumer awake',
        check: (m, s) => (s.consumed === total && m[WORD] === WAKER_RUNNING ? null : `consumed ${s.consumed}/${total}, word ${m[WORD]}`),
      },
    ],
    words: [wakerWordSpec((w) => w === WORD, 'C')],
    wordName: (w) => (w === WORD ? 'waker' : w === PUBLISHED ? 'published'
      : (w - 2) % 3 === 0 ? `published[P${(w - 2) / 3}]` : (w - 2) % 3 === 1 ? `storeBuffer[P${(w - 3) / 3}]` : `done[P${(w - 4) / 3}]`),
  };
}
