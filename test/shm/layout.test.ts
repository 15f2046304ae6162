/**
 * Every Layout has one hidden class (src/shm/layout.ts computeLayout): a scratch memory's (the
 * starting thread's and each worker's warm-up), a runtime's (options with metrics and test hooks
 * given) and a worker's (readLayout) alike. When they differed (the config was spread into the
 * result, so its optional fields made a class per set of options), code V8 had optimized on one
 * runtime's memory deoptimized on the next one's ("wrong map"), and on the worker, the warm-up's
 * feedback was for another class than the real loop's.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type LayoutConfig, Memory, computeLayout, readLayout } from '../../src/shm/layout.js';

const base: LayoutConfig = {
  workers: 2, ringCapacity: 64, globalSlots: 64, maxProducers: 2, maxAttachments: 2, spillBytes: 1 << 12,
  taskCount: 1, spinMicros: 50, asyncLimit: 64,
};
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

describe('Layout: one hidden class', () => {
  it('the same fields in the same order whatever the config carried (property)', () => {
    const reference = Object.keys(computeLayout(base));
    fc.assert(fc.property(
      fc.record({
        workers: fc.integer({ min: 1, max: 8 }),
        ringCapacity: fc.constantFrom(2, 8, 256, 1024),
        globalSlots: fc.integer({ min: 1, max: 2048 }),
        maxProducers: fc.integer({ min: 1, max: 16 }),
        maxAttachments: fc.integer({ min: 1, max: 8 }),
        spillBytes: fc.constantFrom(1 << 10, 1 << 12, 1 << 16),
        taskCount: fc.integer({ min: 0, max: 16 }),
        spinMicros: fc.integer({ min: 0, max: 1000 }),
        asyncLimit: fc.integer({ min: 1, max: 256 }),
      }),
      fc.option(fc.boolean(), { nil: undefined }),
      fc.option(fc.boolean(), { nil: undefined }),
      (c, metrics, testHooks) => {
        const cfg: LayoutConfig = { ...c };
        if (metrics !== undefined) cfg.metrics = metrics;
        if (testHooks !== undefined) cfg.testHooks = testHooks;
        const l = computeLayout(cfg);
        expect(Object.keys(l)).toEqual(reference);
        expect(l.metrics).toBe(metrics === true);
        expect(l.testHooks).toBe(testHooks === true);
      },
    ), { numRuns: 200 });
  });

  it('a runtime\'s, a scratch memory\'s and a worker\'s (readLayout) share a map in V8 (%HaveSameMap)', () => {
    const script = `
      import { Memory, computeLayout, readLayout } from './src/shm/layout.ts';
      const same = new Function('a', 'b', 'return %HaveSameMap(a, b)');
      const base = ${JSON.stringify(base)};
      const scratch = computeLayout(base);
      const runtime = computeLayout({ ...base, workers: 4, metrics: true, testHooks: false });
      const worker = readLayout(Memory.create({ ...base, metrics: true }).i32);
      console.log(JSON.stringify([same(scratch, runtime), same(scratch, worker), same(runtime, worker)]));
    `;
    const out = execFileSync(process.execPath, ['--allow-natives-syntax', '--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: ROOT, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' },
    });
    expect(JSON.parse(out.trim().split('\n').pop()!)).toEqual([true, true, true]);
  });

  it('readLayout gives back what computeLayout made (metrics included)', () => {
    for (const metrics of [false, true]) {
      const mem = Memory.create({ ...base, metrics });
      expect(readLayout(mem.i32)).toEqual({ ...mem.layout, testHooks: false });
    }
  });
});
