/**
 * Where this package's own files are: the worker entry, the native addon, the demo task modules.
 *
 * The built package is bundled (scripts/build.mjs): a module's code may sit in a shared chunk
 * (dist/chunks/) rather than at its source's place, so no module may locate a file relative to
 * its own import.meta.url. They ask here instead. The root is the nearest directory at or above
 * this module that holds a package.json: the package's own root, whether this runs from src/
 * (tsx, tests) or from dist/ in a checkout or in node_modules.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** True when sluice runs from its TypeScript sources (tsx, vitest), false from the built dist/. */
export const FROM_SOURCE = import.meta.url.endsWith('.ts');

function findRoot(): URL {
  let dir = new URL('./', import.meta.url);
  for (let up = 0; up < 4; up++) {
    if (existsSync(fileURLToPath(new URL('package.json', dir)))) return dir;
    const parent = new URL('../', dir);
    if (parent.href === dir.href) break;
    dir = parent;
  }
  // Not found (the package was copied without its package.json): src/x.ts or dist/x.js.
  return new URL('../', import.meta.url);
}

/** The package root (a directory URL, with its trailing slash). */
export const PACKAGE_ROOT_URL: URL = findRoot();

/** A file of the package by its path below src/ when running from the sources, else below dist/. */
export function packageFile(rel: string): URL {
  return new URL(`${FROM_SOURCE ? 'src' : 'dist'}/${rel}`, PACKAGE_ROOT_URL);
}
