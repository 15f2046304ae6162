/**
 * Export decoded trace records (from any number of threads' rings or files) to the Chrome Trace
 * Event format, which Perfetto UI (ui.perfetto.dev) and chrome://tracing open; and a validator of
 * the structure those viewers rely on.
 *
 * What the export draws (process "sluice", pid 1):
 *   tracks     one per thread: "main" (attachment 0), "attached a", "worker w · cpu c"; a worker
 *              running several async tasks at once gets extra lanes ("worker w · cpu c · lane 1"),
 *              so slices on one track always nest
 *   slices     X events: a zero-length "submit" where a submit was admitted (on the submitter's
 *              track) and a "run" from START to RESOLVE (or to the worker's death, or to the end
 *              of the trace, marked unfinished) on the worker's track
 *   async      b/e "queued" from the admitted submit (or the retry) to the start, or to a resolve
 *              that came first (retracted): the queue wait
 *   flows      s/f arrows "queued" from the submit slice to the run, and "child" from the parent's
 *              run (at the child's submit) to the child's run (lineage)
 *   instants   i events for the other decisions: rejected (with the reason), route, cancel,
 *              retry, steal, worker died, worker respawned, freeze, reconcile
 *   metadata   M events: process_name, thread_name, thread_sort_index
 * Timestamps are clock ticks (µs). Events come out sorted by ts, so every track is monotonic.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { OUTCOMES } from '../admission/outcomes.js';
import { REJECT_REASONS } from '../admission/reasons.js';
import { RecordKind, START_SKIPPED, WRITER_WORKER, details, kindName, tokenKey, type TraceRecord } from './records.js';

export interface ChromeEvent {
  name: string;
  ph: string;
  pid: number;
  tid: number;
  ts?: number;
  dur?: number;
  cat?: string;
  id?: number;
  bp?: 'e';
  s?: 't' | 'p' | 'g';
  args?: Record<string, unknown>;
}

export interface ChromeTrace {
  traceEvents: ChromeEvent[];
  displayTimeUnit: 'ms' | 'ns';
  otherData?: Record<string, unknown>;
}

/**
 * Write `trace` to `path` as JSON.stringify(trace) would, byte for byte, without building that
 * one string: the events go out in batches. A full recording of a few seconds exports to more
 * JSON than a JavaScript string may hold (V8: ~0.5 G characters).
 */
export function writeChromeTrace(path: string, trace: ChromeTrace, batch = 8192): void {
  const fd = openSync(path, 'w');
  try {
    const put = (text: string): void => {
      const buf = Buffer.from(text, 'utf8');
      let off = 0;
      while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    };
    put('{');
    let first = true;
    for (const [key, value] of Object.entries(trace)) {
      if (value === undefined) continue;
      put(`${first ? '' : ','}${JSON.stringify(key)}:`);
      first = false;
      if (key !== 'traceEvents') { put(JSON.stringify(value)); continue; }
      const events = value as readonly ChromeEvent[];
      put('[');
      for (let i = 0; i < events.length; i += batch) {
        const part = JSON.stringify(events.slice(i, i + batch));
        put(`${i === 0 ? '' : ','}${part.slice(1, -1)}`);
      }
      put(']');
    }
    put('}');
  } finally {
    closeSync(fd);
  }
}

export interface ExportOptions {
  /** Task names by task id (for slice names). */
  taskNames?: readonly string[];
  /** Producer names by producer index. */
  producerNames?: readonly string[];
}

const PID = 1;
const WORKER_TID = 1000;
const LANES = 64;
const CAT = 'sluice';
const CAT_FLOW = 'sluice.flow';
const CAT_QUEUE = 'sluice.queue';

const attachmentTid = (a: number): number => a + 1;
const workerTid = (w: number, lane: number): number => WORKER_TID + w * LANES + Math.min(lane, LANES - 1);

interface Run {
  key: number;
  worker: number;
  start: number;
  end: number;
  lane: number;
  unfinished: boolean;
  rec: TraceRecord;
  outcome: string;
  /** The queue wait this run ends (null if its submit is not in the trace). */
  wait: Wait | null;
}

