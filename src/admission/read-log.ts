/**
 * The read log (docs/design.md §4.15 step 5): what makes a runtime's own full recording
 * replayable. A thread's admission decisions are a deterministic function of its clock readings
 * and of the values it read from shared gate words. Values it wrote itself, replay re-derives;
 * the others (another thread's CAS, a release, the supervisor's recount) are the inputs, and the
 * read log records exactly those.
 *
 * Every read of a gate word on the decision path (a load, a CAS's witness, an atomic sub's old
 * value) goes through the helpers below. With no log installed (always, unless this thread is
 * recording to a file and inside a decision) each helper is the bare Atomics call behind one
 * null test. With a log:
 *   recording: before() counts the read; read() compares the value with this thread's shadow of
 *              the word (the last value it read or wrote there) and, when they differ, appends a
 *              SEEN record (the read's count, the word, the value); wrote() updates the shadow.
 *   replay:    before() counts the read and, when the next SEEN record of this thread has that
 *              count, stores its value into the replay's private memory first, so the same
 *              instruction reads the same value; read() and wrote() do nothing.
 * Both sides run the same gate code on a memory that equals the thread's shadow at every read,
 * so they take the same branches, make the same reads in the same order, and decide the same.
 *
 * Per thread and per decision: the owner installs its log around the steps that decide
 * (setReadLog ... setReadLog(null)), so two runtimes in one thread never share one.
 */
import { loadAcquire } from '../shm/order.js';
export interface ReadLog {
  before(word: number): void;
  read(word: number, value: number): void;
  wrote(word: number, value: number): void;
  /** read(word, value) then wrote(word, next): a CAS that won, an atomic subtraction. */
  readWrote(word: number, value: number, next: number): void;
}

let log: ReadLog | null = null;

/** Install `l` as this thread's read log (null: none). Returns the previous one. */
export function setReadLog(l: ReadLog | null): ReadLog | null {
  const old = log;
  log = l;
  return old;
}

export function logLoad(i32: Int32Array, w: number): number {
  const l = log;
  if (l === null) return loadAcquire(i32, w);
  l.before(w);
  const v = loadAcquire(i32, w);
  l.read(w, v);
  return v;
}

export function logCas(i32: Int32Array, w: number, expected: number, next: number): number {
  const l = log;
  if (l === null) return Atomics.compareExchange(i32, w, expected, next);
  l.before(w);
  const seen = Atomics.compareExchange(i32, w, expected, next);
  if (seen === expected) l.readWrote(w, seen, next);
  else l.read(w, seen);
  return seen;
}

/** Atomics.sub; returns the old value. */
export function logSub(i32: Int32Array, w: number, d: number): number {
  const l = log;
  if (l === null) return Atomics.sub(i32, w, d);
  l.before(w);
  const old = Atomics.sub(i32, w, d);
  l.readWrote(w, old, (old - d) | 0);
  return old;
}

export function logStore(i32: Int32Array, w: number, v: number): void {
  Atomics.store(i32, w, v);
  const l = log;
  if (l !== null) l.wrote(w, v);
}
