// Small helpers for bench/tail/sched.ts (a token session on an existing runtime).
import type { Runtime } from '../../src/index.js';
import { tokenSession } from '../e2e/sluice.js';
import type { Session } from '../workload.js';
export { fixture, sequential } from '../workload.js';
export const tokenSessionOf = (rt: Runtime): Session => tokenSession(rt, rt.producer('bench'));
