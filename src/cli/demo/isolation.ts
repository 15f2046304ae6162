/**
 * The isolation demo (`npm start`): producers with very different manners share one 2-worker
 * runtime.
 *
 *   careful     submits at exactly its quota, on a fixed schedule
 *   aggressive  floods: submits until rejected, yields one event-loop turn, again
 *   hostile     retries blindly, never backs off (--no-hostile leaves it out)
 *
 * The producers' slots partition the global ceiling (globalSlots is the sum of their slots, and
 * every ring holds globalSlots cells), so neither the global gate nor a ring can ever turn anyone
 * away: every rejection a producer sees comes from its own limits. The summary checks that, that
 * the careful producer was admitted at exactly its quota, and that its latency stayed within the
 * bound the partition implies (checks.ts).
 *
 *   npm start -- [--duration <seconds>] [--no-hostile] [--json <path>]
 */
import { writeFileSync } from 'node:fs';
import { Runtime } from '../../index.js';
import { packageFile } from '../../package-root.js';
import type { RejectReason, RuntimeStats } from '../../index.js';
import { parseArgs, UsageError, USAGE } from './args.js';
import {
  Check, Row, WorkerMeter, checkAccounting, checkLatency, checkOwnRejections, checkQuota, checkStructure, drainTasks,
  latencyBound,
} from './checks.js';
import { AGGRESSIVE, CAREFUL, HOSTILE, OWN_REASONS, Probe, ProbeStats, TASK_US, Tracked, drive } from './producers.js';
import { LoopGaps } from './stats.js';
import { LiveView, Style, bar, compact, groupLabels, int, makeStyle, ms, table } from './view.js';

const WORKERS = 2;
/** Cells per worker ring: at least globalSlots, so that a ring is never full (checkStructure). */
const RING_CAPACITY = 256;
/** How often the workers' progress is sampled (drain times, throughput). */
const SAMPLE_MS = 5;
/** Live view refresh on a TTY. */
const FRAME_MS = 100;

const REASONS: readonly RejectReason[] = ['rate', 'producer-slots', 'global-slots', 'ring-full'];

interface Snapshot {
  elapsedMs: number;
  rs: RuntimeStats;
  rows: Row[];
}

// ---------------------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------------------

function producerTable(snap: Snapshot, st: Style, final: boolean): string[] {
  const header = ['producer', 'rate/burst/slots', 'admitted', 'adm/s', 'rate', 'slots', 'global', 'ring', 'in flight', 'p50', 'p99', 'max'];
  const rows = snap.rows.map(({ t, ps }) => {
    const l = ps.limits;
    const lat = final ? t.overall : t.recent.snapshot();
    const rej = (r: RejectReason): string => {
      const n = ps.rejected[r];
      return n === 0 ? st.dim('0') : OWN_REASONS.has(r) ? compact(n) : st.red(compact(n));
    };
    return [
      st.bold(ps.name), l.rate === undefined ? `-/-/${l.slots}` : `${compact(l.rate)}/${l.burst}/${l.slots}`, int(ps.admitted),
      (final ? ps.admitted / t.windowS : t.admitRate.rate()).toFixed(1),
      rej('rate'), rej('producer-slots'), rej('global-slots'), rej('ring-full'),
      `${ps.inFlight}/${l.slots}`, ms(lat.quantile(0.5)), ms(lat.quantile(0.99)), ms(lat.max),
    ];
  });
  const { lines, starts, widths } = table(header, rows, new Set([2, 3, 4, 5, 6, 7, 8, 9, 10, 11]));
  const labels = groupLabels(starts, widths, [[4, 7, 'rejected, by reason'], [9, 11, final ? 'latency ms' : 'latency ms, 5 s']]);
  return [st.dim(labels), st.dim(lines[0]!), ...lines.slice(1)];
}

function liveFrame(snap: Snapshot, intro: string[], durationS: number, meter: WorkerMeter, loop: LoopGaps, st: Style, cols: number): string[] {
  const rs = snap.rs;
  const barCols = Math.max(10, Math.min(50, cols - 20));
  return [
    ...intro,
    '',
    `[${bar(snap.elapsedMs / 1000 / durationS, barCols)}] ${(Math.min(snap.elapsedMs / 1000, durationS)).toFixed(1)} / ${durationS} s`,
    '',
    ...producerTable(snap, st, false),
    '',
    st.dim(`global in flight ${rs.global.inFlight}/${rs.global.limit} · queued ${rs.workers.map((w) => w.queued).join(' + ')} · ` +
      `workers ${compact(meter.throughput.rate())} tasks/s · main-thread gap p99 ${ms(loop.gaps.quantile(0.99))} ms`),
  ];
}

