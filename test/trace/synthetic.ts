// Synthetic traces: a fast-check scenario of submits, runs, children (lineage), cancels, deaths
// and rejections, turned into the records each thread would have written, in each thread's order.
import fc from 'fast-check';
import { RecordKind, WRITER_ATTACHMENT, WRITER_WORKER, emptyRecord, type TraceRecord } from '../../src/trace/records.js';

export interface TaskSpec {
  gap: number;
  att: number;
  wait: number;
  dur: number;
  worker: number;
  parent: number | null;
  at: number;
  outcome: number;
  cancelled: boolean;
  dies: boolean;
  /** When it dies: re-queued by the supervisor and run again on the next worker. */
  retried: boolean;
  stolen: boolean;
}

export interface Scenario {
  attachments: number;
  workers: number;
  tasks: TaskSpec[];
  rejects: { att: number; reason: number; gap: number }[];
}

export const arbScenario: fc.Arbitrary<Scenario> = fc.record({
  attachments: fc.integer({ min: 1, max: 3 }),
  workers: fc.integer({ min: 1, max: 4 }),
  tasks: fc.array(fc.record({
    gap: fc.integer({ min: 0, max: 30 }),
    att: fc.nat(),
    wait: fc.integer({ min: 0, max: 50 }),
    dur: fc.integer({ min: 0, max: 120 }),
    worker: fc.nat(),
    parent: fc.option(fc.nat(), { freq: 2 }),
    at: fc.nat(),
    outcome: fc.integer({ min: 0, max: 3 }),
    cancelled: fc.boolean(),
    dies: fc.integer({ min: 0, max: 15 }).map((n) => n === 0),
    retried: fc.boolean(),
    stolen: fc.boolean(),
  }), { minLength: 1, maxLength: 40 }),
  rejects: fc.array(fc.record({ att: fc.nat(), reason: fc.integer({ min: 0, max: 7 }), gap: fc.integer({ min: 0, max: 40 }) }), { maxLength: 6 }),
});

export interface Built {
  /** Records per writer, keyed `a<index>` or `w<index>`, each in its writer's order. */
  byWriter: Map<string, TraceRecord[]>;
  started: number;
  admitted: number;
  /** Runs after a retry (each also a queue wait). */
  retries: number;
  /** Started children whose parent ran. */
  children: number;
}

/** Turn a scenario into each thread's records. */
export function build(sc: Scenario): Built {
  const all: TraceRecord[] = [];
  const rec = (kind: number, cls: number, index: number, tick: number, fill: Partial<TraceRecord> = {}): TraceRecord => {
    const r = { ...emptyRecord(), kind, writerClass: cls, writerIndex: index, tick, ...fill };
    all.push(r);
    return r;
  };
  for (let a = 0; a < sc.attachments; a++) rec(RecordKind.META, WRITER_ATTACHMENT, a, 0, { label: a === 0 ? '' : `producer-${a}` });
  for (let w = 0; w < sc.workers; w++) rec(RecordKind.META, WRITER_WORKER, w, 0, { cpu: w % 2 });
  const runs: { start: number; end: number; worker: number; att: number; index: number }[] = [];
  let clock = 1;
  let started = 0;
  let children = 0;
  let retries = 0;
  sc.tasks.forEach((t, i) => {
    clock += t.gap;
    const att = t.att % sc.attachments;
    const worker = t.worker % sc.workers;
    const token = { tokenAtt: att, token: i, gen: 1, task: i % 5, producer: att };
    // A child: submitted by a running task, from its worker, inside its run.
    const parentRun = t.parent !== null && runs.length > 0 ? runs[t.parent % runs.length]! : undefined;
    let submit = clock;
    let cls = WRITER_ATTACHMENT;
    let writer = att;
    const parent: Partial<TraceRecord> = {};
    if (parentRun !== undefined) {
      submit = parentRun.start + (t.at % (parentRun.end - parentRun.start + 1));
      cls = WRITER_WORKER;
      writer = parentRun.worker;
      Object.assign(parent, { parentAtt: parentRun.att, parent: parentRun.index, parentGen: 1 });
    }
    rec(RecordKind.SUBMIT_ADMITTED, cls, writer, submit, { ...token, ...parent, k0: (1 << 16) | 1, k1: 1 });
    rec(RecordKind.ROUTE, cls, writer, submit, { ...token, worker, k0: (sc.workers << 16) | worker });
    const start = submit + t.wait;
    if (t.cancelled && parentRun === undefined) {
      rec(RecordKind.CANCEL, WRITER_ATTACHMENT, att, start, { ...token, k1: 1 });
      rec(RecordKind.RELEASE, WRITER_ATTACHMENT, att, start, { ...token, aux: 2 }); // the owner's resolve: retracted
      return;
    }
    if (t.stolen) rec(RecordKind.STEAL, WRITER_WORKER, worker, start, { ...token, worker, k0: (worker + 1) % sc.workers });
    rec(RecordKind.START, WRITER_WORKER, worker, start, { ...token, worker, aux: t.stolen ? 1 : 0, cpu: worker % 2 });
    const end = start + t.dur;
    if (t.dies) {
      rec(RecordKind.WORKER_DIED, WRITER_ATTACHMENT, 0, end, { ...token, worker, aux: 1 });
      rec(RecordKind.WORKER_RESPAWNED, WRITER_ATTACHMENT, 0, end, { worker, aux: 1 });
      if (t.retried) {
        const again = (worker + 1) % sc.workers;
        rec(RecordKind.RESOLVE, WRITER_ATTACHMENT, 0, end, { ...token, worker, aux: 3, k1: 1 }); // abandoned, retryable
        rec(RecordKind.RETRY, WRITER_ATTACHMENT, 0, end, { ...token, worker, aux: 1 });
        rec(RecordKind.START, WRITER_WORKER, again, end + t.wait, { ...token, worker: again });
        rec(RecordKind.RESOLVE, WRITER_WORKER, again, end + t.wait + t.dur, { ...token, worker: again, aux: t.outcome });
        retries++;
      }
    } else {
      rec(RecordKind.RESOLVE, WRITER_WORKER, worker, end, { ...token, worker, aux: t.outcome });
    }
    started++;
    if (parentRun !== undefined) children++;
    runs.push({ start, end, worker, att, index: i });
  });
  let rt = 1;
  for (const r of sc.rejects) {
    rt += r.gap;
    rec(RecordKind.SUBMIT_REJECTED, WRITER_ATTACHMENT, r.att % sc.attachments, rt, { producer: 0, aux: r.reason });
  }
  // Each writer's records in its own order: by tick (its clock is monotonic), then as made.
  const byWriter = new Map<string, TraceRecord[]>();
  all.map((r, i) => ({ r, i })).sort((x, y) => x.r.tick - y.r.tick || x.i - y.i).forEach(({ r }) => {
    const key = `${r.writerClass === WRITER_WORKER ? 'w' : 'a'}${r.writerIndex}`;
    const list = byWriter.get(key) ?? [];
    list.push(r);
    byWriter.set(key, list);
  });
  return { byWriter, started, admitted: sc.tasks.length, children, retries };
}
