/**
 * The named I/O classes (docs/design.md §2.4), by slot 0..3, and the seed's limits (TokenGate:
 * SLOW 10, MODERATE 25, FAST 50, INSANE 70). No imports: public declarations name IoClassName.
 */
export const IO_CLASS_NAMES = ['slow', 'moderate', 'fast', 'insane'] as const;
export type IoClassName = (typeof IO_CLASS_NAMES)[number];
export const DEFAULT_IO_LIMITS: Readonly<Record<IoClassName, number>> = Object.freeze({ slow: 10, moderate: 25, fast: 50, insane: 70 });
