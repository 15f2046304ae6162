/**
 * The hostile-value catalogue (issue 16) and a driver that submits a workload of it through a
 * runtime, records every token's outcome exactly once, and checks it. Shared by
 * test/fixtures/hostile-run.ts (the fast-check property, in a child process), the attached
 * thread test/fixtures/hostile-thread.ts and the chaos run (test/stress/chaos-lib.ts).
 *
 * An entry is `how:kind` (test/fixtures/hostile-tasks.mjs builds the value): how = return (sync),
 * resolve (async), throw (sync), reject (async). Plus the entries for user callbacks that throw:
 * 'listener:saturated', 'listener:clear' (producer edge listeners), 'callback:throws'
 * (submitCallback) and 'abort:listener' (another listener of a submit's AbortSignal).
 */
import type { Producer, Runtime, Token, TaskRef } from '../../src/index.js';

export type Outcome = 'fulfilled' | 'rejected' | 'retracted' | 'abandoned';

/** What arrived, reduced to plain data (it crosses threads): never the user's value itself. */
export interface Summary {
  outcome: Outcome;
  error?: { name: string; message: string; code?: unknown; causes: string[]; errors: string[] | null };
  value?: unknown;
}

export interface Desc { id: number; kind: string; how: string; param?: unknown; size?: number }

export interface Item {
  id: number;
  /** Catalogue entry name: 'normal:inc', 'normal:echo', 'return:proxy', ... */
  entry: string;
  param?: unknown;
  /** Token (with its options) or the submitCallback path. */
  via: 'token' | 'callback';
  /** Which producer of the submitting thread (0 or 1). */
  producer: number;
  /** callback path: the callback throws after recording (a 'callback:throws' item). */
  throwInCallback?: boolean;
  /** token path, normal:inc only: submit with an AbortSignal that has a throwing listener of the user's, abort at once. */
  abort?: boolean;
}

type Check = (s: Summary, d: Item) => string | null;

/**
 * Entries whose containment has not landed on this branch yet (entry -> the fix it waits for).
 * test/hostile.test.ts leaves them out of its property and runs each alone as it.fails (red the
 * day the fix lands: then delete the line); the chaos run leaves them out of its mix. Never add
 * an entry here to hide a failure of landed code.
 */
export const AWAITING_FIX: Record<string, string> = {};

const HUGE = 1 << 13;
/** spillBytes of every runtime that runs hostile items (a 'huge' value is HUGE bytes, larger). */
export const HOSTILE_SPILL_BYTES = 1 << 12;
/** deadlineMs of never-settling tasks. */
export const NEVER_DEADLINE_MS = 40;

const is = (o: Outcome | Outcome[]): Check => (s) => ([] as Outcome[]).concat(o).includes(s.outcome) ? null : `outcome ${s.outcome}, expected ${String(o)}`;
const both = (...cs: Check[]): Check => (s, d) => { for (const c of cs) { const r = c(s, d); if (r !== null) return r; } return null; };
/**
 * Rejected with a sluice PayloadError saying what could not be read or carried, or with the
 * Error the hostile value itself threw (a getter, a trap, a then), whose message is one of `thrown`.
 */
const rejectedWith = (thrown: (d: Item) => string[] = () => []): Check => both(is('rejected'), (s, d) => {
  if (s.error === undefined) return `rejected with a non-Error ${JSON.stringify(s.value)}`;
  if (s.error.code === 'ERR_SLUICE_PAYLOAD' || thrown(d).includes(s.error.message)) return null;
  return `rejected with ${s.error.name} ${JSON.stringify(s.error.message.slice(0, 80))}: neither a PayloadError nor what the value threw`;
});
const rejectedPayload = rejectedWith(); // nothing of the value can travel: a PayloadError
const errorMessage = (m: (d: Item) => string): Check => (s, d) => s.error?.message === m(d) ? null : `message ${JSON.stringify(s.error?.message)}, expected ${JSON.stringify(m(d))}`;
const causes = (want: (d: Item) => string[]): Check => (s, d) => {
  const w = want(d);
  return JSON.stringify(s.error?.causes.slice(0, w.length)) === JSON.stringify(w) ? null : `causes ${JSON.stringify(s.error?.causes)}, expected to start ${JSON.stringify(w)}`;
};