interface Wait {
  key: number;
  tid: number;
  ts: number;
  name: string;
  /** Set when the wait began at an admitted submit: that submit's slice is the flow's source. */
  fromSubmit: boolean;
  rec: TraceRecord;
}

/** Build the Chrome trace of `records` (any order across threads; each thread's in its order). */
export function toChromeTrace(records: readonly TraceRecord[], opts: ExportOptions = {}): ChromeTrace {
  let nextId = 1; // flow and async ids: unique per (cat, name) in this trace
  const taskName = (t: number): string => (t < 0 ? 'task' : opts.taskNames?.[t] ?? `task ${t}`);
  const events: ChromeEvent[] = [];
  const meta: ChromeEvent[] = [];
  const recs = mergeThreads(records);
  const lastTick = recs.length > 0 ? recs[recs.length - 1]!.tick : 0;

  // ---- identities: labels and CPUs ----
  const attLabel = new Map<number, string>();
  const workerCpu = new Map<number, number>();
  const workers = new Set<number>();
  const attachments = new Set<number>();
  for (const r of recs) {
    if (r.writerClass === WRITER_WORKER) {
      workers.add(r.writerIndex);
      if (r.kind === RecordKind.META && r.cpu >= 0) workerCpu.set(r.writerIndex, r.cpu);
      else if (!workerCpu.has(r.writerIndex) && r.cpu >= 0) workerCpu.set(r.writerIndex, r.cpu);
    } else {
      attachments.add(r.writerIndex);
      if (r.kind === RecordKind.META && r.label) attLabel.set(r.writerIndex, r.label);
    }
    if (r.worker >= 0 && (r.kind === RecordKind.START || r.kind === RecordKind.WORKER_DIED || r.kind === RecordKind.WORKER_RESPAWNED)) workers.add(r.worker);
  }
  const writerTid = (r: TraceRecord): number =>
    r.writerClass === WRITER_WORKER ? workerTid(r.writerIndex, 0) : attachmentTid(r.writerIndex);

  // ---- pass 1: waits, runs, lineage sources ----
  const waits = new Map<number, Wait>();
  const open = new Map<number, Run>();
  const runs: Run[] = [];
  const submits = new Map<number, TraceRecord>();
  const submitWaits = new Map<number, Wait>();
  const instants: { r: TraceRecord; tid: number; name: string }[] = [];
  // Queue waits from admitted submits are known up front: at one tick, a start on one thread
  // may come out of the merge before its submit on another (mergeThreads cannot see tokens).
  for (const r of recs) {
    if (r.kind !== RecordKind.SUBMIT_ADMITTED || r.token < 0) continue;
    const key = tokenKey(r.tokenAtt, r.token, r.gen);
    submits.set(key, r);
    const wait: Wait = { key, tid: writerTid(r), ts: r.tick, name: `queued ${taskName(r.task)}`, fromSubmit: true, rec: r };
    waits.set(key, wait);
    submitWaits.set(key, wait);
  }
  for (const r of recs) {
    const key = r.token >= 0 ? tokenKey(r.tokenAtt, r.token, r.gen) : -1;
    switch (r.kind) {
      case RecordKind.SUBMIT_ADMITTED:
        break;
      case RecordKind.RETRY:
        if (key >= 0) waits.set(key, { key, tid: writerTid(r), ts: r.tick, name: `queued ${taskName(r.task)}`, fromSubmit: false, rec: r });
        instants.push({ r, tid: writerTid(r), name: `retry ${taskName(r.task)}` });
        break;
      case RecordKind.START: {
        if ((r.aux & START_SKIPPED) !== 0) { // a cell passed over: nothing ran
          instants.push({ r, tid: writerTid(r), name: `skipped ${taskName(r.task)}` });
          break;
        }
        const worker = r.worker >= 0 ? r.worker : r.writerIndex;
        const run: Run = { key, worker, start: r.tick, end: lastTick, lane: 0, unfinished: true, rec: r, outcome: '', wait: null };
        const wait = waits.get(key);
        if (wait !== undefined) { run.wait = wait; waits.delete(key); }
        if (key >= 0) open.set(key, run);
        runs.push(run);
        break;
      }
      case RecordKind.RELEASE: { // the owner's resolve: ends a wait that never started (retracted)
        const wait = open.has(key) ? undefined : waits.get(key);
        if (wait !== undefined) {
          emitWait(events, wait, r.tick, nextId++);
          waits.delete(key);
        }
        break;
      }
      case RecordKind.RESOLVE: {
        const run = open.get(key);
        if (run !== undefined) {
          run.end = r.tick;
          run.unfinished = false;
          run.outcome = OUTCOMES[r.aux] ?? String(r.aux);
          open.delete(key);
        } else {
          const wait = waits.get(key); // resolved without a start: the queue wait ends here
          if (wait !== undefined) {
            emitWait(events, wait, r.tick, nextId++);
            waits.delete(key);
          }
        }
        break;
      }
      case RecordKind.WORKER_DIED:
        for (const [k, run] of open) {
          if (run.worker === r.worker) { run.end = r.tick; run.unfinished = false; run.outcome = 'worker died'; open.delete(k); }
        }
        instants.push({ r, tid: workerTid(r.worker, 0), name: `worker ${r.worker} died` });
        break;
      case RecordKind.WORKER_RESPAWNED:
        instants.push({ r, tid: workerTid(r.worker, 0), name: `worker ${r.worker} respawned` });
        break;
      case RecordKind.SUBMIT_REJECTED:
        instants.push({ r, tid: writerTid(r), name: `rejected: ${REJECT_REASONS[r.aux] ?? r.aux}` });
        break;
      case RecordKind.ROUTE:
        instants.push({ r, tid: writerTid(r), name: `route → worker ${r.worker}` });
        break;
      case RecordKind.META:
        break;
      default:
        instants.push({ r, tid: writerTid(r), name: kindName(r.kind).toLowerCase().replace(/_/g, ' ') });
    }
  }

  // ---- lanes: runs on one worker that overlap (async tasks) go on the lowest free lane ----
  const laneEnds = new Map<number, number[]>();
  for (const run of [...runs].sort((a, b) => a.start - b.start || b.end - a.end)) {
    const ends = laneEnds.get(run.worker) ?? [];
    let lane = ends.findIndex((end) => end <= run.start);
    if (lane < 0) lane = ends.length;
    ends[lane] = run.end;
    laneEnds.set(run.worker, ends);
    run.lane = lane;
  }
  const runsByKey = new Map<number, Run[]>();
  for (const run of runs) if (run.key >= 0) runsByKey.set(run.key, [...(runsByKey.get(run.key) ?? []), run]);
  /** The parent's run (attempt) during which `sub` was submitted. */
  const parentRunOf = (sub: TraceRecord): Run | undefined => (sub.parent < 0 ? undefined
    : runsByKey.get(tokenKey(sub.parentAtt, sub.parent, sub.parentGen))?.find((p) => p.start <= sub.tick && sub.tick <= p.end));

  // ---- slices, waits and flows ----
  for (const [key, sub] of submits) {
    // A child submitted by a running task sits on its parent's lane, inside the parent's run.
    let tid = writerTid(sub);
    const parentRun = parentRunOf(sub);
    if (parentRun !== undefined && sub.writerClass === WRITER_WORKER && parentRun.worker === sub.writerIndex) tid = workerTid(parentRun.worker, parentRun.lane);
    events.push({ name: `submit ${taskName(sub.task)}`, cat: CAT, ph: 'X', ts: sub.tick, dur: 0, pid: PID, tid, args: argsOf(sub, opts) });
    submitWaits.get(key)!.tid = tid; // its wait and its arrow start on the same track
  }
  for (const run of runs) {
    const tid = workerTid(run.worker, run.lane);
    const args: Record<string, unknown> = { ...argsOf(run.rec, opts), outcome: run.outcome || undefined };
    if (run.unfinished) args.unfinished = true;
    events.push({ name: taskName(run.rec.task), cat: CAT, ph: 'X', ts: run.start, dur: run.end - run.start, pid: PID, tid, args });
    // Threads' clocks may disagree by a tick or so (each calibrates its own offset): a start
    // stamped before its submit ends the wait at the submit, and gets no arrow.
    const firstRun = run.wait !== null && run.wait.fromSubmit;
    if (run.wait !== null) {
      emitWait(events, run.wait, Math.max(run.start, run.wait.ts), nextId++);
      if (run.wait.fromSubmit && run.wait.ts <= run.start) {
        const id = nextId++;
        events.push({ name: 'queued', cat: CAT_FLOW, ph: 's', ts: run.wait.ts, pid: PID, tid: run.wait.tid, id });
        events.push({ name: 'queued', cat: CAT_FLOW, ph: 'f', bp: 'e', ts: run.start, pid: PID, tid, id });
      }
    }
    // Lineage: from the parent's run, at the child's submit, to the child's (first) run.
    const sub = submits.get(run.key);
    if (firstRun && sub !== undefined && sub.parent >= 0) {
      const parentRun = parentRunOf(sub);
      if (parentRun !== undefined && sub.tick <= run.start) {
        const id = nextId++;
        events.push({ name: 'child', cat: CAT_FLOW, ph: 's', ts: sub.tick, pid: PID, tid: workerTid(parentRun.worker, parentRun.lane), id });
        events.push({ name: 'child', cat: CAT_FLOW, ph: 'f', bp: 'e', ts: run.start, pid: PID, tid, id });
      }
    }
  }
  for (const { r, tid, name } of instants) {
    events.push({ name, cat: CAT, ph: 'i', s: 't', ts: r.tick, pid: PID, tid, args: argsOf(r, opts) });
  }

  // ---- metadata ----
  meta.push({ name: 'process_name', ph: 'M', pid: PID, tid: 0, args: { name: 'sluice' } });
  const used = new Set(events.map((e) => e.tid));
  for (const a of attachments) used.add(attachmentTid(a));
  for (const w of workers) used.add(workerTid(w, 0));
  for (const tid of [...used].sort((x, y) => x - y)) {
    let name: string;
    if (tid < WORKER_TID) {
      const a = tid - 1;
      name = a === 0 ? 'main (attachment 0)' : `attached ${a}`;
      const label = attLabel.get(a);
      if (label) name += ` · ${label}`;
    } else {
      const w = Math.floor((tid - WORKER_TID) / LANES);
      const lane = (tid - WORKER_TID) % LANES;
      const cpu = workerCpu.get(w);
      name = `worker ${w} · cpu ${cpu ?? '?'}${lane > 0 ? ` · lane ${lane}` : ''}`;
    }
    meta.push({ name: 'thread_name', ph: 'M', pid: PID, tid, args: { name } });
    meta.push({ name: 'thread_sort_index', ph: 'M', pid: PID, tid, args: { sort_index: tid } });
  }

  // Sort by ts; at one ts, longer slices first (so a parent precedes the slices it contains).
  const order = events.map((e, i) => ({ e, i }));
  order.sort((a, b) => (a.e.ts! - b.e.ts!) || rank(a.e) - rank(b.e) || (b.e.dur ?? 0) - (a.e.dur ?? 0) || a.i - b.i);
  return { traceEvents: [...meta, ...order.map((x) => x.e)], displayTimeUnit: 'ms', otherData: { producer: 'sluice trace' } };

  function emitWait(out: ChromeEvent[], wait: Wait, end: number, id: number): void {
    out.push({ name: wait.name, cat: CAT_QUEUE, ph: 'b', ts: wait.ts, pid: PID, tid: wait.tid, id, args: argsOf(wait.rec, opts) });
    out.push({ name: wait.name, cat: CAT_QUEUE, ph: 'e', ts: end, pid: PID, tid: wait.tid, id });
  }
}

