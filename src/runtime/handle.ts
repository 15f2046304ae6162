/**
 * Trust at the attach boundary (docs/design.md §4.13): an attach handle is checked against the
 * runtime's own shared memory before any slot is claimed, reading each of its fields once; the
 * instance id every TaskRef of a runtime carries. Reads only; the digest is written once at start.
 */
import { types } from 'node:util';
import { BLOCK_BYTES, DIGEST_WORDS, H_DIGEST, H_INSTANCE, H_PROBE, H_TASK_COUNT, H_WORKERS, Memory, readLayout } from '../shm/layout.js';
import { AttachError, describe } from '../errors.js';
import { crypto } from '../builtins.js';
import { TraceRings } from '../trace/rings.js';
import type { TraceShare } from './recording.js';
import { snapshot } from './options.js';

export function instanceId(mem: Memory): string {
  return `${mem.i32[H_INSTANCE]! >>> 0}:${mem.i32[H_INSTANCE + 1]! >>> 0}`;
}

/** SHA-256 of the canonical encoding (JSON) of the task names and routing chains, as 8 words. */
/** @internal */
export function tableDigest(names: readonly string[], chains: readonly (readonly number[])[]): Int32Array {
  const d = crypto().createHash('sha256').update(JSON.stringify([names, chains])).digest();
  return new Int32Array(d.buffer.slice(d.byteOffset, d.byteOffset + DIGEST_WORDS * 4));
}

const HANDLE_KEYS = ['kind', 'sab', 'memory', 'names', 'chains', 'trace'] as const;
const wasmBuffer = Object.getOwnPropertyDescriptor(WebAssembly.Memory.prototype, 'buffer')!.get!;
const sabLength = Object.getOwnPropertyDescriptor(SharedArrayBuffer.prototype, 'byteLength')!.get!;

/**
 * §4.13 step 2. Check an attach handle against the memory it names (docs/design.md 4.13), reading each of its
 * fields once: structure, then the memory's header (readLayout trusts none of it), then the
 * digest of names and chains written at start. Nothing is claimed here; a bad handle is an
 * AttachError that says what is wrong without printing values.
 */
export function checkHandle(handle: unknown): { mem: Memory; names: string[]; chains: number[][]; trace: TraceShare | null } {
  const bad = (what: string, cause?: unknown): AttachError =>
    new AttachError(`Runtime.attach: not a valid handle of a running sluice runtime (${what}); pass rt.handle`, cause === undefined ? undefined : { cause });
  const h = snapshot('Runtime.attach', 'handle', handle, HANDLE_KEYS, false, AttachError);
  if (h.kind !== 'sluice-runtime') throw bad("its kind is not 'sluice-runtime'");
  const sab = h.sab;
  if (!types.isSharedArrayBuffer(sab)) throw bad(`its sab is ${describe(sab)}, not a SharedArrayBuffer`);
  let buf = sab;
  let wasm: WebAssembly.Memory | null = null;
  if (h.memory !== null && h.memory !== undefined) {
    try {
      buf = Reflect.apply(wasmBuffer, h.memory, []) as SharedArrayBuffer; // brand check: a look-alike throws
    } catch {
      throw bad(`its memory is ${describe(h.memory)}, not a WebAssembly.Memory`);
    }
    if (!types.isSharedArrayBuffer(buf)) throw bad('its memory is not shared');
    wasm = h.memory as WebAssembly.Memory;
  }
  const bytes = Reflect.apply(sabLength, buf, []) as number;
  if (bytes < BLOCK_BYTES || bytes % 8 !== 0) throw bad('its buffer is too small or misaligned for a runtime');
  let layout;
  try {
    layout = readLayout(new Int32Array(buf));
  } catch (err) {
    throw bad((err as Error).message);
  }
  const mem = new Memory(buf, layout, wasm);
  if (buf !== sab) {
    // memory and sab must be views of one memory (a cloned handle holds two objects for it):
    // a write through one must show through the other.
    if (Reflect.apply(sabLength, sab, []) !== bytes) throw bad("its sab is not its memory's buffer");
    const other = new Int32Array(sab);
    const before = Atomics.add(mem.i32, H_PROBE, 1);
    if (((Atomics.load(other, H_PROBE) - before) | 0) <= 0) throw bad("its sab is not its memory's buffer");
  }
  const names = readStrings(h.names, bad);
  if (names.length !== mem.i32[H_TASK_COUNT]) throw bad('its names do not match the runtime\'s tasks');
  const workers = mem.i32[H_WORKERS]!;
  const chains = readChains(h.chains, workers, bad);
  const want = mem.i32.subarray(H_DIGEST, H_DIGEST + DIGEST_WORDS);
  const got = tableDigest(names, chains);
  for (let i = 0; i < DIGEST_WORDS; i++) {
    if (got[i] !== want[i]) throw bad('its names or chains differ from the runtime\'s (reordered or edited)');
  }
  return { mem, names, chains, trace: readTrace(h.trace, mem, bad) };
}

