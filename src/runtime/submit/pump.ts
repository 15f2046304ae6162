/**
 * The pump (docs/design.md §4.4): the completion side of the waker protocol for a thread that
 * must not block. It drains this thread's completion ring from setImmediate ticks while tokens
 * are outstanding, polls for the spin budget, then parks with Atomics.waitAsync; a worker that
 * publishes a completion and sees PARKED wakes it (§3.2). With nothing outstanding it stops:
 * nothing runs and nothing keeps the process alive.
 *
 * Owner: the attachment's thread; it alone writes its waker word's PARKED/RUNNING states
 * (workers only wake it).
 */
import { A_WAKER } from '../../shm/layout.js';
import { Waker, wake } from '../../shm/waker.js';
import { spinYield } from '../native/affinity.js';
import { CoreMover } from '../native/core-move.js';
import { POLL_ONE_MS, POLL_TURN_MS, SPIN_POLLS, YIELD_AFTER_MS } from '../native/spin.js';
import type { Attachment } from './attachment.js';
import type { Drain } from './drain.js';
import type { TokenTable } from './token-table.js';

const PUMP_IDLE = 0;
const PUMP_SCHEDULED = 1;
const PUMP_PARKED = 2;

/** What the pump tells after a drained batch or a cancel (runtime.ts: the Runtime itself). */
export interface DrainListener {
  afterDrain(): void;
}

export class Pump {
  private state = PUMP_IDLE;
  private spinUntil = 0;
  /** When the pump was last scheduled or had a turn: step 0 keeps the event loop waiting at most pollTurnMs past it. */
  private turnAt = 0;
  private readonly spinMs: number;
  /** @internal Step 0's budget per poll: min(spin, POLL_ONE_MS); 0 with spin 0 (0 turns step 0 off). */
  pollOneMs: number;
  /** @internal How long step 0 may keep the event loop waiting (POLL_TURN_MS; tests may widen it). */
  pollTurnMs = POLL_TURN_MS;
  /**
   * Told after each drained batch and each cancel (rt.run waiters, back-pressure edges). An
   * object with a method, not a closure: the call site is shared by every runtime of the process,
   * and a closure per runtime would be a new call target for its optimized code each time.
   */
  onDrained: DrainListener | null = null;
  readonly waker: Waker;
  readonly cores: CoreMover;
  /** @internal sched_yield (null without the addon). */
  readonly pause = spinYield();
  private readonly keepAlive: NodeJS.Timeout;
  private readonly table: TokenTable;
  private readonly drain: Drain;

  constructor(private readonly att: Attachment) {
    this.table = att.table;
    this.drain = att.drain;
    this.spinMs = att.layout.spinMicros / 1000;
    this.pollOneMs = Math.min(this.spinMs, POLL_ONE_MS);
    this.waker = new Waker(att.i32, att.mem.attachWord(att.index, A_WAKER));
    this.cores = new CoreMover(att.mem);
    this.keepAlive = setInterval(noop, 2 ** 30);
    this.keepAlive.unref();
  }

  /** An admission tick may be reused only while the pump is scheduled: its next tick expires it (tick.ts). */
  private setState(s: number): void {
    this.state = s;
    this.att.ticks.reusable = s === PUMP_SCHEDULED;
    if (this.att.submitTicks !== null) this.att.submitTicks.reusable = s === PUMP_SCHEDULED;
  }

  /** A token was tracked: make sure its completion will be drained (§4.4 step 1). */
  want(): void {
    if (this.state === PUMP_IDLE) this.schedule();
  }

  schedule(): void {
    if (this.state !== PUMP_IDLE) return;
    this.setState(PUMP_SCHEDULED);
    this.turnAt = performance.now();
    this.spinUntil = this.turnAt + this.spinMs;
    setImmediate(this.tick);
  }

  /** Nothing is outstanding any more: a parked pump wakes and stops (cancel, close). */
  wakeIfParked(): void {
    if (this.state === PUMP_PARKED) wake(this.att.i32, this.waker.word);
  }

