import { expect, it } from 'vitest';
import { runChaos } from './stress/chaos-lib.js';

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
