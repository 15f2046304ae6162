#!/usr/bin/env node
// Builds the optional native addon (native/, Rust, raw N-API) into native/sluice-native.node.
//
// Runs from `npm ci` / `npm install` (the "prepare" script), so it must never fail the install:
// whatever goes wrong, it prints ONE warning line and exits 0, and the runtime runs unpinned
// (src/runtime/affinity.ts reports the addon as unavailable).
//
// How it builds:
//   - With @napi-rs/cli (a devDependency): `napi build --release --config napi.json
//     --cargo-flags=--offline .` in native/. The crate has no napi/napi-derive dependency; napi
//     build just runs `cargo build --release --offline` and copies target/release/
//     libsluice_native.so to native/sluice-native.node (no type-def/JS-binding files are
//     generated because the crate emits none). native/napi.json holds the napi config
//     ({ napi: { name: "sluice-native" } }) so the root package.json needs no "napi" field.
//   - Without @napi-rs/cli (e.g. an install that skips devDependencies) it does the same two
//     steps itself: `cargo build --release --offline` + copy. Same output path.
// The build is offline on purpose: the crate has zero dependencies.
//
// Skips (exit 0 with a warning): SLUICE_SKIP_NATIVE=1, not Linux, no cargo, build failure,
// or the built file does not load. The full build log is kept in native/target/sluice-build.log.

import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const nativeDir = join(root, 'native');
const outFile = join(nativeDir, 'sluice-native.node');
const logFile = join(nativeDir, 'target', 'sluice-build.log');
const require = createRequire(import.meta.url);

function skip(reason) {
  console.warn(`[sluice] native addon not built (${reason}): CPU pinning unavailable, runtime runs unpinned`);
  process.exit(0);
}

function run(cmd, args, cwd) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', env: process.env, maxBuffer: 64 * 1024 * 1024 });
  return { ok: r.status === 0 && !r.error, error: r.error, status: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

function writeLog(text) {
  try {
    mkdirSync(dirname(logFile), { recursive: true });
    writeFileSync(logFile, text);
    return relative(root, logFile);
  } catch {
    return null;
  }
}

function firstErrorLine(out) {
  const line = out.split('\n').map((l) => l.trim()).find((l) => /^error(\[|:)/.test(l));
  return line ? line.slice(0, 160) : null;
}

if (process.env.SLUICE_SKIP_NATIVE === '1') skip('SLUICE_SKIP_NATIVE=1');
if (process.platform !== 'linux') skip(`platform ${process.platform} is not supported, Linux only`);
if (!existsSync(join(nativeDir, 'Cargo.toml'))) skip('native/Cargo.toml missing');
const cargoVersion = run('cargo', ['--version'], root);
if (!cargoVersion.ok) skip('cargo not found');

let napiCli = null;
try {
  napiCli = join(dirname(require.resolve('@napi-rs/cli/package.json')), 'scripts', 'index.js');
  if (!existsSync(napiCli) || !existsSync(join(nativeDir, 'napi.json'))) napiCli = null;
} catch {
  napiCli = null;
}

let build;
let how;
if (napiCli) {
  how = 'napi build';
  build = run(process.execPath, [napiCli, 'build', '--release', '--config', 'napi.json', '--cargo-flags=--offline', '.'], nativeDir);
} else {
  // Fallback: @napi-rs/cli is a devDependency and is absent from production installs; its build
  // step is exactly cargo build + copy for this dependency-free crate, so do that directly.
  how = 'cargo build';
  build = run('cargo', ['build', '--release', '--offline'], nativeDir);
  if (build.ok) {
    const targetDir = process.env.CARGO_TARGET_DIR || join(nativeDir, 'target');
    const tmp = `${outFile}.tmp-${process.pid}`;
    try {
      copyFileSync(join(targetDir, 'release', 'libsluice_native.so'), tmp);
      renameSync(tmp, outFile); // atomic: a process that has the old file mapped keeps it
    } catch (err) {
      build = { ok: false, out: `${build.out}\ncopy failed: ${err.message}` };
    }
  }
}

const log = writeLog(`$ ${how}\n${cargoVersion.out}\n${build.out}`);
if (!build.ok || !existsSync(outFile)) {
  const detail = build.error?.message ?? firstErrorLine(build.out) ?? `exit ${build.status}`;
  skip(`${how} failed: ${detail}${log ? `; log: ${log}` : ''}`);
}

// Smoke test: the file must load and answer before we call the build a success.
try {
  const addon = require(outFile);
  if (!Array.isArray(addon.getAffinity())) throw new Error('getAffinity() did not return an array');
} catch (err) {
  skip(`built file does not load: ${err.message.split('\n')[0]}`);
}

console.log(`[sluice] native addon built (${how}): ${relative(root, outFile)}`);
