// Invariant 5 (../shared/DESIGN.md §5, §5a): admission and routing are a pure function of the
// recorded inputs. A workload is run by the real gates and router (workload.ts), recorded through
// Recorders into rings and a streamed trace file; replay from the file re-makes every decision
// bit for bit; and a trace with one input changed makes replay name exactly the first decision a
// real run with that input would have made differently, with both versions.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { readTrace, type TraceMeta } from '../../src/trace/file.js';
import { mergeThreads } from '../../src/trace/chrome.js';
import { RECORD_WORDS, RecordKind, encodeRecord, tokenKey, type TraceRecord } from '../../src/trace/records.js';
import { describeDivergence, notReplayable, replay } from '../../src/trace/replay.js';
import { arbWorkload, record, type Op, type Recording, type Workload } from './workload.js';

const dir = mkdtempSync(join(tmpdir(), 'sluice-replay-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

const DECISIONS: ReadonlySet<number> = new Set([RecordKind.SUBMIT_ADMITTED, RecordKind.SUBMIT_REJECTED, RecordKind.ROUTE]);
const decisionsOf = (records: readonly TraceRecord[]): TraceRecord[] => mergeThreads(records).filter((r) => DECISIONS.has(r.kind));
const scratch = new Int32Array(RECORD_WORDS);
/** Words 1..14: what replay compares. */
function words(r: TraceRecord): number[] {
  encodeRecord(r, scratch, 0);
  return Array.from(scratch.subarray(1, RECORD_WORDS - 1));
}
function firstDifference(a: readonly TraceRecord[], b: readonly TraceRecord[]): number | null {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (i >= a.length || i >= b.length) return i;
    if (words(a[i]!).join() !== words(b[i]!).join()) return i;
  }
  return null;
}
/** Every record of a recording, through ring snapshots (rings large enough to lose nothing). */
function recordsOf(rec: Recording): TraceRecord[] {
  return rec.threads.flatMap((t) => {
    const s = t.ring.snapshot();
    expect(s.lost).toBe(0);
    return s.records;
  });
}
const full = (rec: Recording): { meta: TraceMeta; records: TraceRecord[] } => ({ meta: { ...rec.meta, mode: 'stream', recordVersion: 3, threads: [] }, records: recordsOf(rec) });

describe('replay: a recording re-makes its own decisions bit for bit', () => {
  it('record through Recorders into rings and a streamed file, read it back, replay: identical (property)', () => {
    let decided = 0;
    let rejected = 0;
    const inputs = new Map<number, number>();
    fc.assert(fc.property(arbWorkload, (wl) => {
      const path = join(dir, `run-${files++}.trace`);
      const rec = record(wl, { capacity: 16, path }); // small rings: the stream drains after every op
      const trailer = rec.stream!.close();
      const file = readTrace(path);
      expect([file.complete, file.bad, file.missing, file.lost, file.partialBytes]).toEqual([true, 0, 0, 0, 0]);
      expect(file.records.length).toBe(trailer.frames);
      expect(notReplayable(file)).toBeNull();
      const result = replay(file);
      if (!result.identical) throw new Error(describeDivergence(result.divergence!, file.meta).join('\n'));
      const decisions = decisionsOf(file.records);
      expect(result.decisions).toBe(decisions.length);
      expect(result.hash).toBe(result.recordedHash);
      decided += decisions.length;
      rejected += decisions.filter((r) => r.kind === RecordKind.SUBMIT_REJECTED).length;
      for (const r of file.records) inputs.set(r.kind, (inputs.get(r.kind) ?? 0) + 1);
    }), { numRuns: 250, seed: 18, endOnFailure: true }); // no shrinking: each run records and replays
    // The workloads exercise the gates: many decisions, refusals among them.
    expect(decided).toBeGreaterThan(2000);
    expect(rejected).toBeGreaterThan(200);
    // Every input kind replay applies occurs: pops (started, stolen, passed over), run ends,
    // releases, retries, deaths, recounts.
    for (const k of [RecordKind.START, RecordKind.RESOLVE, RecordKind.RELEASE, RecordKind.RETRY, RecordKind.WORKER_DIED, RecordKind.RECONCILE, RecordKind.STEAL, RecordKind.CANCEL]) {
      expect(inputs.get(k) ?? 0, `records of kind ${k}`).toBeGreaterThan(10);
    }
  });

  it('the file holds exactly what the rings held, thread by thread', () => {
    const [wl] = fc.sample(arbWorkload.filter((w) => w.ops.length > 60), { seed: 7, numRuns: 1 });
    const path = join(dir, `same-${files++}.trace`);
    const rec = record(wl!, { capacity: 4096, path });
    rec.stream!.close();
    const key = (r: TraceRecord): string => JSON.stringify(words(r));
    expect(readTrace(path).records.map(key).sort()).toEqual(recordsOf(rec).map(key).sort());
  });
});

type Mutation = { kind: 'tick'; which: number; at: number } | { kind: 'limit'; which: number; value: number } | { kind: 'swap'; which: number };
const arbMutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('tick' as const), which: fc.nat(), at: fc.nat() }),
  fc.record({ kind: fc.constant('limit' as const), which: fc.nat(), value: fc.integer({ min: 1, max: 6 }) }),
  fc.record({ kind: fc.constant('swap' as const), which: fc.nat() }),
);