/** One compact line, for a pipe or CI log. */
function progressLine(snap: Snapshot, durationS: number): string {
  const parts = snap.rows.map(({ t, ps }) => {
    const rej = REASONS.filter((r) => ps.rejected[r] > 0).map((r) => `${r} ${compact(ps.rejected[r])}`);
    return `${ps.name} ${t.admitRate.rate().toFixed(0)}/s rejected ${rej.length ? rej.join(' ') : 0} ` +
      `p99 ${ms(t.recent.snapshot().quantile(0.99))} ms`;
  });
  const secs = (snap.elapsedMs / 1000).toFixed(0).padStart(String(durationS).length);
  return `[${secs}/${durationS} s] ${parts.join(' | ')} | global ${snap.rs.global.inFlight}/${snap.rs.global.limit}`;
}

// ---------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------

async function main(argv: readonly string[]): Promise<number> {
  let opts;
  try {
    opts = parseArgs(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`isolation demo: ${err.message}\n\n${USAGE}\n`);
    return 2;
  }
  if (opts === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const { durationS } = opts;

  const tty = process.stdout.isTTY === true;
  const st = makeStyle(tty && !('NO_COLOR' in process.env));
  const view = new LiveView(process.stdout, tty);
  process.once('exit', () => view.end()); // the cursor comes back, however we leave
  const specs = opts.hostile ? [CAREFUL, AGGRESSIVE, HOSTILE] : [CAREFUL, AGGRESSIVE];
  // The partition: the global ceiling is exactly the sum of the producers' slots.
  const globalSlots = specs.reduce((s, p) => s + p.limits.slots, 0);

  const rt = await Runtime.start({
    tasks: packageFile('cli/demo/demo-tasks.mjs'),
    workers: WORKERS,
    globalSlots,
    ringCapacity: RING_CAPACITY,
  });
  // The demo measures the producers' shares of a whole pool: every worker up before the flood.
  await rt.allWorkersReady();
  const workerOf = new Map<number, number>();
  const probe: Probe = {
    task: rt.task('probe'),
    started: () => rt.stats().workers.map((w) => w.executed),
    workerOf: (thread) => {
      // Built on first use, not right after Runtime.start: a worker may publish its thread id
      // only after it has reported ready.
      if (!workerOf.has(thread)) for (const w of rt.stats().workers) if (w.threadId !== 0) workerOf.set(w.threadId, w.index);
      return workerOf.get(thread) ?? -1;
    },
    stats: new ProbeStats(),
  };
  const spin = rt.task('spin');
  const t0 = performance.now();
  const tracked = specs.map((s) => new Tracked(s, rt.producer(s.name, s.limits), spin, s === CAREFUL ? probe : null, t0));

  const intro = [
    st.bold(`sluice isolation demo · ${WORKERS} workers · ${TASK_US} µs tasks · ` +
      `globalSlots ${globalSlots} = ${specs.map((s) => s.limits.slots).join(' + ')} (their slots)`),
    ...specs.map(({ name, limits: l, blurb }) => st.dim(`  ${name.padEnd(10)} rate ${l.rate}/s, burst ${l.burst}, slots ${l.slots} · ${blurb}`)),
  ];
  if (!tty) process.stdout.write(`${intro.join('\n')}\nrunning for ${durationS} s\n`);

  const loop = new LoopGaps();
  const meter = new WorkerMeter(drainTasks(globalSlots, WORKERS), WORKERS);
  let interrupted = false;
  let finish: () => void = () => {};
  const finished = new Promise<void>((r) => { finish = r; });
  const onSigint = (): void => { interrupted = true; finish(); };
  process.once('SIGINT', onSigint);

  const snapshot = (): Snapshot => {
    const rs = rt.stats();
    return { elapsedMs: performance.now() - t0, rs, rows: tracked.map((t) => ({ t, ps: rs.producers.find((p) => p.name === t.spec.name)! })) };
  };

  loop.start();
  meter.sample(rt.stats(), performance.now());
  const stops = tracked.map(drive);
  const timers = [
    setInterval(() => meter.sample(rt.stats(), performance.now()), SAMPLE_MS),
    // On a TTY, redraw in place; otherwise a line every max(1 s, duration / 10): ten at most.
    tty
      ? setInterval(() => view.frame(liveFrame(snapshot(), intro, durationS, meter, loop, st, view.columns)), FRAME_MS)
      : setInterval(() => view.line(progressLine(snapshot(), durationS)), Math.max(1000, (durationS * 1000) / 10)),
  ];
  const endTimer = setTimeout(finish, durationS * 1000);

  await finished;
  clearTimeout(endTimer);
  const stopAt = performance.now();
  meter.sample(rt.stats(), stopAt);
  for (const stop of stops) stop();
  for (const timer of timers) clearInterval(timer);
  loop.stop();

  // Every admitted task resolves, then the shutdown protocol runs.
  await rt.close();
  process.off('SIGINT', onSigint);
  const after = snapshot();
  view.clear();

  const bound = latencyBound(globalSlots, WORKERS, meter, loop);
  const careful = after.rows[0]!;
  const checks: Check[] = [
    checkStructure(after.rs, RING_CAPACITY),
    checkQuota(careful),
    checkOwnRejections(after.rows.slice(1)),
    checkLatency(careful.t, bound),
    checkAccounting(after.rows, after.rs),
  ];
  const pass = checks.every((c) => c.pass);
  const ranS = (stopAt - t0) / 1000;

  const out = [
    ...(tty ? [...intro, ''] : ['']), // a pipe has the intro at the top already
    `ran ${ranS.toFixed(2)} s${interrupted ? st.yellow(' (interrupted)') : ''}; ` +
      `the workers ran ${int(meter.started)} tasks (${int(meter.started / ranS)}/s)`,
    '',
    ...producerTable(after, st, true),
    '',
  ];
  for (const c of checks) {
    out.push(`${c.pass ? st.green('✓') : st.red('✗')} ${c.name}`);
    for (const d of c.detail) out.push(st.dim(`    ${d}`));
  }
  out.push('', pass
    ? st.green(st.bold('isolation held: every check passed'))
    : st.red(st.bold(`FAILED: ${checks.filter((c) => !c.pass).map((c) => `"${c.name}"`).join(', ')}`)));
  process.stdout.write(`${out.join('\n')}\n`);

  if (opts.json !== null) {
    const p = probe.stats;
    const summary = {
      durationSeconds: ranS,
      interrupted,
      workers: WORKERS,
      taskMicros: TASK_US,
      globalSlots,
      ringCapacity: RING_CAPACITY,
      tasksRun: meter.started,
      latencyBound: {
        queuedAhead: bound.queuedAhead, measuredQueuedAheadMax: p.ahead.max, drainTasks: bound.drainTasks,
        drainMicros: bound.drainUs, deliveryMicros: bound.loopUs, micros: bound.us,
      },
      producers: after.rows.map(({ t, ps }) => ({
        name: ps.name,
        manner: t.spec.manner,
        limits: ps.limits,
        offered: t.offered,
        admitted: ps.admitted,
        admittedPerSecond: ps.admitted / t.windowS,
        rejected: ps.rejected,
        resolved: ps.resolved,
        latencyMicros: {
          p50: t.overall.quantile(0.5), p99: t.overall.quantile(0.99), max: t.overall.max, mean: t.overall.mean(), count: t.overall.count,
        },
      })),
      checks,
      pass,
    };
    writeFileSync(opts.json, `${JSON.stringify(summary, null, 2)}\n`);
    process.stdout.write(st.dim(`summary written to ${opts.json}\n`));
  }
  return pass ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // The runtime is closed and every timer cleared: the process now exits by itself. If
    // something still holds it open, say so rather than hang.
    setTimeout(() => {
      process.stderr.write('isolation demo: still running 5 s after rt.close(); something holds the event loop open\n');
      process.exit(code === 0 ? 1 : code);
    }, 5000).unref();
  },
  (err: unknown) => {
    if (process.stdout.isTTY) process.stdout.write('\x1b[?25h');
    process.stderr.write(`isolation demo failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
