// Prints one plain closing line, "Tests: N passed, N failed[, N skipped]", after vitest's own
// summary, so any tool can read the outcome of a run from its last line.
import type { Reporter } from 'vitest/node';
import type { RunnerTestFile, RunnerTask } from 'vitest';

function count(tasks: readonly RunnerTask[], acc: { passed: number; failed: number; skipped: number }): void {
  for (const t of tasks) {
    if (t.type === 'suite') count(t.tasks, acc);
    else if (t.result?.state === 'pass') acc.passed++;
    else if (t.result?.state === 'fail') acc.failed++;
    else acc.skipped++;
  }
}

export default class SummaryReporter implements Reporter {
  onFinished(files: RunnerTestFile[] = [], errors: unknown[] = []): void {
    const acc = { passed: 0, failed: 0, skipped: 0 };
    for (const f of files) {
      count(f.tasks, acc);
      if (f.result?.state === 'fail' && f.tasks.length === 0) acc.failed++; // a file that failed to load
    }
    acc.failed += errors.length;
    // After the default reporter's summary, which is printed in the same hook.
    process.on('beforeExit', () => {
      process.stdout.write(`Tests: ${acc.passed} passed, ${acc.failed} failed${acc.skipped ? `, ${acc.skipped} skipped` : ''}\n`);
    });
  }
}
