/**
 * The I/O class words (layout.ts: the io region, one 128-byte block per class slot; docs/design.md
 * §2.4). Two words per block:
 *
 *   IO_COUNT  admitted-and-unresolved tasks of the class (an int32 count, no bits)
 *   IO_CLASS  what the slot is, written once:
 *
 *     31            16 15             0
 *     +---------------+---------------+
 *     |      key      |     limit     |
 *     +---------------+---------------+
 *       0: a named class (slots 0..3: slow, moderate, fast, insane), written at start;
 *       task id + 1: that task function's custom class ({ limit }), claimed by CAS 0 -> word
 *       by the first rt.task(name, { io: { limit } }) of any thread (claimCustom).
 *     0 = an unclaimed custom slot. A claimed word never changes again, so a thread that read it
 *     once may cache it (a TaskRef does).
 *
 * Writers of IO_COUNT: every submitter (CAS below the limit, admission/io-class.ts admitIo),
 * every resolver (atomic sub, releaseIo), the supervisor under a freeze (recount, §4.10 step 4).
 *
 * The per-token class word (layout.ts tokenIo, one word per token index per attachment, beside
 * tokenMeta): class slot + 1 of the live token at that index, 0 = no class. Written by the
 * token's owner with a plain store before markPending (§4.1 step 5), so a token word that is not
 * FREE always has its class word written; read by its releaser and by the supervisor's recount.
 */

export const IO_KEY_SHIFT = 16;
export const IO_LIMIT_MASK = 0xffff;
export const IO_KEY_MASK = 0xffff << IO_KEY_SHIFT;
/** Largest class limit: 16 bits of the class word. */
export const IO_LIMIT_MAX = 0xffff;
/** Largest key: a task id + 1 (task ids are 16 bits, < 65535). */
export const IO_KEY_MAX = 0xffff;

export function classWord(key: number, limit: number): number { return ((key << IO_KEY_SHIFT) | limit) | 0; }
export function keyOf(word: number): number { return word >>> IO_KEY_SHIFT; }
export function limitOf(word: number): number { return word & IO_LIMIT_MASK; }

/**
 * An unclaimed custom slot (IO_CLASS 0) -> `word`, by CAS. Any thread, at rt.task(). Returns the
 * word the slot holds afterwards: `word` when this call (or an earlier identical one) won, else
 * the other claimer's. One CAS, no intermediate state: a thread that dies around it leaves the
 * slot either free or fully claimed.
 */
export function claimCustom(i32: Int32Array, w: number, word: number): number {
  const seen = Atomics.compareExchange(i32, w, 0, word);
  return seen === 0 ? word : seen;
}
