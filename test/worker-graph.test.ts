// A worker's start loads only what its hot path needs (issue 20, u6; docs/performance.md,
// "2026-12-06 (fourth session): start-up"): each ES module costs a starting worker ~1 ms of CPU,
// and builtins like node:child_process (net, dgram, readline) or node:v8 (heap_utils) several.
// The static import graph of the worker's entry, as tsc emits it (imports used only as types are
// elided; dynamic import() is lazy and not followed), must not reach the modules that only some
// runtimes need (they are imported lazily) nor the builtins only error paths need. And the main
// thread's start does not build process.stdout / process.stderr (supervisor/output.ts).
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { runChild } from './helpers/child.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const src = join(root, 'src');

/** Modules (relative to src/) and builtins reached by static imports from `entry`. */
function staticGraph(entry: string): { modules: Set<string>; builtins: Set<string> } {
  const modules = new Set<string>();
  const builtins = new Set<string>();
  const todo = [join(src, entry)];
  while (todo.length > 0) {
    const file = todo.pop()!;
    const rel = relative(src, file);
    if (modules.has(rel)) continue;
    modules.add(rel);
    const js = ts.transpileModule(readFileSync(file, 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    }).outputText;
    // Static imports and re-exports only: `import x from '...'`, `import '...'`, `export ... from '...'`.
    for (const m of js.matchAll(/^\s*(?:import|export)\s+(?:[^'";]*?\sfrom\s+)?["']([^"']+)["']/gm)) {
      const spec = m[1]!;
      if (spec.startsWith('.')) todo.push(join(dirname(file), spec.replace(/\.js$/, '.ts')));
      else builtins.add(spec);
    }
  }
  return { modules, builtins };
}

describe("the worker's start-up graph", () => {
  it('the walker sees what a module imports (control: recording.ts reaches options.ts, trace/ and node:os)', () => {
    const g = staticGraph('runtime/recording.ts');
    expect(g.modules).toContain('runtime/options.ts');
    expect([...g.modules].some((m) => m.startsWith('trace/'))).toBe(true);
    expect(g.builtins).toContain('node:os');
  });

  it('worker/main.ts does not load options, the registry, the gates, the recording, metrics or trace/ at start', () => {
    const g = staticGraph('runtime/worker/main.ts');
    expect(g.modules).toContain('runtime/worker/loop.ts'); // the walk got somewhere
    const lazy = [...g.modules].filter((m) => m.startsWith('trace/') || [
      'runtime/options.ts', 'runtime/registry.ts', 'runtime/recording.ts', 'runtime/metrics.ts', 'runtime/io-class.ts',
      'admission/gate.ts', 'admission/guard.ts', 'runtime/runtime.ts',
    ].includes(m));
    expect(lazy).toEqual([]);
  });

  it('nor builtins only error paths or other threads need (child_process, v8, os, util, crypto, net)', () => {
    const { builtins } = staticGraph('runtime/worker/main.ts');
    expect([...builtins].sort()).toEqual(['node:fs', 'node:module', 'node:url', 'node:util/types', 'node:worker_threads']);
  });
});

describe("the main thread's start path", () => {
  it("Runtime.start reads neither process.stdout nor process.stderr; a worker's first line does, and arrives prefixed", async () => {
    const script = fileURLToPath(new URL('./fixtures/lifecycle/start-stdio.ts', import.meta.url));
    const r = await runChild(process.execPath, ['--import', 'tsx', script], { timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const line = r.stderr.split('\n').find((l) => l.startsWith('{"atStart"'));
    expect(line, r.stderr).toBeDefined();
    const m = JSON.parse(line!) as { atStart: { stdout: number; stderr: number }; afterOutput: { stdout: number; stderr: number } };
    expect(m.atStart).toEqual({ stdout: 0, stderr: 0 });
    expect(m.afterOutput.stdout).toBeGreaterThan(0);
    expect(m.afterOutput.stderr).toBeGreaterThan(0);
    expect(r.stdout).toContain('[sluice worker ');
    expect(r.stdout).toMatch(/\[sluice worker \d\] hello from a task\n/);
  });
});
