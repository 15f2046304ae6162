/**
 * `sluice stress`: the isolation demo's producers (src/cli/demo/producers.ts, checks.ts) driven
 * against the user's own task. N well-behaved producers submit at exactly their rate; a flooding
 * producer keeps the workers saturated; a hostile one retries blindly. Their slots partition the
 * global ceiling, so the checks can ask: were the well-behaved ones admitted at their quota, and
 * never rejected because of the others? Progress on stderr, the summary on stdout.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError, Runtime, UnknownTaskError, WorkerStartError } from '../index.js';
import type { ProducerStats, RejectReason, RuntimeStats } from '../index.js';
import { AGGRESSIVE, HOSTILE, type ProducerSpec, Tracked, drive } from './demo/producers.js';
import { type Check, type Row, checkOwnRejections, checkQuota, checkStructure } from './demo/checks.js';
import { bar, compact, int, ms, table } from './demo/view.js';
import { nextPow2 } from '../shm/layout.js';

export interface StressConfig {
  /** Path of the task module. */
  tasks: string;
  task: string;
  payload: unknown;
  /** Well-behaved producers. */
  producers: number;
  /** Each well-behaved producer's rate, tasks per second. */
  rate: number;
  durationS: number;
}

export interface CliIo {
  out: (s: string) => void;
  err: (s: string) => void;
  /** Whether stderr is a terminal (the progress bar redraws in place). */
  tty: boolean;
}

export const STRESS_USAGE = `usage: sluice stress --tasks FILE --task NAME [--payload JSON] [--producers N] [--rate R] [--duration S]

Saturates your task with well-behaved and hostile producers sharing one runtime, then prints,
per producer, what was admitted and rejected (by reason) and the latency percentiles (end to
end, and sluice's queue wait and run time), and checks isolation: the well-behaved producers
were admitted at their quota and never rejected because of the others.
  --tasks FILE     your task module (.js/.mjs/.cjs; .ts with tsx installed)
  --task NAME      the export to run
  --payload JSON   the payload of every submit, as JSON (default: none)
  --producers N    well-behaved producers (default 2; 1..16)
  --rate R         each well-behaved producer's rate, tasks/s (default 50; 1..100000)
  --duration S     seconds to run (default 10; 1..86400)
Progress goes to stderr. Exit status: 0 every check passed, 1 a check failed, 2 bad arguments
(including a module that does not load or has no such export).`;

const FOREIGN: readonly RejectReason[] = ['global-slots', 'ring-full'];

function steady(i: number, rate: number): ProducerSpec {
  const slots = Math.max(1, Math.min(4096, rate)); // a second of headroom, as the demo's careful producer
  return {
    name: `steady-${i}`, limits: { rate, burst: Math.max(1, Math.min(65535, rate)), slots }, manner: 'paced',
    blurb: `exactly ${rate}/s, on a catch-up schedule`,
  };
}

