/**
 * sluice: a lock-free, shared-memory task runtime for Node.js.
 *
 * The public surface only: every value and every type a public signature names
 * (test/types/consumer.ts compiles against the built declarations and names each of them).
 */
export { Runtime } from './runtime/runtime.js';
export type {
  RuntimeOptions, RuntimeHandle, RuntimeStats, RuntimeState, WorkerStats, CloseOptions, AttachOptions, AffinityInfo, ErrorClass,
  TaskStats,
} from './runtime/runtime.js';
export { Token } from './runtime/token.js';
export type { TokenState, CancelOptions, TokenKey } from './runtime/token.js';
export { Producer } from './runtime/producer.js';
export type {
  Admission, Rejection, ProducerStats, ProducerEvent, SubmitOptions, SubmitCallback, TaskLatency,
} from './runtime/producer.js';
export type { LatencyStats } from './shm/words/histogram.js';
export type { ProducerLimits, EffectiveLimits } from './runtime/registry.js';
export { TaskRef } from './runtime/task.js';
export type { TaskOptions } from './runtime/task.js';
export type { IoClass, IoClassName, IoClassStats } from './runtime/io-types.js';
export type { TaskName, TaskPayload, TaskResult, SubmitArgs, ResultCast } from './runtime/typed.js';
export type { Weight } from './runtime/routing.js';
export { MonotonicClock, VirtualClock, TICKS_PER_SECOND } from './admission/clock.js';
export type { Clock } from './admission/clock.js';
export type { RejectReason } from './admission/reasons.js';
export type { Outcome } from './admission/outcomes.js';
export {
  SluiceError, ConfigError, UnknownTaskError, PayloadError, RetractedError, AbandonedError, RejectedError, WorkerStartError,
  AttachError, ClockError, AbortedError,
} from './errors.js';
export type { SluiceErrorCode, RunRejectReason } from './errors.js';
// The Guard House (docs/design.md §4.16): per-task health, breakers, quarantine.
export { Quarantine, GuardControl, QUARANTINE_LIMIT } from './runtime/guard-api.js';
export type { BreakerStats, HealthClass, QuarantineEntry } from './runtime/guard-api.js';
export type { GuardOptions } from './admission/guard.js';
export type { BreakerState } from './shm/words/breaker.js';
