// A runtime's own full recording replays bit for bit (docs/design.md §4.15 steps 5-6): each
// deciding thread is re-made on its own from its read log, with the real gates and router.
// Real threads: a chaos run (attached producer threads, worker kills, a producer thread killed
// mid-flood); a property over rate-limited workloads; and a changed input or decision is
// reported at the first record that differs.
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Runtime, type Token } from '../../src/index.js';
import { readTrace, type TraceFile } from '../../src/trace/file.js';
import { RecordKind, SEEN_GUESS, type TraceRecord } from '../../src/trace/records.js';
import { notReplayable, replay } from '../../src/trace/replay.js';
import { runChaos } from '../stress/chaos-lib.js';

const tasks = new URL('../fixtures/tasks.mjs', import.meta.url);
const dir = mkdtempSync(join(tmpdir(), 'sluice-replay-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Admitted submits whose ROUTE never came: the attached thread's ring goes on with anything else
 * (a successor's META in its slot) or ends right after it. Only a thread that died between the two
 * records leaves one: the route is folded into the submit's frame whenever it fits, and written
 * right after it otherwise (a chain longer than three, an occupancy of 255 or more in a flood, a
 * router CPU other than the one the recorder last read).
 */
const cutSubmits = (f: TraceFile): number => {
  const last = new Map<number, TraceRecord>();
  let cuts = 0;
  for (const r of f.records) {
    if (r.writerClass !== 0) continue;
    if (last.get(r.writerIndex)?.kind === RecordKind.SUBMIT_ADMITTED && r.kind !== RecordKind.ROUTE) cuts++;
    last.set(r.writerIndex, r);
  }
  for (const r of last.values()) if (r.kind === RecordKind.SUBMIT_ADMITTED) cuts++;
  return cuts;
};

/** What replay counts: an admitted submit and its route are two decisions, a refusal one; a cut submit's route none. */
const decisionsOf = (f: TraceFile): number => f.records.filter((r) => r.kind === RecordKind.SUBMIT_ADMITTED).length * 2
  + f.records.filter((r) => r.kind === RecordKind.SUBMIT_REJECTED).length - cutSubmits(f);

/** The file with record i replaced by `change(record)`. */
const mutated = (f: TraceFile, i: number, change: (r: TraceRecord) => TraceRecord): TraceFile => ({
  ...f, records: f.records.map((r, k) => (k === i ? change({ ...r }) : r)),
});

let chaos: TraceFile;

describe('a recorded chaos run', () => {
  it('replays identically: several producer threads, worker kills, a producer thread killed mid-flood', async () => {
    const path = join(dir, 'chaos.trace');
    const report = await runChaos({ seed: 7, tasks: 2500, threads: 3, threadTasks: 1500, workers: 2, exits: 4, hangs: 2, tracePath: path });
    expect(report.failures).toEqual([]);
    expect(report.restarts).toBeGreaterThan(0);
    chaos = readTrace(path);
    expect(notReplayable(chaos)).toBeNull();
    // More than one deciding thread, and reads another thread's write made visible to it.
    const deciders = new Set(chaos.records.filter((r) => r.kind === RecordKind.SUBMIT_ADMITTED).map((r) => r.writerIndex));
    expect(deciders.size).toBeGreaterThan(2);
    expect(chaos.records.some((r) => r.kind === RecordKind.SEEN && (r.aux & SEEN_GUESS) === 0)).toBe(true);
    const res = replay(chaos);
    expect(res.divergence).toBeNull();
    expect(res.identical).toBe(true);
    // One producer thread is terminated mid-flood: at most its last submit can be cut before its route.
    expect(cutSubmits(chaos)).toBeLessThanOrEqual(1);
    expect(res.decisions).toBe(decisionsOf(chaos));
    expect(res.hash).toBe(res.recordedHash);
  }, 180_000);

  it('a thread cut between an admitted SUBMIT and its ROUTE (it died there) is not a divergence', () => {
    // Keep an attached thread's records up to the middle one of its admitted SUBMITs and drop the
    // rest of its ring: what a thread killed between the two records leaves.
    const submits = chaos.records.map((r, k) => [r, k] as const).filter(([r]) => r.writerClass === 0 && r.writerIndex > 0 && r.kind === RecordKind.SUBMIT_ADMITTED);
    const byThread = new Map<number, number[]>();
    for (const [r, k] of submits) byThread.set(r.writerIndex, [...(byThread.get(r.writerIndex) ?? []), k]);
    const [writer, at] = [...byThread.entries()].sort((a, b) => b[1].length - a[1].length)[0]!;
    expect(at.length).toBeGreaterThan(2);
    const mine = (r: TraceRecord): boolean => r.writerClass === 0 && r.writerIndex === writer;
    const cut = at[Math.floor(at.length / 2)]!;
    const records = chaos.records.filter((r, k) => !mine(r) || k <= cut);
    const res = replay({ ...chaos, records });
    expect(res.divergence).toBeNull();
    expect(res.identical).toBe(true);
    expect(cutSubmits({ ...chaos, records })).toBeGreaterThanOrEqual(1);
    expect(res.decisions).toBe(decisionsOf({ ...chaos, records }));
  });

  it('a changed decision is reported at exactly that record, with both versions', () => {
    const merged = replay(chaos); // the order replay numbers records in
    expect(merged.identical).toBe(true);
    const i = chaos.records.findIndex((r) => r.kind === RecordKind.SUBMIT_ADMITTED && r.writerIndex !== 0);
    const f = mutated(chaos, i, (r) => ({ ...r, k1: r.k1 + 1 })); // the global word it says it left
    const res = replay(f);
    expect(res.identical).toBe(false);
    const d = res.divergence!;
    expect(d.recorded.kind).toBe(RecordKind.SUBMIT_ADMITTED);
    expect(d.recorded.k1).toBe(chaos.records[i]!.k1 + 1);
    expect(d.replayed.k1).toBe(chaos.records[i]!.k1);
    expect(d.recorded.writerIndex).toBe(chaos.records[i]!.writerIndex);
    expect(d.recorded.tick).toBe(chaos.records[i]!.tick);
    expect(d.fields.sort()).toEqual(['globalWord', 'k1']);
  });

  it('a changed input (a value a thread read) makes replay report the first decision it changes, on that thread', () => {
    const i = chaos.records.findIndex((r) => r.kind === RecordKind.SEEN && (r.aux & SEEN_GUESS) === 0 && r.aux === 0);
    expect(i).toBeGreaterThanOrEqual(0);
    const seen = chaos.records[i]!;
    const f = mutated(chaos, i, (r) => ({ ...r, k0: r.k0 + 1000 })); // another thread's count, changed
    const res = replay(f);
    expect(res.identical).toBe(false);
    const d = res.divergence!;
    expect(d.recorded.writerIndex).toBe(seen.writerIndex);
    expect([RecordKind.SUBMIT_ADMITTED, RecordKind.SUBMIT_REJECTED]).toContain(d.recorded.kind);
    // The first decision of that thread after the read: every earlier one still agrees.
    const later = chaos.records.slice(i + 1).find((r) => r.writerIndex === seen.writerIndex && r.writerClass === seen.writerClass
      && (r.kind === RecordKind.SUBMIT_ADMITTED || r.kind === RecordKind.SUBMIT_REJECTED));
    expect(d.recorded.tick).toBe(later!.tick);
  });
});

describe('record then replay, for any rate-limited workload (real runtime, real workers)', () => {
  it('gives the identical decision stream', async () => {
    let run = 0;
    await fc.assert(fc.asyncProperty(
      fc.array(fc.record({ rate: fc.integer({ min: 1, max: 5000 }), burst: fc.integer({ min: 1, max: 8 }), slots: fc.integer({ min: 1, max: 6 }) }), { minLength: 1, maxLength: 3 }),
      fc.array(fc.tuple(fc.nat(2), fc.integer({ min: 1, max: 12 }), fc.boolean()), { minLength: 1, maxLength: 12 }),
      fc.integer({ min: 1, max: 8 }),
      async (limits, steps, globalSlots) => {
        const path = join(dir, `prop-${run++}.trace`);
        const rt = await Runtime.start({ tasks, workers: 2, globalSlots, trace: { mode: 'file', path } });
        try {
          const ps = limits.map((l, k) => rt.producer(`p${k}`, l));
          const held: Token[] = [];
          for (const [which, burst, settle] of steps) {
            const p = ps[which % ps.length]!;
            for (let i = 0; i < burst; i++) {
              const a = p.submit(rt.task('inc'), i);
              if (a.admitted) held.push(a);
            }
            if (settle) await Promise.allSettled(held.splice(0));
          }
          await Promise.allSettled(held);
        } finally {
          await rt.close();
        }
        const f = readTrace(path);
        expect(notReplayable(f)).toBeNull();
        const res = replay(f);
        expect(res.divergence).toBeNull();
        expect(res.decisions).toBe(decisionsOf(f));
      },
    ), { numRuns: 6 });
  }, 180_000);
});
