/**
 * Token: the handle of one admitted task. Exactly three states, 'pending' -> 'running' ->
 * 'resolved' (or 'pending' -> 'resolved' when retracted), and once resolved exactly one of four
 * outcomes. The owning thread resolves it exactly once, when it drains the task's completion
 * (or cancels it); duplicate or stale completions are recognised by generation and ignored.
 *
 * A Token is PromiseLike: awaiting it gives the task's value, or throws the task's error
 * ('rejected'), a RetractedError or an AbandonedError. The promise is created lazily, on the
 * first then(), so a token nobody awaits costs no promise and never reports an unhandled
 * rejection.
 */
import { type Outcome, OUTCOMES, O_ABANDONED, O_FULFILLED, O_REJECTED, O_RETRACTED } from '../admission/outcomes.js';
import { TK_FREE, TK_PENDING, TK_RETRACTED } from '../shm/words/token.js';
import { AbandonedError, ConfigError, RetractedError, describe } from '../errors.js';
import { snapshot } from './options.js';
import type { Attachment } from './submit/attachment.js';
import type { TaskRef } from './task.js';

export interface CancelOptions {
  /**
   * Also stop a task that is already running: its token resolves 'abandoned' at once and, if
   * its synchronous part is running, its worker (only that one) is terminated and respawned.
   */
  force?: boolean;
}

/**
 * 'pending' (admitted, not started), 'running' (a worker took it: it may be running, finished
 * and not yet drained, or waiting for a retry after its worker died), 'resolved'. Never goes
 * backwards.
 */
export type TokenState = 'pending' | 'running' | 'resolved';

export { O_ABANDONED, O_FULFILLED, O_REJECTED, O_RETRACTED };

/**
 * A token's identity as traces record it (docs/design.md §4.14, §7.1): the attachment (thread)
 * that submitted it, its token index there, and its generation. Unique among live tokens; a
 * resolved token's index is reused with the next generation. Frozen.
 */
export interface TokenKey {
  readonly attachment: number;
  readonly index: number;
  readonly generation: number;
}

const GEN_SPAN = 2 ** 21;

/** @internal A frozen TokenKey from a packed (attachment << 16 | index) and a generation. */
export function tokenKey(packed: number, gen: number): TokenKey {
  return Object.freeze({ attachment: packed >>> 16, index: packed & 0xffff, generation: gen });
}

export class Token<T = unknown> implements PromiseLike<T> {
  /** Always true: a Token is what an admitted submit returns (see Admission). */
  readonly admitted = true as const;
  /** @internal */ _outcome = -1;
  /** @internal */ _value: unknown = undefined;
  /** @internal */ private _promise: Promise<T> | null = null;
  /** @internal */ private _res: ((v: unknown) => void) | null = null;
  /** @internal */ private _rej: ((e: unknown) => void) | null = null;
  /** @internal A worker took it once (token.state never goes back to 'pending'). */
  private _started = false;
  /**
   * @internal A waiting rt.run call this token settles directly (run-queue.ts, §4.6 step 3), or
   * null: its promise is the call's, so no second promise stands between them.
   */
  private _sink: RunSink | null = null;
  /** @internal Runs once at resolve (abort listener, queue timer). */
  _cleanup: (() => void) | null = null;
  /** @internal Set only for tasks that declared retries: what a retry needs. */
  _task: TaskRef | null = null;
  /** @internal */ _payload: unknown = undefined;
  /** @internal */ _retriesLeft = 0;
  /**
   * The parent's key (worker/nest.ts: (att << 16 | index) * 2^21 + gen), -1 without one (§4.14).
   * Private, so `#parentKey in x` is also the brand check of `Token._is` (a private method as
   * brand cost ~5% of a submit: every instance carries the brand).
   */
  #parentKey = -1;

