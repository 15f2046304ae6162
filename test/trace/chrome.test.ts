import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mergeThreads, toChromeTrace, validateChromeTrace, writeChromeTrace, type ChromeEvent, type ChromeTrace } from '../../src/trace/chrome.js';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { emptyRecord, type TraceRecord } from '../../src/trace/records.js';
import { TraceRing } from '../../src/trace/ring.js';
import { arbScenario, build, type Built } from './synthetic.js';

/** Write each thread's records through its own ring, snapshot every ring, concatenate. */
function throughRings(b: Built): TraceRecord[] {
  const out: TraceRecord[] = [];
  for (const list of b.byWriter.values()) {
    const capacity = 1 << Math.ceil(Math.log2(Math.max(2, list.length)));
    const ring = new TraceRing(new Int32Array(new SharedArrayBuffer(TraceRing.words(capacity) * 4)), 0, capacity, true);
    const r = emptyRecord();
    for (const rec of list) { Object.assign(r, emptyRecord(), rec); ring.append(r); }
    const snap = ring.snapshot();
    expect(snap.lost).toBe(0);
    out.push(...snap.records);
  }
  return out;
}

const count = (t: ChromeTrace, pred: (e: ChromeEvent) => boolean): number => t.traceEvents.filter(pred).length;

describe('Chrome export: structurally valid on synthetic traces', () => {
  it('every flow start has its end, slices nest, timestamps are monotonic per track (property)', () => {
    fc.assert(fc.property(arbScenario, (sc) => {
      const b = build(sc);
      const trace = toChromeTrace(throughRings(b), { taskNames: ['alpha', 'beta', 'gamma', 'delta', 'eps'] });
      expect(validateChromeTrace(trace)).toEqual([]);
      // One run slice per start (retries too), one queue wait per admitted task and per retry,
      // one queue flow per first start.
      const runs = count(trace, (e) => e.ph === 'X' && !e.name.startsWith('submit'));
      expect(runs).toBe(b.started + b.retries);
      expect(count(trace, (e) => e.ph === 'b')).toBe(b.admitted + b.retries);
      expect(count(trace, (e) => e.ph === 's' && e.name === 'queued')).toBe(b.started);
      const childFlows = count(trace, (e) => e.ph === 's' && e.name === 'child');
      const deaths = sc.tasks.some((t) => t.dies);
      if (deaths) expect(childFlows).toBeLessThanOrEqual(b.children);
      else expect(childFlows).toBe(b.children);
      // It is JSON: what a viewer loads is what we validated.
      expect(validateChromeTrace(JSON.parse(JSON.stringify(trace)) as ChromeTrace)).toEqual([]);
    }), { numRuns: 300 });
  });

  it('tracks: main, attached threads, and each worker with its CPU in the name', () => {
    const b = build({
      attachments: 2, workers: 2, rejects: [{ att: 1, reason: 0, gap: 3 }],
      tasks: [
        { gap: 1, att: 0, wait: 2, dur: 10, worker: 0, parent: null, at: 0, outcome: 0, cancelled: false, dies: false, retried: false, stolen: false },
        { gap: 1, att: 1, wait: 2, dur: 10, worker: 1, parent: 0, at: 3, outcome: 0, cancelled: false, dies: false, retried: false, stolen: false },
      ],
    });
    const trace = toChromeTrace(throughRings(b));
    const names = trace.traceEvents.filter((e) => e.name === 'thread_name').map((e) => e.args!.name);
    expect(names).toEqual(['main (attachment 0)', 'attached 1 · producer-1', 'worker 0 · cpu 0', 'worker 1 · cpu 1']);
    expect(trace.traceEvents.find((e) => e.name === 'process_name')!.args).toEqual({ name: 'sluice' });
    expect(trace.traceEvents.some((e) => e.ph === 'i' && e.name === 'rejected: rate')).toBe(true);
    // The child is submitted from its parent's run: a lineage arrow from worker 0 to worker 1.
    const s = trace.traceEvents.find((e) => e.ph === 's' && e.name === 'child')!;
    const f = trace.traceEvents.find((e) => e.ph === 'f' && e.name === 'child')!;
    expect([s.tid, f.tid, f.id]).toEqual([1000, 1064, s.id]);
    expect(validateChromeTrace(trace)).toEqual([]);
  });

  it('async tasks overlapping on one worker go on lanes, so slices on a track still nest', () => {
    const b = build({
      attachments: 1, workers: 1, rejects: [],
      tasks: [0, 1, 2].map(() => ({ gap: 1, att: 0, wait: 0, dur: 20, worker: 0, parent: null, at: 0, outcome: 0, cancelled: false, dies: false, retried: false, stolen: false })),
    });
    const trace = toChromeTrace(throughRings(b));
    const runTids = trace.traceEvents.filter((e) => e.ph === 'X' && !e.name.startsWith('submit')).map((e) => e.tid);
    expect(runTids).toEqual([1000, 1001, 1002]);
    expect(trace.traceEvents.filter((e) => e.name === 'thread_name').map((e) => e.args!.name))
      .toEqual(['main (attachment 0)', 'worker 0 · cpu 0', 'worker 0 · cpu 0 · lane 1', 'worker 0 · cpu 0 · lane 2']);
    expect(validateChromeTrace(trace)).toEqual([]);
  });

  it('a run whose worker died ends at the death; a run never resolved ends at the trace\'s end, unfinished', () => {
    const b = build({
      attachments: 1, workers: 2, rejects: [],
      tasks: [
        { gap: 1, att: 0, wait: 1, dur: 5, worker: 0, parent: null, at: 0, outcome: 0, cancelled: false, dies: true, retried: false, stolen: false },
        { gap: 1, att: 0, wait: 1, dur: 50, worker: 1, parent: null, at: 0, outcome: 0, cancelled: false, dies: false, retried: false, stolen: false },
      ],
    });
    const recs = throughRings(b).filter((r) => !(r.kind === 6 && r.worker === 1)); // drop the second resolve
    const trace = toChromeTrace(recs);
    const runs = trace.traceEvents.filter((e) => e.ph === 'X' && !e.name.startsWith('submit'));
    expect(runs.map((e) => [e.tid, e.ts, e.dur, e.args!.outcome, e.args!.unfinished])).toEqual([
      [1000, 3, 5, 'worker died', undefined],
      [1064, 4, 4, undefined, true], // to the last tick in the trace (8: the death)
    ]);
    expect(validateChromeTrace(trace)).toEqual([]);
  });
});

