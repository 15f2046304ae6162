/**
 * The token table of one attachment (docs/design.md §2.2): which token indices are live, their
 * generation, and what each one resolves (a Token, or a callback and its tag). Owner: the
 * attachment's thread, alone; nothing here is shared memory (the token *words* are: they change
 * only through src/shm/words/token.ts).
 *
 * Invariant: an index is either on the free stack or live (tokens[t] or callbacks[t] set), never
 * both; live indices ≤ global slots ≤ capacity, so take() never finds the stack empty.
 */
import { type RunSink, Token } from '../token.js';

/** A callback-path admission's result sink (Producer.submitCallback). */
export type Callback = (err: unknown, value: unknown, tag: number) => void;

/**
 * callbacks[t] of an rt.run admission without a Token (Producer._submitRun, §4.6): its sink is
 * sinks[t]. Set as a callback, so every path that resolves callback admissions (drain, cancel by
 * key, close, a dead worker's abandon) resolves it; Drain.resolveCallback settles the sink
 * instead of calling this, which is never called.
 */
export const RUN_SINK: Callback = (): void => {
  throw new Error('sluice: RUN_SINK called (invariant broken: run sinks are settled by Drain.resolveCallback)');
};

export class TokenTable {
  /** Token-path admissions, by index. */
  readonly tokens: Array<Token | undefined>;
  /** Callback-path admissions, by index (preallocated: no per-task allocation). */
  readonly callbacks: Array<Callback | undefined>;
  readonly cbTags: Int32Array;
  readonly cbProducers: Int32Array;
  /** The generation each index's next (or live) admission carries. */
  readonly gens: Int32Array;
  /** A callback-path admission's payload, kept only for a guarded task (its quarantine, §4.16). */
  readonly cbPayloads: unknown[];
  /** An rt.run admission's call (callbacks[t] === RUN_SINK), settled once when t resolves. */
  readonly sinks: Array<RunSink | undefined>;
  /** An rt.run admission's token id (what a Token's `id` would have been: the quarantine's tokenId). */
  readonly runIds: Float64Array;
  private readonly free: Int32Array;
  private freeTop: number;
  /** Live indices (tokens and callbacks). */
  outstanding = 0;
  private readonly idleWaiters: Array<() => void> = [];

  constructor(capacity: number) {
    this.tokens = new Array<Token | undefined>(capacity).fill(undefined);
    this.callbacks = new Array<Callback | undefined>(capacity).fill(undefined);
    this.cbTags = new Int32Array(capacity);
    this.cbProducers = new Int32Array(capacity);
    this.gens = new Int32Array(capacity);
    this.cbPayloads = new Array<unknown>(capacity).fill(undefined);
    this.sinks = new Array<RunSink | undefined>(capacity).fill(undefined);
    this.runIds = new Float64Array(capacity);
    this.free = new Int32Array(capacity);
    for (let t = 0; t < capacity; t++) this.free[t] = capacity - 1 - t; // pop order 0, 1, 2, ...
    this.freeTop = capacity;
  }

  /** §4.1 step 5: take an index for a new admission. Never fails while the invariant holds. */
  take(): number {
    if (this.freeTop === 0) throw new Error('sluice: token table exhausted (invariant broken: live tokens > global slots)');
    return this.free[--this.freeTop]!;
  }

  /** §4.3 step 7: the index is free again (after its word went FREE and its slots were given back). */
  put(t: number): void {
    this.free[this.freeTop++] = t;
    this.outstanding--;
  }

  /** Resolves once nothing this thread admitted is outstanding. */
  whenIdle(): Promise<void> {
    if (this.outstanding === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  /** Wake whenIdle() waiters if nothing is outstanding (ours: promise resolvers, no user code). */
  checkIdle(): void {
    if (this.outstanding === 0 && this.idleWaiters.length > 0) for (const r of this.idleWaiters.splice(0)) r();
  }
}