/**
 * Causal rank of a kind, for records of different threads at the same tick: a token is
 * submitted (or re-queued) before it starts, starts before it resolves, and a worker's run
 * starts before the worker's death is noticed.
 */
const CAUSAL_RANK: readonly number[] = (() => {
  const rank: number[] = [];
  const K = RecordKind;
  for (const k of [K.META]) rank[k] = 0;
  for (const k of [K.SUBMIT_ADMITTED, K.SUBMIT_REJECTED, K.ROUTE, K.RETRY, K.CANCEL]) rank[k] = 1;
  for (const k of [K.STEAL, K.START]) rank[k] = 2;
  for (const k of [K.RESOLVE, K.RELEASE]) rank[k] = 3;
  for (const k of [K.WORKER_DIED, K.WORKER_RESPAWNED]) rank[k] = 4;
  for (const k of [K.FREEZE, K.RECONCILE]) rank[k] = 5;
  return rank;
})();

/**
 * One stream from many threads' records: a merge by tick that keeps each thread's own order
 * (its ring's order is the truth, even at equal ticks). Ticks are µs, so many decisions of
 * different threads share one; among the threads' next records at the lowest tick it takes the
 * first that is causally ready for its token (a start needs its submit or retry, a resolve or a
 * death needs its start, when those are in the input at all), then by CAUSAL_RANK. If none is
 * ready (records lost to overwrite), it takes the lowest rank.
 */
