// Which sluice the bench drives. By default the package as users run it: dist/, the `npm run
// build` output (`npm run bench` builds first), with workers started with `execArgv: []` (see
// WORKER_OPTIONS), so that no worker loads tsx. bench/ itself runs under tsx, and a worker inherits
// its parent's flags.
//
// SLUICE_BENCH_SOURCE=1 drives the TypeScript sources through tsx instead, as bench/ did until the
// nineteenth session. Each worker thread then registers tsx's loader, and Node 20 runs that loader
// on a thread of its own. In a fresh runtime the second worker is still loading (and transpiling)
// while the first measurements run, because Runtime.start resolves when the first worker is ready.
// See docs/performance.md, nineteenth session.
//
// A dist/ older than any file of src/ is refused: the figures would be of other code.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type * as Sluice from '../../src/index.js';

export const FROM_SOURCE = process.env.SLUICE_BENCH_SOURCE === '1';

const root = fileURLToPath(new URL('../../', import.meta.url));
const distEntry = join(root, 'dist', 'index.js');

/** The newest modification time of any file under dir (ms). */
function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

if (!FROM_SOURCE) {
  const how = 'run `npm run build` first (`npm run bench` does), or set SLUICE_BENCH_SOURCE=1 to drive src/ through tsx';
  if (!existsSync(distEntry)) throw new Error(`bench: dist/ is missing: ${how}`);
  if (statSync(distEntry).mtimeMs < newest(join(root, 'src'))) throw new Error(`bench: dist/ is older than src/: ${how}`);
}

/** The package's main entry, as `import ... from 'sluice'` gives it. */
export const sluice = (await import(FROM_SOURCE ? '../../src/index.js' : pathToFileURL(distEntry).href)) as typeof Sluice;

/**
 * Runtime.start options every bench runtime gets, under the section's own: the built package's
 * workers start with no inherited flags (the parent's are tsx's), as in a plain `node` process.
 */
export const WORKER_OPTIONS: { execArgv?: string[] } = FROM_SOURCE ? {} : { execArgv: [] };

/** For the report: which build ran. */
export const BUILD = FROM_SOURCE ? 'src/ through tsx (SLUICE_BENCH_SOURCE=1)' : 'dist/ (the built package), workers with execArgv: []';