describe('Chrome export: threads whose clocks disagree by a tick', () => {
  it('a start stamped before its submit still gives a valid trace: the wait ends at the submit, no arrow', () => {
    const b = build({
      attachments: 1, workers: 1, rejects: [],
      tasks: [{ gap: 5, att: 0, wait: 0, dur: 3, worker: 0, parent: null, at: 0, outcome: 0, cancelled: false, dies: false, retried: false, stolen: false }],
    });
    const recs = throughRings(b).map((r) => (r.kind === 5 ? { ...r, tick: r.tick - 1 } : r)); // START one tick early
    const trace = toChromeTrace(recs);
    expect(validateChromeTrace(trace)).toEqual([]);
    expect(trace.traceEvents.filter((e) => e.ph === 'e').map((e) => e.ts)).toEqual([6]);
    expect(trace.traceEvents.some((e) => e.name === 'queued' && e.ph === 's')).toBe(false);
  });
});

describe('mergeThreads: one stream from many threads', () => {
  it('keeps every thread\'s own order, and is ordered by tick across threads (property)', () => {
    fc.assert(fc.property(arbScenario, fc.integer(), (sc, seed) => {
      const lists = [...build(sc).byWriter.values()];
      // Any interleaving of the threads' lists as input: the output must not depend on it.
      const input: TraceRecord[] = [];
      const heads = lists.map(() => 0);
      let x = seed;
      while (input.length < lists.reduce((n, l) => n + l.length, 0)) {
        x = (Math.imul(x, 1103515245) + 12345) | 0;
        const i = (x >>> 8) % lists.length;
        if (heads[i]! < lists[i]!.length) input.push(lists[i]![heads[i]!++]!);
      }
      const out = mergeThreads(input);
      expect(out).toHaveLength(input.length);
      expect(out).toEqual(mergeThreads(lists.flat()));
      for (let k = 1; k < out.length; k++) expect(out[k]!.tick).toBeGreaterThanOrEqual(out[k - 1]!.tick);
      for (const list of lists) expect(out.filter((r) => list.includes(r))).toEqual(list);
    }), { numRuns: 200 });
  });
});

