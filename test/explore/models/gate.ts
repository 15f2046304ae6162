/**
 * Model of the gate words (docs/design.md 2.1, 4.1 steps 2-3, 4.3 step 7; src/admission/gate.ts):
 * submitters take a producer slot (the packed word: tokens | in flight) and then a global slot,
 * rolling the first back exactly when the second refuses; each admitted task is then resolved,
 * giving the slots back in the mirror order (global first, then the producer).
 *
 * Each CAS attempt's decision (the value to write, or the refusal) is the real gate.ts function's,
 * through words.ts; the model contributes only the interleaving of the attempts. Like the real
 * loops, each attempt starts from the thread's guess (the last value it saw or wrote, 0 at first)
 * and a refusal is re-checked against a load before it is returned.
 */
import { ADMITTED, R_GLOBAL_SLOTS, type Limits } from '../../../src/admission/gate.js';
import { add, cas, check, load, store, until, type Actor, type Model, type Steps } from '../explorer.js';
import { globalAdmit, inflightOf, pack, producerAdmit, producerRollback, releaseOrder, tokensOf } from '../words.js';

export type GateBug =
  /** Release the producer slot before the global one. */
  | 'release-producer-first'
  /** On a global refusal, return 'global-slots' without rolling the producer step back. */
  | 'no-rollback-on-global-refusal';

export interface GateProducer {
  readonly limits: Limits;
  /** Initial bucket tokens (rated producers; no refill is modelled). */
  readonly tokens?: number;
}

export interface GateConfig {
  readonly producers: readonly GateProducer[];
  readonly globalLimit: number;
  /** Per submitter: the producer it submits for and how many submit-then-resolve rounds it runs. */
  readonly submitters: ReadonlyArray<{ readonly producer: number; readonly rounds: number }>;
  /**
   * Invariant 6 (isolation) is asserted: the producers' slots partition the global ceiling, so a
   * submit whose producer step was admitted must never be refused 'global-slots'.
   */
  readonly isolation?: boolean;
  /**
   * Admitted tasks are resolved by another thread (the owner's pump, 4.3 step 7) instead of by
   * the submitter itself: it can then release while a submitter of the same producer resubmits.
   */
  readonly resolver?: boolean;
  readonly bug?: GateBug;
}

const GLOBAL = 0;
const producerWord = (p: number): number => 1 + p;
/** After the producer words: per producer, admitted tasks whose completion awaits the resolver; then per submitter, a done flag. */
const queueWord = (nProducers: number, p: number): number => 1 + nProducers + p;
const doneWord = (nProducers: number, s: number): number => 1 + 2 * nProducers + s;

interface GateState {
  /** What each actor holds, by its own account: per producer word, then the global word (last). The resolver's goes negative. */
  readonly held: number[][];
  /** Refusals seen, by reason (per submitter). */
  readonly refusals: number[][];
}

