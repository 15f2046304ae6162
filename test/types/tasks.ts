// The task module typed-consumer.ts types its runtime with (`typeof import('./tasks.js')`).
// Never run; only type-checked (test/types.test.ts).
export function hash(text: string): string { return text; }
export async function slow(ms: number): Promise<number> { return ms; }
export function none(): boolean { return true; }
export function opt(n?: number): number { return n ?? 0; }
export function pair(p: { a: number; b: string }): [number, string] { return [p.a, p.b]; }
/** Not tasks: a non-function export and a class (constructible, not callable). */
export const notATask = 42;
export class NotATaskEither {}