describe('Chrome validator: catches planted faults', () => {
  const valid = (): ChromeTrace => {
    const [sc] = fc.sample(arbScenario.filter((s) => s.tasks.length >= 4 && s.tasks.some((t) => t.dur >= 4 && !t.cancelled && !t.dies)), { seed: 18, numRuns: 1 });
    const t = toChromeTrace(throughRings(build(sc!)));
    expect(validateChromeTrace(t)).toEqual([]);
    return t;
  };

  it('an unmatched flow: a start without its end, an end without its start', () => {
    const t = valid();
    const i = t.traceEvents.findIndex((e) => e.ph === 'f');
    const [f] = t.traceEvents.splice(i, 1);
    expect(validateChromeTrace(t).join('\n')).toMatch(/flow start without an end: cat sluice.flow, name '\w+', id \d+/);
    t.traceEvents.push({ ...f!, id: 99_999 });
    const problems = validateChromeTrace(t).join('\n');
    expect(problems).toMatch(/flow end without a start/);
  });

  it('a flow end with the same id but another name does not match', () => {
    const t = valid();
    const f = t.traceEvents.find((e) => e.ph === 'f')!;
    f.name = 'other';
    expect(validateChromeTrace(t).join('\n')).toMatch(/flow end without a start[\s\S]*flow start without an end/);
  });

  it('a crossing slice', () => {
    const t = valid();
    const run = t.traceEvents.find((e) => e.ph === 'X' && e.dur! >= 4 && !e.name.startsWith('submit'))!;
    const at = t.traceEvents.indexOf(run);
    t.traceEvents.splice(at + 1, 0, { ...run, name: 'crossing', ts: run.ts! + 1, dur: run.dur! });
    expect(validateChromeTrace(t).join('\n')).toMatch(/slices cross on 1\/\d+: 'crossing'/);
  });

  it('a backwards timestamp on one track', () => {
    const t = valid();
    const evs = t.traceEvents;
    const i = evs.findIndex((e, k) => e.ph !== 'M' && evs.slice(0, k).some((p) => p.ph !== 'M' && p.tid === e.tid && p.ts! < e.ts!));
    const prev = evs.slice(0, i).filter((p) => p.ph !== 'M' && p.tid === evs[i]!.tid).at(-1)!;
    evs[i] = { ...evs[i]!, ts: prev.ts! - 1, ph: 'i', s: 't' };
    expect(validateChromeTrace(t).join('\n')).toMatch(/timestamp goes backwards on its track/);
  });

  it('an async wait that never ends, a B without its E, a track without a name', () => {
    const t = valid();
    t.traceEvents.splice(t.traceEvents.findIndex((e) => e.ph === 'e'), 1);
    t.traceEvents.push({ name: 'open', ph: 'B', ts: 1e9, pid: 1, tid: 1 });
    t.traceEvents.push({ name: 'nameless', ph: 'i', s: 't', ts: 1e9, pid: 1, tid: 777 });
    const problems = validateChromeTrace(t).join('\n');
    expect(problems).toMatch(/async begin without an end/);
    expect(problems).toMatch(/B 'open' on 1\/1 at 1000000000 never ends/);
    expect(problems).toMatch(/track 1\/777 has no thread_name/);
  });

  it('a flow end binds to a slice exactly when one encloses it (bp e, s) or starts at or after it (f): the search against a scan (property)', () => {
    // Slices that nest or follow each other (any valid track): disjoint intervals from sorted cut
    // points, each with an optional child inside it; flow ends anywhere, boundaries included.
    const arbSlices = fc.uniqueArray(fc.integer({ min: 0, max: 40 }), { maxLength: 8 }).chain((cuts) => {
      const pts = [...cuts].sort((a, b) => a - b);
      const outer: { ts: number; end: number }[] = [];
      for (let i = 0; i + 1 < pts.length; i += 2) outer.push({ ts: pts[i]!, end: pts[i + 1]! });
      return fc.tuple(...outer.map((o) => fc.option(fc.tuple(fc.integer({ min: o.ts, max: o.end }), fc.integer({ min: o.ts, max: o.end })))))
        .map((kids) => [...outer, ...kids.flatMap((k) => (k === null ? [] : [{ ts: Math.min(...k), end: Math.max(...k) }]))]);
    });
    const flowEnd = fc.record({ ts: fc.integer({ min: 0, max: 45 }), ph: fc.constantFrom('s', 't', 'f'), bp: fc.constantFrom(undefined, 'e') });
    fc.assert(fc.property(arbSlices, fc.array(flowEnd, { minLength: 1, maxLength: 6 }), (slices, fs) => {
      const timed: ChromeEvent[] = slices.map((x) => ({ name: 'run', ph: 'X', ts: x.ts, dur: x.end - x.ts, pid: 1, tid: 1 }));
      fs.forEach((f, k) => {
        // A 't' or 'f' gets its start at ts 0 (which binds, or not, too); an 's' stands alone.
        if (f.ph !== 's') timed.push({ name: 'flow', cat: 'c', ph: 's', id: k + 1, ts: 0, pid: 1, tid: 1 });
        timed.push({ name: 'flow', cat: 'c', ph: f.ph, id: k + 1, ts: f.ts, pid: 1, tid: 1, ...(f.bp === undefined ? {} : { bp: f.bp }) });
      });
      timed.sort((a, b) => a.ts! - b.ts!);
      const all = validateChromeTrace([
        { name: 'process_name', ph: 'M', pid: 1, tid: 0, args: { name: 'p' } }, { name: 'thread_name', ph: 'M', pid: 1, tid: 1, args: { name: 't' } }, ...timed,
      ]);
      const binding = all.filter((p) => !p.startsWith('flow start without an end')); // the lone 's' events
      expect(binding.filter((p) => !p.includes('binds to no slice'))).toEqual([]);
      const unbound = timed.filter((e) => ['s', 't', 'f'].includes(e.ph)).filter((e) => {
        const ts = e.ts!;
        return e.ph === 'f' && e.bp !== 'e' ? !slices.some((x) => x.ts >= ts) : !slices.some((x) => x.ts <= ts && ts <= x.end);
      });
      expect(binding.length).toBe(unbound.length);
    }), { numRuns: 500 });
  });

  it('B/E pairs are slices too: a B/E pair crossing an X is caught', () => {
    const events: ChromeEvent[] = [
      { name: 'process_name', ph: 'M', pid: 1, tid: 0, args: { name: 'p' } },
      { name: 'thread_name', ph: 'M', pid: 1, tid: 1, args: { name: 't' } },
      { name: 'x', ph: 'X', ts: 0, dur: 10, pid: 1, tid: 1 },
      { name: 'be', ph: 'B', ts: 5, pid: 1, tid: 1 },
      { name: 'be', ph: 'E', ts: 15, pid: 1, tid: 1 },
    ];
    expect(validateChromeTrace(events).join('\n')).toMatch(/slices cross on 1\/1: 'be' \[5, 15\] and 'x' \[0, 10\]/);
    events[3]!.ts = 10;
    expect(validateChromeTrace(events)).toEqual([]);
  });
});

