/**
 * A small, deterministic schedule explorer for the shared-memory protocols (loom / CHESS style).
 *
 * Actors are generator functions over one Int32Array. Each `yield` hands the explorer ONE atomic
 * step (an Op below); the explorer performs it on the memory and resumes the actor with its
 * result. The actor's plain code that runs after a yield returns, up to its next yield, belongs
 * to that step (the DRF model: plain accesses between two atomics are invisible to the other
 * actors until a later atomic publishes them). A model that wants a plain access to be its own
 * scheduling point (to show a data race) yields `read` / `write`.
 *
 * Exploration is stateless model checking: depth-first over schedules, each schedule re-executed
 * from a fresh setup() along the recorded prefix of choices and branching at the next unexplored
 * choice. Bounds: a step bound per schedule and an optional preemption bound (CHESS: a switch
 * away from an actor that could have gone on). Partial-order reduction with sleep sets (optional,
 * on by default): two steps of different actors that touch different words, or only read a
 * common one, commute, so only one order of them is explored. Sleep sets prune transitions, not
 * states: every reachable state is still visited, so the per-step invariants keep their meaning.
 *
 * Blocking: `until` (a poll loop whose failed polls write nothing, reduced to one step enabled
 * when a poll would succeed) and `wait`/`notify` (Atomics.wait and FUTEX_WAIT semantics: compare
 * and sleep atomically; asleep until a notify on the word). A state in which every unfinished
 * actor is blocked is a deadlock and is reported like any violated invariant.
 *
 * After every step the model's invariants run; after a schedule in which every actor finished,
 * its final checks run. A violation throws an ExplorationError whose message is the schedule as
 * a readable trace: a failure is a bug report.
 */

// ---- steps ----

export type Op =
  | { readonly op: 'load'; readonly w: number; readonly label: string }
  | { readonly op: 'store'; readonly w: number; readonly v: number; readonly label: string }
  | { readonly op: 'cas'; readonly w: number; readonly expect: number; readonly v: number; readonly label: string }
  | { readonly op: 'add'; readonly w: number; readonly v: number; readonly label: string }
  | { readonly op: 'read'; readonly w: number; readonly label: string }
  | { readonly op: 'write'; readonly w: number; readonly v: number; readonly label: string }
  | { readonly op: 'until'; readonly ws: readonly number[]; readonly ready: (m: Int32Array) => boolean; readonly label: string }
  | { readonly op: 'wait'; readonly w: number; readonly v: number; readonly label: string }
  | { readonly op: 'notify'; readonly w: number; readonly count: number; readonly label: string };

/**
 * The words that the plain code following a step writes (a claim's CAS followed by the cell
 * body's plain writes). Needed only where a model makes the matching plain read its own step
 * (`read`) to expose a race: otherwise the reduction treats plain accesses as data-race-free and
 * may commute the two steps.
 */
export function writing(op: Op, words: readonly number[]): Op {
  (op as { also?: readonly number[] }).also = words; // ops are fresh objects, made per step
  return op;
}

/** An actor: yields atomic steps, is resumed with each step's result. */
export type Actor = Generator<Op, void, number>;
/** A sub-protocol (claim, admit, ...) an actor runs with `yield*`. */
export type Steps<R> = Generator<Op, R, number>;

/** Atomics.load: returns the value. */
export const load = (w: number, label: string): Op => ({ op: 'load', w, label });
/** Atomics.store. */
export const store = (w: number, v: number, label: string): Op => ({ op: 'store', w, v: v | 0, label });
/** Atomics.compareExchange: returns the value seen (== expect when it won). */
export const cas = (w: number, expect: number, v: number, label: string): Op => ({ op: 'cas', w, expect: expect | 0, v: v | 0, label });
/** Atomics.add (sub: a negative v): returns the old value. */
export const add = (w: number, v: number, label: string): Op => ({ op: 'add', w, v: v | 0, label });
/** A plain read as its own scheduling point (to expose a race the DRF model would hide). */
export const read = (w: number, label: string): Op => ({ op: 'read', w, label });
/** A plain write as its own scheduling point. */
export const write = (w: number, v: number, label: string): Op => ({ op: 'write', w, v: v | 0, label });
/**
 * A poll loop reduced to one step: enabled once `ready` holds (it may read only the words `ws`).
 * Sound for loops whose failed polls change nothing shared. Returns 0.
 */
