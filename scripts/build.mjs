// `npm run build`: dist/ as the package ships it.
//
//  - Types: tsc emits the declarations (tsconfig.build.json: .d.ts per source file, @internal stripped).
//  - Code: esbuild bundles the package's entry points (its exports, the worker thread's entry and
//    the `sluice` command) as ES modules with code splitting. Minified, with function and
//    class names kept and source maps beside each file. What two entries share is one chunk
//    in dist/chunks/, loaded once per thread: a worker thread and a task module that imports
//    'sluice/task' meet the same module instances, never two copies of one class or one module's
//    state. A thread loads a handful of files instead of the ~26 modules its import graph has:
//    the worker thread's start-up is dominated by loading modules (docs/performance.md, cold start).
//    A module that needs one of the package's own files asks src/package-root.ts, never its own
//    import.meta.url (its code may sit in a chunk).
//  - Files: the demo's task modules, which workers load by path.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { cpSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
process.chdir(root);

/** The entry points, by source path: each becomes dist/<same path>.js. */
const ENTRIES = [
  'src/index.ts', 'src/task.ts', 'src/io/index.ts', 'src/observe/index.ts', // package.json "exports"
  'src/runtime/worker/main.ts', // the worker thread (runtime.ts workerEntry)
  'src/cli/sluice.ts', // package.json "bin"
];

rmSync('dist', { recursive: true, force: true });
const tsc = spawnSync(process.execPath, [fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url)),
  '-p', 'tsconfig.build.json', '--emitDeclarationOnly'], { stdio: 'inherit' });
if (tsc.status !== 0) process.exit(tsc.status ?? 1);

await build({
  entryPoints: ENTRIES,
  outbase: 'src',
  outdir: 'dist',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external', // ws, prom-client, puppeteer-core, tsx: the user's install provides them
  chunkNames: 'chunks/[name]-[hash]',
  sourcemap: true,
  keepNames: true, // class and function names as written (errors' names, stack traces)
  // Minified: a thread parses half the bytes (import 'sluice' ~8 ms sooner here; docs/performance.md,
  // twentieth session). Names stay (keepNames); dist/*.js.map carry the sources, so
  // `node --enable-source-maps` puts stack traces back on src/ lines.
  minify: true,
  logLevel: 'warning',
});

for (const f of ['demo-tasks.mjs', 'guard-tasks.mjs']) cpSync(`src/cli/demo/${f}`, `dist/cli/demo/${f}`);
