/**
 * Explain, from a trace alone: why a submit was rejected (the reason, the gate words it saw, the
 * limit, in words), where a token ran (worker, CPU, stolen), what it waited behind (the tokens
 * routed to the same worker before it and not yet started when it was routed), how long it
 * queued, who spawned it (its parent chain) and what it spawned.
 *
 * Works on any trace, flight or stream: what is outside the window is said to be outside it.
 */
import { OUTCOMES } from '../admission/outcomes.js';
import { REASONS, REJECT_REASONS } from '../admission/reasons.js';
import { inflightOf, tokensOf } from '../shm/words/gate.js';
import { mergeThreads } from './chrome.js';
import type { TraceFile } from './file.js';
import { RecordKind, START_SKIPPED, START_STOLEN, WRITER_WORKER, kindName, tokenKey, unpackRoute, type TraceRecord } from './records.js';

/** A token as the user names it: `att:index#gen`, `att:index` (latest generation) or `index` (attachment 0). */
export interface TokenId { att: number; index: number; gen: number | null }

/** Parse a token id; null when it is not one. */
export function parseTokenId(s: string): TokenId | null {
  const m = /^(?:(\d{1,3}):)?(\d{1,5})(?:#(\d{1,7}))?$/.exec(s.trim());
  if (m === null) return null;
  const att = m[1] === undefined ? 0 : Number(m[1]);
  const index = Number(m[2]);
  const gen = m[3] === undefined ? null : Number(m[3]);
  if (att > 255 || index > 0xffff || (gen !== null && gen > 0x1fffff)) return null;
  return { att, index, gen };
}

export const formatToken = (att: number, index: number, gen: number): string => `${att}:${index}#${gen}`;

type Trace = Pick<TraceFile, 'meta' | 'records'>;

function names(trace: Trace): {
  task: (t: number) => string; producer: (p: number) => string; thread: (r: TraceRecord) => string;
} {
  const { meta } = trace;
  const labels = new Map<number, string>();
  for (const r of trace.records) if (r.kind === RecordKind.META && r.label) labels.set(r.writerClass * 256 + r.writerIndex, r.label);
  for (const t of meta.threads) if (!labels.has(t.writerClass * 256 + t.writerIndex) && t.name) labels.set(t.writerClass * 256 + t.writerIndex, t.name);
  return {
    task: (t) => (t < 0 ? 'no task' : `'${meta.tasks[t]?.name ?? `task ${t}`}'`),
    producer: (p) => (p < 0 ? 'no producer' : `'${meta.producers[p]?.name ?? `producer ${p}`}'`),
    thread: (r) => {
      const base = r.writerClass === WRITER_WORKER ? `worker ${r.writerIndex}` : r.writerIndex === 0 ? 'the main thread' : `attached thread ${r.writerIndex}`;
      const label = labels.get(r.writerClass * 256 + r.writerIndex);
      return label && !base.includes(label) ? `${base} ('${label}')` : base;
    },
  };
}

const keyOf = (r: TraceRecord): number => tokenKey(r.tokenAtt, r.token, r.gen);
const parentKeyOf = (r: TraceRecord): number => tokenKey(r.parentAtt, r.parent, r.parentGen);
const cpuText = (cpu: number): string => (cpu < 0 ? 'CPU unknown' : `CPU ${cpu}`);
const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

/** The gate words of a SUBMIT record, in words. */
function gateWords(trace: Trace, r: TraceRecord): string[] {
  const p = trace.meta.producers[r.producer];
  const lines: string[] = [];
  const inflight = inflightOf(r.k0);
  if (p !== undefined) {
    const bucket = p.rate > 0 ? `${plural(tokensOf(r.k0), 'token')} in its bucket (rate ${p.rate}/s, burst ${p.burst}), ` : '';
    lines.push(`producer ${names(trace).producer(r.producer)}: ${bucket}${inflight} of its ${p.slots} slots in flight (word 0x${(r.k0 >>> 0).toString(16)})`);
  } else {
    lines.push(`producer word 0x${(r.k0 >>> 0).toString(16)}: ${tokensOf(r.k0)} tokens, ${inflight} in flight`);
  }
  lines.push(`global: ${r.k1} of ${trace.meta.globalSlots} global slots in flight`);
  if (p !== undefined && p.rate > 0) lines.push(`bucket refill counter (EARNED): ${r.k2}`);
  return lines;
}

/** Explain record #n of the merged stream (what `sluice trace show` numbers): a rejection in words, or the token it names. */
export function explainRecord(trace: Trace, n: number): string[] {
  const merged = mergeThreads(trace.records);
  const r = merged[n];
  if (r === undefined) throw new RangeError(`there is no record #${n} (the trace has ${merged.length})`);
  if (r.kind !== RecordKind.SUBMIT_REJECTED) {
    if (r.token < 0) throw new RangeError(`record #${n} is a ${kindName(r.kind)} and names no token`);
    return explainToken(trace, { att: r.tokenAtt, index: r.token, gen: r.gen });
  }
  const nm = names(trace);
  const reason = REASONS[r.aux];
  const lines = [
    `record #${n}: a submit of task ${nm.task(r.task)} for producer ${nm.producer(r.producer)} was REJECTED '${REJECT_REASONS[r.aux] ?? r.aux}'`,
    `  at tick ${r.tick} µs, on ${nm.thread(r)} (${cpuText(r.cpu)})`,
    `  why: ${reason?.meaning ?? 'unknown reason'}${reason?.capacity ? ' (it passes with time: a retry may be admitted)' : ' (it does not pass with time)'}`,
  ];
  const p = trace.meta.producers[r.producer];
  switch (REJECT_REASONS[r.aux]) {
    case 'rate':
      lines.push(`  the bucket was empty: ${tokensOf(r.k0)} tokens at tick ${r.tick}; it earns ${p?.rate ?? '?'} per second, holds at most ${p?.burst ?? '?'}`);
      break;
    case 'producer-slots':
      lines.push(`  ${inflightOf(r.k0)} of the producer's tasks were admitted and unresolved; its limit (slots) is ${r.k3}`);
      break;
    case 'global-slots':
      lines.push(`  ${r.k1} tasks were admitted and unresolved runtime-wide; the limit (globalSlots) is ${r.k3}`);
      break;
    case 'ring-full':
      lines.push(`  every ring the task may use held ${r.k3} cells (the ring capacity)`);
      break;
    default:
      break;
  }
  lines.push('  gate words after the refusal (nothing was taken):');
  for (const l of gateWords(trace, r)) lines.push(`    ${l}`);
  if (r.parent >= 0) lines.push(`  submitted by the running task ${formatToken(r.parentAtt, r.parent, r.parentGen)}`);
  return lines;
}

/** Explain a token: admission, route, what it waited behind, where and how long it ran, lineage. */
export function explainToken(trace: Trace, id: TokenId): string[] {
  const merged = mergeThreads(trace.records);
  const nm = names(trace);
  const submits = merged.filter((r) => r.kind === RecordKind.SUBMIT_ADMITTED && r.tokenAtt === id.att && r.token === id.index && (id.gen === null || r.gen === id.gen));
  const mentions = merged.filter((r) => r.tokenAtt === id.att && r.token === id.index && (id.gen === null || r.gen === id.gen));
  if (mentions.length === 0) throw new RangeError(`token ${id.att}:${id.index}${id.gen === null ? '' : `#${id.gen}`} is not in this trace`);
  const gen = id.gen ?? (submits.at(-1) ?? mentions.at(-1)!).gen;
  const key = tokenKey(id.att, id.index, gen);
  const mine = merged.map((r, i) => ({ r, i })).filter(({ r }) => r.token >= 0 && keyOf(r) === key);
  const sub = mine.find(({ r }) => r.kind === RecordKind.SUBMIT_ADMITTED);
  const first = mine[0]!.r;
  const lines: string[] = [`token ${formatToken(id.att, id.index, gen)}: task ${nm.task(first.task)}, producer ${nm.producer(first.producer)}`];
  const others = [...new Set(mentions.map((r) => r.gen))].filter((g) => g !== gen);
  if (others.length > 0) lines.push(`  (the same index was also generation ${others.join(', ')} in this trace: name one as ${id.att}:${id.index}#<gen>)`);

  // ---- admission ----
  if (sub === undefined) {
    lines.push('  admission: not in this trace (before the flight-recorder window, or its record was lost)');
  } else {
    const r = sub.r;
    lines.push(`  admitted at tick ${r.tick} µs (record #${sub.i}) on ${nm.thread(r)} (${cpuText(r.cpu)})`);
    lines.push('  gate words after admission:');
    for (const l of gateWords(trace, r)) lines.push(`    ${l}`);
  }

  // ---- route, and what it waited behind ----
  const routeAt = mine.find(({ r }) => r.kind === RecordKind.ROUTE);
  if (routeAt !== undefined) {
    const ru = unpackRoute(routeAt.r);
    const chain = trace.meta.chains[ru.weightClass] ?? [];
    lines.push(`  routed to worker ${routeAt.r.worker} at tick ${routeAt.r.tick}: the least occupied of [${chain.join(', ')}] ` +
      `(occupancies ${ru.occupancies.join(', ')}${ru.chainLength > 8 ? ', …' : ''} in chain order; it took index ${ru.chosen}, occupancy ${ru.chosenOccupancy})${ru.cpuTie ? ', the tie going to the worker on the submitter\'s CPU' : ''}`);
    // Replay the ring's queue up to the route: routed to it, not yet started (by anyone).
    const queue: TraceRecord[] = [];
    const started = new Set<number>();
    let running: TraceRecord | null = null;
    for (let i = 0; i < routeAt.i; i++) {
      const r = merged[i]!;
      if (r.kind === RecordKind.ROUTE && r.worker === routeAt.r.worker) queue.push(r);
      else if (r.kind === RecordKind.START) {
        if ((r.aux & START_SKIPPED) === 0) started.add(keyOf(r));
        if (r.worker === routeAt.r.worker && (r.aux & START_SKIPPED) === 0) running = r;
      } else if ((r.kind === RecordKind.RESOLVE || r.kind === RecordKind.RELEASE) && running !== null && keyOf(r) === keyOf(running)) running = null;
      else if (r.kind === RecordKind.WORKER_DIED && r.worker === routeAt.r.worker) running = null;
      else if (r.kind === RecordKind.RELEASE) started.add(keyOf(r)); // retracted before it started: not ahead
    }
    const ahead = queue.filter((r) => !started.has(keyOf(r)));
    if (ahead.length === 0) lines.push('  waited behind: nothing queued on that worker when it was routed');
    else {
      lines.push(`  waited behind ${plural(ahead.length, 'token')} routed to worker ${routeAt.r.worker} before it and not yet started:`);
      for (const r of ahead.slice(0, 20)) lines.push(`    ${formatToken(r.tokenAtt, r.token, r.gen)} (task ${nm.task(r.task)}, producer ${nm.producer(r.producer)}, routed at tick ${r.tick})`);
      if (ahead.length > 20) lines.push(`    … and ${ahead.length - 20} more`);
    }
    if (running !== null) lines.push(`  and the worker was running ${formatToken(running.tokenAtt, running.token, running.gen)} (task ${nm.task(running.task)})`);
  }

  // ---- runs ----
  let queuedFrom = sub?.r.tick ?? null;
  for (const { r, i } of mine) {
    switch (r.kind) {
      case RecordKind.STEAL:
        lines.push(`  stolen at tick ${r.tick} by worker ${r.worker} from worker ${r.k0}'s ring (position ${r.k1})`);
        break;
      case RecordKind.START:
        if ((r.aux & START_SKIPPED) !== 0) {
          lines.push(`  its cell was passed over by worker ${r.worker} at tick ${r.tick} (no longer pending)`);
          break;
        }
        lines.push(`  started at tick ${r.tick} (record #${i}) on worker ${r.worker}, ${cpuText(r.cpu)}${(r.aux & START_STOLEN) !== 0 ? `, stolen from worker ${r.k0}'s ring` : ''}` +
          `${queuedFrom !== null ? `, after queueing ${r.tick - queuedFrom} µs` : ''}`);
        queuedFrom = null;
        break;
      case RecordKind.RESOLVE: {
        const start = mine.filter((x) => x.i < i && x.r.kind === RecordKind.START && (x.r.aux & START_SKIPPED) === 0).at(-1);
        lines.push(`  its run ended '${OUTCOMES[r.aux] ?? r.aux}' at tick ${r.tick} on worker ${r.worker}${start !== undefined ? `, after running ${r.tick - start.r.tick} µs` : ''}`);
        break;
      }
      case RecordKind.CANCEL:
        lines.push(`  cancelled${r.aux ? ' with force' : ''} at tick ${r.tick} on ${nm.thread(r)}: ${r.k1 ? 'the cancel won' : 'too late, the cancel lost'}`);
        break;
      case RecordKind.RETRY:
        lines.push(`  retried (attempt ${r.aux}) at tick ${r.tick} after it was abandoned on worker ${r.worker}; ${plural(r.k0, 'retry', 'retries')} left`);
        queuedFrom = r.tick;
        break;
      case RecordKind.WORKER_DIED:
        lines.push(`  its worker ${r.worker} died at tick ${r.tick} while running it`);
        break;
      case RecordKind.RELEASE:
        lines.push(`  resolved '${OUTCOMES[r.aux] ?? r.aux}' at tick ${r.tick} by ${nm.thread(r)}: its slots given back` +
          `${sub !== undefined ? ` (${r.tick - sub.r.tick} µs after admission)` : ''}`);
        break;
      default:
        break;
    }
  }
  if (!mine.some(({ r }) => r.kind === RecordKind.RELEASE)) lines.push('  not resolved in this trace');

  // ---- lineage ----
  const chain: string[] = [];
  let cur = sub?.r;
  const seen = new Set<number>([key]);
  while (cur !== undefined && cur.parent >= 0) {
    const pk = parentKeyOf(cur);
    if (seen.has(pk)) break;
    seen.add(pk);
    const parentSub = merged.find((r) => r.kind === RecordKind.SUBMIT_ADMITTED && keyOf(r) === pk);
    chain.push(`${formatToken(cur.parentAtt, cur.parent, cur.parentGen)}${parentSub !== undefined ? ` (task ${nm.task(parentSub.task)})` : ' (its submit is not in this trace)'}`);
    cur = parentSub;
  }
  lines.push(chain.length === 0 ? '  spawned by: no task (submitted from a thread, not by a running task)' : `  spawned by: ${chain.join(' ← spawned by ')}`);
  const children = merged.filter((r) => (r.kind === RecordKind.SUBMIT_ADMITTED || r.kind === RecordKind.SUBMIT_REJECTED) && r.parent >= 0 && parentKeyOf(r) === key);
  if (children.length === 0) lines.push('  children: none');
  else {
    lines.push(`  children: ${plural(children.length, 'submit')}`);
    for (const c of children.slice(0, 20)) {
      lines.push(c.kind === RecordKind.SUBMIT_ADMITTED
        ? `    ${formatToken(c.tokenAtt, c.token, c.gen)} (task ${nm.task(c.task)}) at tick ${c.tick}`
        : `    a submit of task ${nm.task(c.task)} at tick ${c.tick}, rejected '${REJECT_REASONS[c.aux] ?? c.aux}'`);
    }
    if (children.length > 20) lines.push(`    … and ${children.length - 20} more`);
  }
  return lines;
}
