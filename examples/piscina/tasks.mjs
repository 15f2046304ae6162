// The task module both apps use, plain JavaScript (piscina's workers cannot import TypeScript
// under Node 20; sluice can, when tsx is installed). piscina loads it as its `filename` and picks
// a function with `name`; sluice loads it as its `tasks` (every named function export is a task).
import { createHash } from 'node:crypto';

/** The SHA-256 of a string, in hex. @param {string} text @returns {string} */
export function hash(text) {
  return createHash('sha256').update(text).digest('hex');
}

/** Busy for `ms` milliseconds (synchronously: it never yields), then returns `ms`. @param {number} ms @returns {number} */
export function spin(ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) { /* busy */ }
  return ms;
}
