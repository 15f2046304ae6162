/**
 * Which exports are tasks, and what a task module that cannot be used says (issue 16, class 9):
 * the tasks are the function-valued named exports plus the function-valued own properties of a
 * default export that is a plain object (for CommonJS, module.exports); a module with no
 * function, or one that fails to import, rejects Runtime.start with a WorkerStartError that
 * names the module (and, for a syntax error, the line).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Runtime, WorkerStartError } from '../src/index.js';
import { execFileSync } from 'node:child_process';
import { runChild } from './helpers/child.js';

describe('task modules', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'sluice-modules-'));
    writeFileSync(join(dir, 'no-functions.mjs'), 'export const x = 1;\nexport default { y: 2 };\n');
    // The error is on line 4.
    writeFileSync(join(dir, 'syntax-error.mjs'), 'export function a() {}\n\n// line 3\nexport const b = ;\n');
    writeFileSync(join(dir, 'syntax-error.cjs'), 'exports.a = () => 1;\nexports.b = (;\n');
    writeFileSync(join(dir, 'throws.mjs'), 'export function a() {}\nthrow new RangeError("top-level failure");\n');
    writeFileSync(join(dir, 'conflict.mjs'), 'export function a() { return 1; }\nexport default { a: () => 2 };\n');
    writeFileSync(join(dir, 'both.mjs'), 'export function a(x) { return x; }\nexport default { a, b: () => "b" };\n');
  });
  const started: Runtime[] = [];
  afterAll(async () => { await Promise.all(started.map((r) => r.close())); });

  const startError = async (file: string, workers = 1): Promise<WorkerStartError> => {
    const err = await Runtime.start({ tasks: join(dir, file), workers, warmUp: false })
      .then((r) => { started.push(r); return null; }, (e: unknown) => e);
    expect(err).toBeInstanceOf(WorkerStartError);
    expect((err as WorkerStartError).code).toBe('ERR_SLUICE_WORKER_START');
    return err as WorkerStartError;
  };

  it('CommonJS module.exports = { a, b: () => ..., c, d() {} }: every function property is a task, in sorted order', async () => {
    const rt = await Runtime.start({ tasks: new URL('./fixtures/cjs-exports.cjs', import.meta.url), workers: 1, warmUp: false });
    started.push(rt);
    expect(rt.names).toEqual(['a', 'b', 'c', 'd']);
    expect(await rt.run('a', 1)).toBe(2);
    expect(await rt.run('b', 1)).toBe(0);
    expect(await rt.run('c', 3)).toBe(6);
    expect(await rt.run('d')).toBe('d');
  });

  it('an ES module whose default object repeats a named export (the same function) has each task once', async () => {
    const rt = await Runtime.start({ tasks: join(dir, 'both.mjs'), workers: 1, warmUp: false });
    started.push(rt);
    expect(rt.names).toEqual(['a', 'b']);
    expect(await rt.run('b')).toBe('b');
  });

  it('a name exported both ways as different functions is a WorkerStartError naming it', async () => {
    const err = await startError('conflict.mjs');
    expect(err.message).toMatch(/'a'/);
    expect(err.message).toContain('conflict.mjs');
  });

  it('a module with no functions is a WorkerStartError naming the module', async () => {
    const err = await startError('no-functions.mjs');
    expect(err.message).toContain('no-functions.mjs');
    expect(err.message).toMatch(/no functions/);
  });

  it('an ES module with a syntax error: the message names the file and the line', async () => {
    const err = await startError('syntax-error.mjs', 2);
    expect(err.message).toContain('syntax-error.mjs:4');
    expect(err.message).toMatch(/SyntaxError/);
    expect((err.cause as Error).name).toBe('SyntaxError');
  });

  it('a CommonJS module with a syntax error: the message names the file and the line', async () => {
    const err = await startError('syntax-error.cjs');
    expect(err.message).toContain('syntax-error.cjs:2');
  });

  it('a module that throws while loading: the message names the module, the error and where', async () => {
    const err = await startError('throws.mjs');
    expect(err.message).toContain('throws.mjs:2');
    expect(err.message).toMatch(/RangeError: top-level failure/);
    expect((err.cause as Error).stack).toMatch(/throws\.mjs/);
  });

  // A worker reads its module whole: a FIFO blocked it in read() for good (start failed at
  // startTimeoutMs and the process could not exit, terminate() does not reach a blocked read), and
  // /dev/zero read until memory ran out. In a child (its data capped), so that the code before this
  // ends in the child's timeout or abort, not in this test's process.
  it('a path that is not a regular file (a FIFO, a device, a directory) is a ConfigError at once, and the process exits', async () => {
    const fifo = join(dir, 'tasks.fifo');
    execFileSync('mkfifo', [fifo]);
    const code = `import { Runtime } from ${JSON.stringify(new URL('../src/index.ts', import.meta.url).href)};
      for (const tasks of ${JSON.stringify([fifo, '/dev/zero', dir])}) {
        try { await Runtime.start({ tasks, workers: 1, execArgv: [], startTimeoutMs: 10_000 }); console.log('started'); }
        catch (e) { console.log(e.name + ': ' + e.message); }
      }`;
    const r = await runChild('sh', ['-c', 'ulimit -d 2000000; exec "$0" --import tsx --input-type=module -e "$1"', process.execPath, code], { timeout: 60_000 });
    expect([r.status, r.signal], r.stderr).toEqual([0, null]);
    expect(r.stdout.trim().split('\n')).toEqual([
      `ConfigError: Runtime.start: tasks: ${fifo} is a FIFO, not a module file`,
      'ConfigError: Runtime.start: tasks: /dev/zero is a character device, not a module file',
      `ConfigError: Runtime.start: tasks: ${dir} is a directory, not a module file`,
    ]);
  });
});
