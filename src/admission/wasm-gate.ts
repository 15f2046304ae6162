/**
 * Steps 2-3 of a submit, the common case, as one WebAssembly call (§4.11 step 3).
 *
 * On Node 20 every `Atomics` call is a builtin call (~12-16 ns for a compareExchange here),
 * while a WebAssembly `i32.atomic.rmw.cmpxchg` compiles to the bare instruction, and a call
 * from JavaScript into a small exported function costs ~5 ns. So when the runtime's memory is a
 * shared `WebAssembly.Memory` (layout.ts allocates it that way when it can), the gates' fast
 * path runs here: both guesses right and room in both gates is two `lock cmpxchg`s in one call.
 * Anything else returns a code and JavaScript takes the general path (gate.ts), which decides
 * exactly as before; the property test in test/admission/bucket.test.ts holds this function to
 * the separate steps, guesses scrambled or not.
 *
 *   decide(pAddr, gAddr, gpAddr, ggAddr, take, slots, rated, gLimit) -> 0 | 1 | 2
 *     pAddr/gAddr    byte addresses of the producer's packed word and the global word
 *     gpAddr/ggAddr  byte addresses of this thread's guesses of them (written only by it)
 *     take           what the producer CAS subtracts (one token and one slot, or a slot)
 *     0  admitted: both CASes won, both guesses updated
 *     1  nothing taken: a refusal is possible or a guess was wrong (the producer's guess is
 *        refreshed from the failed CAS); decide it the general way
 *     2  the producer step is taken, the global CAS lost (its guess refreshed): finish step 3
 *        the general way (admitGlobal, rolling step 2 back if it refuses)
 *
 * The bytes below are the whole module, written out by hand (no toolchain): one memory import
 * ("e"."m", shared, 1..65536 pages) and one function.
 */

export type WasmDecide = (
  pAddr: number, gAddr: number, gpAddr: number, ggAddr: number, take: number, slots: number, rated: number, gLimit: number,
) => number;

export const FAST_ADMITTED = 0;
export const FAST_NOTHING_TAKEN = 1;
export const FAST_PRODUCER_TAKEN = 2;

/** Unsigned LEB128. */
function leb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

const section = (id: number, body: number[]): number[] => [id, ...leb(body.length), ...body];
const name = (s: string): number[] => [s.length, ...[...s].map((c) => c.charCodeAt(0))];

// Opcodes.
const GET = 0x20, SET = 0x21, TEE = 0x22, LOAD = [0x28, 0x02, 0x00], STORE = [0x36, 0x02, 0x00];
const CMPXCHG = [0xfe, 0x48, 0x02, 0x00];
const CONST = 0x41, IF = [0x04, 0x40], END = 0x0b, RETURN = 0x0f;
const EQZ = 0x45, NE = 0x47, GE_S = 0x4e, GE_U = 0x4f, ADD = 0x6a, SUB = 0x6b, AND = 0x71, SHR_U = 0x76;
// Parameters 0-7 as in the signature; locals 8 old, 9 g, 10 next, 11 seen.
const [P, G, GP, GG, TAKE, SLOTS, RATED, GLIMIT, OLD, GV, NEXT, SEEN] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
const give = (code: number): number[] => [CONST, code, RETURN];

const body: number[] = [
  1, 4, 0x7f, // four i32 locals
  GET, GP, ...LOAD, SET, OLD,
  GET, GG, ...LOAD, SET, GV,
  // rated and no token in the guess: maybe 'rate'
  GET, RATED, ...IF, GET, OLD, CONST, 16, SHR_U, EQZ, ...IF, ...give(1), END, END,
  // no slot in the guess: maybe 'producer-slots'
  GET, OLD, CONST, 0xff, 0xff, 0x03, AND, GET, SLOTS, GE_U, ...IF, ...give(1), END,
  // no global slot in the guess: maybe 'global-slots'
  GET, GV, GET, GLIMIT, GE_S, ...IF, ...give(1), END,
  // producer CAS
  GET, OLD, GET, TAKE, SUB, SET, NEXT,
  GET, P, GET, OLD, GET, NEXT, ...CMPXCHG, TEE, SEEN, GET, OLD, NE,
  ...IF, GET, GP, GET, SEEN, ...STORE, ...give(1), END,
  GET, GP, GET, NEXT, ...STORE,
  // global CAS
  GET, G, GET, GV, GET, GV, CONST, 1, ADD, ...CMPXCHG, TEE, SEEN, GET, GV, NE,
  ...IF, GET, GG, GET, SEEN, ...STORE, ...give(2), END,
  GET, GG, GET, GV, CONST, 1, ADD, ...STORE,
  CONST, 0,
  END,
];

const I32 = 0x7f;
export const WASM_GATE_BYTES = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  ...section(1, [1, 0x60, 8, I32, I32, I32, I32, I32, I32, I32, I32, 1, I32]),
  ...section(2, [1, ...name('e'), ...name('m'), 0x02, 0x03, ...leb(1), ...leb(65536)]),
  ...section(3, [1, 0]),
  ...section(7, [1, ...name('decide'), 0x00, 0]),
  ...section(10, [1, ...leb(body.length), ...body]),
]);

/** The compiled module (once per thread); null once compiling has failed. */
let compiled: WebAssembly.Module | null | undefined;

/** The decide function over `memory`, or null when this platform cannot run it (the JavaScript path is used then). */
export function wasmDecide(memory: WebAssembly.Memory | null): WasmDecide | null {
  if (memory === null) return null;
  if (compiled === undefined) {
    try {
      compiled = new WebAssembly.Module(WASM_GATE_BYTES);
    } catch {
      compiled = null;
    }
  }
  if (compiled === null) return null;
  try {
    return new WebAssembly.Instance(compiled, { e: { m: memory } }).exports.decide as WasmDecide;
  } catch {
    return null;
  }
}
