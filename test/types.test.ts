/**
 * Issue 17, the public surface as a user's compiler sees it: the declarations are built fresh
 * (tsconfig.build.json, into a temporary directory: never racing the package test's dist/) and
 * test/types/consumer.ts is compiled against them with the strictest consumer settings
 * (test/types/tsconfig.json: "lib": ["ES2022"], skipLibCheck false, strict). The consumer names
 * every public type and holds `@ts-expect-error` lines for each internal that must not be
 * visible; the second case shows those lines bite (without stripInternal they fail).
 */
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
const dirs: string[] = [];
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

/** tsc, asynchronously (a synchronous spawn would hold this test worker's event loop for many seconds). */
function run(args: string[]): Promise<{ status: number | null; out: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [tsc, ...args], { cwd: root, encoding: 'utf8', timeout: 100_000 }, (err, stdout, stderr) => {
      const status = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
      resolve({ status, out: `${stdout}${stderr}` });
    });
  });
}

const consumers = [join(root, 'test', 'types', 'consumer.ts'), join(root, 'test', 'types', 'typed-consumer.ts')];

/** Build the declarations into a fresh directory (an ESM package, like the published one); returns the consumer's tsconfig. */
async function buildDeclarations(extra: string[] = [], files: string[] = consumers): Promise<{ dir: string; project: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-types-'));
  dirs.push(dir);
  const b = await run(['-p', 'tsconfig.build.json', '--outDir', join(dir, 'dist'), '--emitDeclarationOnly', '--sourceMap', 'false', ...extra]);
  expect(b.status, b.out).toBe(0);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'sluice-types-check', type: 'module' }));
  const project = join(dir, 'tsconfig.json');
  writeFileSync(project, JSON.stringify({
    extends: join(root, 'test', 'types', 'tsconfig.json'),
    compilerOptions: {
      paths: {
        sluice: [join(dir, 'dist', 'index.d.ts')], 'sluice/task': [join(dir, 'dist', 'task.d.ts')], 'sluice/io': [join(dir, 'dist', 'io', 'index.d.ts')],
        'sluice/observe': [join(dir, 'dist', 'observe', 'index.d.ts')],
        // sluice's own dependency (sluice/observe's declarations name its Registry), as an install would resolve it.
        'prom-client': [join(root, 'node_modules', 'prom-client', 'index.d.ts')],
      },
      typeRoots: [join(root, 'node_modules', '@types')],
    },
    files,
  }));
  return { dir, project };
}

describe('the published declarations (test/types)', () => {
  it('compile in a consumer with lib ES2022, skipLibCheck false and strict; every public type is exported; no internal is visible', async () => {
    const { dir, project } = await buildDeclarations();
    // The `sluice` command and its demo are built (dist/cli), but they are the command's, not the
    // library's: the index's declarations name nothing of them.
    expect(existsSync(join(dir, 'dist', 'cli', 'sluice.d.ts'))).toBe(true);
    expect(readFileSync(join(dir, 'dist', 'index.d.ts'), 'utf8')).not.toMatch(/cli\//);
    expect(existsSync(join(dir, 'dist', 'demo'))).toBe(false);
    const r = await run(['-p', project]);
    expect(r.out).toBe('');
    expect(r.status).toBe(0);
  });

  it("typed task modules: the typed consumer's refusals bite only because of the module type (without it they compile, and each directive is unused)", async () => {
    // typed-consumer.ts with `Runtime.start<Tasks>(` / `Runtime.attach<Tasks>(` made untyped, next to its tasks.ts.
    const dir = mkdtempSync(join(tmpdir(), 'sluice-typed-'));
    dirs.push(dir);
    const text = readFileSync(join(root, 'test', 'types', 'typed-consumer.ts'), 'utf8');
    const untyped = text.replace(/Runtime\.(start|attach)<Tasks>\(/g, 'Runtime.$1(');
    expect(untyped).not.toMatch(/Runtime\.(start|attach)<Tasks>/);
    expect(untyped).not.toBe(text);
    writeFileSync(join(dir, 'typed-consumer.ts'), untyped);
    copyFileSync(join(root, 'test', 'types', 'tasks.ts'), join(dir, 'tasks.ts'));
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'sluice-typed-check', type: 'module' }));
    const { project } = await buildDeclarations([], [join(dir, 'typed-consumer.ts')]);
    const r = await run(['-p', project]);
    expect(r.status).not.toBe(0);
    const unused = r.out.match(/typed-consumer\.ts\(\d+,\d+\): error TS2578/g) ?? [];
    // Every refusal of a name, payload, result or cast is the module type's doing: 16 of the 19
    // directives. The other three hold either way: a bad options key, a hand-written module type,
    // and a token's value assigned to a number (an untyped token's is unknown: refused too).
    expect(unused.length, r.out).toBe(16);
  });

  it("the consumer's @ts-expect-error lines bite: with the internals left in the declarations, it does not compile", async () => {
    const { project } = await buildDeclarations(['--stripInternal', 'false'], [consumers[0]!]);
    const r = await run(['-p', project]);
    expect(r.status).not.toBe(0);
    // Each leaked internal makes its directive unused (TS2578).
    expect(r.out).toMatch(/consumer\.ts\(\d+,\d+\): error TS2578: Unused '@ts-expect-error' directive/);
  });
});