/** Expected outcome per entry. 'rejected' for every value that cannot be read, cloned or carried. */
const VALUE_CHECKS: Record<string, { hows: string[]; check: (how: string) => Check; param?: unknown[] }> = {
  'plain': { hows: ['return', 'resolve', 'throw', 'reject'], check: (how) => both(is(how === 'return' || how === 'resolve' ? 'fulfilled' : 'rejected'), (s, d) => (s.value as { id?: number } | undefined)?.id === d.id ? null : `value ${JSON.stringify(s.value)}`) },
  'getter-throws': { hows: ['return', 'resolve', 'throw', 'reject'], check: () => rejectedWith((d) => [`getter ${d.id}`]) },
  'proxy': { hows: ['return', 'resolve', 'throw', 'reject'], check: () => rejectedWith(() => ['proxy trap']) },
  'then-getter-throws': { hows: ['return', 'resolve', 'throw', 'reject'], check: () => rejectedWith((d) => [`then getter ${d.id}`]) },
  'then-throws': { hows: ['return', 'resolve', 'throw', 'reject'], check: () => rejectedWith((d) => [`then ${d.id}`]) },
  'then-twice': { hows: ['return', 'resolve'], check: () => both(is('fulfilled'), (s, d) => s.value === d.id + 1 ? null : `value ${JSON.stringify(s.value)}, expected the first settlement ${d.id + 1}`) },
  'then-nested': { hows: ['return', 'resolve'], check: () => rejectedWith((d) => [`inner then ${d.id}`]) },
  'never': { hows: ['return'], check: () => both(is('abandoned'), (s) => /deadline/.test(s.error?.message ?? '') ? null : `abandoned for ${JSON.stringify(s.error?.message)}, not the deadline`) },
  'function': { hows: ['return', 'resolve', 'throw', 'reject'], check: () => rejectedPayload },
  'huge': { hows: ['return', 'throw'], check: () => rejectedPayload },
  'symbol': { hows: ['return', 'throw', 'reject'], check: () => rejectedPayload },
  'error-coded': {
    hows: ['return', 'resolve', 'throw', 'reject'],
    check: (how) => both(is(how === 'return' || how === 'resolve' ? 'fulfilled' : 'rejected'), errorMessage((d) => `coded ${d.id}`),
      (s) => s.error?.code === 'E_HOSTILE' ? null : `code ${String(s.error?.code)}`),
  },
  'error-getters': { hows: ['return', 'throw', 'reject'], check: () => rejectedWith((d) => [`error getter ${d.id}`]), param: ['error', 'symbol', 'self'] },
  'error-cause-chain': {
    hows: ['return', 'throw', 'reject'], param: [1, 3],
    check: (how) => both(is(how === 'return' ? 'fulfilled' : 'rejected'), errorMessage((d) => `chain ${d.id}`),
      causes((d) => Array.from({ length: d.param as number }, (_, k) => `cause ${k + 1}`))),
  },
  'error-cause-cyclic': {
    hows: ['return', 'throw', 'reject'],
    check: (how) => both(is(how === 'return' ? 'fulfilled' : 'rejected'), errorMessage((d) => `cyclic ${d.id}`), causes(() => ['cyclic b'])),
  },
  // The cause cannot be read: the error still arrives (without it), or a PayloadError does.
  'error-cause-getter': {
    hows: ['return', 'throw', 'reject'],
    check: (how) => how === 'return'
      ? both(is(['fulfilled', 'rejected']), (s, d) => s.error?.message === `bad cause ${d.id}` || s.error?.code === 'ERR_SLUICE_PAYLOAD' ? null : `got ${JSON.stringify(s.error?.message)}`)
      : rejectedWith((d) => [`bad cause ${d.id}`, `cause getter ${d.id}`]),
  },
  'aggregate': {
    hows: ['return', 'throw', 'reject'],
    check: (how) => both(is(how === 'return' ? 'fulfilled' : 'rejected'), errorMessage((d) => `aggregate ${d.id}`),
      (s) => s.error?.name === 'AggregateError' && JSON.stringify(s.error.errors) === JSON.stringify(['agg 0', 'agg 1']) ? null : `name ${s.error?.name}, errors ${JSON.stringify(s.error?.errors)}`),
  },
};

