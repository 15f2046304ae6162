/**
 * The producer gate word (layout.ts P_PACKED, one per producer, on the producer's own block).
 *
 *   31            16 15             0
 *   +---------------+---------------+
 *   |    tokens     |   in flight   |
 *   +---------------+---------------+
 *     bucket tokens    admitted and not yet resolved
 *
 * tokens <= burst, in flight <= slots, each <= GATE_FIELD_MAX. Written only by CAS or by an
 * atomic add/sub, never by a plain store:
 *   - every thread that submits for the producer (CAS: take a token and a slot together, or
 *     change nothing; admission/gate.ts admitProducer) and rolls a refused global step back;
 *   - every thread that resolves one of its tokens (atomic sub: give the slot back, releaseSlots);
 *   - the refill winner (CAS: add earned tokens, capped at burst; admission/gate.ts refill);
 *   - the supervisor, under a freeze, recounting in flight from the token words (reconcile).
 * The transitions themselves are the gate's protocol (admission/gate.ts, design 4.1 steps 2-3),
 * which takes guesses and limits; this file owns the bits. One other reader/writer knows them:
 * the WebAssembly fast path (admission/wasm-gate.ts) has the shift 16 and the 0xffff mask in its
 * bytecode; test/admission/bucket.test.ts checks that it decides and writes exactly what the
 * JavaScript steps do.
 */

export const GATE_TOKENS_SHIFT = 16;
export const GATE_INFLIGHT_MASK = 0xffff;
export const GATE_TOKENS_MASK = 0xffff << GATE_TOKENS_SHIFT;
/** Maximum burst and slots: each has 16 bits of the gate word. */
export const GATE_FIELD_MAX = 0xffff;
/** One bucket token, as an amount to add to or subtract from the word. */
export const GATE_TOKEN_ONE = 1 << GATE_TOKENS_SHIFT;

export function tokensOf(packed: number): number { return packed >>> GATE_TOKENS_SHIFT; }
export function inflightOf(packed: number): number { return packed & GATE_INFLIGHT_MASK; }
export function pack(tokens: number, inflight: number): number { return ((tokens << GATE_TOKENS_SHIFT) | inflight) | 0; }
/** The word with its in-flight field replaced (the supervisor's recount). */
export function withInflight(packed: number, inflight: number): number { return ((packed & ~GATE_INFLIGHT_MASK) | inflight) | 0; }
