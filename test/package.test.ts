// The npm package as a user gets it (issue 19 item 1): `npm pack` the repository (its prepack builds
// the prebuilt native addon, its prepare dist/), install the tarball offline into a scratch
// project, and run a runtime there through the public API. Also the install without a prebuilt for
// the platform and without cargo: it must still install and run (unpinned) and say, in one line and
// in rt.affinity.reason, a command that works from the user's project; that command then works.
//
// Slow-ish (npm pack runs cargo and tsc; two installs; one cargo build): ~30-60 s here.
import { spawnSync } from 'node:child_process';
import { runChild, type ChildResult } from './helpers/child.js';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCpuList, platformTriple } from '../src/runtime/native/affinity.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const linux = process.platform === 'linux';
const glibc = linux && Boolean((process.report.getReport() as { header: { glibcVersionRuntime?: string } }).header.glibcVersionRuntime);
const triple = platformTriple();
const hasCargo = spawnSync('cargo', ['--version']).status === 0;
const TIMEOUT = 300_000;

/** The environment without the outer npm's lifecycle/config variables and the runtime's switches. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('npm_') || k === 'NODE_OPTIONS' || k.startsWith('SLUICE_')) continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

/** PATH without any directory that holds a cargo executable. */
function pathWithoutCargo(): string {
  return (process.env.PATH ?? '').split(delimiter).filter((d) => d !== '' && !existsSync(join(d, 'cargo'))).join(delimiter);
}

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<ChildResult> {
  return runChild(cmd, args, { cwd, env, timeout: TIMEOUT });
}

function expectOk(r: ChildResult, what: string): void {
  expect(r.error, what).toBeUndefined();
  expect(r.status, `${what}\n${r.stdout}\n${r.stderr}`).toBe(0);
}

/** The lines our scripts print (install warning, build notice). */
function sluiceLines(r: ChildResult): string[] {
  return `${r.stdout}\n${r.stderr}`.split('\n').filter((l) => l.startsWith('[sluice]'));
}

const TASKS = 'export function add({ a, b }) { return a + b; }\n';
const SCRIPT = `import { Runtime } from 'sluice';
const rt = await Runtime.start({ tasks: new URL('./tasks.mjs', import.meta.url), workers: 2 });
try {
  await rt.allWorkersReady(); // start resolves on the first ready worker; the pinning report needs both
  const result = await rt.run('add', { a: 2, b: 3 });
  const workers = rt.stats().workers.map((w) => ({ tid: w.tid, cpus: w.cpus }));
  process.stdout.write(JSON.stringify({ result, affinity: rt.affinity, workers }));
} finally {
  await rt.close();
}
`;

interface Report {
  result: number;
  affinity: { available: boolean; pinned: boolean; reason: string | null };
  workers: { tid: number; cpus: number[] | null }[];
}

