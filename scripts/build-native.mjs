#!/usr/bin/env node
// Builds the optional native addon (native/, Rust, raw N-API, no crates). Three modes:
//
//   node scripts/build-native.mjs              the repository's `npm ci` ("prepare") and
//                                              `npm run build:native`: native/sluice-native.node.
//                                              Never fails: ONE warning line and exit 0 on any
//                                              problem; the runtime then runs unpinned.
//   node scripts/build-native.mjs --prebuilt   `npm pack` / `npm publish` ("prepack"): the binary
//                                              that ships in the package, named the napi-rs way:
//                                              native/sluice-native.<triple>.node (e.g.
//                                              linux-x64-gnu). FAILS LOUDLY (exit 1): a release
//                                              without it is the bug. SLUICE_PACK_WITHOUT_NATIVE=1
//                                              packs without it (dev packs; one warning line; a
//                                              stale prebuilt for this platform is removed).
//   node scripts/build-native.mjs --install    the published package's "install" script (runs on
//                                              `npm install sluice` and `npm rebuild sluice` in the
//                                              user's project). Nothing to do when the prebuilt
//                                              for this platform loads. Otherwise, with cargo on
//                                              PATH, builds native/sluice-native.node from the
//                                              shipped sources (offline). Never fails the install:
//                                              ONE warning line and exit 0. In a checkout of the
//                                              repository it does nothing ("prepare" builds).
//
// How it builds: with @napi-rs/cli (a devDependency, so only in the repository) `napi build
// --release --config napi.json --cargo-flags=--offline [--platform] .` in native/ (it runs cargo
// build and copies target/release/libsluice_native.so to the .node name; --platform adds the
// triple). Without it (the user's project: devDependencies are not installed) the same two steps
// by hand: `cargo build --release --offline` + copy. The crate has zero dependencies, so the build
// needs no network. In the repository the build log goes to native/target/sluice-build.log; in an
// installed package cargo uses a temporary target directory (removed afterwards) and the log, on
// failure only, goes to native/sluice-build.log.
//
// Skips (modes 1 and 3, exit 0 with a warning): SLUICE_SKIP_NATIVE=1, not Linux, no cargo, build
// failure, or the built file does not load.

import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const nativeDir = join(root, 'native');
const localFile = join(nativeDir, 'sluice-native.node');
const require = createRequire(import.meta.url);
const mode = process.argv.includes('--prebuilt') ? 'prebuilt' : process.argv.includes('--install') ? 'install' : 'local';
const checkout = existsSync(join(root, 'src', 'runtime', 'native', 'affinity.ts'));

/** Same as isMusl() in src/runtime/native/affinity.ts (napi-rs's way: ldd's text, then the process report). */
function isMusl() {
  if (process.platform !== 'linux') return false;
  try {
    return readFileSync('/usr/bin/ldd', 'utf8').includes('musl');
  } catch {
    // no ldd: ask the process report
  }
  try {
    const report = process.report?.getReport();
    if (report?.header?.glibcVersionRuntime) return false;
    return (report?.sharedObjects ?? []).some((f) => f.includes('libc.musl-') || f.includes('ld-musl-'));
  } catch {
    return false;
  }
}

/** Same as platformTriple() in src/runtime/native/affinity.ts: linux-x64-gnu, linux-arm64-musl, ... */
function platformTriple() {
  const { platform, arch } = process;
  if (platform === 'linux') {
    const libc = isMusl() ? 'musl' : 'gnu';
    return `linux-${arch}-${arch === 'arm' ? `${libc}eabihf` : libc}`;
  }
  if (platform === 'win32') return `win32-${arch}-msvc`;
  return `${platform}-${arch}`;
}

const triple = platformTriple();
const prebuiltFile = join(nativeDir, `sluice-native.${triple}.node`);
const outFile = mode === 'prebuilt' ? prebuiltFile : localFile;

/** A command that builds the addon from where the user is. */
const hint = checkout
  ? 'with cargo on PATH, run: npm run build:native'
  : `install cargo (https://rustup.rs), then run in your project: npm rebuild sluice (or: node ${join(root, 'scripts', 'build-native.mjs')})`;

/** --install: why the shipped prebuilt was not used although it is there (said in the one line). */
let prebuiltProblem = null;

function skip(reason) {
  if (prebuiltProblem) reason = `${prebuiltProblem}; ${reason}`;
  if (mode === 'prebuilt') {
    if (process.env.SLUICE_PACK_WITHOUT_NATIVE === '1') {
      // A prebuilt left from an earlier build would not match these sources: it does not ship either.
      let removed = '';
      if (existsSync(prebuiltFile)) {
        rmSync(prebuiltFile, { force: true });
        removed = `; removed the stale ${relative(root, prebuiltFile)}`;
      }
      console.warn(`[sluice] packing WITHOUT the prebuilt native addon for ${triple} (SLUICE_PACK_WITHOUT_NATIVE=1): ${reason}${removed}`);
      process.exit(0);
    }
    console.error(
      `[sluice] prepack: cannot build the prebuilt native addon ${relative(root, prebuiltFile)}: ${reason}\n` +
        '[sluice] a package without it gives npm users no CPU pinning; fix the build (cargo on PATH), ' +
        'or set SLUICE_PACK_WITHOUT_NATIVE=1 for a development pack',
    );
    process.exit(1);
  }
  console.warn(`[sluice] native addon not built (${reason}): CPU pinning unavailable, runtime runs unpinned; ${hint}`);
  process.exit(0);
}

