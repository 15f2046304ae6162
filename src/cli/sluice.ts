#!/usr/bin/env node
/**
 * The `sluice` command: read, explain, replay and export trace files (src/trace/), and run the
 * isolation demo.
 *
 *   sluice trace show FILE [--limit N]
 *   sluice trace explain FILE (--token ID | --record N)
 *   sluice trace replay FILE
 *   sluice trace export FILE --chrome OUT.json
 *   sluice demo [demo options]
 *   sluice calibrate-io DIR [--bytes N] [--max-concurrency N] [--duration S]   (src/cli/calibrate-io.ts)
 *   sluice stress --tasks FILE --task NAME [...]   (stress.ts)
 *   sluice bench --tasks FILE --task NAME [...]    (bench.ts)
 *   sluice dashboard [--port N] [--host H] [--password-env VAR] [--duration S]
 *   sluice top URL [--once]
 *   sluice demo guard [--duration <seconds>]
 *   sluice quarantine list FILE [--json]
 *
 * Exit status: 0 done (replay: identical), 1 a finding (replay: a divergence, or a recording
 * that cannot be replayed; explain: no such token), 2 bad arguments (unknown command or option,
 * a missing or unreadable file, a file that is not a trace, a bad token id).
 */
import { existsSync, realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { mergeThreads, toChromeTrace, validateChromeTrace, writeChromeTrace } from '../trace/chrome.js';
import { explainRecord, explainToken, parseTokenId } from '../trace/explain.js';
import { TraceFileError, heapRoom, readTrace, type TraceFile } from '../trace/file.js';
import { RecordKind, WRITER_WORKER, details, kindName, unpackRoute, type TraceRecord } from '../trace/records.js';
import { describeDivergence, notReplayable, replay } from '../trace/replay.js';
import { STRESS_USAGE } from './stress.js';
import { BENCH_USAGE } from './bench.js';
import { QUARANTINE_USAGE, QuarantineUsage, quarantineCmd } from './quarantine.js';

export const USAGE = {
  main: `usage: sluice <command> [options]

commands:
  trace show FILE                 what a trace file holds: its header and every record, in order
  trace explain FILE --token ID   why a task was admitted where it was, what it waited behind,
                                  where it ran, who spawned it (--record N: a rejection)
  trace replay FILE               re-make every admission and routing decision from a full
                                  recording; exit 0 when identical, 1 at the first divergence
  trace export FILE --chrome OUT  the Chrome Trace Event format (Perfetto UI, chrome://tracing)
  demo                            the isolation demo (what npm start runs)
  calibrate-io DIR                measure write concurrency on DIR's storage; recommend an io limit
  stress --tasks FILE --task NAME your task under saturation by well-behaved and hostile
                                  producers: admissions, latency percentiles, isolation checks
  bench --tasks FILE --task NAME  your task through sluice against a bare postMessage worker
  dashboard                       the demo's workload with the live dashboard (prints its URL)
  top URL                         a running dashboard's numbers in the terminal (read-only)
  demo guard                      the Guard House demo: a flaky task quarantined, healthy ones run on
  quarantine list FILE            the calls rt.quarantine.save(FILE) kept: provenance, error, arguments

Run 'sluice <command> --help' for a command's options.
Exit status: 0 done, 1 a finding (a divergence; a token not in the trace; a failed check), 2 bad arguments.`,
  trace: `usage: sluice trace <show|explain|replay|export> FILE [options]

  show FILE [--limit N]               the header, the counts, then the records (the first N)
  explain FILE --token ID             a token: ID is att:index#gen, att:index or index
  explain FILE --record N             record #N of 'show' (a rejection, in words)
  replay FILE                         replay a full recording (Runtime.start({ trace: { mode: 'file' } }))
  export FILE --chrome OUT.json       write the Chrome trace (open it in ui.perfetto.dev)`,
  show: `usage: sluice trace show FILE [--limit N]

Prints the trace's header (mode, clock origin, workers, limits, tasks, threads), what was read
(records, bad frames, records missing or lost), then every record in the merged order that
explain, replay and export use, numbered: #N is what 'sluice trace explain FILE --record N' takes.
  --limit N   print only the first N records (default: all)`,
  explain: `usage: sluice trace explain FILE --token ID
       sluice trace explain FILE --record N

--token ID   a token: att:index#gen, att:index (its latest generation in the trace) or index
             (attachment 0). Says where it was admitted and with which gate words, where it was
             routed and what it waited behind, where it ran (worker, CPU, stolen), how long it
             queued and ran, how it resolved, who spawned it and what it spawned.
--record N   record #N as 'sluice trace show' numbers it: a rejection, explained (the reason, the
             gate words it saw, the limit), or the token another record names.
Exit status: 0 explained, 1 no such token or record, 2 bad arguments.`,
  replay: `usage: sluice trace replay FILE

Re-drives admission (the real gates) and routing (the real router) from a full recording's
inputs on a virtual clock, and compares every decision with the recorded one, bit for bit.
Prints the decision count and the hash; on a mismatch, the first record that differs with both
versions. A flight-recorder file cannot be replayed (it does not start at the start).
Exit status: 0 identical, 1 a divergence (or the recording lost records), 2 bad arguments.`,
  export: `usage: sluice trace export FILE --chrome OUT.json

Writes the Chrome Trace Event format: a track per thread, a slice per run, queue waits, arrows
from submit to start and from parent to child. Open it in https://ui.perfetto.dev or
chrome://tracing. The export is validated before it is written.`,
  demo: `usage: sluice demo [--duration <seconds>] [--no-hostile] [--json <path>]

Runs the isolation demo (what 'npm start' runs): producers with very different manners share one
runtime; the summary checks that each was held to its own limits.
  --duration <s>   how long the producers run, in seconds (default 20; from 1 to 86400)
  --no-hostile     leave out the hostile producer (blind retries)
  --json <path>    also write the summary as JSON to <path>
Exit status: 0 when every check passes, 1 when one fails, 2 for bad arguments.`,
  stress: STRESS_USAGE,
  bench: BENCH_USAGE,
  guard: `usage: sluice demo guard [--duration <seconds>]

The Guard House demo (npm run demo:guard): one task starts failing, its breaker opens and its
calls are rejected 'quarantined' while the healthy tasks run on; after the cool-down half-open
probes close it again. Prints the Guard House table (health and breaker per task) as it goes,
then the quarantined calls.
  --duration <s>   how long it runs, in seconds (default 6; from 2 to 600)
Exit status: 0 when every check passes, 1 when one fails, 2 for bad arguments.`,
  quarantine: QUARANTINE_USAGE,
} as const;

/** A bad command line: printed with the command's usage, exit status 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  constructor(message: string, readonly usage: string) { super(message); }
}

interface Out { out: (s: string) => void; err: (s: string) => void }

const isHelp = (a: string | undefined): boolean => a === '--help' || a === '-h' || a === 'help';

/** Options after the file: `--name value` or `--name=value`; every name must be in `allowed`. */
function options(args: readonly string[], allowed: readonly string[], usage: string): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith('--')) throw new UsageError(`unexpected argument '${arg}'`, usage);
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(2, eq) : arg.slice(2);
    if (!allowed.includes(name)) throw new UsageError(`unknown option '--${name}'`, usage);
    const value = eq > 0 ? arg.slice(eq + 1) : args[++i];
    if (value === undefined || value === '' || (eq < 0 && value.startsWith('--'))) throw new UsageError(`--${name} needs a value`, usage);
    if (out.has(name)) throw new UsageError(`--${name} given twice`, usage);
    out.set(name, value);
  }
  return out;
}