describe.skipIf(!linux)('the npm package (pack, install offline into a scratch project, run)', () => {
  let dir = '';
  let tarball = '';
  let files: string[] = [];
  let packOutput = '';

  /** A scratch project (type module) with the tarball installed offline; returns its directory. */
  async function scratch(name: string, tgz: string, env: NodeJS.ProcessEnv): Promise<{ app: string; install: ChildResult }> {
    const app = join(dir, name);
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name, private: true, type: 'module' }));
    writeFileSync(join(app, 'tasks.mjs'), TASKS);
    writeFileSync(join(app, 'run.mjs'), SCRIPT);
    const install = await run('npm', ['install', tgz, '--offline', '--no-audit', '--no-fund', '--foreground-scripts', '--cache', join(dir, 'npm-cache')], app, env);
    expectOk(install, `npm install in ${name}`);
    return { app, install };
  }

  async function runScript(app: string, env: NodeJS.ProcessEnv): Promise<Report> {
    const r = await run(process.execPath, ['run.mjs'], app, env);
    expectOk(r, `node run.mjs in ${app}`);
    return JSON.parse(r.stdout) as Report;
  }

  // `npm pack` builds the prebuilt into the checkout's native/ (prepack), where the loader prefers
  // it to a local build: a stale one would shadow `npm run build:native` later. So a prebuilt this
  // test made is taken out again; one that was there before is left as it was.
  const prebuilt = join(root, 'native', `sluice-native.${triple}.node`);
  let prebuiltBefore = true;

  beforeAll(async () => {
    prebuiltBefore = existsSync(prebuilt);
    dir = mkdtempSync(join(tmpdir(), 'sluice-package-'));
    // Without cargo this machine cannot build the prebuilt: pack the way a dev pack would.
    const env = cleanEnv(hasCargo ? {} : { SLUICE_PACK_WITHOUT_NATIVE: '1' });
    const r = await run('npm', ['pack', '--json', '--pack-destination', dir], root, env);
    expectOk(r, 'npm pack');
    packOutput = `${r.stdout}\n${r.stderr}`;
    // The scripts' own lines come first on stdout; the JSON array starts on a line of its own.
    const start = r.stdout.search(/^\[$/m);
    const [info] = JSON.parse(r.stdout.slice(start)) as [{ filename: string; files: { path: string }[] }];
    files = info.files.map((f) => f.path);
    tarball = join(dir, info.filename);
  }, TIMEOUT);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (!prebuiltBefore) rmSync(prebuilt, { force: true });
  });

  it('the tarball: the prebuilt for this platform, dist/, the crate sources, the build script and the docs; no tests, benchmarks or sources', async () => {
    if (process.arch === 'x64' && glibc) expect(triple).toBe('linux-x64-gnu');
    expect(existsSync(tarball)).toBe(true);
    const expected = [
      'package.json', 'README.md', 'LICENSE', 'CHANGELOG.md', 'docs/api.md',
      'dist/index.js', 'dist/index.d.ts', 'dist/task.js', 'dist/io/index.js', 'dist/observe/index.js', 'dist/runtime/worker/main.js',
      'native/Cargo.toml', 'native/src/lib.rs', 'scripts/build-native.mjs',
    ];
    if (hasCargo) expected.push(`native/sluice-native.${triple}.node`);
    expect(files).toEqual(expect.arrayContaining(expected));
    expect(files.filter((f) => /^(test|bench|src|examples|\.ci|node_modules)\//.test(f))).toEqual([]);
    // docs/ ships its markdown only (test/package-links.test.ts: every link in it resolves in the package).
    expect(files.filter((f) => f.startsWith('docs/') && !f.endsWith('.md'))).toEqual([]);
    // The `sluice` command (package.json "bin") and the demo it runs ship built in dist/cli; the
    // library's index names neither (test/types.test.ts).
    expect(files).toEqual(expect.arrayContaining(['dist/cli/sluice.js', 'dist/cli/demo/demo-tasks.mjs', 'dist/cli/demo/guard-tasks.mjs']));
    // The code is bundled (scripts/build.mjs): entry points and shared chunks, no module per source file.
    expect(files.some((f) => /^dist\/chunks\/chunk-\w+\.js$/.test(f))).toBe(true);
    expect(files.filter((f) => /^dist\/(runtime\/runtime|shm\/layout|runtime\/native\/affinity)\.js$/.test(f))).toEqual([]);
    expect(files.filter((f) => /^dist\/demo\//.test(f))).toEqual([]);
    // Only the platform-named prebuilt ships: not the packer's local build, not cargo's target dir.
    expect(files.filter((f) => f.startsWith('native/') && f.endsWith('.node'))).toEqual(hasCargo ? [`native/sluice-native.${triple}.node`] : []);
    expect(files.filter((f) => f.startsWith('native/target/'))).toEqual([]);
    expect(files.filter((f) => f.startsWith('scripts/'))).toEqual(['scripts/build-native.mjs']);
    if (hasCargo) expect(packOutput).toContain(`native/sluice-native.${triple}.node`); // prepack built it
  });

  it.skipIf(!hasCargo)('installs offline and runs pinned on the prebuilt: nothing built or compiled at install', async () => {
    const { app, install } = await scratch('app', tarball, cleanEnv());
    const pkg = join(app, 'node_modules', 'sluice');
    // The prebuilt loaded in the install script's check, so it built nothing and said nothing.
    expect(sluiceLines(install)).toEqual([]);
    expect(readdirSync(join(pkg, 'native')).filter((f) => f.endsWith('.node'))).toEqual([`sluice-native.${triple}.node`]);
    // No devDependencies (tsc, @napi-rs/cli) arrive, and none are needed: prepare never ran.
    expect(existsSync(join(app, 'node_modules', 'typescript'))).toBe(false);
    expect(existsSync(join(app, 'node_modules', '@napi-rs'))).toBe(false);
    expect(JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')).scripts.install).toBe('node scripts/build-native.mjs --install');

    const out = await runScript(app, cleanEnv());
    expect(out.result).toBe(5);
    expect(out.affinity).toEqual({ available: true, pinned: true, reason: null });
    // The `sluice` command is installed as a bin: its help, through npm's link to it.
    const bin = await run(join(app, 'node_modules', '.bin', 'sluice'), ['--help'], app, cleanEnv());
    expectOk(bin, 'sluice --help');
    expect(bin.stdout).toMatch(/^usage: sluice <command> \[options\]/);
    expect(out.workers).toHaveLength(2);
    const allowed = parseCpuList(/^Cpus_allowed_list:\s*(\S+)/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]!);
    for (const w of out.workers) {
      expect(w.tid).toBeGreaterThan(0);
      expect(w.cpus).toHaveLength(1);
      expect(allowed).toContain(w.cpus![0]);
    }
    if (allowed.length >= 2) expect(out.workers[0]!.cpus).not.toEqual(out.workers[1]!.cpus);
  }, TIMEOUT);

  it('without a prebuilt for the platform and without cargo: installs (one warning line), runs unpinned saying why and what to run; that command then builds it', async () => {
    // The same package with the prebuilt taken out (as on a platform it was not built for).
    const unpacked = join(dir, 'unpacked');
    mkdirSync(unpacked);
    expectOk(await run('tar', ['-xzf', tarball, '-C', unpacked], dir, cleanEnv()), 'tar -x');
    rmSync(join(unpacked, 'package', 'native', `sluice-native.${triple}.node`), { force: true });
    const bare = join(dir, 'no-prebuilt.tgz');
    expectOk(await run('tar', ['-czf', bare, '-C', unpacked, 'package'], dir, cleanEnv()), 'tar -c');

    const noCargo = cleanEnv({ PATH: pathWithoutCargo() });
    expect((await run('cargo', ['--version'], dir, noCargo)).error).toBeDefined(); // really hidden
    const { app, install } = await scratch('app-no-addon', bare, noCargo);
    const pkg = join(app, 'node_modules', 'sluice');
    const lines = sluiceLines(install);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^\[sluice\] native addon not built \(cargo not found on PATH, and no prebuilt binary for linux-\S+ loads\): CPU pinning unavailable/);
    expect(lines[0]).toContain(`no prebuilt binary for ${triple} loads`);
    expect(lines[0]).toContain(`run in your project: npm rebuild sluice (or: node ${join(pkg, 'scripts', 'build-native.mjs')})`);
    expect(readdirSync(join(pkg, 'native')).filter((f) => f.endsWith('.node'))).toEqual([]);

    const out = await runScript(app, noCargo);
    expect(out.result).toBe(5);
    expect(out.affinity.available).toBe(false);
    expect(out.affinity.pinned).toBe(false);
    expect(out.affinity.reason).toContain(`no native addon for ${triple} (looked for ${join(pkg, 'native', `sluice-native.${triple}.node`)}`);
    expect(out.affinity.reason).toContain('run in your project: npm rebuild sluice');
    expect(out.workers).toEqual([{ tid: 0, cpus: null }, { tid: 0, cpus: null }]);

    if (!hasCargo) return;
    // The command the reason gives, run from the user's project with cargo on PATH: builds from the
    // shipped sources (offline; the install script, as on an install with cargo present).
    const rebuild = await run('npm', ['rebuild', 'sluice', '--offline', '--foreground-scripts', '--cache', join(dir, 'npm-cache')], app, cleanEnv());
    expectOk(rebuild, 'npm rebuild sluice');
    expect(sluiceLines(rebuild)).toEqual(['[sluice] native addon built (cargo build): native/sluice-native.node']);
    expect(readdirSync(join(pkg, 'native')).filter((f) => f.endsWith('.node') || f === 'target' || f.endsWith('.log'))).toEqual(['sluice-native.node']);
    const after = await runScript(app, cleanEnv());
    expect(after.result).toBe(5);
    expect(after.affinity).toEqual({ available: true, pinned: true, reason: null });
    for (const w of after.workers) expect(w.cpus).toHaveLength(1);
  }, TIMEOUT);

  it('issue 19 as a user meets it, from the installed tarball: typed task modules, error classes, piscina-style abort, retryAfterMs and a timed clear, an 8 MB value, resume/destroy, execArgv/env, sluice/task, the sluice command', async () => {
    const { app } = await scratch('app-adopt', tarball, cleanEnv());
    writeFileSync(join(app, 'errors.mjs'), 'export class QuotaError extends Error { constructor(m, retryAfter) { super(m); this.name = "QuotaError"; this.retryAfter = retryAfter; } }\n');
    writeFileSync(join(app, 'adopt-tasks.mjs'), [
      "import { QuotaError } from './errors.mjs';",
      "import { runtime } from 'sluice/task';",
      'export function hash(s) { let h = 0; for (const c of s) h = (h * 31 + c.charCodeAt(0)) | 0; return h; }',
      "export function quota() { throw new QuotaError('over quota', 7); }",
      'export function echo(b) { return b; }',
      'export function block(ms) { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms); return ms; }',
      'export function env() { return [process.execArgv, process.env.ADOPT_X ?? null]; }',
      "export async function parent(s) { return [await runtime.run('hash', s), runtime.current !== null]; }",
    ].join('\n'));
    // Types only (item 2): what the typed consumer compiles against.
    writeFileSync(join(app, 'adopt-tasks.d.mts'), [
      'export declare function hash(s: string): number;',
      'export declare function quota(): never;',
      'export declare function echo(b: Uint8Array): Uint8Array;',
      'export declare function block(ms: number): number;',
      'export declare function env(): [string[], string | null];',
      'export declare function parent(s: string): Promise<[number, boolean]>;',
    ].join('\n'));
    writeFileSync(join(app, 'typed.mts'), [
      "import { Runtime } from 'sluice';",
      "const rt = await Runtime.start<typeof import('./adopt-tasks.mjs')>({ tasks: new URL('./adopt-tasks.mjs', import.meta.url) });",
      "const n: number = await rt.run('hash', 'abc');",
      "// @ts-expect-error: no such task",
      "rt.task('hsah');",
      "// @ts-expect-error: the payload is a string",
      "await rt.run('hash', 42);",
      "// @ts-expect-error: the result is a number",
      "const s: string = await rt.run('hash', 'abc');",
      'void n; void s;',
    ].join('\n'));
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { strict: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', noEmit: true, skipLibCheck: false,
        types: ['node'], typeRoots: [join(root, 'node_modules', '@types')] },
      files: ['typed.mts'],
    }));
    expectOk(await run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], app, cleanEnv()), 'tsc on the typed consumer');
    writeFileSync(join(app, 'adopt.mjs'), `import { Runtime, RejectedError } from 'sluice';
import { QuotaError } from './errors.mjs';
const out = {};
const rt = await Runtime.start({ tasks: new URL('./adopt-tasks.mjs', import.meta.url), workers: 2, errors: [QuotaError],
  execArgv: ['--no-warnings'], env: { ...process.env, ADOPT_X: 'yes' }, globalSlots: 2 });
out.hash = await rt.run('hash', 'abc');
try { await rt.run('quota'); } catch (e) { out.quota = [e instanceof QuotaError, e.retryAfter]; }
out.env = await rt.run('env');
const big = new Uint8Array(8 * 1024 * 1024).fill(7);
const back = await rt.run('echo', big);
out.big = [back.length, back[back.length - 1]];
out.nested = await rt.run('parent', 'abc');
// Abort while waiting in rt.run: both slots are held, the third call waits, the abort rejects it at once.
const held = [rt.run('block', 300), rt.run('block', 300)];
const ac = new AbortController();
const waiting = rt.run('hash', 'x', { signal: ac.signal }).then(() => 'ran', (e) => e.name);
ac.abort();
out.abortWhileWaiting = await waiting;
await Promise.all(held);
const p = rt.producer('rated', { rate: 10, burst: 1 });
p.submit(rt.task('hash'), 'a');
const r = p.submit(rt.task('hash'), 'b');
out.rate = [r.admitted, r.reason, typeof r.retryAfterMs === 'number' && r.retryAfterMs >= 1];
out.clear = await new Promise((res) => p.on('clear', () => res(true)));
await rt.drain();
rt.resume();
out.resumed = await rt.run('hash', 'abc');
const doomed = rt.run('block', 60000).then(() => 'ran', (e) => e.name); // destroy does not wait the 60 s out
await rt.destroy();
out.destroyed = await doomed;
console.log(JSON.stringify(out));
`);
    const r = await run(process.execPath, ['adopt.mjs'], app, cleanEnv());
    expectOk(r, 'node adopt.mjs');
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
    expect(out.hash).toBe(96354);
    expect(out.quota).toEqual([true, 7]);
    expect(out.env).toEqual([['--no-warnings'], 'yes']);
    expect(out.big).toEqual([8 * 1024 * 1024, 7]);
    expect(out.nested).toEqual([96354, true]);
    expect(out.abortWhileWaiting).toBe('AbortError');
    expect(out.rate).toEqual([false, 'rate', true]);
    expect(out.clear).toBe(true);
    expect(out.resumed).toBe(96354);
    expect(['AbandonedError', 'RetractedError']).toContain(out.destroyed); // running or still queued: never ran to the end
  }, TIMEOUT);

  it('prepack fails loudly when it cannot build the prebuilt; SLUICE_PACK_WITHOUT_NATIVE=1 opts out with one line', async () => {
    // A copy of the script and crate manifest, so the opt-out's clean-up touches no real build output.
    const copy = join(dir, 'prepack-copy');
    mkdirSync(join(copy, 'scripts'), { recursive: true });
    mkdirSync(join(copy, 'native'));
    const script = join(copy, 'scripts', 'build-native.mjs');
    writeFileSync(script, readFileSync(join(root, 'scripts', 'build-native.mjs')));
    writeFileSync(join(copy, 'native', 'Cargo.toml'), readFileSync(join(root, 'native', 'Cargo.toml')));
    const stale = join(copy, 'native', `sluice-native.${triple}.node`);
    writeFileSync(stale, 'left from an earlier build');
    const noCargo = cleanEnv({ PATH: pathWithoutCargo() });
    const fail = await run(process.execPath, [script, '--prebuilt'], copy, noCargo);
    expect(fail.status).toBe(1);
    expect(fail.stderr).toContain(`cannot build the prebuilt native addon native/sluice-native.${triple}.node: cargo not found`);
    expect(fail.stderr).toContain('SLUICE_PACK_WITHOUT_NATIVE=1');
    const dev = await run(process.execPath, [script, '--prebuilt'], copy, { ...noCargo, SLUICE_PACK_WITHOUT_NATIVE: '1' });
    expect(dev.status).toBe(0);
    expect(sluiceLines(dev)).toEqual([
      `[sluice] packing WITHOUT the prebuilt native addon for ${triple} (SLUICE_PACK_WITHOUT_NATIVE=1): cargo not found; ` +
        `removed the stale native/sluice-native.${triple}.node`,
    ]);
    expect(existsSync(stale)).toBe(false); // a binary that may not match the sources does not ship
    // In the repository the install script leaves the build to prepare (npm ci works as before).
    const inRepo = await run(process.execPath, [join(root, 'scripts', 'build-native.mjs'), '--install'], root, noCargo);
    expect(inRepo.status).toBe(0);
    expect(`${inRepo.stdout}${inRepo.stderr}`).toBe('');
  });
});