describe('Chrome export of recorded runs (the workload engine, through Recorders)', () => {
  it('valid, with an arrow submit → start per started token and parent → child per started child (property)', async () => {
    const { arbWorkload, record } = await import('./workload.js');
    const { START_SKIPPED, RecordKind: K, tokenKey: key } = await import('../../src/trace/records.js');
    let childFlows = 0;
    fc.assert(fc.property(arbWorkload, (wl) => {
      const rec = record(wl);
      const records = rec.threads.flatMap((t) => t.ring.snapshot().records);
      const trace = toChromeTrace(records, { taskNames: rec.meta.tasks.map((t) => t.name), producerNames: rec.meta.producers.map((p) => p.name) });
      expect(validateChromeTrace(trace)).toEqual([]);
      const started = new Set(records.filter((r) => r.kind === K.START && (r.aux & START_SKIPPED) === 0).map((r) => key(r.tokenAtt, r.token, r.gen)));
      const children = records.filter((r) => r.kind === K.SUBMIT_ADMITTED && r.parent >= 0 && started.has(key(r.tokenAtt, r.token, r.gen)));
      const submitted = new Set(records.filter((r) => r.kind === K.SUBMIT_ADMITTED).map((r) => key(r.tokenAtt, r.token, r.gen)));
      // A queue arrow per token started after its submit (a retried token's next generation waits from its RETRY: no arrow).
      expect(count(trace, (e) => e.ph === 's' && e.name === 'queued')).toBe([...started].filter((k) => submitted.has(k)).length);
      expect(count(trace, (e) => e.ph === 's' && e.name === 'child')).toBe(children.length);
      expect(count(trace, (e) => e.ph === 'f' && e.name === 'child')).toBe(children.length);
      childFlows += children.length;
      // Every track is named: main, attached threads, workers with their CPU.
      const names = trace.traceEvents.filter((e) => e.name === 'thread_name').map((e) => String(e.args!.name));
      expect(names[0]).toBe('main (attachment 0) · main');
      for (let w = 0; w < wl.workers; w++) expect(names).toContain(`worker ${w} · cpu ${wl.workerCpus[w] ?? '?'}`);
    }), { numRuns: 150, seed: 18 });
    expect(childFlows).toBeGreaterThan(20);
  });

  it('the validator: a flow end with the same id and name but another cat does not match', () => {
    const b = build({
      attachments: 1, workers: 1, rejects: [],
      tasks: [{ gap: 1, att: 0, wait: 2, dur: 5, worker: 0, parent: null, at: 0, outcome: 0, cancelled: false, dies: false, retried: false, stolen: false }],
    });
    const t = toChromeTrace(throughRings(b));
    expect(validateChromeTrace(t)).toEqual([]);
    t.traceEvents.find((e) => e.ph === 'f')!.cat = 'other';
    expect(validateChromeTrace(t).join('\n')).toMatch(/flow end without a start \(cat other[\s\S]*flow start without an end: cat sluice.flow/);
  });

  it('the validator: a process without a process_name', () => {
    const t = toChromeTrace(throughRings(build({ attachments: 1, workers: 1, rejects: [{ att: 0, reason: 0, gap: 1 }], tasks: [] as never[] })));
    expect(validateChromeTrace(t)).toEqual([]);
    t.traceEvents = t.traceEvents.filter((e) => e.name !== 'process_name');
    expect(validateChromeTrace(t)).toEqual(['process 1 has no process_name']);
  });
});

describe('writeChromeTrace: the file JSON.stringify would write, in batches', () => {
  it('byte for byte, at any batch size, also with no events', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-chrome-'));
    try {
      const [sc] = fc.sample(arbScenario.filter((x) => x.tasks.length >= 4), { seed: 7, numRuns: 1 });
      const t = toChromeTrace(throughRings(build(sc!)));
      for (const trace of [t, { ...t, traceEvents: [] }, { ...t, otherData: { note: 'ü "quoted"' } }]) {
        for (const batch of [1, 3, 8192]) {
          const path = join(dir, `t-${batch}.json`);
          writeChromeTrace(path, trace, batch);
          expect(readFileSync(path, 'utf8')).toBe(JSON.stringify(trace));
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