export function mergeThreads(records: readonly TraceRecord[]): TraceRecord[] {
  const K = RecordKind;
  const byWriter = new Map<number, TraceRecord[]>();
  const total = { queued: new Map<number, number>(), starts: new Map<number, number>() };
  const seen = { queued: new Map<number, number>(), starts: new Map<number, number>(), ends: new Map<number, number>() };
  const keyOf = (r: TraceRecord): number => (r.token < 0 ? -1 : tokenKey(r.tokenAtt, r.token, r.gen));
  const bump = (m: Map<number, number>, k: number): void => { m.set(k, (m.get(k) ?? 0) + 1); };
  for (const r of records) {
    const key = r.writerClass * 256 + r.writerIndex;
    const list = byWriter.get(key);
    if (list === undefined) byWriter.set(key, [r]);
    else list.push(r);
    const k = keyOf(r);
    if (k < 0) continue;
    if (r.kind === K.SUBMIT_ADMITTED || r.kind === K.RETRY) bump(total.queued, k);
    else if (r.kind === K.START && (r.aux & START_SKIPPED) === 0) bump(total.starts, k);
  }
  const ready = (r: TraceRecord): boolean => {
    const k = keyOf(r);
    if (k < 0) return true;
    const starts = seen.starts.get(k) ?? 0;
    switch (r.kind) {
      case K.START:
        if ((r.aux & START_SKIPPED) !== 0) return true;
        return (seen.queued.get(k) ?? 0) > starts || (total.queued.get(k) ?? 0) <= starts;
      case K.RESOLVE:
        return starts > (seen.ends.get(k) ?? 0) || (total.starts.get(k) ?? 0) <= starts;
      case K.WORKER_DIED:
        return starts > 0 || (total.starts.get(k) ?? 0) === 0;
      default:
        return true;
    }
  };
  const lists = [...byWriter.entries()].sort((x, y) => x[0] - y[0]).map((e) => e[1]);
  const heads = lists.map(() => 0);
  const out: TraceRecord[] = [];
  for (;;) {
    let tick = Infinity;
    for (let i = 0; i < lists.length; i++) {
      const r = lists[i]![heads[i]!];
      if (r !== undefined && r.tick < tick) tick = r.tick;
    }
    if (tick === Infinity) return out;
    let best = -1;
    let bestReady = false;
    for (let i = 0; i < lists.length; i++) {
      const r = lists[i]![heads[i]!];
      if (r === undefined || r.tick !== tick) continue;
      const ok = ready(r);
      if (best < 0 || (ok && !bestReady)) { best = i; bestReady = ok; continue; }
      if (ok !== bestReady) continue;
      const b = lists[best]![heads[best]!]!;
      if ((CAUSAL_RANK[r.kind] ?? 9) < (CAUSAL_RANK[b.kind] ?? 9)) best = i;
    }
    const r = lists[best]![heads[best]!++]!;
    out.push(r);
    const k = keyOf(r);
    if (k >= 0) {
      if (r.kind === K.SUBMIT_ADMITTED || r.kind === K.RETRY) bump(seen.queued, k);
      else if (r.kind === K.START && (r.aux & START_SKIPPED) === 0) bump(seen.starts, k);
      else if (r.kind === K.RESOLVE) bump(seen.ends, k);
    }
  }
}

