/**
 * The public types of I/O classes (runtime/io-class.ts has the code). Kept apart, with no value
 * imports, so the published declarations that name them do not reach into shared-memory internals.
 */
import type { IoClassName } from '../admission/io-names.js';

export type { IoClassName };

/** rt.task(name, { io }): a named class, or `{ limit }`: this task function's own class. */
export type IoClass = IoClassName | { readonly limit: number };

/** One I/O class in rt.stats().io. */
export interface IoClassStats {
  /** 'slow' | 'moderate' | 'fast' | 'insane', or the task name of a custom ({ limit }) class. */
  class: string;
  limit: number;
  /** Admitted and not yet resolved, all threads. */
  inFlight: number;
}

/** @internal What a TaskRef keeps: class slot + 1 (0 = no class), its limit, and its count word. */
export interface IoBinding {
  readonly io: number;
  readonly limit: number;
  readonly word: number;
}
