import { expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { runChaos } from './stress/chaos-lib.js';
import { runChild } from './helpers/child.js';

// Seeded and reproducible: a failure prints its seed; `npm run stress -- --seed <n>` replays it.
const seed = Number(process.env.SLUICE_CHAOS_SEED ?? 20261121);

it(`chaos (seed ${seed}): every admitted token (hostile values among them) resolves exactly once with the right outcome, no body runs twice, counters zero, close completes`, async () => {
  const report = await runChaos({ seed, tasks: 20_000, threadTasks: 10_000, threads: 2, workers: 2, exits: 4, hangs: 3 });
  expect(report.failures, `seed ${seed}: ${report.failures.join('\n')}`).toEqual([]);
  expect(report.outcomes.fulfilled).toBeGreaterThan(0);
  expect(report.outcomes.rejected).toBeGreaterThan(0);
  expect(report.outcomes.abandoned).toBeGreaterThanOrEqual(report.kinds.exits + report.kinds.hangs);
  expect(report.outcomes.retracted ?? 0).toBeGreaterThan(0);
  expect(report.victimAdmitted).toBeGreaterThan(0);
  // Hostile values (test/helpers/hostile.ts) were in the mix, and each resolved as its entry requires.
  expect(report.kinds.hostile).toBeGreaterThan(0);
  expect(report.hostileOk).toBe(report.kinds.hostile);
}, 180_000);

// `npm run stress` as a user runs it: arguments it cannot honour are exit 2 with the reason.
// Fewer tasks than exits + hangs looped for good drawing their places (--tasks 10 never ended),
// and an option the runtime refuses ended in a stack trace (exit 1).
it('npm run stress: --tasks below --exits + --hangs, and options the runtime refuses, are exit 2 with the reason', async () => {
  const stress = (...args: string[]): ReturnType<typeof runChild> =>
    runChild('npx', ['tsx', 'test/stress/chaos.ts', ...args], { cwd: fileURLToPath(new URL('..', import.meta.url)), timeout: 60_000 });
  const [few, none, workers] = await Promise.all([stress('--tasks', '10'), stress('--tasks', '0', '--exits', '0', '--hangs', '1'), stress('--tasks', '100', '--workers', '0')]);
  expect([few.status, none.status, workers.status]).toEqual([2, 2, 2]);
  expect(few.stderr).toContain('chaos: --exits + --hangs (25 + 15) must be at most --tasks (10)');
  expect(none.stderr).toContain('chaos: --exits + --hangs (0 + 1) must be at most --tasks (0)');
  expect(workers.stderr).toMatch(/chaos: ConfigError: Runtime\.start: workers must be an integer from 1 to 255; got 0/);
  await expect(runChaos({ seed: 1, tasks: 3, threadTasks: 0, threads: 0, workers: 1, exits: 2, hangs: 2 })).rejects.toThrow(/exits \+ hangs \(4\) must be at most tasks \(3\)/);
}, 120_000);
