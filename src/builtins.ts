/**
 * Node built-ins the runtime needs now and then, loaded at their first use instead of at
 * `import 'sluice'`: node:v8 (structured clone of the values the compact encoding does not
 * take, quarantine files, the heap limit a trace reader checks) and node:crypto (a runtime's
 * instance id and table digest, once per start, after its workers are spawned). Loading them
 * cost an importing thread ~1 and ~4 ms here, and a worker thread loads neither unless a value
 * needs v8 (docs/performance.md, twentieth session).
 */
import { createRequire } from 'node:module';
import type * as Crypto from 'node:crypto';
import type * as V8 from 'node:v8';

const load = createRequire(import.meta.url);
let v8Module: typeof V8 | undefined;
let cryptoModule: typeof Crypto | undefined;

/** node:v8, loaded at the first call. */
export function v8(): typeof V8 {
  return (v8Module ??= load('node:v8') as typeof V8);
}

/** node:crypto, loaded at the first call. */
export function crypto(): typeof Crypto {
  return (cryptoModule ??= load('node:crypto') as typeof Crypto);
}
