/**
 * Reading a whole file that a user names (`sluice trace show FILE`, `sluice quarantine list FILE`,
 * readTrace) without letting the path decide how much memory that takes. A regular file has a
 * size to check before it is read. A pipe (a shell's `<(...)`), a FIFO or a device has none, and
 * readFileSync reads it to its end: /dev/zero has no end, and filled a 24 GiB machine.
 */
import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { v8 } from './builtins.js';

/** Bytes per read of a source whose size is not known in advance. */
const CHUNK = 1 << 20;

/**
 * The bytes at `path`. A regular file (or a directory: fs's EISDIR) is read whole once
 * `room(size, false)` returned. Anything else is read in chunks of 1 MiB: `head` sees the first
 * (it throws when the source does not start as the caller's files do: /dev/zero, /dev/urandom),
 * and `room(total, true)` runs after each (it throws once what the source has given is more than
 * the caller can take: a pipe that never ends). A FIFO waits for its writer, as `cat` does.
 */
export function readBounded(path: string, head: (first: Buffer) => void, room: (bytes: number, sofar: boolean) => void): Buffer {
  const st = statSync(path);
  if (st.isFile() || st.isDirectory()) {
    room(st.size, false);
    const all = readFileSync(path);
    head(all);
    return all;
  }
  const fd = openSync(path, 'r');
  try {
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(CHUNK);
      let n = 0;
      while (n < CHUNK) {
        const k = readSync(fd, chunk, n, CHUNK - n, null);
        if (k === 0) break;
        n += k;
      }
      if (n > 0) chunks.push(chunk.subarray(0, n));
      if (total === 0) head(chunk.subarray(0, n));
      total += n;
      room(total, true);
      if (n < CHUNK) return Buffer.concat(chunks, total);
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * Null when `need` bytes of JavaScript heap fit in what this process may still allocate; else
 * what to tell the user: `doing` (what would take them) takes about so much, and the
 * `--max-old-space-size` to run with. A reader refuses up front rather than end in V8's
 * out-of-memory abort.
 */
export function heapShortfall(need: number, doing: string): string | null {
  const { heap_size_limit: limit, used_heap_size: used } = v8().getHeapStatistics();
  if (need <= limit - used) return null;
  const gib = (n: number): string => (n / 2 ** 30).toFixed(1);
  const mib = Math.ceil((used + need * 1.25) / 2 ** 20 / 256) * 256;
  return `${doing} takes about ${gib(need)} GiB of JavaScript heap and this process may use ${gib(Math.max(0, limit - used))} GiB more: run it with NODE_OPTIONS=--max-old-space-size=${mib}`;
}