export interface Entry { name: string; kind: string; how: string; params: unknown[]; check: Check; tokenOnly: boolean }

/** Every entry of the catalogue that is a task: normal ones first. */
export const TASK_ENTRIES: Entry[] = [
  { name: 'normal:inc', kind: 'inc', how: '', params: [undefined], tokenOnly: false, check: both(is('fulfilled'), (s, d) => s.value === d.id + 1 ? null : `value ${JSON.stringify(s.value)}`) },
  { name: 'normal:echo', kind: 'echo', how: '', params: [undefined], tokenOnly: false, check: both(is('fulfilled'), (s, d) => (s.value as Desc | undefined)?.id === d.id ? null : `value ${JSON.stringify(s.value)}`) },
  ...Object.entries(VALUE_CHECKS).flatMap(([kind, v]) => v.hows.map((how) => ({
    name: `${how}:${kind}`, kind, how, params: v.param ?? [undefined], check: v.check(how), tokenOnly: kind === 'never',
  }))),
];

/** The entries that are user callbacks throwing, not tasks. */
export const CALLBACK_ENTRIES = ['listener:saturated', 'listener:clear', 'callback:throws', 'abort:listener'] as const;
export const ALL_ENTRIES: string[] = [...TASK_ENTRIES.map((e) => e.name), ...CALLBACK_ENTRIES];
export const ENTRY = new Map(TASK_ENTRIES.map((e) => [e.name, e]));

/** The payload a task gets for an item ('huge' values are `hugeBytes` long: more than the runtime's spillBytes). */
export function descOf(it: Item, hugeBytes = HUGE): Desc {
  const e = ENTRY.get(it.entry)!;
  if (e.how === '') return { id: it.id, kind: e.kind, how: '' };
  return { id: it.id, kind: e.kind, how: e.how, param: it.param, size: e.kind === 'huge' ? hugeBytes : undefined };
}

/** What an admitted item must resolve to; null when it did. An aborted item may also be retracted. */
export function checkItem(it: Item, s: Summary): string | null {
  if (it.abort && s.outcome === 'retracted') return null;
  return ENTRY.get(it.entry)!.check(s, it);
}

export function summarize(outcome: Outcome, v: unknown): Summary {
  if (!(v instanceof Error)) {
    let value: unknown;
    try { value = JSON.parse(JSON.stringify(v ?? null)); } catch { value = '(not JSON)'; }
    return { outcome, value };
  }
  const seen = new Set<unknown>([v]);
  const chain: string[] = [];
  for (let c = (v as { cause?: unknown }).cause; c instanceof Error && !seen.has(c) && chain.length < 8; c = (c as { cause?: unknown }).cause) {
    seen.add(c);
    chain.push(c.message);
  }
  const errs = (v as { errors?: unknown }).errors;
  return {
    outcome,
    error: {
      name: v.name, message: v.message, code: (v as { code?: unknown }).code, causes: chain,
      errors: Array.isArray(errs) ? errs.map((x) => (x instanceof Error ? x.message : String(x))) : null,
    },
  };
}

/** The outcome a submitCallback error stands for. */
function callbackOutcome(err: unknown): Outcome {
  if (err === undefined) return 'fulfilled';
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'ERR_SLUICE_RETRACTED' ? 'retracted' : code === 'ERR_SLUICE_ABANDONED' ? 'abandoned' : 'rejected';
}

export interface Plan {
  /** A 'saturated' / 'clear' listener throws on every nth call (0: never). */
  saturatedThrowEvery: number;
  clearThrowEvery: number;
}

