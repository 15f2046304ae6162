/**
 * What the supervisor's parts share (docs/design.md §4.8-§4.10): one object, made once by the
 * Supervisor facade (supervisor.ts) and handed to the Reconciler (reconcile.ts), the adoption
 * of a dead attachment (adopt.ts) and the Watchdog (watchdog.ts). Everything here lives on the
 * starting thread (attachment 0's) and is touched only by it, synchronously: no field is shared
 * memory except through `mem`.
 *
 * Owners of the plain fields:
 * - workers, ready: supervisor.ts (spawn/exit); the watchdog clears `ready` on a stall verdict.
 * - endings: key w = why slot w's thread ended (first writer wins: its 'fatal' message, its
 *   'error', terminate()); key -1-w = the reason for the token the watchdog abandoned on w for
 *   its deadline (§4.8 "Deadlines"), used by reconcile step 2 and cleared by recoverWorker.
 * - backlog: recovery steps that could not finish (no freeze, a full ring, a cell still being
 *   written): any part pushes; only the watchdog tick runs them again (true = done).
 * - adopted: dead attachments whose completion ring the supervisor drains (§4.9 step 3): adopt.ts.
 * - closing: set by stop(); no respawn, no watchdog tick after it.
 */
import type { Seam } from '../../trace/seam.js';
import type { ResourceLimits, Worker, WorkerOptions } from 'node:worker_threads';
import { A_HEAD, A_START, A_TID, Memory, W_HEAD } from '../../shm/layout.js';
import { Ring } from '../../shm/ring.js';
import { Codec } from '../codec.js';

export interface SupervisorOptions {
  /** Give each worker thread a channel for the large-value path (codec.ts BigMessage; RuntimeOptions.largeValues). */
  messagePath?: boolean;
  /** Passed to each worker thread (heap limits: a task that exceeds them kills its worker only). */
  resourceLimits: ResourceLimits | undefined;
  /** Passed to each worker thread, replacements too (Runtime.start's execArgv and env). */
  execArgv?: string[] | undefined;
  env?: WorkerOptions['env'];
  /** Watchdog period (ms): deadline and forced-cancel resolution. */
  watchdogMs: number;
  /** Deaths of one slot within restartWindowMs after which it is retired. */
  maxRestarts: number;
  restartWindowMs: number;
  /**
   * A ready worker whose ring holds work, with no task in its run record and a heartbeat that
   * has not moved for this long, is stuck outside any task and is replaced (§4.8, "A stalled
   * worker"). 0 = never.
   */
  stallMs: number;
  /**
   * How long a thread may take from its spawn to 'ready' (Runtime.start's startTimeoutMs). A
   * thread that has not reported ready by then is terminated, and its slot is recovered and
   * respawned like any dead thread's (§4.8 step 6). Runtime.start bounds the wait for its first
   * ready worker itself; this bounds the others and every replacement.
   */
  startTimeoutMs: number;
}

/** Why a thread ended, for the 'abandoned' reason and stats. */
export interface Ending { reason: string; retryable: boolean }

export class SupervisorContext {
  readonly i32: Int32Array;
  readonly L: Memory['layout'];
  /** Per worker slot: its submission ring (the slot's, not a thread's: §4.8). */
  readonly subRings: Ring[] = [];
  /** Per attachment: its completion ring. */
  readonly compRings: Ring[] = [];
  /** The supervisor's codec on arena 0: it only writes inline reasons and discards (never spills). */
  readonly codec: Codec;
  readonly workers: (Worker | null)[];
  /** Per slot: its thread reported ready (a starting thread is never judged stalled). */
  readonly ready: boolean[];
  readonly endings = new Map<number, Ending>();
  readonly backlog: Array<() => boolean> = [];
  readonly adopted = new Set<number>();
  closing = false;
  /** Called with a short message when a slot is retired or a thread is reconciled. */
  onEvent: (message: string) => void = () => {};
  /** Called after a slot is retired (rt.run waiters re-check: maybe no worker is left). */
  onRetired: () => void = () => {};
  /** The facade's own note of a retired slot (it will never report ready: Supervisor.whenAllReady). */
  onSlotRetired: (w: number) => void = () => {};
  /** The recording seam (src/trace/seam.ts): null unless recording. */
  seam: Seam | null = null;

  constructor(readonly mem: Memory) {
    const L = mem.layout;
    this.i32 = mem.i32;
    this.L = L;
    for (let w = 0; w < L.workers; w++) {
      this.subRings.push(new Ring(mem.i32, w, mem.tailWord(w), mem.workerWord(w, W_HEAD), mem.subRingByte(w), L.ringCapacity));
    }
    for (let a = 0; a < L.maxAttachments; a++) {
      this.compRings.push(new Ring(
        mem.i32, L.workers + a, mem.tailWord(L.workers + a), mem.attachWord(a, A_HEAD), mem.compRingByte(a), L.tokenCapacity,
      ));
    }
    this.codec = new Codec(mem, 0);
    this.workers = new Array<Worker | null>(L.workers).fill(null);
    this.ready = new Array<boolean>(L.workers).fill(false);
  }

  /** Every published cell between the ring's head and tail (a cell still being written is skipped). */
  forEachPublished(ring: Ring, fn: (cell: number) => void): void {
    const end = Atomics.load(this.i32, ring.tailWord);
    for (let pos = ring.head(); pos !== end; pos = (pos + 1) | 0) {
      if (ring.readable(pos)) fn(ring.cellWord(pos));
    }
  }

  /** Attachment a's thread identity (kernel tid, start time), as its owner recorded it (§4.9). */
  identity(a: number): { tid: number; start: number } {
    return { tid: Atomics.load(this.i32, this.mem.attachWord(a, A_TID)), start: Atomics.load(this.i32, this.mem.attachWord(a, A_START)) };
  }
}