export function gateModel(cfg: GateConfig): Model<GateState> {
  const bug = cfg.bug;
  const order = bug === 'release-producer-first' ? { ...releaseOrder(), first: 'producer' as const } : releaseOrder();

  function setup() {
    const np = cfg.producers.length;
    const mem = new Int32Array(1 + 2 * np + cfg.submitters.length);
    cfg.producers.forEach((p, i) => { mem[producerWord(i)] = pack(p.tokens ?? 0, 0); });
    const state: GateState = { held: [...cfg.submitters, null].map(() => new Array(np + 1).fill(0)), refusals: cfg.submitters.map(() => []) };

    /** gate.ts releaseSlots: two atomic subs, in the order the real function uses. */
    function* release(p: number, held: number[], guess: { p: number; g: number }): Steps<void> {
      const pw = producerWord(p);
      const g = function* (): Steps<void> {
        guess.g = (yield add(GLOBAL, order.globalDelta, 'releaseSlots(): Atomics.sub(global, 1)')) + order.globalDelta;
        held[np]!--;
      };
      const pr = function* (): Steps<void> {
        guess.p = (yield add(pw, order.producerDelta, `releaseSlots(): Atomics.sub(producer[${p}], 1)`)) + order.producerDelta;
        held[p]!--;
      };
      if (order.first === 'global') { yield* g(); yield* pr(); } else { yield* pr(); yield* g(); }
    }

    /** The owner's pump: resolves each admitted task (4.3 step 7) until every submitter is done. */
    function* resolver(): Actor {
      const held = state.held[cfg.submitters.length]!;
      const guesses = cfg.producers.map(() => ({ p: 0, g: 0 }));
      const watch = [...cfg.producers.map((_, p) => queueWord(np, p)), ...cfg.submitters.map((_, s) => doneWord(np, s))];
      for (;;) {
        yield until(watch, (m) => cfg.producers.some((_, p) => m[queueWord(np, p)]! > 0) || cfg.submitters.every((_, s) => m[doneWord(np, s)] === 1),
          'pump: a completion arrives (or every submitter is done)');
        const p = cfg.producers.findIndex((_, q) => mem[queueWord(np, q)]! > 0);
        if (p < 0) return;
        yield add(queueWord(np, p), -1, `pump: consume the completion of a producer ${p} task`);
        yield* release(p, held, guesses[p]!);
      }
    }

    function* submitter(s: number): Actor {
      const p = cfg.submitters[s]!.producer;
      const limits = cfg.producers[p]!.limits;
      const pw = producerWord(p);
      const held = state.held[s]!;
      // This thread's guesses of the two words (gate.ts: NO_GUESS / the attachment's guess table).
      const guess = { p: 0, g: 0 };

      /** gate.ts admitProducer: one CAS takes a token and a slot, or a refusal changes nothing. */
      function* admitProducer(): Steps<number> {
        let old = guess.p;
        for (;;) {
          const d = producerAdmit(old, limits);
          if (d.refusal !== undefined) {
            const seen = yield load(pw, 'admitProducer(): refusal: load the word to re-check');
            if (seen === old) return d.refusal;
            old = seen;
            continue;
          }
          const seen = yield cas(pw, old, d.next, 'admitProducer(): CAS take token + slot');
          if (seen === old) {
            guess.p = d.next;
            held[p]!++;
            return ADMITTED;
          }
          old = seen;
        }
      }

      /** gate.ts admitGlobal: CAS below the ceiling, or a refusal. */
      function* admitGlobal(): Steps<boolean> {
        let g = guess.g;
        for (;;) {
          const d = globalAdmit(g, cfg.globalLimit);
          if (d.refusal !== undefined) {
            const seen = yield load(GLOBAL, 'admitGlobal(): refusal: load the word to re-check');
            if (seen === g) return false;
            g = seen;
            continue;
          }
          const seen = yield cas(GLOBAL, g, d.next, 'admitGlobal(): CAS global + 1');
          if (seen === g) {
            guess.g = d.next;
            held[np]!++;
            return true;
          }
          g = seen;
        }
      }

      /** gate.ts rollbackProducer (casUntil): the slot back, the token back capped at burst. */
      function* rollbackProducer(): Steps<void> {
        let old = guess.p;
        for (;;) {
          const next = producerRollback(old, limits);
          const seen = yield cas(pw, old, next, 'rollbackProducer(): CAS slot (and token) back');
          if (seen === old) {
            guess.p = next;
            held[p]!--;
            return;
          }
          old = seen;
        }
      }

      for (let round = 0; round < cfg.submitters[s]!.rounds; round++) {
        // Submit step 2.
        const r = yield* admitProducer();
        if (r !== ADMITTED) { state.refusals[s]!.push(r); continue; }
        // Submit step 3.
        if (!(yield* admitGlobal())) {
          check(!cfg.isolation, 'isolation: a producer within its slots is never refused global-slots when the slots partition the ceiling',
            () => `submitter ${s} (producer ${p}) refused 'global-slots'`);
          if (bug === 'no-rollback-on-global-refusal') held[p]!--; // it believes it holds nothing now
          else yield* rollbackProducer();
          state.refusals[s]!.push(R_GLOBAL_SLOTS);
          continue;
        }
        // Admitted; the task runs; its completion is drained (4.3 step 7).
        if (cfg.resolver) yield add(queueWord(np, p), 1, 'the task runs; its completion is published');
        else yield* release(p, held, guess);
      }
      if (cfg.resolver) yield store(doneWord(np, s), 1, 'done submitting');
    }

    const actors = cfg.submitters.map((_, s) => ({ name: `S${s}(p${cfg.submitters[s]!.producer})`, run: submitter(s) }));
    if (cfg.resolver) actors.push({ name: 'resolver', run: resolver() });
    return { mem, state, actors };
  }

  /** What all actors hold of word i (a producer index, or the producer count for the global word). */
  const np = cfg.producers.length;
  const sum = (s: GateState, i: number): number => s.held.reduce((acc, h) => acc + h[i]!, 0);

  return {
    name: `gate(${cfg.producers.map((p) => `slots ${p.limits.slots}${p.limits.rate ? ` burst ${p.limits.burst}` : ''}`).join(', ')}; global ${cfg.globalLimit}; ` +
      `${cfg.submitters.length} submitters${bug ? `, BUG ${bug}` : ''})`,
    setup,
    invariants: [
      {
        name: 'in flight <= slots and global <= limit in every state',
        check: (m) => {
          if (m[GLOBAL]! < 0 || m[GLOBAL]! > cfg.globalLimit) return `global ${m[GLOBAL]} (limit ${cfg.globalLimit})`;
          for (let p = 0; p < cfg.producers.length; p++) {
            const f = inflightOf(m[producerWord(p)]!);
            if (f > cfg.producers[p]!.limits.slots) return `producer ${p} in flight ${f} (slots ${cfg.producers[p]!.limits.slots})`;
            if (tokensOf(m[producerWord(p)]!) > Math.max(cfg.producers[p]!.limits.burst, cfg.producers[p]!.tokens ?? 0)) return `producer ${p} tokens above burst`;
          }
          return null;
        },
      },
      {
        name: 'a rejected attempt leaves both words as they were (each word = what its holders hold)',
        check: (m, s) => {
          if (m[GLOBAL] !== sum(s, np)) return `global ${m[GLOBAL]}, held ${sum(s, np)}`;
          for (let p = 0; p < cfg.producers.length; p++) {
            const f = inflightOf(m[producerWord(p)]!);
            if (f !== sum(s, p)) return `producer ${p} in flight ${f}, held ${sum(s, p)}`;
          }
          return null;
        },
      },
      {
        name: 'global never counts a task its producer no longer counts (global <= sum of in flight)',
        check: (m) => {
          let f = 0;
          for (let p = 0; p < cfg.producers.length; p++) f += inflightOf(m[producerWord(p)]!);
          return m[GLOBAL]! <= f ? null : `global ${m[GLOBAL]} > in flight ${f}`;
        },
      },
    ],
    finals: [
      {
        name: 'quiescent counters are zero',
        check: (m) => {
          if (m[GLOBAL] !== 0) return `global ${m[GLOBAL]}`;
          for (let p = 0; p < cfg.producers.length; p++) if (inflightOf(m[producerWord(p)]!) !== 0) return `producer ${p} in flight ${inflightOf(m[producerWord(p)]!)}`;
          return null;
        },
      },
    ],
    wordName: (w) => (w === GLOBAL ? 'global' : w <= np ? `producer[${w - 1}]` : w <= 2 * np ? `completions[${w - 1 - np}]` : `done[${w - 1 - 2 * np}]`),
  };
}