export interface DriveResult {
  /** id -> what it resolved to (recorded once; a second resolution is a failure). */
  outcomes: Map<number, Summary>;
  /** Items admitted, per producer (0, 1). */
  admitted: number[];
  admittedIds: Set<number>;
  /** How many times a listener, callback or abort listener of ours threw (each must surface as one uncaught exception). */
  thrown: number;
  /** The same, by where they were thrown (so a test can show its scenario exercised each). */
  throwsBy: Record<'saturated' | 'clear' | 'callback' | 'abort', number>;
  failures: string[];
}

/** A marker on every error a hostile listener or callback throws (the uncaught-exception counter keys on it). */
export const THROWN_MARK = 'hostile-user-code';

/**
 * Submit `items` through `producers` (at most `window` in flight; a capacity rejection waits for
 * a completion), record each outcome once, and resolve when every admitted item resolved.
 * Throwing listeners/callbacks per `plan` and the items' flags; `result.thrown` counts them.
 */
export function drive(rt: Runtime, producers: Producer[], items: Item[], plan: Plan, window = 48): { done: Promise<void>; result: DriveResult } {
  const result: DriveResult = { outcomes: new Map(), admitted: producers.map(() => 0), admittedIds: new Set(), thrown: 0, throwsBy: { saturated: 0, clear: 0, callback: 0, abort: 0 }, failures: [] };
  const fail = (m: string): void => { if (result.failures.length < 40) result.failures.push(m); };
  const refs = { inc: rt.task('inc'), echo: rt.task('echo'), hostile: rt.task('hostile') } as Record<string, TaskRef>;
  const never = rt.task('hostile', { deadlineMs: NEVER_DEADLINE_MS });
  const calls = { saturated: 0, clear: 0 };
  const listener = (ev: 'saturated' | 'clear', every: number) => (): void => {
    const n = ++calls[ev];
    if (every > 0 && n % every === 0) {
      result.thrown++;
      result.throwsBy[ev]++;
      throw new Error(`${THROWN_MARK}: ${ev} listener call ${n}`);
    }
  };
  for (const p of producers) {
    p.on('saturated', listener('saturated', plan.saturatedThrowEvery));
    p.on('clear', listener('clear', plan.clearThrowEvery));
  }
  let next = 0;
  let inFlight = 0;
  let settled = 0;
  let admittedTotal = 0;
  let allSubmitted = false;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => { resolveDone = r; });
  const maybeDone = (): void => { if (allSubmitted && settled === admittedTotal) resolveDone(); };

  const record = (it: Item, s: Summary): void => {
    if (result.outcomes.has(it.id)) fail(`id ${it.id} (${it.entry}) resolved twice: ${result.outcomes.get(it.id)!.outcome}, then ${s.outcome}`);
    else result.outcomes.set(it.id, s);
  };
  const finished = (): void => {
    inFlight--;
    settled++;
    maybeDone();
    pump();
  };

  /** Returns 'admitted', 'capacity' (retry later) or 'skip'. */
  const submitOne = (it: Item): 'admitted' | 'capacity' | 'skip' => {
    const e = ENTRY.get(it.entry)!;
    const ref = e.kind === 'never' ? never : refs[e.how === '' ? e.kind : 'hostile']!;
    const p = producers[it.producer]!;
    const payload = descOf(it);
    let reason: string | null = null;
    try {
      if (it.via === 'callback') {
        const r = p.submitCallback(ref, payload, (err: unknown, value: unknown) => {
          record(it, summarize(callbackOutcome(err), err === undefined ? value : err));
          finished();
          if (it.throwInCallback) {
            result.thrown++;
            result.throwsBy.callback++;
            throw new Error(`${THROWN_MARK}: callback of id ${it.id}`);
          }
        }, it.id);
        reason = r === null ? null : r.reason;
      } else {
        let signal: AbortSignal | undefined;
        let ac: AbortController | undefined;
        if (it.abort) {
          ac = new AbortController();
          signal = ac.signal;
          signal.addEventListener('abort', () => {
            result.thrown++;
            result.throwsBy.abort++;
            throw new Error(`${THROWN_MARK}: abort listener of id ${it.id}`);
          });
        }
        const a = p.submit(ref, payload, signal === undefined ? undefined : { signal });
        if (a.admitted) {
          const t = a as Token;
          t.then(
            () => { record(it, summarize(t.outcome!, t.outcome === 'fulfilled' ? t.value : t.error)); finished(); },
            () => { record(it, summarize(t.outcome!, t.outcome === 'fulfilled' ? t.value : t.error)); finished(); },
          );
          ac?.abort();
        } else reason = a.reason;
      }
    } catch (err) {
      // Submit must never throw for a valid item: a listener's throw escaped into it.
      fail(`id ${it.id} (${it.entry}): submit threw ${err instanceof Error ? err.message : typeof err}`);
      return 'skip';
    }
    if (reason === null) return 'admitted';
    if (['rate', 'producer-slots', 'global-slots', 'ring-full', 'arena-full'].includes(reason)) return 'capacity';
    fail(`id ${it.id} (${it.entry}): rejected '${reason}' on a running runtime`);
    return 'skip';
  };

  let scheduled = false;
  const pump = (): void => {
    while (next < items.length && inFlight < window) {
      const it = items[next]!;
      const r = submitOne(it);
      if (r === 'capacity') break;
      next++;
      if (r === 'admitted') {
        inFlight++;
        admittedTotal++;
        result.admitted[it.producer]!++;
        result.admittedIds.add(it.id);
      }
    }
    if (next === items.length) {
      allSubmitted = true;
      maybeDone();
    } else if (inFlight === 0 && !scheduled) {
      scheduled = true;
      setImmediate(() => { scheduled = false; pump(); });
    }
  };
  pump();
  return { done, result };
}

