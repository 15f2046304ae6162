// Self-checking records for the thread tests: every field of writer w's record at position p is
// derived from (w, p), and p is its tick. A record made of words from two appends (a torn copy)
// fails expectSeeded: the fields of two positions disagree almost everywhere.
import { RecordKind, type TraceRecord } from '../../src/trace/records.js';

function h(w: number, p: number, i: number): number {
  let x = Math.imul((w << 24) ^ p ^ Math.imul(i, 0x9e3779b9), 0x85ebca6b);
  x ^= x >>> 15;
  x = Math.imul(x, 0xc2b2ae35);
  return (x ^ (x >>> 13)) >>> 0;
}

/** Fill `r` (reused, no allocation) with writer w's record for position p. */
export function fillSeeded(r: TraceRecord, w: number, p: number): void {
  r.kind = RecordKind.SUBMIT_ADMITTED + (h(w, p, 1) % 12); // every kind but META
  r.aux = h(w, p, 2) & 0xffff;
  r.writerClass = 1;
  r.writerIndex = w;
  r.cpu = h(w, p, 3) & 0x7fff;
  r.producer = h(w, p, 4) & 0x7fff;
  r.task = h(w, p, 5) & 0x7fff;
  r.tokenAtt = h(w, p, 6) & 0xff;
  r.token = h(w, p, 7) & 0xffff;
  r.gen = h(w, p, 8) & 0x1fffff;
  r.worker = h(w, p, 9) & 0x7f;
  r.tick = p;
  r.parentAtt = h(w, p, 10) & 0xff;
  r.parent = h(w, p, 11) & 0xffff;
  r.parentGen = h(w, p, 12) & 0x1fffff;
  r.k0 = h(w, p, 13) | 0;
  r.k1 = h(w, p, 14) | 0;
  r.k2 = h(w, p, 15) | 0;
  r.k3 = h(w, p, 16) | 0;
}

const expected: TraceRecord = { kind: 0, aux: 0, writerClass: 0, writerIndex: 0, cpu: 0, producer: 0, task: 0, tokenAtt: 0, token: 0, gen: 0, worker: 0, tick: 0, parentAtt: 0, parent: 0, parentGen: 0, k0: 0, k1: 0, k2: 0, k3: 0 };
const FIELDS = Object.keys(expected) as (keyof TraceRecord)[];

/** True iff r is exactly writer w's record for position r.tick. */
export function isSeeded(r: TraceRecord, w: number): boolean {
  fillSeeded(expected, w, r.tick);
  for (const f of FIELDS) if (r[f] !== expected[f]) return false;
  return true;
}
