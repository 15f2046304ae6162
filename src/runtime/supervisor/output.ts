/**
 * A worker's stdout/stderr (docs/design.md §4.7: an idle runtime does not keep the process
 * alive). Owner: the starting thread, per Worker, from spawn (supervisor.ts) on.
 */
import type { Worker } from 'node:worker_threads';

/**
 * Worker stdout/stderr reach the parent's, each line prefixed with the worker's slot. The
 * parent's process.stdout / process.stderr are read at the first line to write, not here: the
 * first read of either builds the stream (tty, net or fs modules: 3-8 ms), which would otherwise
 * sit on Runtime.start's path (docs/performance.md, start-up).
 */
export function attributeOutput(worker: Worker, w: number): void {
  const prefix = `[sluice worker ${w}] `;
  const pipe = (from: NodeJS.ReadableStream | null, target: () => NodeJS.WriteStream): void => {
    if (from === null) return;
    unrefStdio(from);
    let partial = '';
    from.setEncoding('utf8');
    from.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop()!;
      if (lines.length > 0) target().write(lines.map((l) => prefix + l + '\n').join(''));
    });
    from.on('end', () => { if (partial) target().write(prefix + partial + '\n'); });
  };
  pipe(worker.stdout, () => process.stdout);
  pipe(worker.stderr, () => process.stderr);
}

/**
 * With `stdout: true`, Node refs the worker's internal port as soon as the parent reads the
 * stream, until the worker exits: an idle runtime would keep the process alive whatever
 * worker.unref() says (§4.7). Node's own default stdio (no `stdout: true`) is piped with
 * that flag (kIncrementsPortRef) off; do the same. The flag is internal: if a Node version does
 * not have it, nothing changes (and test/lifecycle.test.ts fails).
 */
function unrefStdio(stream: NodeJS.ReadableStream): void {
  const flag = Object.getOwnPropertySymbols(stream).find((s) => s.description === 'kIncrementsPortRef');
  if (flag !== undefined) (stream as unknown as Record<symbol, unknown>)[flag] = false;
}