export const until = (ws: readonly number[], ready: (m: Int32Array) => boolean, label: string): Op => ({ op: 'until', ws, ready, label });
/** Atomics.wait(w, v) without timeout: 1 ('not-equal') at once, or 0 ('ok') once notified. */
export const wait = (w: number, v: number, label: string): Op => ({ op: 'wait', w, v: v | 0, label });
/** Atomics.notify(w, count): returns how many sleepers it woke. */
export const notify = (w: number, count: number, label: string): Op => ({ op: 'notify', w, count, label });

/**
 * An actor that is killed after `k` of its steps (V8 can terminate a thread between any two
 * operations, docs/design.md 4.10): its next step never runs, `death()` runs instead. If it
 * finishes first, `survived()` runs. Both are steps of the model's choosing (a ghost flag).
 */
export function* killedAfter(inner: Actor, k: number, death: () => Op, survived: () => Op): Actor {
  let r = inner.next(0);
  for (let i = 0; i < k && r.done !== true; i++) r = inner.next(yield r.value);
  yield r.done === true ? survived() : death();
}

/** A failed assertion inside an actor or a checker: the invariant's name and what was seen. */
export class Violation extends Error {
  constructor(readonly invariant: string, readonly detail: string) {
    super(`${invariant}: ${detail}`);
  }
}

/** For actors: fail the schedule with this invariant unless cond holds. */
export function check(cond: boolean, invariant: string, detail: () => string): void {
  if (!cond) throw new Violation(invariant, detail());
}

// ---- models ----

/** A state predicate: null when it holds, else what was wrong. */
export interface Invariant<S> {
  readonly name: string;
  readonly check: (m: Int32Array, s: S) => string | null;
}

export interface World<S> {
  readonly mem: Int32Array;
  /** Ghost state for the checkers. Rule (for the reduction): a field is written by one actor only,
   *  or only in steps that also write one same word of the memory. */
  readonly state: S;
  readonly actors: ReadonlyArray<{ readonly name: string; readonly run: Actor }>;
}

export interface Model<S> {
  readonly name: string;
  /** A fresh world for one schedule. Must be deterministic. */
  readonly setup: () => World<S>;
  /** Checked in the initial state and after every step. */
  readonly invariants?: ReadonlyArray<Invariant<S>>;
  /** Checked when every actor has finished. */
  readonly finals?: ReadonlyArray<Invariant<S>>;
  /** Names memory words in traces ("tail", "cell[1].seq"). */
  readonly wordName?: (w: number) => string;
  /**
   * Packed words whose every atomic write is checked against the word's legal transitions (the
   * plug-in point for src/shm/words/: one spec per word file). A write that changes the word to
   * a value `legal` rejects is a violation named after the word.
   */
  readonly words?: ReadonlyArray<WordSpec>;
}

/** A packed word's legal transitions. */
export interface WordSpec {
  readonly name: string;
  /** Which memory words are of this kind. */
  readonly covers: (w: number) => boolean;
  /** Whether `writer` may change the word from `before` to `after`. */
  readonly legal: (before: number, after: number, writer: string) => boolean;
  /** How to print a value of the word in a violation. */
  readonly show?: (v: number) => string;
}

export interface Bounds {
  /** Longest schedule; a longer one is cut (counted in `truncated`). Default 400. */
  readonly maxSteps?: number;
  /** Most preemptions per schedule; Infinity (default) = every interleaving. */
  readonly preemptions?: number;
  /** Sleep-set partial-order reduction. Default true. */
  readonly por?: boolean;
  /** Stop (throw) after this many schedules. Default 2,000,000. */
  readonly maxSchedules?: number;
  /**
   * Start with these choices (actor ids), as an ExplorationError's `schedule`: replays a
   * reported failure step by step, then explores on from there.
   */
  readonly prefix?: readonly number[];
}

export interface Report {
  readonly model: string;
  /** Schedules run to their end: every actor finished (final checks passed). */
  readonly schedules: number;
  /** Schedules cut by the reduction (every enabled step was asleep: an equivalent order was explored). */
  readonly sleepBlocked: number;
  /** Schedules cut by the step bound. */
  readonly truncated: number;
  /** Choices not explored because of the preemption bound. */
  readonly pruned: number;
  /** Steps executed, replays included. */
  readonly steps: number;
  /** Longest schedule. */
  readonly maxDepth: number;
  /** Nothing was left out by a bound: every interleaving (up to the reduction) was explored. */
  readonly exhaustive: boolean;
}