function load(file: string | undefined, usage: string): TraceFile {
  if (file === undefined || file.startsWith('--')) throw new UsageError('a trace FILE is needed', usage);
  try {
    return readTrace(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UsageError(`no such file: ${file}`, usage);
    if (code === 'EISDIR') throw new UsageError(`${file} is a directory, not a trace file`, usage);
    if (err instanceof TraceFileError) throw new UsageError(`${file}: ${err.message}`, usage);
    throw new UsageError(`cannot read ${file}: ${(err as Error).message}`, usage);
  }
}

function nonNegativeInt(name: string, s: string, usage: string): number {
  if (!/^\d{1,15}$/.test(s)) throw new UsageError(`--${name} must be a non-negative integer; got '${s}'`, usage);
  return Number(s);
}

const threadName = (r: TraceRecord): string => (r.writerClass === WRITER_WORKER ? `w${r.writerIndex}` : `a${r.writerIndex}`);

/** One line per record, for `show`. */
export function recordLine(n: number, r: TraceRecord): string {
  const tok = r.token >= 0 ? ` ${r.tokenAtt}:${r.token}#${r.gen}` : '';
  let d: Record<string, number | string> = details(r);
  if (r.kind === RecordKind.ROUTE) {
    const u = unpackRoute(r);
    d = { weightClass: u.weightClass, chainLength: u.chainLength, chosen: u.chosen, chosenOccupancy: u.chosenOccupancy, occupancies: u.occupancies.join(','), cpuTie: String(u.cpuTie) };
  }
  const extra = [
    r.producer >= 0 ? `producer=${r.producer}` : '', r.task >= 0 ? `task=${r.task}` : '', r.worker >= 0 ? `worker=${r.worker}` : '',
    r.cpu >= 0 ? `cpu=${r.cpu}` : '', r.parent >= 0 ? `parent=${r.parentAtt}:${r.parent}#${r.parentGen}` : '',
    ...Object.entries(d).map(([k, v]) => `${k}=${typeof v === 'string' ? JSON.stringify(v) : v}`),
  ].filter((s) => s !== '');
  return `#${n} t=${r.tick} ${threadName(r)} ${kindName(r.kind)}${tok} ${extra.join(' ')}`.trimEnd();
}

function summary(f: TraceFile): string[] {
  const m = f.meta;
  const lines = [
    `${m.mode === 'stream' ? 'full recording' : 'flight-recorder snapshot'} (record version ${m.recordVersion})${f.complete ? '' : ', INCOMPLETE: the writer did not finish (no trailer)'}`,
    `clock: tick 0 = CLOCK_MONOTONIC ${m.clock.originMicros} µs${m.clock.wallMs !== null ? ` (${new Date(m.clock.wallMs).toISOString()})` : ''}; ticks are µs`,
    `runtime: ${m.workers} workers (CPUs ${m.workerCpus.map((c) => c ?? '-').join(', ')}), ring capacity ${m.ringCapacity}, ${m.globalSlots} global slots${m.cpuTie ? ', routing ties to the submitter\'s CPU' : ''}`,
    `producers: ${m.producers.map((p) => `'${p.name}' (${p.rate > 0 ? `rate ${p.rate}/s, burst ${p.burst}, ` : ''}slots ${p.slots})`).join(', ') || 'none'}`,
    `tasks: ${m.tasks.map((t) => `'${t.name}'${t.weight !== null ? ` (${t.weight})` : ''}`).join(', ') || 'none'}`,
    `threads: ${m.threads.map((t) => `${t.writerClass === WRITER_WORKER ? 'w' : 'a'}${t.writerIndex} ${t.kind} '${t.name}' (${t.capacity} slots${t.lost ? `, ${t.lost} lost` : ''})`).join(', ') || 'none'}`,
    `read: ${f.records.length} records, ${f.bad} bad frames, ${f.missing} missing, ${f.lost === null ? 'lost unknown' : `${f.lost} lost`}`,
  ];
  return lines;
}

function show(args: readonly string[], io: Out): number {
  const [file, ...rest] = args;
  const opts = options(rest, ['limit'], USAGE.show);
  const f = load(file, USAGE.show);
  const limit = opts.has('limit') ? nonNegativeInt('limit', opts.get('limit')!, USAGE.show) : Infinity;
  for (const l of summary(f)) io.out(l);
  io.out('');
  const merged = mergeThreads(f.records);
  merged.slice(0, limit).forEach((r, i) => io.out(recordLine(i, r)));
  if (merged.length > limit) io.out(`… ${merged.length - limit} more (--limit)`);
  return 0;
}

function explain(args: readonly string[], io: Out): number {
  const [file, ...rest] = args;
  const opts = options(rest, ['token', 'record'], USAGE.explain);
  if (opts.has('token') === opts.has('record')) throw new UsageError('give exactly one of --token ID and --record N', USAGE.explain);
  let id: ReturnType<typeof parseTokenId> = null;
  if (opts.has('token')) {
    id = parseTokenId(opts.get('token')!);
    if (id === null) throw new UsageError(`bad token id '${opts.get('token')}': expected att:index#gen, att:index or index (att <= 255, index <= 65535)`, USAGE.explain);
  }
  const n = opts.has('record') ? nonNegativeInt('record', opts.get('record')!, USAGE.explain) : -1;
  const f = load(file, USAGE.explain);
  try {
    for (const l of id !== null ? explainToken(f, id) : explainRecord(f, n)) io.out(l);
  } catch (err) {
    if (!(err instanceof RangeError)) throw err;
    io.err(`sluice trace explain: ${err.message}`);
    return 1;
  }
  return 0;
}

function replayCmd(args: readonly string[], io: Out): number {
  const [file, ...rest] = args;
  options(rest, [], USAGE.replay);
  const f = load(file, USAGE.replay);
  const why = notReplayable(f);
  if (why !== null) {
    if (f.meta.mode !== 'stream' || f.meta.notReplayable !== undefined) throw new UsageError(`${file}: ${why}`, USAGE.replay);
    io.err(`sluice trace replay: cannot replay ${file}: ${why}`);
    return 1;
  }
  const r = replay(f);
  if (r.identical) {
    io.out(`identical: ${r.decisions} decisions replayed from ${r.inputs} inputs, hash ${r.hash}${f.complete ? '' : ' (the recording ends where the file was cut)'}`);
    return 0;
  }
  io.out(`DIVERGED: ${r.decisions} decisions identical, then:`);
  for (const l of describeDivergence(r.divergence!, f.meta)) io.out(l);
  io.out(`hash of the replayed decisions ${r.hash}, of the recorded ones ${r.recordedHash}`);
  return 1;
}

/** JavaScript heap the Chrome export takes per record, beyond the records (measured: 7.5 M records, 10.5 M events, ~5 GiB). */
const EXPORT_HEAP_PER_RECORD = 650;

function exportCmd(args: readonly string[], io: Out): number {
  const [file, ...rest] = args;
  const opts = options(rest, ['chrome'], USAGE.export);
  if (!opts.has('chrome')) throw new UsageError('--chrome OUT.json is needed (the only format)', USAGE.export);
  const f = load(file, USAGE.export);
  try {
    // Its events (~1.4 per record) are built whole before they are written.
    heapRoom(f.records.length * EXPORT_HEAP_PER_RECORD, `exporting its ${f.records.length} records`);
  } catch (err) {
    throw new UsageError(`${file}: ${(err as Error).message}`, USAGE.export);
  }
  const trace = toChromeTrace(f.records, { taskNames: f.meta.tasks.map((t) => t.name), producerNames: f.meta.producers.map((p) => p.name) });
  const problems = validateChromeTrace(trace);
  if (problems.length > 0) {
    io.err(`sluice trace export: the export is not structurally valid (a bug: please report it):\n  ${problems.slice(0, 10).join('\n  ')}`);
    return 1;
  }
  const out = opts.get('chrome')!;
  try {
    writeChromeTrace(out, trace);
  } catch (err) {
    throw new UsageError(`cannot write ${out}: ${(err as Error).message}`, USAGE.export);
  }
  io.out(`wrote ${trace.traceEvents.length} events from ${f.records.length} records to ${out}: open it in https://ui.perfetto.dev or chrome://tracing`);
  return 0;
}

async function demo(args: readonly string[], io: Out): Promise<number> {
  if (args[0] === 'guard') {
    if (args.some(isHelp)) { io.out(USAGE.guard); return 0; }
    const { runGuardDemo, parseGuardDemoArgs } = await import('./demo/guard.js');
    let seconds: number;
    try {
      seconds = parseGuardDemoArgs(args.slice(1));
    } catch (err) {
      throw new UsageError((err as Error).message, USAGE.guard);
    }
    return (await runGuardDemo(seconds, io.out)) ? 0 : 1;
  }
  if (args.some(isHelp)) { io.out(USAGE.demo); return 0; }
  // The demo reads its options from process.argv and sets process.exitCode when it ends.
  process.argv = [process.argv[0]!, 'sluice-demo', ...args];
  await import('./demo/isolation.js');
  return -1; // the demo owns the exit status
}

/** An integer option within [min, max], or its default. */
function intArg(opts: Map<string, string>, name: string, def: number, min: number, max: number, usage: string): number {
  const s = opts.get(name);
  if (s === undefined) return def;
  const n = Number(s);
  if (!/^\d+$/.test(s) || !Number.isSafeInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be an integer from ${min} to ${max}; got '${s}'`, usage);
  return n;
}

/** --tasks, --task and --payload, common to stress and bench. */
function taskArgs(opts: Map<string, string>, usage: string): { tasks: string; task: string; payload: unknown } {
  const tasks = opts.get('tasks');
  const task = opts.get('task');
  if (tasks === undefined) throw new UsageError('--tasks FILE is needed', usage);
  if (task === undefined) throw new UsageError('--task NAME is needed', usage);
  if (!existsSync(tasks)) throw new UsageError(`no such file: ${tasks}`, usage);
  let payload: unknown;
  const p = opts.get('payload');
  if (p !== undefined) {
    try {
      payload = JSON.parse(p);
    } catch (err) {
      throw new UsageError(`--payload is not JSON: ${(err as Error).message}`, usage);
    }
  }
  return { tasks, task, payload };
}

const cliIo = (io: Out): { out: (s: string) => void; err: (s: string) => void; tty: boolean } => ({ ...io, tty: process.stderr.isTTY === true });

async function stress(args: readonly string[], io: Out): Promise<number> {
  if (args.some(isHelp)) { io.out(USAGE.stress); return 0; }
  const opts = options(args, ['tasks', 'task', 'payload', 'producers', 'rate', 'duration'], USAGE.stress);
  const t = taskArgs(opts, USAGE.stress);
  const producers = intArg(opts, 'producers', 2, 1, 16, USAGE.stress);
  const rate = intArg(opts, 'rate', 50, 1, 100_000, USAGE.stress);
  const durationS = intArg(opts, 'duration', 10, 1, 86_400, USAGE.stress);
  const { runStress } = await import('./stress.js');
  return runStress({ ...t, producers, rate, durationS }, cliIo(io));
}

async function bench(args: readonly string[], io: Out): Promise<number> {
  if (args.some(isHelp)) { io.out(USAGE.bench); return 0; }
  const opts = options(args, ['tasks', 'task', 'payload', 'count', 'reps'], USAGE.bench);
  const t = taskArgs(opts, USAGE.bench);
  const count = intArg(opts, 'count', 20_000, 100, 10_000_000, USAGE.bench);
  const reps = intArg(opts, 'reps', 5, 1, 100, USAGE.bench);
  const { runBench } = await import('./bench.js');
  return runBench({ ...t, count, reps }, cliIo(io));
}

/** `sluice dashboard` and `sluice top` (src/cli/dashboard.ts), loaded only when asked for (they load ws). */
async function observeCommand(cmd: 'dashboard' | 'top', args: readonly string[], io: Out): Promise<number> {
  const m = await import('./dashboard.js');
  const usage = cmd === 'dashboard' ? m.DASHBOARD_USAGE : m.TOP_USAGE;
  if (args.some(isHelp)) { io.out(usage); return 0; }
  try {
    return await (cmd === 'dashboard' ? m.dashboardCommand(args, io) : m.topCommand(args, io));
  } catch (err) {
    if (err instanceof m.CliUsage) throw new UsageError(err.message, usage);
    throw err;
  }
}

/** Run the command line `argv` (without node and the script). Returns the exit status (-1: the demo sets it). */
export async function main(argv: readonly string[], io: Out = { out: (s) => process.stdout.write(`${s}\n`), err: (s) => process.stderr.write(`${s}\n`) }): Promise<number> {
  try {
    const [cmd, sub, ...rest] = argv;
    if (cmd === undefined) throw new UsageError('a command is needed', USAGE.main);
    if (isHelp(cmd)) { io.out(USAGE.main); return 0; }
    if (cmd === 'demo') return await demo(argv.slice(1), io);
    if (cmd === 'calibrate-io') return await (await import('./calibrate-io.js')).calibrateIoCommand(argv.slice(1), io);
    if (cmd === 'stress') return await stress(argv.slice(1), io);
    if (cmd === 'bench') return await bench(argv.slice(1), io);
    if (cmd === 'dashboard' || cmd === 'top') return await observeCommand(cmd, argv.slice(1), io);
    if (cmd === 'quarantine') {
      if (argv.slice(1).some(isHelp)) { io.out(USAGE.quarantine); return 0; }
      try {
        return quarantineCmd(argv.slice(1), io.out);
      } catch (err) {
        if (err instanceof QuarantineUsage) throw new UsageError(err.message, USAGE.quarantine);
        throw err;
      }
    }
    if (cmd !== 'trace') throw new UsageError(`unknown command '${cmd}'`, USAGE.main);
    if (sub === undefined) throw new UsageError('a trace subcommand is needed', USAGE.trace);
    if (isHelp(sub)) { io.out(USAGE.trace); return 0; }
    const table: Record<string, [(a: readonly string[], io: Out) => number, string]> = {
      show: [show, USAGE.show], explain: [explain, USAGE.explain], replay: [replayCmd, USAGE.replay], export: [exportCmd, USAGE.export],
    };
    const entry = table[sub];
    if (entry === undefined || !Object.hasOwn(table, sub)) throw new UsageError(`unknown trace subcommand '${sub}'`, USAGE.trace);
    if (rest.some(isHelp)) { io.out(entry[1]); return 0; }
    return entry[0](rest, io);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.err(`sluice: ${err.message}\n\n${err.usage}`);
    return 2;
  }
}

/** Whether this module is the program (npm's bin is a symlink to it): not when a test imports it. */
function isProgram(): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(entry)).href;
  } catch {
    return false;
  }
}

if (isProgram()) {
  // `sluice trace show big.trace | head`: a reader that went away ends the command quietly.
  for (const s of [process.stdout, process.stderr]) {
    s.on('error', (err: NodeJS.ErrnoException) => { if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0); else throw err; });
  }
  main(process.argv.slice(2)).then(
    (code) => { if (code >= 0) process.exitCode = code; },
    (err: unknown) => {
      process.stderr.write(`sluice: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
