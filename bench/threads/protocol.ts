// What bench threads and the main thread agree on (no side effects: both sides import it).
import type { RuntimeHandle } from '../../src/index.js';
import type { Limits } from '../../src/admission/gate.js';

// ---- gate-hammer.ts ----
export const CTL_IDLE = 0;
export const CTL_RUN = 1;
export const CTL_STOP = 2;

export interface HammerData {
  sab: SharedArrayBuffer;
  /** Control word: CTL_IDLE, CTL_RUN or CTL_STOP. */
  ctl: number;
  /** The shared producer gate word, and its limits. */
  word: number;
  limits: Limits;
  /** The hammer's own release word for the global count. */
  scratch: number;
  /** Operations the hammer has done (in 1024s). */
  count: number;
}

// ---- producer.ts: one request, one reply ----
export type ProducerRequest =
  | { op: 'attach'; handle: RuntimeHandle; name: string }
  /** Count in at go[1], wait for go[0] != 0, then run n tasks with at most `window` in flight (after `warmup` unmeasured). */
  | { op: 'throughput'; go: SharedArrayBuffer; n: number; window: number; warmup: number }
  /** Count in at go[1], wait for go[0] != 0, then n round trips one at a time (after `warmup`). */
  | { op: 'latency'; go: SharedArrayBuffer; n: number; warmup: number }
  | { op: 'detach' };

export type ProducerReply =
  | { op: 'attach' | 'detach' }
  /** start, end: wall-clock ms (performance.timeOrigin + now), comparable across threads. */
  | { op: 'throughput'; start: number; end: number; sum: number }
  | { op: 'latency'; samples: number[] }
  | { error: string };