interface TraceEntry {
  readonly actor: number;
  readonly op: Op | null; // null: resumed after a wait
  readonly before: number;
  readonly result: number;
  readonly after: number;
}

export class ExplorationError extends Error {
  constructor(
    readonly model: string,
    readonly invariant: string,
    readonly detail: string,
    readonly schedule: readonly number[],
    readonly trace: string,
  ) {
    super(`${model}: ${invariant} violated: ${detail}\n${trace}`);
    this.name = 'ExplorationError';
  }
}

// ---- the explorer ----

const READY = 0;
const ASLEEP = 1; // inside wait(), until a notify
const WOKEN = 2; // notified: its next step is the return from wait()
const DONE = 3;

/** A node of the DFS: the choices to explore there; sleep and done are bit sets of actor ids. */
interface Frame {
  readonly choices: number[];
  readonly sleep: number;
  done: number;
  cur: number;
}

/** Explores every schedule of `model` within `bounds`; throws ExplorationError on a violation. */
export function explore<S>(model: Model<S>, bounds: Bounds = {}, onState?: (m: Int32Array, s: S) => void): Report {
  const maxSteps = bounds.maxSteps ?? 400;
  const maxPreempt = bounds.preemptions ?? Infinity;
  const por = bounds.por ?? true;
  const maxSchedules = bounds.maxSchedules ?? 2_000_000;
  const wordName = model.wordName ?? ((w: number) => `w${w}`);
  const invariants = model.invariants ?? [];
  const finals = model.finals ?? [];
  const wordSpecs = model.words ?? [];

  const stack: Frame[] = (bounds.prefix ?? []).map((a) => ({ choices: [a], sleep: 0, done: 0, cur: 0 }));
  let schedules = 0;
  let sleepBlocked = 0;
  let truncated = 0;
  let pruned = 0;
  let steps = 0;
  let maxDepth = 0;

  for (;;) {
    // ---- one schedule: replay the stack's choices, then extend it ----
    const world = model.setup();
    const m = world.mem;
    const names = world.actors.map((a) => a.name);
    const gens = world.actors.map((a) => a.run);
    const n = gens.length;
    if (n > 30) throw new Error(`${model.name}: at most 30 actors`);
    const pending: Array<Op | null> = new Array(n).fill(null);
    const status: number[] = new Array(n).fill(READY);
    const trace: TraceEntry[] = [];
    const schedule: number[] = [];

    const fail = (v: Violation): never => {
      throw new ExplorationError(model.name, v.invariant, v.detail, schedule.slice(), render(names, trace, wordName, status, pending, m));
    };
    const resume = (a: number, value: number): void => {
      let r: IteratorResult<Op, void>;
      try {
        r = gens[a]!.next(value);
      } catch (e) {
        if (e instanceof Violation) fail(e);
        throw e;
      }
      if (r.done) {
        status[a] = DONE;
        pending[a] = null;
      } else {
        pending[a] = r.value;
      }
    };
    const checkAll = (list: ReadonlyArray<Invariant<S>>): void => {
      if (onState !== undefined && list === invariants) onState(m, world.state);
      for (const inv of list) {
        const bad = inv.check(m, world.state);
        if (bad !== null) fail(new Violation(inv.name, bad));
      }
    };
    const enabled = (a: number): boolean => {
      const s = status[a];
      if (s === WOKEN) return true;
      if (s !== READY) return false;
      const op = pending[a]!;
      return op.op !== 'until' || op.ready(m);
    };
    for (let a = 0; a < n; a++) resume(a, 0);
    checkAll(invariants);

    let depth = 0;
    let prev = -1;
    let preemptions = 0;
    let sleep = 0;
    let end: 'done' | 'sleep' | 'cut' | 'deadlock' = 'done';
    for (;;) {
      let en = 0;
      for (let a = 0; a < n; a++) if (enabled(a)) en |= 1 << a;
      if (en === 0) {
        end = status.some((s) => s !== DONE) ? 'deadlock' : 'done';
        break;
      }
      if (depth >= maxSteps) {
        end = 'cut';
        break;
      }
      let frame = stack[depth];
      const prevEnabled = prev >= 0 && ((en >> prev) & 1) === 1;
      if (frame === undefined) {
        const avail = en & ~sleep;
        const choices: number[] = [];
        if (prevEnabled && ((avail >> prev) & 1) === 1) choices.push(prev); // no preemption first
        if (prevEnabled && preemptions >= maxPreempt) {
          for (let b = 0; b < n; b++) if (b !== prev && ((avail >> b) & 1) === 1) pruned++;
        } else {
          for (let b = 0; b < n; b++) if (b !== prev && ((avail >> b) & 1) === 1) choices.push(b);
        }
        if (choices.length === 0) {
          end = 'sleep';
          break;
        }
        frame = { choices, sleep, done: 0, cur: 0 };
        stack.push(frame);
      }
      const a = frame.choices[frame.cur]!;
      if (((en >> a) & 1) === 0) throw new Error(`${model.name}: prefix step ${depth + 1}: actor ${a} is not enabled (the model is not deterministic, or the prefix is not its schedule)`);
      if (prevEnabled && a !== prev) preemptions++;
      // The child's sleep set: what is asleep or explored here and commutes with this step.
      if (por) {
        const mine = status[a] === WOKEN ? null : pending[a]!;
        const cand = (frame.sleep | frame.done) & ~(1 << a);
        let next = 0;
        for (let u = 0; u < n; u++) {
          if (((cand >> u) & 1) === 1 && independent(status[u] === WOKEN ? null : pending[u]!, mine)) next |= 1 << u;
        }
        sleep = next;
      }
      schedule.push(a);
      step(a);
      steps++;
      depth++;
      prev = a;
      checkAll(invariants);
    }
    if (depth > maxDepth) maxDepth = depth;
    if (end === 'deadlock') {
      const blocked = names.filter((_, a) => status[a] !== DONE).join(', ');
      fail(new Violation('no deadlock', `every unfinished actor is blocked (${blocked})`));
    } else if (end === 'done') {
      checkAll(finals);
      schedules++;
    } else if (end === 'sleep') sleepBlocked++;
    else truncated++;
    if (schedules + sleepBlocked + truncated >= maxSchedules) {
      throw new Error(`${model.name}: more than ${maxSchedules} schedules; tighten the bounds`);
    }

    // ---- backtrack ----
    for (;;) {
      const top = stack[stack.length - 1];
      if (top === undefined) {
        return { model: model.name, schedules, sleepBlocked, truncated, pruned, steps, maxDepth, exhaustive: pruned === 0 && truncated === 0 };
      }
      top.done |= 1 << top.choices[top.cur]!;
      top.cur++;
      if (top.cur < top.choices.length) break;
      stack.pop();
    }

    // Runs actor a's pending step (closure over this schedule's state).
    function step(a: number): void {
      if (status[a] === WOKEN) {
        status[a] = READY;
        trace.push({ actor: a, op: null, before: 0, result: 0, after: 0 });
        resume(a, 0);
        return;
      }
      const op = pending[a]!;
      let result = 0;
      const w = op.op === 'until' ? -1 : op.w;
      const before = w >= 0 ? m[w]! : 0;
      switch (op.op) {
        case 'load':
        case 'read':
          result = m[op.w]!;
          break;
        case 'store':
        case 'write':
          m[op.w] = op.v;
          break;
        case 'cas':
          result = m[op.w]!;
          if (result === op.expect) m[op.w] = op.v;
          break;
        case 'add':
          result = m[op.w]!;
          m[op.w] = (result + op.v) | 0;
          break;
        case 'until':
          break;
        case 'wait':
          if (m[op.w] !== op.v) result = 1;
          else {
            status[a] = ASLEEP;
            trace.push({ actor: a, op, before, result: -1, after: m[op.w]! });
            return; // resumed by a notify, then its WOKEN step
          }
          break;
        case 'notify': {
          let woke = 0;
          for (let b = 0; b < n && woke < op.count; b++) {
            const pb = pending[b];
            if (status[b] === ASLEEP && pb !== null && pb.op === 'wait' && pb.w === op.w) {
              status[b] = WOKEN;
              woke++;
            }
          }
          result = woke;
          break;
        }
      }
      trace.push({ actor: a, op, before, result, after: w >= 0 ? m[w]! : 0 });
      if (w >= 0 && wordSpecs.length > 0 && m[w] !== before) {
        for (const spec of wordSpecs) {
          if (!spec.covers(w) || spec.legal(before, m[w]!, names[a]!)) continue;
          const show = spec.show ?? String;
          fail(new Violation(`${spec.name}: only legal transitions`, `${names[a]} changed ${wordName(w)} from ${show(before)} to ${show(m[w]!)}`));
        }
      }
      resume(a, result);
    }
  }
}