function run(cmd, args, cwd, env = process.env) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', env, maxBuffer: 64 * 1024 * 1024 });
  return { ok: r.status === 0 && !r.error, error: r.error, status: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

function writeLog(file, text) {
  try {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, text);
    return relative(process.cwd(), file) || file;
  } catch {
    return null;
  }
}

function firstErrorLine(out) {
  const line = out.split('\n').map((l) => l.trim()).find((l) => /^error(\[|:)/.test(l));
  return line ? line.slice(0, 160) : null;
}

/** null when the file loads and answers, else why not. */
function loadError(file) {
  try {
    const addon = require(file);
    if (!Array.isArray(addon.getAffinity())) return 'getAffinity() did not return an array';
    return null;
  } catch (err) {
    return err.message.split('\n')[0];
  }
}

if (mode === 'install') {
  if (checkout) process.exit(0); // the repository's own install: "prepare" builds native + dist
  if (process.platform !== 'linux') skip(`platform ${process.platform} is not supported, Linux only`);
  if (existsSync(prebuiltFile)) {
    const why = loadError(prebuiltFile);
    if (why === null) process.exit(0); // the shipped binary works here: nothing to build
    // e.g. an older glibc than the build machine's: build from source (said in the one line below)
    prebuiltProblem = `the prebuilt for ${triple} does not load here: ${why}`;
  }
  if (process.env.SLUICE_SKIP_NATIVE === '1') skip('SLUICE_SKIP_NATIVE=1');
} else if (mode === 'local') {
  if (process.env.SLUICE_SKIP_NATIVE === '1') skip('SLUICE_SKIP_NATIVE=1');
}
if (process.platform !== 'linux') skip(`platform ${process.platform} is not supported, Linux only`);
if (!existsSync(join(nativeDir, 'Cargo.toml'))) skip('native/Cargo.toml missing');
const cargoVersion = run('cargo', ['--version'], root);
if (!cargoVersion.ok) skip(mode === 'install' ? `cargo not found on PATH, and no prebuilt binary for ${triple} loads` : 'cargo not found');

let napiCli = null;
if (checkout) {
  try {
    napiCli = join(dirname(require.resolve('@napi-rs/cli/package.json')), 'scripts', 'index.js');
    if (!existsSync(napiCli) || !existsSync(join(nativeDir, 'napi.json'))) napiCli = null;
  } catch {
    napiCli = null;
  }
}

// In an installed package (the user's node_modules) cargo builds in a temporary target directory
// (unless CARGO_TARGET_DIR says otherwise), so no build tree stays behind.
const tempTarget = !checkout && !process.env.CARGO_TARGET_DIR ? mkdtempSync(join(tmpdir(), 'sluice-native-')) : null;
const env = tempTarget ? { ...process.env, CARGO_TARGET_DIR: tempTarget } : process.env;
const targetDir = env.CARGO_TARGET_DIR || join(nativeDir, 'target');
const logFile = checkout ? join(nativeDir, 'target', 'sluice-build.log') : join(nativeDir, 'sluice-build.log');

let build;
let how;
if (napiCli) {
  how = 'napi build';
  const args = [napiCli, 'build', '--release', '--config', 'napi.json', '--cargo-flags=--offline'];
  if (mode === 'prebuilt') args.push('--platform');
  build = run(process.execPath, [...args, '.'], nativeDir, env);
} else {
  // @napi-rs/cli's build step is exactly cargo build + copy for this dependency-free crate.
  how = 'cargo build';
  build = run('cargo', ['build', '--release', '--offline'], nativeDir, env);
  if (build.ok) {
    const tmp = `${outFile}.tmp-${process.pid}`;
    try {
      copyFileSync(join(targetDir, 'release', 'libsluice_native.so'), tmp);
      renameSync(tmp, outFile); // atomic: a process that has the old file mapped keeps it
    } catch (err) {
      build = { ok: false, out: `${build.out}\ncopy failed: ${err.message}` };
    }
  }
}
if (tempTarget) rmSync(tempTarget, { recursive: true, force: true });

const logText = `$ ${how} (${mode}, ${triple})\n${cargoVersion.out}\n${build.out}`;
if (!build.ok || !existsSync(outFile)) {
  const log = writeLog(logFile, logText);
  const detail = build.error?.message ?? firstErrorLine(build.out) ?? `exit ${build.status}`;
  const named = mode === 'prebuilt' && build.ok ? `; ${how} did not produce ${relative(root, outFile)} (platform names differ?)` : '';
  skip(`${how} failed: ${detail}${named}${log ? `; log: ${log}` : ''}`);
}
if (checkout) writeLog(logFile, logText);

// Smoke test: the file must load and answer before we call the build a success.
const why = loadError(outFile);
if (why !== null) skip(`built file does not load: ${why}`);

console.log(`[sluice] native addon built (${how}): ${relative(root, outFile)}${prebuiltProblem ? ` (${prebuiltProblem})` : ''}`);