  /** @internal Set once, at submit (producer.ts). */
  _setParent(key: number): void { this.#parentKey = key; }

  /** @internal Whether `x` is a real Token (a private brand check: a look-alike or Proxy fails without running its code). */
  static _is(x: unknown): x is Token {
    return typeof x === 'object' && x !== null && #parentKey in x;
  }

  // Private (and kept in the declarations as such: `new Token()` does not compile): tokens are made by submit (Attachment.track -> Token._create).
  private constructor(
    /** @internal */ readonly _att: Attachment,
    /** @internal */ readonly _index: number,
    /** @internal (advances when a retry re-pushes the task) */ public _gen: number,
    /** @internal */ readonly _producer: number,
    /** @internal */ readonly _deadlineMs: number,
    /** Unique in the runtime. */
    readonly id: number,
  ) {}

  /** @internal The only way to make a Token (the constructor is private to keep it off the public surface). */
  static _create<T>(att: Attachment, index: number, gen: number, producer: number, deadlineMs: number, id: number): Token<T> {
    return new Token<T>(att, index, gen, producer, deadlineMs, id);
  }

  /**
   * This token's identity as traces record it (docs/design.md §4.14): its submitting thread's
   * attachment, its token index there and the generation it runs with (a retry advances it).
   * Compare it with a task's `runtime.current` (sluice/task) and a child's `parent`.
   */
  get key(): TokenKey {
    return tokenKey((this._att.index << 16) | this._index, this._gen);
  }

  /**
   * The token whose task submitted this one (inside a task, through sluice/task), or the one
   * given as `submit(..., { parent })`; null when neither. The parent's `key` at that moment.
   */
  get parent(): TokenKey | null {
    const k = this.#parentKey;
    return k < 0 ? null : tokenKey(Math.floor(k / GEN_SPAN), k % GEN_SPAN);
  }

  /** The token itself, so `submit(...).token` reads as in the API. */
  get token(): this { return this; }

  /**
   * 'pending' -> 'running' -> 'resolved' ('pending' -> 'resolved' when retracted), never
   * backwards: once a worker took the task it reads 'running' until the token resolves, also
   * while its completion waits to be drained and while a task that declared `retries` waits to
   * run again after its worker died.
   */
  get state(): TokenState {
    if (this._outcome >= 0) return 'resolved';
    if (this._started) return 'running';
    // The token word of a live token: PENDING until a worker's CAS makes it RUNNING, then DONE or
    // ABANDONED until the owner drains it; RETRACTED (never started) until the canceller resolves
    // it; FREE only on the way to resolve. A retry re-pushes it as PENDING (next generation).
    const s = this._att.tokenState(this._index);
    if (s === TK_PENDING || s === TK_RETRACTED || s === TK_FREE) {
      if (this._task === null || this._retriesLeft === this._task.retries) return 'pending';
    }
    this._started = true;
    return 'running';
  }

  /** The outcome once resolved, otherwise undefined. */
  get outcome(): Outcome | undefined { return this._outcome >= 0 ? OUTCOMES[this._outcome] : undefined; }

  /**
   * The task's value when the outcome is 'fulfilled'; undefined otherwise (pending, running, or
   * any other outcome: see `error`). `T` is what the caller declared at submit, as for `await`.
   */
  get value(): T | undefined { return this._outcome === O_FULFILLED ? (this._value as T) : undefined; }

  /**
   * Why the token did not fulfil, once resolved otherwise: what the task threw ('rejected'; any
   * value, usually an Error), a RetractedError ('retracted') or an AbandonedError ('abandoned') --
   * what awaiting the token throws. Undefined while unresolved and when fulfilled.
   */
  get error(): unknown { return this._outcome > O_FULFILLED ? this.failure() : undefined; }

  /**
   * @internal What a resolved, non-fulfilled token throws: made once, so `error`, `await` and
   * `promise()` all give the same object.
   */
  private failure(): unknown {
    const o = this._outcome;
    if (o !== O_REJECTED && !(this._value instanceof Error)) this._value = outcomeError(o, this._value);
    return this._value;
  }

  /**
   * The value if the token fulfilled; throws `error` if it resolved otherwise, and a ConfigError
   * if it has not resolved yet (await it instead).
   */
  result(): T {
    const o = this._outcome;
    if (o === O_FULFILLED) return this._value as T;
    if (o < 0) throw new ConfigError(`token.result(): the token is ${this.state}; await it (or check token.state) first`);
    throw this.error;
  }

  /**
   * Retract this token if it has not started: it will never run, and its slots are released at
   * once. Returns whether it did. A running task is not stopped, unless `force` (see
   * CancelOptions): then it resolves 'abandoned' and only its own worker may be restarted.
   */
  cancel(options?: CancelOptions): boolean {
    const force = options === undefined ? false : cancelForce(options);
    return this._att.cancel(this, force);
  }

  then<R1 = T, R2 = never>(
    onfulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onrejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    if (this._outcome < 0) this._att.pollOne();
    return this.promise().then(onfulfilled, onrejected);
  }

  /** A real Promise of the value (created once). */
  promise(): Promise<T> {
    if (this._promise === null && this._outcome >= 0) {
      // Settled before anyone asked (often: the one-task poll drained it in then()): a settled
      // promise needs no resolving functions.
      const o = this._outcome;
      this._promise = o === O_FULFILLED ? Promise.resolve(this._value as T) : Promise.reject(this.failure());
    } else if (this._promise === null) {
      this._promise = new Promise<T>(capture);
      this._res = captured.res;
      this._rej = captured.rej;
      captured.res = captured.rej = null;
    }
    return this._promise;
  }

  /**
   * @internal rt.run's waiter (run-queue.ts) takes this just-admitted token's outcome: settled
   * already (an abort during admission retracted it), it is delivered now; otherwise at _settle.
   * Once per token, by the run queue only (the token is never handed out).
   */
  _settleInto(sink: RunSink): void {
    if (this._outcome < 0) {
      this._sink = sink;
      return;
    }
    if (this._outcome === O_FULFILLED) sink.resolve(this._value);
    else sink.reject(this.failure());
  }

  /** @internal Called exactly once by the owning attachment. */
  _settle(outcome: number, value: unknown): void {
    this._outcome = outcome;
    this._value = value;
    if (this._res !== null || this._sink !== null) this.deliver();
  }

  /** @internal */ private deliver(): void {
    const o = this._outcome;
    const err = o === O_FULFILLED ? undefined : this.failure();
    if (this._res !== null) {
      if (o === O_FULFILLED) this._res(this._value);
      else this._rej!(err);
      this._res = this._rej = null;
    }
    const sink = this._sink;
    if (sink !== null) {
      this._sink = null;
      // A promise's resolving functions (ours): they run no user code here beyond a `then` lookup
      // on the value, as _res does.
      if (o === O_FULFILLED) sink.resolve(this._value);
      else sink.reject(err);
    }
  }
}

/** @internal What a token settles besides its own promise: a waiting rt.run call (run-queue.ts). */
export interface RunSink {
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

/**
 * @internal The resolving functions of the promise just constructed: a shared executor, so a
 * token's promise (and a waiting rt.run's, run-queue.ts) costs no closure. Read and cleared
 * right after `new Promise(capture)`.
 */
export const captured: { res: ((v: unknown) => void) | null; rej: ((e: unknown) => void) | null } = { res: null, rej: null };
/** @internal */
export function capture(res: (v: never) => void, rej: (e: unknown) => void): void {
  captured.res = res as (v: unknown) => void;
  captured.rej = rej;
}

/** @internal The error a non-fulfilled outcome delivers (the task's own error when it was rejected). */
export function outcomeError(outcome: number, value: unknown): unknown {
  if (outcome === O_REJECTED) return value;
  if (value instanceof Error) return value;
  return outcome === O_RETRACTED ? new RetractedError() : new AbandonedError(String(value));
}

/** token.cancel() options, read once (options.ts): force must be a boolean when given. */
function cancelForce(options: unknown): boolean {
  const o = snapshot('token.cancel()', 'options', options, ['force']);
  if (o.force !== undefined && typeof o.force !== 'boolean') {
    throw new ConfigError(`token.cancel(): force must be a boolean; got ${describe(o.force)}`);
  }
  return o.force === true;
}
