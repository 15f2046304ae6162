// `sluice stress` and `sluice bench` as a user runs them (a child process on test/fixtures
// tasks): the structure of their output and their exit statuses -- 0 done (stress: every check
// passed), 1 a finding (stress: a failed check; bench: the task failed), 2 bad arguments. No
// timing thresholds: which checks pass under load is the tool's business; that the status says
// what the printed checks say is this test's.
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runChild, type ChildResult } from '../helpers/child.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const TASKS = 'test/fixtures/tasks.mjs';

function sluice(...args: string[]): Promise<ChildResult> {
  return runChild('npx', ['tsx', 'src/cli/sluice.ts', ...args], { cwd: root, timeout: 120_000 });
}

/** The check lines of a stress summary: [PASS|FAIL, name]. */
const checks = (out: string): [string, string][] =>
  out.split('\n').filter((l) => /^(PASS|FAIL) {2}/.test(l)).map((l) => [l.slice(0, 4), l.slice(6)]);

describe('sluice stress', () => {
  it('runs the task under well-behaved and hostile producers: a row per producer, the isolation checks, a status that agrees with them', async () => {
    const r = await sluice('stress', '--tasks', TASKS, '--task', 'inc', '--payload', '41', '--producers', '2', '--rate', '10', '--duration', '1');
    expect(r.error).toBeUndefined();
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^rejected by reason/);
    expect(lines[1]).toMatch(/^producer +rate\/burst\/slots +offered +admitted +rate +slots +global +ring +other +e2e p50 +p99 +max +wait p50 +p99 +run p50 +p99$/);
    for (const [i, name] of ['steady-1', 'steady-2', 'aggressive', 'hostile'].entries()) expect(lines[2 + i]).toMatch(new RegExp(`^${name} `));
    const cs = checks(r.stdout);
    expect(cs.map(([, n]) => n)).toEqual([
      'isolation is structural: the producers\' slots partition the global ceiling',
      'steady-1 was admitted at its quota, and never rejected because of the others',
      'steady-2 was admitted at its quota, and never rejected because of the others',
      'aggressive and hostile were rejected, and only by their own limits',
      'every submission accounted for; every admitted task resolved exactly once',
    ]);
    // Structural and accounting checks do not depend on the machine's speed.
    expect(cs[0]![0]).toBe('PASS');
    expect(cs[4]![0]).toBe('PASS');
    const failed = cs.filter(([s]) => s === 'FAIL').length;
    expect(r.stdout).toMatch(failed === 0 ? /all 5 checks passed\n$/ : new RegExp(`${failed} of 5 checks failed\\n$`));
    expect(r.status).toBe(failed === 0 ? 0 : 1);
    // The progress bar is on stderr, and reaches the end.
    expect(r.stderr).toMatch(/^sluice stress: 'inc' from test\/fixtures\/tasks\.mjs, 1 s/);
    expect(r.stderr).toMatch(/\[█+\] 100% {2}[\d,]+ tasks done/);
  }, 150_000);

  it('a task that throws: every admitted task still resolved (as rejected) and is accounted for', async () => {
    const r = await sluice('stress', '--tasks', TASKS, '--task', 'fail', '--payload', '"boom"', '--producers', '1', '--rate', '5', '--duration', '1');
    const cs = checks(r.stdout);
    expect(cs.at(-1)).toEqual(['PASS', 'every submission accounted for; every admitted task resolved exactly once']);
    expect(r.stdout).toMatch(/steady-1: offered \d+ = admitted \d+ \+ rejected \d+; resolved \d+ \(fulfilled 0, rejected by the task \d+\)/);
    expect([0, 1]).toContain(r.status);
  }, 150_000);
});

describe('sluice bench', () => {
  it('prints sluice, bare postMessage and their ratio for throughput and round trip; exit 0', async () => {
    const r = await sluice('bench', '--tasks', TASKS, '--task', 'inc', '--payload', '1', '--count', '500', '--reps', '1');
    expect(r.status).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^measure +sluice +bare postMessage +sluice ÷ bare$/);
    for (const [i, name] of ['throughput \\(tasks/s\\)', 'round trip \\(µs, mean of sequential\\)'].entries()) {
      const m = new RegExp(`^${name} +([\\d.]+) +([\\d.]+) +([\\d.]+)$`).exec(lines[1 + i]!);
      expect(m, lines[1 + i]).not.toBeNull();
      const [a, b, ratio] = [Number(m![1]), Number(m![2]), Number(m![3])];
      expect(a).toBeGreaterThan(0);
      expect(b).toBeGreaterThan(0);
      expect(Math.abs(ratio - a / b)).toBeLessThan(0.01 + (a / b) * 0.01); // the ratio is of the printed (rounded) figures
    }
    expect(r.stderr).toMatch(/rep 1\/1/);
  }, 150_000);

  it('a task that fails: exit 1, saying so', async () => {
    const r = await sluice('bench', '--tasks', TASKS, '--task', 'fail', '--payload', '"x"', '--count', '100', '--reps', '1');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/sluice bench: the task failed: x/);
  }, 150_000);
});

describe('bad arguments: exit 2', () => {
  it('missing or bad options, a missing module, an unknown export', async () => {
    const cases: [string[], RegExp][] = [
      [['stress', '--task', 'inc'], /--tasks FILE is needed/],
      [['stress', '--tasks', TASKS], /--task NAME is needed/],
      [['stress', '--tasks', TASKS, '--task', 'inc', '--payload', '{bad'], /--payload is not JSON/],
      [['stress', '--tasks', TASKS, '--task', 'inc', '--rate', '1.5'], /--rate must be an integer from 1 to 100000; got '1.5'/],
      [['stress', '--tasks', TASKS, '--task', 'inc', '--producers', '0'], /--producers must be an integer from 1 to 16/],
      [['bench', '--tasks', 'no/such/file.mjs', '--task', 'inc'], /no such file: no\/such\/file\.mjs/],
      [['bench', '--tasks', TASKS, '--task', 'inc', '--frobnicate', '1'], /unknown option '--frobnicate'/],
      [['bench', '--tasks', TASKS, '--task', 'nope'], /unknown task 'nope'; the task module exports: .*inc/],
      // A path that is not a module file: the runtime's ConfigError, as bad arguments (a stack trace and exit 1 before).
      [['bench', '--tasks', '/dev/zero', '--task', 'inc'], /^sluice bench: \/dev\/zero: Runtime\.start: tasks: \/dev\/zero is a character device, not a module file$/m],
      [['stress', '--tasks', 'test', '--task', 'inc'], /^sluice stress: test: Runtime\.start: tasks: .*\/test is a directory, not a module file$/m],
    ];
    for (const [args, message] of cases) {
      const r = await sluice(...args);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(message);
    }
  }, 300_000);

  it('--help prints the usage, exit 0', async () => {
    const [s, b] = await Promise.all([sluice('stress', '--help'), sluice('bench', '--help')]);
    expect(s.status).toBe(0);
    expect(s.stdout).toMatch(/^usage: sluice stress --tasks FILE --task NAME/);
    expect(b.status).toBe(0);
    expect(b.stdout).toMatch(/^usage: sluice bench --tasks FILE --task NAME/);
  }, 150_000);
});