/** Run the stress test; returns the exit status. */
export async function runStress(c: StressConfig, io: CliIo): Promise<number> {
  const specs = [...Array.from({ length: c.producers }, (_, i) => steady(i + 1, c.rate)), AGGRESSIVE, HOSTILE];
  const globalSlots = specs.reduce((a, s) => a + s.limits.slots, 0);
  const ringCapacity = nextPow2(globalSlots);
  let rt: Runtime;
  try {
    rt = await Runtime.start({ tasks: pathToFileURL(resolve(c.tasks)), workers: 2, globalSlots, ringCapacity, metrics: true });
  } catch (err) {
    // A module that does not load, or a path that is not a module file (a FIFO, a device): bad arguments.
    if (err instanceof WorkerStartError || err instanceof ConfigError) { io.err(`sluice stress: ${c.tasks}: ${err.message}`); return 2; }
    throw err;
  }
  try {
    let task;
    try {
      task = rt.task(c.task);
    } catch (err) {
      if (err instanceof UnknownTaskError) { io.err(`sluice stress: ${err.message}`); return 2; }
      throw err;
    }
    const now = performance.now();
    const tracked = specs.map((s) => new Tracked(s, rt.producer(s.name, s.limits), task, null, now, c.payload));
    io.err(`sluice stress: '${c.task}' from ${c.tasks}, ${c.durationS} s, 2 workers, globalSlots ${globalSlots} (the producers' slots, summed)`);
    const stops = tracked.map(drive);
    const started = performance.now();
    const cols = 40;
    let lastTenth = -1;
    await new Promise<void>((done) => {
      const timer = setInterval(() => {
        const f = (performance.now() - started) / 1000 / c.durationS;
        const admitted = tracked.reduce((a, t) => a + t.overall.count, 0);
        const line = `[${bar(f, cols)}] ${Math.min(100, f * 100).toFixed(0)}%  ${int(admitted)} tasks done`;
        if (io.tty) io.err(`\x1b[1A\x1b[2K${line}`);
        else if (Math.floor(f * 10) > lastTenth) { lastTenth = Math.floor(f * 10); io.err(line); }
        if (f >= 1) { clearInterval(timer); done(); }
      }, 200);
      if (io.tty) io.err('');
    });
    for (const stop of stops) stop();
    await rt.drain(); // every admitted task resolves
    const rs = rt.stats();
    const rows: Row[] = tracked.map((t) => ({ t, ps: rs.producers.find((p) => p.name === t.spec.name)! }));
    for (const l of summaryTable(rows)) io.out(l);
    io.out('');
    const checks: Check[] = [
      checkStructure(rs, ringCapacity),
      ...rows.slice(0, c.producers).map(checkQuota),
      checkOwnRejections(rows.slice(c.producers)),
      checkAccounting(rows, rs),
    ];
    for (const ch of checks) {
      io.out(`${ch.pass ? 'PASS' : 'FAIL'}  ${ch.name}`);
      for (const d of ch.detail) io.out(`      ${d}`);
    }
    const failed = checks.filter((ch) => !ch.pass).length;
    io.out('');
    io.out(failed === 0 ? `all ${checks.length} checks passed` : `${failed} of ${checks.length} checks failed`);
    return failed === 0 ? 0 : 1;
  } finally {
    await rt.close();
  }
}

/** Per producer: admitted and rejected by reason, then latency (end to end, queue wait, run). */
function summaryTable(rows: readonly Row[]): string[] {
  const header = ['producer', 'rate/burst/slots', 'offered', 'admitted', 'rate', 'slots', 'global', 'ring', 'other',
    'e2e p50', 'p99', 'max', 'wait p50', 'p99', 'run p50', 'p99'];
  const body = rows.map(({ t, ps }) => {
    const r = ps.rejected;
    const other = Object.entries(r).filter(([k]) => !['rate', 'producer-slots', ...FOREIGN].includes(k)).reduce((a, [, v]) => a + v, 0);
    const l = ps.limits;
    const lat = ps.latency;
    return [
      ps.name, `${l.rate === undefined ? '-' : compact(l.rate)}/${l.burst ?? '-'}/${l.slots}`, int(t.offered), int(ps.admitted),
      compact(r.rate), compact(r['producer-slots']), compact(r['global-slots']), compact(r['ring-full']), compact(other),
      ms(t.overall.quantile(0.5)), ms(t.overall.quantile(0.99)), ms(t.overall.max),
      lat === null ? '-' : ms(lat.queueWait.p50), lat === null ? '-' : ms(lat.queueWait.p99),
      lat === null ? '-' : ms(lat.run.p50), lat === null ? '-' : ms(lat.run.p99),
    ];
  });
  const { lines } = table(header, body, new Set([2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]));
  return ['rejected by reason: rate, slots (its own limits), global, ring (the others\' load), other; latency in ms', ...lines];
}

/** Every submission accounted for, every admitted task resolved (whatever its outcome: it is the user's task). */
function checkAccounting(rows: readonly Row[], rs: RuntimeStats): Check {
  let pass = rs.global.inFlight === 0;
  const sum = (r: Record<string, number>): number => Object.values(r).reduce((a, b) => a + b, 0);
  const detail = rows.map(({ t, ps }: { t: Tracked; ps: ProducerStats }) => {
    const rejected = sum(ps.rejected);
    const resolved = sum(ps.resolved);
    if (!(t.offered === ps.admitted + rejected && resolved === ps.admitted && ps.inFlight === 0 && t.overall.count === ps.admitted)) pass = false;
    return `${ps.name}: offered ${int(t.offered)} = admitted ${int(ps.admitted)} + rejected ${int(rejected)}; resolved ${int(resolved)} ` +
      `(fulfilled ${int(ps.resolved.fulfilled)}, rejected by the task ${int(ps.resolved.rejected)})`;
  });
  detail.push(`global in flight after the drain ${rs.global.inFlight}`);
  return { name: 'every submission accounted for; every admitted task resolved exactly once', pass, detail };
}