/**
 * Apply `m` to A's trace (records, header) and to its inputs (the executed ops, the workload);
 * null when the mutation does not apply (no submit, no two swappable releases).
 */
function mutate(wl: Workload, a: Recording, m: Mutation): { records: TraceRecord[]; meta: TraceMeta; wl: Workload } | null {
  const base = full(a);
  const records = base.records.map((r) => ({ ...r }));
  const meta: TraceMeta = JSON.parse(JSON.stringify(base.meta)) as TraceMeta;
  const ops: Op[] = a.executed.map((o) => ({ ...o }));
  if (m.kind === 'tick') {
    // The n-th submit gets another tick (its thread's clock read differently), between its
    // neighbours in the merged order so the order of decisions stays the same.
    const merged = mergeThreads(records);
    const subs = merged.map((r, i) => ({ r, i })).filter(({ r }) => r.kind === RecordKind.SUBMIT_ADMITTED || r.kind === RecordKind.SUBMIT_REJECTED);
    const submitOps = ops.filter((o) => o.op === 'submit');
    if (subs.length === 0) return null;
    const n = m.which % subs.length;
    const { r, i } = subs[n]!;
    const routeRec = r.kind === RecordKind.SUBMIT_ADMITTED ? merged[i + 1]! : null;
    const last = routeRec === null ? i : i + 1;
    const same = (x: TraceRecord): boolean => x.writerClass === r.writerClass && x.writerIndex === r.writerIndex;
    const prev = merged[i - 1];
    const next = merged[last + 1];
    const lo = prev === undefined ? 0 : prev.tick + (same(prev) ? 0 : 1);
    const hi = next === undefined ? r.tick + 1_000_000 : next.tick - (same(next) ? 0 : 1);
    if (lo > hi) return null;
    const tick = lo + (m.at % (hi - lo + 1));
    r.tick = tick;
    if (routeRec !== null) routeRec.tick = tick;
    (submitOps[n] as Extract<Op, { op: 'submit' }>).tick = tick;
    return { records, meta, wl: { ...wl, ops } };
  }
  if (m.kind === 'limit') {
    const fields = wl.producers.flatMap((p, i) => [
      ['slots', i] as const, ...(p.rate > 0 ? [['burst', i] as const, ['rate', i] as const] : []),
    ]);
    const options = [...fields, ['globalSlots', -1] as const];
    const [field, p] = options[m.which % options.length]!;
    if (field === 'globalSlots') {
      meta.globalSlots = m.value * 2;
      return { records, meta, wl: { ...wl, globalSlots: m.value * 2, ops } };
    }
    const value = field === 'rate' ? m.value * 5 : field === 'burst' ? Math.min(m.value, 5) : m.value;
    meta.producers[p]![field] = value;
    return { records, meta, wl: { ...wl, producers: wl.producers.map((x, i) => (i === p ? { ...x, [field]: value } : x)), ops } };
  }
  // swap: two releases by one owner, the later one's token already complete at the earlier one:
  // the completions arrive in the other order.
  const pairs: [number, number][] = [];
  ops.forEach((o, i) => {
    if (o.op !== 'release') return;
    ops.forEach((q, j) => {
      if (j > i && q.op === 'release' && q.key !== undefined && o.ready!.includes(q.key)) pairs.push([i, j]);
    });
  });
  if (pairs.length === 0) return null;
  const [i, j] = pairs[m.which % pairs.length]!;
  const oi = ops[i] as Extract<Op, { op: 'release' }>;
  const oj = ops[j] as Extract<Op, { op: 'release' }>;
  const ki = oi.key!;
  const kj = oj.key!;
  [oi.key, oj.key] = [kj, ki];
  const isRelease = (r: TraceRecord, k: number): boolean => r.kind === RecordKind.RELEASE && tokenKey(r.tokenAtt, r.token, r.gen) === k;
  const ri = records.find((r) => isRelease(r, ki))!;
  const rj = records.find((r) => isRelease(r, kj))!;
  for (const f of ['tokenAtt', 'token', 'gen', 'producer', 'task', 'aux', 'k0', 'k1'] as const) [ri[f], rj[f]] = [rj[f], ri[f]];
  return { records, meta, wl: { ...wl, ops } };
}

