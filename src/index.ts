/** sluice: a lock-free, shared-memory task runtime for Node.js. */
export { Runtime } from './runtime/runtime.js';
export type { RuntimeOptions, RuntimeHandle, RuntimeStats, WorkerStats, CloseOptions } from './runtime/runtime.js';
export { Token } from './runtime/token.js';
export type { TokenState } from './runtime/token.js';
export { Producer } from './runtime/producer.js';
export type { Admission, Rejection, ProducerLimits, ProducerStats, SubmitOptions } from './runtime/producer.js';
export { TaskRef } from './runtime/task.js';
export type { TaskOptions } from './runtime/task.js';
export type { Weight } from './runtime/routing.js';
export { MonotonicClock, VirtualClock, TICKS_PER_SECOND } from './admission/clock.js';
export type { Clock } from './admission/clock.js';
export type { RejectReason } from './admission/reasons.js';
export type { Outcome } from './admission/outcomes.js';
export * from './errors.js';
