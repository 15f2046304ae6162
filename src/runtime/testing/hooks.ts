/**
 * Test-only pause points. With Runtime.start({ testHooks: true }), a thread that reaches an
 * armed point stops there (Atomics.wait) until the test releases it or kills the thread. Tests
 * use them to kill a worker or a producer thread at an exact step of a protocol, instead of
 * sleeping and hoping. Disabled (the default), each point costs one predictable branch.
 *
 * Hooks block words: ARMED (point id; one-shot, cleared by the thread that hits it), TARGET
 * (who may hit it: worker index + 1, or -(attachment + 1); 0 = anyone), HIT (who hit it, same
 * encoding; the test waits on it), RELEASE (bumped to let the paused thread go on).
 */
import { Memory } from '../../shm/layout.js';

export const HOOK_POINTS = {
  /** Worker: the token is RUNNING (step 2), the ring cell not yet released (step 3). */
  'run:claimed': 1,
  /** Worker: the cell is released; the task has not been called. */
  'run:released': 2,
  /** Worker: RUNNING -> DONE won (step 5); no completion cell claimed yet. */
  'complete:done': 3,
  /** Worker: completion cell claimed, not yet published (step 6). */
  'complete:claimed': 4,
  /** Submitter: the producer gate admitted (step 2); nothing else taken. */
  'submit:producer': 5,
  /** Submitter: both gates admitted (step 3); no ring cell yet. */
  'submit:global': 6,
  /** Submitter: ring cell claimed (step 4), not yet published. */
  'submit:claimed': 7,
  /** Submitter: a task with an I/O class took its class slot (step 3a); no ring cell yet. */
  'submit:io': 8,
} as const;
export type HookPoint = keyof typeof HOOK_POINTS;

const ARMED = 0;
const TARGET = 1;
const HIT = 2;
const RELEASE = 3;

/** Called at a pause point by a thread whose runtime has hooks enabled. */
export function pauseAt(mem: Memory, point: number, who: number): void {
  const i32 = mem.i32;
  const base = mem.hooksWord;
  if (Atomics.load(i32, base + ARMED) !== point) return;
  const target = Atomics.load(i32, base + TARGET);
  if (target !== 0 && target !== who) return;
  if (Atomics.compareExchange(i32, base + ARMED, point, 0) !== point) return;
  const release = Atomics.load(i32, base + RELEASE);
  Atomics.store(i32, base + HIT, who);
  Atomics.notify(i32, base + HIT);
  Atomics.wait(i32, base + RELEASE, release); // until released, or this thread is terminated
}

/** The test side. `who`: worker index + 1, or -(attachment index + 1); 0 = any thread. */
export class Hooks {
  constructor(private readonly mem: Memory) {}

  arm(point: HookPoint, who = 0): void {
    const base = this.mem.hooksWord;
    Atomics.store(this.mem.i32, base + HIT, 0);
    Atomics.store(this.mem.i32, base + TARGET, who);
    Atomics.store(this.mem.i32, base + ARMED, HOOK_POINTS[point]);
  }

  /** Resolves with the encoded thread once some thread is paused at the armed point. */
  async hit(): Promise<number> {
    const i32 = this.mem.i32;
    const w = this.mem.hooksWord + HIT;
    for (;;) {
      const v = Atomics.load(i32, w);
      if (v !== 0) return v;
      const r = Atomics.waitAsync(i32, w, 0);
      if (r.async) await r.value;
    }
  }

  release(): void {
    Atomics.add(this.mem.i32, this.mem.hooksWord + RELEASE, 1);
    Atomics.notify(this.mem.i32, this.mem.hooksWord + RELEASE);
  }
}