function rank(e: ChromeEvent): number {
  switch (e.ph) {
    case 'X': return 0; // slices first: flows at the same ts bind to them
    case 'b': return 1;
    case 'e': return 2; // after a begin at the same ts (a wait of zero ticks)
    default: return 3;
  }
}

function argsOf(r: TraceRecord, opts: ExportOptions): Record<string, unknown> {
  const args: Record<string, unknown> = { kind: kindName(r.kind), ...details(r) };
  if (r.token >= 0) args.token = `${r.tokenAtt}:${r.token}#${r.gen}`;
  if (r.parent >= 0) args.parent = `${r.parentAtt}:${r.parent}#${r.parentGen}`;
  if (r.producer >= 0) args.producer = opts.producerNames?.[r.producer] ?? r.producer;
  if (r.worker >= 0) args.worker = r.worker;
  if (r.cpu >= 0) args.cpu = r.cpu;
  args.tick = r.tick;
  return args;
}

// ---------------------------------------------------------------------------------------------

/**
 * Check the structure viewers rely on; returns the problems found (empty when valid):
 *   - every event has a name, a phase, pid and tid; every non-metadata event a finite ts >= 0
 *   - timestamps never go backwards on a track (pid, tid), in file order
 *   - slices on a track nest: X (ts, dur >= 0) and matched B/E pairs never cross
 *   - every flow start (s) has exactly one end (f) with the same cat, name and id, not earlier,
 *     and every flow end has a start; both ends lie inside a slice of their track
 *   - async begin/end (b/e) pair up by cat, name and id, the end not earlier
 *   - every track with events has a thread_name, every process with events a process_name
 */