const alsoOf = (op: Op): readonly number[] | undefined => (op as { also?: readonly number[] }).also;

/** Whether op reads or writes word w. wait and notify touch their word's sleep queue: a write. */
function touchesWord(op: Op, w: number): boolean {
  if (op.op === 'until') return op.ws.includes(w);
  if (op.w === w) return true;
  const also = alsoOf(op);
  return also !== undefined && also.includes(w);
}

/** Two steps of different actors commute: neither writes a word the other touches. A return from wait touches nothing. */
function independent(x: Op | null, y: Op | null): boolean {
  if (x === null || y === null) return true;
  return !conflicts(x, y) && !conflicts(y, x);
}

/** x writes a word y touches. */
function conflicts(x: Op, y: Op): boolean {
  if (x.op !== 'load' && x.op !== 'read' && x.op !== 'until' && touchesWord(y, x.w)) return true;
  const also = alsoOf(x);
  if (also !== undefined) for (const w of also) if (touchesWord(y, w)) return true;
  return false;
}

function render(
  names: readonly string[], trace: readonly TraceEntry[], wordName: (w: number) => string,
  status: readonly number[], pending: ReadonlyArray<Op | null>, m: Int32Array,
): string {
  const width = Math.max(...names.map((s) => s.length));
  const lines = [`schedule (${trace.length} steps): [${trace.map((t) => t.actor).join(',')}]  actors: ${names.map((s, i) => `${i}=${s}`).join(' ')}`];
  trace.forEach((t, i) => {
    const who = names[t.actor]!.padEnd(width);
    lines.push(`  ${String(i + 1).padStart(3)}. ${who}  ${describe(t, wordName)}`);
  });
  const waiting = names.map((s, a) => {
    if (status[a] === DONE) return null;
    const op = pending[a];
    if (status[a] === ASLEEP && op !== null && op.op === 'wait') return `${s} asleep in ${op.label} (${wordName(op.w)} = ${m[op.w]})`;
    if (op !== null && op.op === 'until') return `${s} blocked at ${op.label} (${op.ws.map((w) => `${wordName(w)} = ${m[w]}`).join(', ')})`;
    return op === null ? `${s} (woken)` : `${s} next: ${op.label}`;
  }).filter((x) => x !== null);
  if (waiting.length > 0) lines.push(`  then: ${waiting.join('; ')}`);
  return lines.join('\n');
}

function describe(t: TraceEntry, wordName: (w: number) => string): string {
  const op = t.op;
  if (op === null) return 'returns from wait (notified)';
  const at = (w: number): string => wordName(w);
  switch (op.op) {
    case 'load':
    case 'read':
      return `${op.label}  [${op.op} ${at(op.w)} -> ${t.result}]`;
    case 'store':
    case 'write':
      return `${op.label}  [${op.op} ${at(op.w)} := ${op.v} (was ${t.before})]`;
    case 'cas':
      return `${op.label}  [cas ${at(op.w)} ${op.expect} -> ${op.v}: ${t.result === op.expect ? 'won' : `lost, saw ${t.result}`}]`;
    case 'add':
      return `${op.label}  [add ${at(op.w)} ${op.v >= 0 ? '+' : ''}${op.v}: ${t.before} -> ${t.after}]`;
    case 'until':
      return `${op.label}  [ready]`;
    case 'wait':
      return `${op.label}  [wait ${at(op.w)} == ${op.v}: ${t.result === 1 ? `not-equal (${t.before})` : 'asleep'}]`;
    case 'notify':
      return `${op.label}  [notify ${at(op.w)}: woke ${t.result}]`;
  }
}
