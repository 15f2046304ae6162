// `npm run stress`: the long chaos run, with a progress bar and a summary table.
//   npm run stress -- [--seed N] [--tasks N] [--threads N] [--thread-tasks N] [--workers N] [--exits N] [--hangs N] [--hostile-permille N] [--trace FILE]
// Reproducible: the seed is printed; pass it back with --seed to replay the same run.
import { runChaos, type ChaosConfig } from './chaos-lib.js';
import { SluiceError } from '../../src/index.js';

const FLAGS: Record<string, keyof ChaosConfig> = {
  '--seed': 'seed', '--tasks': 'tasks', '--threads': 'threads', '--thread-tasks': 'threadTasks',
  '--workers': 'workers', '--exits': 'exits', '--hangs': 'hangs', '--hostile-permille': 'hostileShare',
};
const cfg: ChaosConfig = {
  seed: Math.floor(Math.random() * 2 ** 31), tasks: 100_000, threads: 3, threadTasks: 50_000, workers: 2, exits: 25, hangs: 15,
};
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) {
  if (argv[i] === '--trace' && argv[i + 1] !== undefined && argv[i + 1]!.length > 0) {
    cfg.tracePath = argv[i + 1]!; // the whole run recorded: sluice trace show|explain|export FILE
    continue;
  }
  const key = FLAGS[argv[i]!];
  const value = Number(argv[i + 1]);
  if (key === undefined || !Number.isInteger(value) || value < 0) {
    process.stderr.write(`usage: npm run stress -- ${Object.keys(FLAGS).map((f) => `[${f} N]`).join(' ')} [--trace FILE]\n`);
    process.exit(2);
  }
  (cfg as unknown as Record<string, number>)[key] = key === 'hostileShare' ? Math.min(value, 1000) / 1000 : value;
}

// Each exit and each hang is a main-thread task of its own, drawn at seeded positions.
if (cfg.exits + cfg.hangs > cfg.tasks) {
  process.stderr.write(`chaos: --exits + --hangs (${cfg.exits} + ${cfg.hangs}) must be at most --tasks (${cfg.tasks}): each is one of the main thread's tasks\n`);
  process.exit(2);
}

const tty = process.stderr.isTTY === true;
let lastDraw = 0;
cfg.onProgress = (done, total) => {
  const now = performance.now();
  if (now - lastDraw < (tty ? 100 : 2000) && done !== total) return;
  lastDraw = now;
  const width = 40;
  const filled = Math.round((done / total) * width);
  const line = `chaos seed ${cfg.seed} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}`;
  process.stderr.write(tty ? `\r${line}` : `${line}\n`);
};

process.stderr.write(`chaos: seed ${cfg.seed}, ${cfg.tasks} main-thread tasks, ${cfg.threads} x ${cfg.threadTasks} attached-thread tasks, ${cfg.workers} workers, ${cfg.exits} exits, ${cfg.hangs} hangs, ${((cfg.hostileShare ?? 0.03) * 100).toFixed(1)}% hostile values\n`);
let r: Awaited<ReturnType<typeof runChaos>>;
try {
  r = await runChaos(cfg);
} catch (err) {
  // Options the runtime refuses (--workers 0, a --trace path it cannot write): bad arguments.
  if (err instanceof SluiceError) {
    process.stderr.write(`${tty ? '\n' : ''}chaos: ${err.name}: ${err.message}\n`);
    process.exit(2);
  }
  throw err;
}
if (tty) process.stderr.write('\n');

const rows: Array<[string, string]> = [
  ['seed', String(r.seed)],
  ['main-thread tasks', String(r.submitted)],
  ['  normal / throws / async / cancel', `${r.kinds.normal} / ${r.kinds.throws} / ${r.kinds.later} / ${r.kinds.cancel}`],
  ['  kill their worker / hang past deadline', `${r.kinds.exits} / ${r.kinds.hangs}`],
  ['  hostile values (catalogue entries used)', `${r.kinds.hostile} (${Object.keys(r.hostile).length} entries), ${r.hostileOk} resolved as their entry requires`],
  ['outcomes', Object.entries(r.outcomes).map(([k, v]) => `${k} ${v}`).join(', ')],
  ['attached-thread tasks (checked in-thread)', String(r.threadTasks)],
  ['victim thread: admitted before it was killed', String(r.victimAdmitted)],
  ['worker restarts', String(r.restarts)],
  ['close took', `${r.closeMs.toFixed(0)} ms`],
  ['whole run', `${(r.elapsedMs / 1000).toFixed(1)} s`],
  ['failures', String(r.failures.length)],
];
const w = Math.max(...rows.map(([k]) => k.length));
process.stdout.write(`\n${rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n')}\n`);
if (r.failures.length > 0) {
  process.stdout.write(`\nFAILED (replay with --seed ${r.seed}):\n${r.failures.map((f) => `  ${f}`).join('\n')}\n`);
  process.exit(1);
}
process.stdout.write('\nevery admitted token resolved exactly once with the right outcome; no body ran twice; counters zero; close completed\n');
