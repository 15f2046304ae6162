/**
 * `sluice quarantine list FILE`: what rt.quarantine.save(FILE) wrote (the Guard House,
 * src/runtime/guard-api.ts): one line per quarantined call, its provenance and its arguments.
 */
import { heapShortfall, readBounded } from '../read-bounded.js';
import { deserialize } from 'node:v8';
import { inspect } from 'node:util';
import type { QuarantineEntry, QuarantineFile } from '../runtime/guard-api.js';

export const QUARANTINE_USAGE = `usage: sluice quarantine list FILE [--json]

Lists the calls a runtime's quarantine kept (written by rt.quarantine.save(FILE)): for each, its
id (what rt.quarantine.resubmit takes), task, producer, token id and generation, when it resolved
(ms on the runtime clock), its outcome, why it was kept ('tripped': its failure opened the
breaker; 'under-open': it failed under an open, half-open or isolated breaker), what it threw and
its arguments.
  --json   print the entries as JSON instead (payloads that JSON cannot hold are described)
Exit status: 0 listed, 2 bad arguments (no such file, not a quarantine file).`;

/** Thrown for a bad command line or file; the caller prints it with the usage (exit status 2). */
export class QuarantineUsage extends Error {}

/** v8.serialize's first byte (its version tag): what every quarantine file starts with. */
const V8_VERSION_TAG = 0xff;
/** JavaScript heap deserializing a file takes per byte of it, at most (its strings and objects; a guess with room). */
const HEAP_PER_BYTE = 4;

function read(file: string): QuarantineFile {
  const notOne = `${file} is not a quarantine file (rt.quarantine.save writes one)`;
  let bytes: Buffer;
  try {
    // A pipe or a device is read in chunks and refused as soon as it is not one (read-bounded.ts).
    bytes = readBounded(file, (first) => { if (first.length > 0 && first[0] !== V8_VERSION_TAG) throw new QuarantineUsage(notOne); }, (n, sofar) => {
      const short = heapShortfall(n * HEAP_PER_BYTE, `${file}${sofar ? ' is not a regular file, and has given' : ' has'} ${Math.round(n / 2 ** 20)} MiB${sofar ? ' so far' : ''}; listing it`);
      if (short !== null) throw new QuarantineUsage(short);
    });
  } catch (err) {
    if (err instanceof QuarantineUsage) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new QuarantineUsage(code === 'ENOENT' ? `no such file: ${file}` : `cannot read ${file}: ${(err as Error).message}`);
  }
  let v: unknown;
  try {
    v = deserialize(bytes);
  } catch {
    throw new QuarantineUsage(notOne);
  }
  const f = v as Partial<QuarantineFile> | null;
  if (f === null || typeof f !== 'object' || f.kind !== 'sluice-quarantine' || f.version !== 1 || !Array.isArray(f.entries)) {
    throw new QuarantineUsage(notOne);
  }
  return f as QuarantineFile;
}

const short = (v: unknown, n: number): string => {
  const s = inspect(v, { depth: 2, breakLength: Infinity, maxArrayLength: 8, maxStringLength: n, getters: false, customInspect: false });
  return s.length > n ? `${s.slice(0, n - 3)}...` : s;
};

/** `sluice quarantine <sub> ...`; returns the exit status. */
export function quarantineCmd(args: readonly string[], out: (s: string) => void): number {
  const [sub, file, ...rest] = args;
  if (sub !== 'list') throw new QuarantineUsage(sub === undefined ? 'a quarantine subcommand is needed' : `unknown quarantine subcommand '${sub}'`);
  if (file === undefined || file.startsWith('--')) throw new QuarantineUsage('a FILE is needed');
  const json = rest.includes('--json');
  const unknown = rest.find((a) => a !== '--json');
  if (unknown !== undefined) throw new QuarantineUsage(`unexpected argument '${unknown}'`);
  const f = read(file);
  if (json) {
    out(JSON.stringify(f.entries.map((e: QuarantineEntry) => ({ ...e, payload: safeJson(e.payload) })), null, 2));
    return 0;
  }
  out(`${f.entries.length} quarantined call(s), saved ${f.savedAt}${f.dropped > 0 ? `; ${f.dropped} older dropped (the quarantine was full)` : ''}`);
  if (f.entries.length === 0) return 0;
  const rows = f.entries.map((e) => [
    e.id, e.task, e.producer, e.tokenId < 0 ? 'callback' : String(e.tokenId), String(e.generation), String(Math.floor(e.tick / 1000)),
    e.outcome, e.why, short(e.error, 60), short(e.payload, 40),
  ]);
  const head = ['id', 'task', 'producer', 'token', 'gen', 'at ms', 'outcome', 'why', 'error', 'arguments'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const r of [head, ...rows]) out(r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
  return 0;
}

function safeJson(v: unknown): unknown {
  try {
    JSON.stringify(v);
    return v;
  } catch {
    return short(v, 200);
  }
}