/** The recording's region (when the runtime records): a SharedArrayBuffer and its shape, checked. */
function readTrace(v: unknown, mem: Memory, bad: (what: string, cause?: unknown) => AttachError): TraceShare | null {
  if (v === undefined || v === null) return null;
  const t = snapshot('Runtime.attach', 'handle.trace', v, ['sab', 'records', 'attachments', 'workers', 'epochMicros', 'readLog'], false, AttachError);
  if (!types.isSharedArrayBuffer(t.sab)) throw bad('its trace region is not a SharedArrayBuffer');
  if (typeof t.readLog !== 'boolean') throw bad('its trace.readLog is not a boolean');
  for (const k of ['records', 'attachments', 'workers', 'epochMicros'] as const) {
    if (typeof t[k] !== 'number' || !Number.isSafeInteger(t[k]) || (t[k] as number) < 0) throw bad(`its trace.${k} is not a non-negative integer`);
  }
  // The shape must be the runtime's and the region must hold it: a ring is then opened inside it.
  const records = t.records as number;
  if (t.attachments !== mem.layout.maxAttachments || t.workers !== mem.layout.workers || records < 2 || (records & (records - 1)) !== 0
    || (Reflect.apply(sabLength, t.sab, []) as number) < TraceRings.words(mem.layout.maxAttachments, mem.layout.workers, records) * 4) {
    throw bad("its trace region does not match the runtime's");
  }
  return t as unknown as TraceShare;
}

function readStrings(v: unknown, bad: (what: string, cause?: unknown) => AttachError): string[] {
  if (!Array.isArray(v)) throw bad(`its names are ${describe(v)}, not an array`);
  try {
    const n = v.length;
    if (n > 0xffff) throw bad('it has too many names');
    const out: string[] = [];
    for (let i = 0; i < n; i++) {
      const s = v[i] as unknown;
      if (typeof s !== 'string' || s.length === 0 || !s.isWellFormed()) throw bad(`its names[${i}] is not a well-formed, non-empty string`);
      out.push(s);
    }
    return out;
  } catch (err) {
    if (err instanceof AttachError) throw err;
    throw bad('reading its names threw', err);
  }
}

function readChains(v: unknown, workers: number, bad: (what: string, cause?: unknown) => AttachError): number[][] {
  if (!Array.isArray(v)) throw bad(`its chains are ${describe(v)}, not an array`);
  try {
    if (v.length !== 4) throw bad('it does not have 4 chains');
    const out: number[][] = [];
    for (let c = 0; c < 4; c++) {
      const chain = v[c] as unknown;
      if (!Array.isArray(chain)) throw bad(`its chains[${c}] is not an array`);
      const n = chain.length;
      if (n === 0 || n > workers) throw bad(`its chains[${c}] has ${n} workers; the runtime has ${workers}`);
      const seen = new Set<number>();
      for (let i = 0; i < n; i++) {
        const w = chain[i] as unknown;
        if (typeof w !== 'number' || !Number.isInteger(w) || w < 0 || w >= workers || seen.has(w)) {
          throw bad(`its chains[${c}] names a worker that does not exist or names one twice`);
        }
        seen.add(w);
      }
      out.push([...seen]);
    }
    return out;
  } catch (err) {
    if (err instanceof AttachError) throw err;
    throw bad('reading its chains threw', err);
  }
}