export function validateChromeTrace(trace: ChromeTrace | readonly ChromeEvent[]): string[] {
  const events = Array.isArray(trace) ? (trace as readonly ChromeEvent[]) : (trace as ChromeTrace).traceEvents;
  const problems: string[] = [];
  const trackKey = (e: ChromeEvent): string => `${e.pid}/${e.tid}`;
  const lastTs = new Map<string, number>();
  const slices = new Map<string, { ts: number; end: number; name: string }[]>();
  const openB = new Map<string, ChromeEvent[]>();
  const flows = new Map<string, ChromeEvent>();
  const flowEnds: ChromeEvent[] = [];
  const asyncs = new Map<string, ChromeEvent>();
  const named = new Set<string>();
  const namedPids = new Set<number>();
  const tracks = new Set<string>();

  // Where an event is, for a problem's text (made only then).
  const at = (i: number, e: ChromeEvent): string => `event ${i} (${e.ph} '${e.name}' on ${trackKey(e)})`;
  events.forEach((e, i) => {
    if (typeof e.name !== 'string' || typeof e.ph !== 'string' || !Number.isFinite(e.pid) || !Number.isFinite(e.tid)) {
      problems.push(`${at(i, e)}: missing name, ph, pid or tid`);
      return;
    }
    if (e.ph === 'M') {
      if (e.name === 'thread_name') named.add(trackKey(e));
      if (e.name === 'process_name') namedPids.add(e.pid);
      return;
    }
    const ts = e.ts;
    if (typeof ts !== 'number' || !Number.isFinite(ts) || ts < 0) {
      problems.push(`${at(i, e)}: ts is not a finite number >= 0`);
      return;
    }
    const track = trackKey(e);
    tracks.add(track);
    const prev = lastTs.get(track);
    if (prev !== undefined && ts < prev) problems.push(`${at(i, e)}: timestamp goes backwards on its track (${ts} after ${prev})`);
    lastTs.set(track, Math.max(prev ?? ts, ts));
    const list = slices.get(track) ?? [];
    slices.set(track, list);
    switch (e.ph) {
      case 'X':
        if (typeof e.dur !== 'number' || !(e.dur >= 0)) problems.push(`${at(i, e)}: X without a duration >= 0`);
        else list.push({ ts, end: ts + e.dur, name: e.name });
        break;
      case 'B': {
        const stack = openB.get(track) ?? [];
        stack.push(e);
        openB.set(track, stack);
        break;
      }
      case 'E': {
        const b = openB.get(track)?.pop();
        if (b === undefined) problems.push(`${at(i, e)}: E without a B`);
        else list.push({ ts: b.ts!, end: ts, name: b.name });
        break;
      }
      case 's': case 'f': case 't': {
        const key = `${e.cat}|${e.name}|${e.id}`;
        if (e.ph === 's') {
          if (flows.has(key)) problems.push(`${at(i, e)}: flow id ${e.id} started twice`);
          flows.set(key, e);
        } else if (e.ph === 'f') {
          const s = flows.get(key);
          if (s === undefined) problems.push(`${at(i, e)}: flow end without a start (cat ${e.cat}, id ${e.id})`);
          else if (ts < s.ts!) problems.push(`${at(i, e)}: flow ends before it starts`);
          flows.delete(key);
        }
        flowEnds.push(e);
        break;
      }
      case 'b': case 'e': {
        const key = `${e.cat}|${e.name}|${e.id}`;
        if (e.ph === 'b') {
          if (asyncs.has(key)) problems.push(`${at(i, e)}: async id ${e.id} begun twice`);
          asyncs.set(key, e);
        } else {
          const b = asyncs.get(key);
          if (b === undefined) problems.push(`${at(i, e)}: async end without a begin (cat ${e.cat}, id ${e.id})`);
          else if (ts < b.ts!) problems.push(`${at(i, e)}: async slice ends before it begins`);
          asyncs.delete(key);
        }
        break;
      }
      default:
        break;
    }
  });
  for (const [track, stack] of openB) for (const b of stack) problems.push(`B '${b.name}' on ${track} at ${b.ts} never ends`);
  for (const s of flows.values()) problems.push(`flow start without an end: cat ${s.cat}, name '${s.name}', id ${s.id} at ${s.ts} on ${trackKey(s)}`);
  for (const b of asyncs.values()) problems.push(`async begin without an end: cat ${b.cat}, name '${b.name}', id ${b.id} at ${b.ts}`);

  // Nesting: sorted by start, longer first; a slice must end inside every slice still open.
  for (const [track, list] of slices) {
    list.sort((a, b) => a.ts - b.ts || b.end - a.end);
    const stack: { ts: number; end: number; name: string }[] = [];
    for (const s of list) {
      while (stack.length > 0 && stack[stack.length - 1]!.end <= s.ts && s.end > stack[stack.length - 1]!.end) stack.pop();
      while (stack.length > 0 && stack[stack.length - 1]!.end < s.ts) stack.pop();
      const top = stack[stack.length - 1];
      if (top !== undefined && s.end > top.end) {
        problems.push(`slices cross on ${track}: '${s.name}' [${s.ts}, ${s.end}] and '${top.name}' [${top.ts}, ${top.end}]`);
        continue;
      }
      stack.push(s);
    }
  }
  // Flow ends bind to a slice on their track (s and bp:e to the enclosing one). Each track's list
  // is sorted by start (above); with the running maximum of its ends, a binding is a binary search
  // (a scan per flow end was quadratic: 20 s of a 0.5 M-record export).
  const maxEnds = new Map<string, Float64Array>();
  for (const [track, list] of slices) {
    const m = new Float64Array(list.length);
    let hi = -Infinity;
    list.forEach((x, i) => { hi = Math.max(hi, x.end); m[i] = hi; });
    maxEnds.set(track, m);
  }
  for (const e of flowEnds) {
    const track = trackKey(e);
    const list = slices.get(track) ?? [];
    const ts = e.ts!;
    // lo: how many slices start at or before ts.
    let lo = 0;
    let hi = list.length;
    while (lo < hi) { const mid = (lo + hi) >>> 1; if (list[mid]!.ts <= ts) lo = mid + 1; else hi = mid; }
    const bound = e.ph === 'f' && e.bp !== 'e'
      ? list.length > 0 && list[list.length - 1]!.ts >= ts // a slice that starts at or after it
      : lo > 0 && maxEnds.get(track)![lo - 1]! >= ts; // a slice that starts at or before it and has not ended
    if (!bound) problems.push(`flow ${e.ph} '${e.name}' id ${e.id} at ${ts} on ${trackKey(e)} binds to no slice`);
  }
  for (const track of tracks) if (!named.has(track)) problems.push(`track ${track} has no thread_name`);
  const pids = new Set([...tracks].map((t) => Number(t.split('/')[0])));
  for (const pid of pids) if (!namedPids.has(pid)) problems.push(`process ${pid} has no process_name`);
  return problems;
}
