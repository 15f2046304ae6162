// The seam's trace side: each Recorder method appends exactly one record, to its own thread's
// ring, with the writer's identity, its CPU, and the integers it was given in the fields
// records.ts names for that kind.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Recorder } from '../../src/trace/recorder.js';
import { TraceRing } from '../../src/trace/ring.js';
import { FOLD_MAX_CHAIN, RECORD_WORDS, RecordKind, START_STOLEN, decodeFrames, details, kindName, unpackRoute, type TraceRecord } from '../../src/trace/records.js';

function fresh(cls: 0 | 1 = 0, index = 3): { rec: Recorder; ring: TraceRing } {
  const ring = new TraceRing(new Int32Array(new SharedArrayBuffer(TraceRing.words(64) * 4)), 0, 64, true);
  return { rec: new Recorder(ring, cls, index), ring };
}
/** Call `f`, check it appended exactly one record, return it. */
function one(ring: TraceRing, f: () => void): TraceRecord {
  const before = ring.appended();
  f();
  expect(ring.appended()).toBe(before + 1);
  return ring.snapshot().records.at(-1)!;
}

describe('Recorder: one record per decision, the fields as given', () => {
  it('provenance: writer class and index, the CPU last set, tick, producer, task, token, parent', () => {
    const { rec, ring } = fresh(1, 7);
    rec.cpu = 5;
    const r = one(ring, () => rec.submitted(123_456_789_012, 2, 9, 1, 4, 300, 77, 1, 12, 3, 0x30002, 5, -17, 1));
    expect(r).toMatchObject({
      kind: RecordKind.SUBMIT_ADMITTED, writerClass: 1, writerIndex: 7, cpu: 5, tick: 123_456_789_012, producer: 2, task: 9,
      tokenAtt: 4, token: 300, gen: 77, parentAtt: 1, parent: 12, parentGen: 3, worker: -1,
    });
    expect(details(r)).toEqual({ weightClass: 1, producerWord: 0x30002, globalWord: 5, earnedWord: -17, tickFlags: 1 });
  });

  it('every method: its kind, its aux and K words under their names, nothing left over from the call before', () => {
    const { rec, ring } = fresh();
    const cases: [string, () => void, Record<string, unknown>, Partial<TraceRecord>][] = [
      ['META', () => rec.meta(1, 'ingest', 42), { threadId: 42, label: 'ingest' }, {}],
      ['SUBMIT_REJECTED', () => rec.rejected(2, 1, 0, 1, -1, -1, -1, 0x10002, 3, 0, 2), { reason: 'producer-slots', producerWord: 0x10002, globalWord: 3, earnedWord: 0, limit: 2 }, { token: -1, parent: -1 }],
      ['START', () => rec.started(3, 1, 0, 0, 5, 1, 2, 0, 17, START_STOLEN), { flags: START_STOLEN, ring: 0, ringPosition: 17 }, { worker: 2, token: 5 }],
      ['RESOLVE', () => rec.resolved(4, 1, 0, 0, 5, 1, 2, 1, 900, 1), { outcome: 'rejected', valueBytes: 900, flags: 1 }, { worker: 2 }],
      ['RELEASE', () => rec.released(5, 1, 0, 0, 5, 1, 0, 2, 0x10001), { outcome: 'fulfilled', globalWord: 2, producerWord: 0x10001 }, { worker: -1 }],
      ['CANCEL', () => rec.cancelled(6, 1, 0, 0, 6, 1, true, 0x1234, false), { forced: 1, tokenWord: 0x1234, won: 0 }, {}],
      ['RETRY', () => rec.retried(7, 1, 0, 0, 5, 2, 3, 1, 2), { attempt: 1, retriesLeft: 2 }, { worker: 3, gen: 2 }],
      ['STEAL', () => rec.stolen(8, 1, 0, 0, 6, 1, 1, 0, 33, 4), { looked: 4, victim: 0, victimPosition: 33 }, { worker: 1 }],
      ['WORKER_DIED', () => rec.workerDied(9, 1, 2, 137, 0, 5, 2), { cause: 2, exitCode: 137 }, { worker: 1, token: 5, producer: -1, task: -1 }],
      ['WORKER_RESPAWNED', () => rec.respawned(10, 1, 3, 55, 9001), { restarts: 3, threadId: 55, tid: 9001 }, { worker: 1, token: -1 }],
      ['FREEZE', () => rec.frozen(11, 1, 1, 2), { phase: 1, deadThreads: 1, tombstones: 2 }, {}],
      ['RECONCILE', () => rec.reconciled(12, 1, 4, 7, 5), { counter: 1, before: 7, after: 5 }, { producer: 4 }],
    ];
    for (const [kind, call, fields, more] of cases) {
      const r = one(ring, call);
      expect(kindName(r.kind)).toBe(kind);
      expect(details(r)).toEqual(fields);
      expect(r).toMatchObject(more);
    }
  });

  it('routed: the chain summary as packRoute keeps it', () => {
    const { rec, ring } = fresh();
    const occupancy = new Int32Array([3, 0, 300, 1]);
    const r = one(ring, () => rec.routed(5, 0, 1, 2, 0, 9, 1, Int32Array.of(2, 3, 1, 0), occupancy, 2, true));
    expect(r.worker).toBe(1);
    expect(unpackRoute(r)).toEqual({ weightClass: 2, cpuTie: true, chainLength: 4, chosen: 2, chosenOccupancy: 0, occupancies: [255, 1, 0, 3] });
  });

  it('submittedRouted: one SUBMIT_ROUTED frame when the route fits, read back as exactly the SUBMIT and ROUTE the two calls write (property)', () => {
    const frames = new Int32Array(4 * RECORD_WORDS);
    const read = (ring: TraceRing): { frames: number; records: TraceRecord[] } => {
      const d = ring.drain(0, frames);
      return { frames: d.copied, records: decodeFrames(frames.subarray(0, d.copied * RECORD_WORDS)).records };
    };
    fc.assert(fc.property(
      fc.uniqueArray(fc.integer({ min: 0, max: 7 }), { minLength: 1, maxLength: 5 }),
      fc.array(fc.oneof(fc.integer({ min: 0, max: 254 }), fc.integer({ min: -1, max: 400 })), { minLength: 8, maxLength: 8 }),
      fc.nat(), fc.oneof(fc.integer({ min: 0, max: 3 }), fc.constant(0xffff)), fc.boolean(),
      fc.integer({ min: -1, max: 3 }), fc.integer({ min: -1, max: 3 }), fc.integer({ min: 0, max: 3 }),
      fc.record({ tick: fc.integer({ min: 0, max: 2 ** 40 }), producer: fc.integer({ min: 0, max: 100 }), task: fc.integer({ min: 0, max: 100 }),
        att: fc.integer({ min: 0, max: 9 }), token: fc.integer({ min: 0, max: 65535 }), gen: fc.integer({ min: 0, max: 2 ** 21 }),
        parent: fc.integer({ min: -1, max: 65535 }), words: fc.array(fc.integer(), { minLength: 3, maxLength: 3 }) }),
      (chain, occupancy, pick, weightClass, cpuTie, cpu, routerCpu, tickFlags, x) => {
        const chosen = pick % chain.length;
        const pAtt = x.parent < 0 ? -1 : 1;
        const pGen = x.parent < 0 ? -1 : 5;
        const [pw, gw, ew] = x.words as [number, number, number];
        const folded = fresh();
        folded.rec.cpu = cpu;
        folded.rec.submittedRouted(x.tick, x.producer, x.task, weightClass, x.att, x.token, x.gen, pAtt, x.parent, pGen, pw, gw, ew, tickFlags,
          chain, occupancy, chosen, cpuTie, routerCpu);
        const two = fresh();
        two.rec.cpu = cpu;
        two.rec.submitted(x.tick, x.producer, x.task, weightClass, x.att, x.token, x.gen, pAtt, x.parent, pGen, pw, gw, ew, tickFlags);
        two.rec.cpu = routerCpu;
        two.rec.routed(x.tick, x.producer, x.task, weightClass, x.att, x.token, x.gen, chain, occupancy, chosen, cpuTie);
        const a = read(folded.ring);
        const b = read(two.ring);
        expect(b.frames).toBe(2);
        expect(a.records).toEqual(b.records);
        const fits = chain.length <= FOLD_MAX_CHAIN && weightClass <= 0xff && chain.every((w) => occupancy[w]! >= 0 && occupancy[w]! <= 254)
          && (routerCpu < 0 || routerCpu === cpu);
        expect(a.frames).toBe(fits ? 1 : 2);
        expect(folded.rec.cpu).toBe(cpu);
        // The router's own packing (runtime/recording.ts, when it fits): the very same frame words.
        if (fits && (tickFlags & ~3) === 0) {
          const packed = fresh();
          packed.rec.cpu = cpu;
          const occ = chain.reduce((p, w, i) => p | (occupancy[w]! << (8 * i)), 0);
          packed.rec.submittedRoutedPacked(x.tick, x.producer, x.task, weightClass, x.att, x.token, x.gen, pAtt, x.parent, pGen, pw, gw, ew, tickFlags,
            chain.length, occ, chosen, chain[chosen]!, cpuTie, routerCpu);
          const f1 = new Int32Array(RECORD_WORDS);
          const f2 = new Int32Array(RECORD_WORDS);
          expect(folded.ring.copyFrame(0, f1, 0)).toBe(true);
          expect(packed.ring.copyFrame(0, f2, 0)).toBe(true);
          expect([...f2]).toEqual([...f1]);
        }
      },
    ), { numRuns: 3000 });
  });

  it('a worker slot\'s ring outlives its thread: a replacement Recorder adopts it and continues', () => {
    const { rec, ring } = fresh(1, 0);
    for (let i = 0; i < 5; i++) rec.frozen(i, 0, 0, 0);
    const again = new TraceRing(ring.i32, 0, 64);
    again.adopt();
    const next = new Recorder(again, 1, 0);
    next.respawned(5, 0, 1, 2, 3);
    const s = again.snapshot();
    expect(s.records.map((r) => r.tick)).toEqual([0, 1, 2, 3, 4, 5]);
    expect([s.first, s.lost]).toEqual([0, 0]);
  });
});
