// Explain from the trace alone, on a crafted recorded run (crafted.ts): why a submit was refused,
// where a token ran, what it waited behind, how long it queued, its parent and its children.
import { describe, expect, it } from 'vitest';
import { explainRecord, explainToken, parseTokenId } from '../../src/trace/explain.js';
import { mergeThreads } from '../../src/trace/chrome.js';
import { RecordKind, type TraceRecord } from '../../src/trace/records.js';
import type { TraceMeta } from '../../src/trace/file.js';
import { CRAFTED } from './crafted.js';
import { record } from './workload.js';

const rec = record(CRAFTED);
const trace = {
  meta: { ...rec.meta, mode: 'stream', recordVersion: 3, threads: [] } as TraceMeta,
  records: rec.threads.flatMap((t) => t.ring.snapshot().records),
};
const text = (id: string): string => explainToken(trace, parseTokenId(id)!).join('\n');
const rejectedAt = (reason: number): number => mergeThreads(trace.records).findIndex((r: TraceRecord) => r.kind === RecordKind.SUBMIT_REJECTED && r.aux === reason);

describe('explain', () => {
  it('token ids: att:index#gen, att:index, index; anything else is not one', () => {
    expect(parseTokenId('2:17#5')).toEqual({ att: 2, index: 17, gen: 5 });
    expect(parseTokenId('2:17')).toEqual({ att: 2, index: 17, gen: null });
    expect(parseTokenId('17')).toEqual({ att: 0, index: 17, gen: null });
    for (const bad of ['', 'x', '1:', ':1', '256:1', '1:65536', '1:2#', '-1', '1.5']) expect(parseTokenId(bad)).toBeNull();
  });

  it('a refusal: the reason, its meaning, the gate words it saw and the limit, in words', () => {
    const slots = explainRecord(trace, rejectedAt(1)).join('\n');
    expect(slots).toMatch(/a submit of task 'task0' for producer 'p0' was REJECTED 'producer-slots'/);
    expect(slots).toMatch(/the producer has `slots` tasks admitted and unresolved \(it passes with time/);
    expect(slots).toMatch(/2 of the producer's tasks were admitted and unresolved; its limit \(slots\) is 2/);
    expect(slots).toMatch(/producer 'p0': 2 of its 2 slots in flight \(word 0x2\)/);
    expect(slots).toMatch(/global: 2 of 8 global slots in flight/);
    const rate = explainRecord(trace, rejectedAt(0)).join('\n');
    expect(rate).toMatch(/REJECTED 'rate'/);
    expect(rate).toMatch(/the bucket was empty: 0 tokens at tick 0; it earns 10 per second, holds at most 1/);
  });

  it('where a token ran, what it waited behind, how long it queued', () => {
    const t = text('0:2');
    expect(t).toMatch(/^token 0:2#1: task 'task1', producer 'p1'/);
    expect(t).toMatch(/routed to worker 0 at tick 0: the least occupied of \[0, 1\] \(occupancies 1, 1 in chain order; it took index 0, occupancy 1\)/);
    expect(t).toMatch(/waited behind 1 token routed to worker 0 before it and not yet started:\n {4}0:0#1 \(task 'task0', producer 'p0', routed at tick 0\)/);
    expect(t).toMatch(/started at tick 353 \(record #\d+\) on worker 0, CPU 0, after queueing 353 µs/);
    expect(t).toMatch(/its run ended 'rejected' at tick 355 on worker 0, after running 2 µs/);
    expect(t).toMatch(/resolved 'rejected' at tick 356 by the main thread: its slots given back/);
  });

  it('a stolen token: stolen, its cell passed over later, its worker died under it', () => {
    const t = text('0:1#1');
    expect(t).toMatch(/stolen at tick 353 by worker 0 from worker 1's ring \(position 0\)/);
    expect(t).toMatch(/started at tick 353 \(record #\d+\) on worker 0, CPU 0, stolen from worker 1's ring/);
    expect(t).toMatch(/its cell was passed over by worker 1 at tick 354/);
    expect(t).toMatch(/its worker 0 died at tick 356 while running it/);
    expect(t).toMatch(/resolved 'abandoned'/);
  });

  it('lineage: who spawned it, and its children', () => {
    const child = text('1:0');
    expect(child).toMatch(/admitted at tick 251 µs \(record #\d+\) on worker 0 \(CPU 0\)/);
    expect(child).toMatch(/spawned by: 0:0#1 \(task 'task0'\)/);
    expect(child).toMatch(/after queueing 103 µs/);
    const parent = text('0:0#1');
    expect(parent).toMatch(/spawned by: no task/);
    expect(parent).toMatch(/children: 1 submit\n {4}1:0#1 \(task 'task1'\) at tick 251/);
  });

  it('a flight window: what lies before it is said to be missing, the rest explained', () => {
    const small = record(CRAFTED, { capacity: 4 }); // the main thread's ring keeps its last 4 records
    const window = { meta: trace.meta, records: small.threads.flatMap((t) => t.ring.snapshot().records) };
    const t = explainToken(window, { att: 0, index: 2, gen: null }).join('\n');
    expect(t).toMatch(/admission: not in this trace \(before the flight-recorder window, or its record was lost\)/);
    expect(t).toMatch(/its run ended 'rejected' at tick 355 on worker 0/);
    expect(t).toMatch(/resolved 'rejected' at tick 356 by the main thread/);
  });

  it('a token that is not in the trace, a record that names none', () => {
    expect(() => explainToken(trace, { att: 0, index: 99, gen: null })).toThrow(/token 0:99 is not in this trace/);
    expect(() => explainRecord(trace, 0)).toThrow(/record #0 is a META and names no token/);
    expect(() => explainRecord(trace, 10_000)).toThrow(/there is no record #10000/);
  });
});