/** Resolve with true when `p` settles, false if it has not within ms (a hang, reported by the caller). */
export function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    p.then(() => { clearTimeout(timer); resolve(true); }, () => { clearTimeout(timer); resolve(true); });
  });
}

/**
 * The per-item checks after a run: every admitted item resolved once, with its entry's outcome;
 * bodies ran at most once (exactly once when fulfilled or rejected, never when retracted).
 */
export function checkOutcomes(items: Item[], outcomes: Map<number, Summary>, exec: Int32Array, fail: (m: string) => void, admittedIds?: Set<number>): void {
  for (const it of items) {
    const s = outcomes.get(it.id);
    const ran = Atomics.load(exec, it.id);
    if (s === undefined) {
      if (admittedIds === undefined || admittedIds.has(it.id)) fail(`id ${it.id} (${it.entry}): never resolved (ran ${ran} times)`);
      continue;
    }
    const bad = checkItem(it, s);
    if (bad !== null) fail(`id ${it.id} (${it.entry}${it.param !== undefined ? ` ${String(it.param)}` : ''}, ${it.via}): ${bad}${s.error ? ` [${s.error.name}: ${s.error.message.slice(0, 120)}]` : ''}`);
    const want = s.outcome === 'retracted' ? [0] : s.outcome === 'abandoned' ? [0, 1] : [1];
    if (ENTRY.get(it.entry)!.kind !== 'probe' && !want.includes(ran)) fail(`id ${it.id} (${it.entry}): body ran ${ran} times for outcome ${s.outcome}`);
  }
}

/**
 * Counts this thread's uncaught exceptions and unhandled rejections from now on: the planted
 * throws (THROWN_MARK) apart from anything else, which a run must not have.
 */
export function countUncaught(): { marked: number; other: string[] } {
  const uncaught = { marked: 0, other: [] as string[] };
  process.on('uncaughtException', (err) => {
    const m = err instanceof Error ? err.message : typeof err;
    if (m.startsWith(THROWN_MARK)) uncaught.marked++;
    else uncaught.other.push(m);
  });
  process.on('unhandledRejection', (err) => { uncaught.other.push(`unhandled rejection: ${err instanceof Error ? err.message : typeof err}`); });
  return uncaught;
}