describe('replay: one input changed, the first divergent decision and nothing else', () => {
  it('a tick, a limit, or the order of two completions: replay names exactly the decision a real run with that input makes differently (property)', () => {
    const seen = { tick: 0, limit: 0, swap: 0, identical: 0 };
    fc.assert(fc.property(arbWorkload, arbMutation, (wl, m) => {
      const a = record(wl);
      // The executed ops replay A exactly (the mutation's baseline).
      expect(decisionsOf(recordsOf(record({ ...wl, ops: a.executed }))).map(words)).toEqual(decisionsOf(recordsOf(a)).map(words));
      const mutated = mutate(wl, a, m);
      fc.pre(mutated !== null);
      const b = record(mutated!.wl); // what a real run with the changed input decides
      const dA = decisionsOf(mutated!.records);
      const dB = decisionsOf(recordsOf(b));
      const k = firstDifference(dA, dB);
      const result = replay({ meta: mutated!.meta, records: mutated!.records });
      if (k === null) {
        expect(result.identical).toBe(true);
        seen.identical++;
        return;
      }
      expect(result.identical).toBe(false);
      const d = result.divergence!;
      expect(d.decision).toBe(k);
      expect(words(d.recorded)).toEqual(words(dA[k]!));
      if (k < dB.length) {
        // A submit recorded as refused that replay admits has no token id to show: the token
        // allocator is not replayed (the TOKEN and GEN words; everything else must match).
        const unknownToken = d.recorded.kind === RecordKind.SUBMIT_REJECTED && d.replayed.kind === RecordKind.SUBMIT_ADMITTED;
        const mask = (w: number[]): number[] => (unknownToken ? w.map((v, i) => (i === 3 || i === 4 ? 0 : v)) : w);
        expect(mask(words(d.replayed))).toEqual(mask(words(dB[k]!)));
      }
      expect(d.fields.length).toBeGreaterThan(0);
      seen[m.kind]++;
    }), { numRuns: 400, seed: 1818, endOnFailure: true }); // no shrinking: each run records three times
    console.log(`mutations that changed a decision: ${JSON.stringify(seen)}`);
    expect(seen.tick).toBeGreaterThan(5);
    expect(seen.limit).toBeGreaterThan(20);
    expect(seen.swap).toBeGreaterThan(5);
    expect(seen.identical).toBeGreaterThan(5);
  });

  it('the report says what differs, in words', () => {
    const wl: Workload = {
      workers: 1, ringCapacity: 8, globalSlots: 8, attachments: 1, producers: [{ rate: 0, burst: 0, slots: 2 }],
      tasks: [null], workerCpus: [null], cpuTie: false,
      ops: [0, 1, 2].map(() => ({ op: 'submit' as const, att: 0, producer: 0, task: 0, cpu: 0, child: false })),
    };
    const a = full(record(wl));
    a.meta.producers[0]!.slots = 3; // the third submit would have been admitted
    const result = replay(a);
    expect(result.identical).toBe(false);
    const text = describeDivergence(result.divergence!, a.meta).join('\n');
    expect(text).toMatch(/first divergence at record #\d+ \(after 4 identical decisions\)/);
    expect(text).toMatch(/recorded: SUBMIT_REJECTED \(producer-slots\)/);
    expect(text).toMatch(/replayed: SUBMIT_ADMITTED/);
  });
});

describe('replay and explain on arbitrary records: a finding or an answer, never a crash', () => {
  it('any record stream (property)', async () => {
    const { arbRecord } = await import('./arbitraries.js');
    const { explainRecord, explainToken } = await import('../../src/trace/explain.js');
    const meta: TraceMeta = {
      mode: 'stream', recordVersion: 3, clock: { originMicros: 0, wallMs: null }, workers: 2, ringCapacity: 4, globalSlots: 4,
      cpuTie: true, workerCpus: [0, null], chains: [[0, 1], [1], [1], [0, 1]],
      producers: [{ name: 'p', rate: 5, burst: 2, slots: 2 }], tasks: [{ name: 't', weight: 'light' }], threads: [],
    };
    const small = arbRecord.map((r) => ({
      ...r, writerIndex: r.writerIndex % 3, worker: r.worker % 3, producer: r.producer % 2, task: r.task % 2,
      tokenAtt: r.token < 0 ? -1 : r.tokenAtt % 2, token: r.token < 0 ? -1 : r.token % 4, gen: r.token < 0 ? -1 : r.gen % 2,
      k0: r.k0 % 3, tick: r.tick % 1000,
    }));
    fc.assert(fc.property(fc.array(small, { maxLength: 60 }), (records) => {
      const r = replay({ meta, records });
      expect(typeof r.identical).toBe('boolean');
      for (let n = 0; n < records.length; n++) {
        try { explainRecord({ meta, records }, n); } catch (e) { expect(e).toBeInstanceOf(RangeError); }
      }
      for (const rec of records) if (rec.token >= 0) explainToken({ meta, records }, { att: rec.tokenAtt, index: rec.token, gen: null });
    }), { numRuns: 300, seed: 7 });
  });
});