  /**
   * §4.4 step 0, the one-task poll: when this thread has exactly one task outstanding and is
   * about to give its event loop a turn to wait for it (a token being awaited; a pump tick whose
   * callbacks submitted the next task), poll the completion ring for up to min(spin, POLL_ONE_MS)
   * and drain what arrives: the awaiter or callback runs without an event-loop turn. Not inside a
   * drain (a callback awaiting), and not once pollTurnMs have passed since the pump last had a
   * turn. Returns how many completions it drained.
   */
  pollOne(): number {
    if (this.table.outstanding !== 1 || this.pollOneMs === 0 || this.drain.draining) return 0;
    const start = performance.now();
    if (start - this.turnAt > this.pollTurnMs) return 0;
    const ring = this.att.completions;
    const until = start + this.pollOneMs;
    for (;;) {
      for (let i = 0; i < SPIN_POLLS; i++) {
        if (ring.readable(this.drain.head)) {
          const n = this.drain.drain();
          if (n > 0) {
            this.spinUntil = start + this.spinMs;
            if (this.onDrained !== null) this.onDrained.afterDrain();
          }
          return n;
        }
      }
      if (performance.now() >= until) return 0;
    }
  }

  /** §4.4 steps 1-4. */
  readonly tick = (): void => {
    this.att.ticks.expire(); // a new turn: the next admission reads the clock
    if (this.att.submitTicks !== null) this.att.submitTicks.expire(); // and the next submit tick (metrics)
    let n = this.drain.drain();
    if (n === 0 && this.spinMs === 0 && this.pause !== null && this.table.outstanding > 0) {
      // Spin 0: yield the CPU once before parking. A worker woken on this CPU (routing.ts rule 2)
      // runs its task now and this drain finds the result: no waitAsync, no wake back.
      this.pause();
      n = this.drain.drain();
    }
    // One clock reading per tick: the spin budget's restart, or the check against it.
    const now = performance.now();
    this.turnAt = now;
    if (n > 0) {
      this.spinUntil = now + this.spinMs;
      if (this.onDrained !== null) this.onDrained.afterDrain();
      // A callback that submitted the next task (a sequential loop on the callback path): step 0.
      while (this.pollOne() > 0);
    }
    if (this.table.outstanding === 0) {
      this.setState(PUMP_IDLE); // 4. nothing outstanding: stop
      return;
    }
    if (n > 0 || now < this.spinUntil) {
      // 2. Nothing for a few µs: if an awake worker shares this CPU, leave it (2a, when another
      // CPU is free of awake workers), or else let it run: yield. Not otherwise: a yield is a
      // system call (~2.5 µs on this project's VM) that would only delay the next look.
      if (n === 0 && this.pause !== null && now - (this.spinUntil - this.spinMs) > YIELD_AFTER_MS && this.cores.leaveBusyCore()) {
        this.pause();
      }
      setImmediate(this.tick);
      return;
    }
    // 3. Park: announce, re-check, then waitAsync (§3.2 steps 2-3).
    this.waker.announcePark();
    if (this.att.completions.readable(this.drain.head)) {
      this.waker.running();
      setImmediate(this.tick);
      return;
    }
    const woken = this.waker.parkAsync();
    if (woken === null) {
      setImmediate(this.tick);
      return;
    }
    this.setState(PUMP_PARKED);
    this.keepAlive.ref(); // a pending waitAsync alone does not keep the process alive
    woken.then(this.onWake, this.onWake);
  };

  readonly onWake = (): void => {
    this.keepAlive.unref();
    this.waker.running();
    this.setState(PUMP_SCHEDULED);
    this.turnAt = performance.now();
    this.spinUntil = this.turnAt + this.spinMs;
    this.tick();
  };

  /** Stop the pump and free this thread's timers (after everything resolved, or at close). */
  dispose(): void {
    clearInterval(this.keepAlive);
    this.wakeIfParked();
  }
}

function noop(): void {}
