/**
 * Model of the waker (docs/design.md 3.2, src/shm/waker.ts): producers publish an item, then
 * wake the consumer if it is parked (3.2 step 4); the consumer takes items, and when it finds
 * none spins (step 1), announces PARKED and re-checks (step 2), then sleeps while the word reads
 * PARKED (step 3, Atomics.wait / FUTEX_WAIT: compare and sleep atomically).
 *
 * The queue is reduced to its publication word: a count of published items (Atomics.add, a
 * seq-cst RMW, as the ring's seq-cst publish store is); "the queue has work" is a load of it.
 * The spin budget is one poll (more polls reach no other state).
 */
import { WAKER_PARKED, WAKER_RUNNING, WAKER_SPINNING } from '../../../src/shm/waker.js';
import { add, cas, load, notify, store, wait, type Actor, type Model, type Steps } from '../explorer.js';
import { wakerWordSpec } from '../words.js';

export type WakerBug =
  /** The consumer sleeps right after announcing PARKED, without re-checking the queue. */
  | 'no-recheck-after-park'
  /** A producer that reads PARKED stores RUNNING instead of CASing it: every producer that saw PARKED notifies. */
  | 'wake-store-not-cas';

export interface WakerConfig {
  /** Items each producer publishes. */
  readonly items: readonly number[];
  readonly bug?: WakerBug;
}

const WORD = 0;
const PUBLISHED = 1;

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

  function setup() {
    const mem = new Int32Array(2);
    mem[WORD] = WAKER_RUNNING;
    const state: WakerState = { parks: 0, sleeps: 0, notifies: cfg.items.map(() => 0), consumed: 0 };

    /** waker.ts wake(). */
    function* wake(p: number): Steps<void> {
      if ((yield load(WORD, 'waker.ts wake(): load state')) !== WAKER_PARKED) return;
      if (bug === 'wake-store-not-cas') yield store(WORD, WAKER_RUNNING, 'wake(): store RUNNING (BUG: not a CAS)');
      else if ((yield cas(WORD, WAKER_PARKED, WAKER_RUNNING, 'wake(): CAS PARKED -> RUNNING')) !== WAKER_PARKED) return;
      yield notify(WORD, 1, 'wake(): Atomics.notify(word, 1)');
      state.notifies[p]!++;
    }

    function* producer(p: number): Actor {
      for (let k = 0; k < cfg.items[p]!; k++) {
        yield add(PUBLISHED, 1, 'publish the item (seq-cst)');
        yield* wake(p);
      }
    }

    /** The worker loop: take work; none: spin, announce PARKED, re-check, sleep. */
    function* consumer(): Actor {
      const hasWork = function* (label: string): Steps<boolean> {
        return (yield load(PUBLISHED, label)) > state.consumed;
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
    actors.push({ name: 'C', run: consumer() });
    return { mem, state, actors };
  }

  const notifies = (s: WakerState): number => s.notifies.reduce((a, b) => a + b, 0);
  return {
    name: `waker(producers ${cfg.items.join('+')}${bug ? `, BUG ${bug}` : ''})`,
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
    wordName: (w) => (w === WORD ? 'waker' : 'published'),
  };
}
