/**
 * A registered producer's name (registry.ts writes it once, before READY; read-only after). Apart
 * from registry.ts so that a worker's metrics do not load the registry, the gates and options.ts
 * at start-up (docs/performance.md).
 */
import { P_NAME_LEN, type Memory } from '../shm/layout.js';

/** @internal The name producer p registered with (p: a READY entry). */
export function producerName(mem: Memory, p: number): string {
  const at = mem.nameByte(p);
  return mem.buf.toString('utf8', at, at + mem.i32[mem.producerWord(p, P_NAME_LEN)]!);
}
