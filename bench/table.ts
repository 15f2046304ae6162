// The main table: every row (pools, baselines, sluice) over the ANCHORS.md workload, rows
// interleaved across repetitions. Full runs open a fresh session per measurement; quick runs
// open one per row and repetition and measure its kinds in turn (session start-up is most of a
// quick run's time).
import { piscina, piscinaC32 } from './e2e/piscina.js';
import { poolifierRow } from './e2e/poolifier.js';
import { rawMessage } from './e2e/raw-message.js';
import { sabPoll, sabPollFirst, sabSpin, sabWait, sabWaitAsync, sabWaitSameCpu } from './e2e/raw-sab.js';
import { loadAffinity } from '../src/runtime/native/affinity.js';
import { tinypool } from './e2e/tinypool.js';
import { workerpoolRow } from './e2e/workerpool.js';
import { figuresOf, type Rep } from './report.js';
import type { TargetRows } from './targets.js';
import { measure, withTimeout, type Kind, type RowDef, type Session, type Sizes } from './workload.js';

export const baseline = piscina.name;

/** Every row, sluice's last (skipped with a note when the runtime does not load). */
export async function allRows(log: (m: string) => void): Promise<RowDef[]> {
  const rows: RowDef[] = [piscina, piscinaC32, tinypool, workerpoolRow, poolifierRow(), rawMessage, sabWait];
  if (loadAffinity().available) rows.push(sabWaitSameCpu);
  else log('note: the same-CPU wait/notify row needs the native addon: skipped');
  rows.push(sabWaitAsync, sabSpin, sabPoll, sabPollFirst);
  try {
    rows.push(...(await import('./e2e/sluice.js')).rows);
  } catch (err) {
    log(`note: sluice rows skipped, runtime not loadable: ${String(err).split('\n')[0]}`);
  }
  return rows;
}

/** The rows the targets name (whether or not they ran). */
export function targetRows(rows: readonly RowDef[]): TargetRows {
  const named = (prefix: string): string => rows.find((r) => r.name.startsWith(prefix))?.name ?? prefix;
  return {
    piscina: baseline,
    poolifier: named('poolifier'),
    rawMessage: rawMessage.name,
    sabWait: sabWait.name,
    sabWaitSameCpu: sabWaitSameCpu.name,
    sabPoll: sabPollFirst.name,
    pools: rows.filter((r) => !r.name.startsWith('raw') && !r.name.startsWith('sluice')).map((r) => r.name),
    submit: 'sluice submit/token',
    parked: 'sluice spin:0',
    callback: 'sluice callback',
    gated: 'sluice gates on',
  };
}

export interface TableOptions {
  rows: readonly RowDef[];
  reps: number;
  sizes: Sizes;
  /** One session per row and rep (quick) instead of one per measurement. */
  shareSession: boolean;
  timeoutMs: number;
  log: (m: string) => void;
}

export async function runTable(o: TableOptions): Promise<Rep[]> {
  const results: Rep[] = [];
  const guard = <T>(p: Promise<T>, what: string): Promise<T> => withTimeout(p, o.timeoutMs, what);
  /** Opens a session, measures `kinds` on it, closes it; failures are recorded per kind. */
  const session = async (row: RowDef, kinds: readonly Kind[], entry: Rep[string], rep: number): Promise<void> => {
    let s: Session | null = null;
    for (const kind of kinds) {
      o.log(`[rep ${rep}/${o.reps}] ${row.name}: ${kind}`);
      try {
        s ??= await guard(row.open(), `${row.name} open`);
        const m = await guard(measure(s, kind, o.sizes), `${row.name} ${kind}`);
        entry.raw.push(m);
        Object.assign(entry, figuresOf(m));
      } catch (err) {
        const msg = `${kind}: ${err instanceof Error ? err.message : String(err)}`;
        o.log(`  failed: ${msg}`);
        (entry.errors ??= []).push(msg);
        await close(); // a failed session is not reused
      }
    }
    await close();
    async function close(): Promise<void> {
      if (s === null) return;
      const closing = s.close();
      s = null;
      await guard(closing, `${row.name} close`).catch((err: unknown) => (entry.errors ??= []).push(`close: ${String(err)}`));
    }
  };
  for (let rep = 1; rep <= o.reps; rep++) {
    const current: Rep = {};
    results.push(current);
    for (const row of o.rows) {
      const entry: Rep[string] = (current[row.name] = { raw: [] });
      if (o.shareSession) await session(row, row.kinds, entry, rep);
      else for (const kind of row.kinds) await session(row, [kind], entry, rep);
    }
  }
  return results;
}
