// I/O calibration (src/io/calibrate.ts, `sluice/io`; the command: src/cli/calibrate-io.ts) on a
// temporary directory with small sizes: the result's structure, the levels (1, 2, 4, ... max),
// the recommendation is one of them and follows the knee rule, every file is removed (also on
// abort and on error), bad input is refused, and the command's output and exit statuses. No
// timing thresholds: what is measured is only checked for shape and consistency.
import { mkdtempSync, readdirSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { AbortedError, ConfigError } from '../../src/index.js';
import { calibrateIo, formatCalibration, type IoLevel } from '../../src/io/index.js';
import { knee, levelsUpTo } from '../../src/io/calibrate.js';
import { calibrateIoCommand } from '../../src/cli/calibrate-io.js';
import { main } from '../../src/cli/sluice.js';
import { spawn } from 'node:child_process';

const root = fileURLToPath(new URL('../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'sluice-calio-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function capture(): { io: { out: (s: string) => void; err: (s: string) => void }; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (s) => out.push(s), err: (s) => err.push(s) }, out, err };
}

describe('calibrateIo', () => {
  it('measures each level 1, 2, 4, ... max, recommends one of them by the knee rule, and removes its files', async () => {
    const seen: number[] = [];
    const r = await calibrateIo(dir, { bytes: 512, maxConcurrency: 5, durationMs: 15, onLevel: (l, i, n) => { seen.push(l.concurrency); expect(n).toBe(4); expect(i).toBe(seen.length - 1); } });
    expect(r.levels.map((l) => l.concurrency)).toEqual([1, 2, 4, 5]);
    expect(seen).toEqual([1, 2, 4, 5]);
    expect(r.bytes).toBe(512);
    expect(r.durationMs).toBe(15);
    expect(r.dir).toBe(dir);
    expect(r.poolSize).toBeGreaterThanOrEqual(1);
    for (const l of r.levels) {
      expect(l.ops).toBeGreaterThanOrEqual(l.concurrency); // every writer completes at least one write
      expect(l.seconds).toBeGreaterThan(0);
      expect(l.opsPerSec).toBeCloseTo(l.ops / l.seconds, 6);
      expect(l.mbPerSec).toBeCloseTo((l.ops * 512) / l.seconds / 1e6, 6);
      const { p50, p95, p99, max, mean } = l.latencyMs;
      expect(p50).toBeGreaterThan(0);
      expect(p50 <= p95 && p95 <= p99 && p99 <= max).toBe(true);
      expect(mean).toBeLessThanOrEqual(max);
      expect(l.littleConcurrency).toBeCloseTo(l.opsPerSec * (mean / 1000), 6);
    }
    expect(r.levels.map((l) => l.concurrency)).toContain(r.recommended);
    expect(r.recommended).toBe(knee(r.levels));
    expect(readdirSync(dir)).toEqual([]); // its subdirectory is gone
    const table = formatCalibration(r);
    expect(table[1]).toMatch(/conc.*ops\/s.*MB\/s.*p50 ms.*p95 ms.*p99 ms/);
    expect(table.filter((l) => l.includes('<- knee'))).toHaveLength(1);
    expect(table.some((l) => l.startsWith(`recommended limit: ${r.recommended} `))).toBe(true);
  });

  it('the knee: the smallest level within 5% of the best throughput (property)', () => {
    fc.assert(fc.property(fc.array(fc.double({ min: 0.001, max: 1e4, noNaN: true }), { minLength: 1, maxLength: 11 }), (mbs) => {
      const levels = mbs.map((mbPerSec, i) => ({ concurrency: 2 ** i, mbPerSec }));
      const k = knee(levels);
      const best = Math.max(...mbs);
      const at = levels.findIndex((l) => l.concurrency === k);
      expect(mbs[at]!).toBeGreaterThanOrEqual(0.95 * best);
      for (let i = 0; i < at; i++) expect(mbs[i]!).toBeLessThan(0.95 * best);
    }));
    expect(levelsUpTo(1)).toEqual([1]);
    expect(levelsUpTo(8)).toEqual([1, 2, 4, 8]);
    expect(levelsUpTo(12)).toEqual([1, 2, 4, 8, 12]);
  });

  it('an abort stops it, removes its files and rejects with AbortedError', async () => {
    const ac = new AbortController();
    const p = calibrateIo(dir, { bytes: 256, maxConcurrency: 2, durationMs: 60_000, onLevel: () => undefined, signal: ac.signal });
    // Abort once its subdirectory exists (it is writing).
    while (readdirSync(dir).length === 0) await new Promise((r) => setImmediate(r));
    ac.abort(new Error('stop'));
    await expect(p).rejects.toBeInstanceOf(AbortedError);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('an onLevel that throws ends it with that error, files removed', async () => {
    const boom = new Error('boom');
    await expect(calibrateIo(dir, { bytes: 64, maxConcurrency: 2, durationMs: 1, onLevel: () => { throw boom; } })).rejects.toBe(boom);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('bad input is a ConfigError with nothing written', async () => {
    const file = join(dir, '..', `sluice-calio-file-${process.pid}`);
    writeFileSync(file, 'x');
    try {
      const bad: [unknown, unknown][] = [
        [join(dir, 'missing'), undefined], [file, undefined], ['', undefined], [42, undefined], [null, undefined],
        [dir, { bytes: 0 }], [dir, { bytes: 1.5 }], [dir, { bytes: 2 ** 30 + 1 }], [dir, { maxConcurrency: 0 }], [dir, { maxConcurrency: 1025 }],
        [dir, { durationMs: NaN }], [dir, { durationMs: -1 }], [dir, { onLevel: 'x' }], [dir, { signal: {} }], [dir, { bogus: 1 }], [dir, null],
        [dir, { get bytes(): number { throw new Error('getter'); } }],
      ];
      for (const [i, [d, o]] of bad.entries()) {
        await expect(calibrateIo(d as string, o as never), `case ${i}`).rejects.toBeInstanceOf(ConfigError);
      }
      expect(readdirSync(dir)).toEqual([]);
    } finally {
      rmSync(file, { force: true });
    }
  });
});

describe('sluice calibrate-io', () => {
  it('prints progress (stderr), then the table and the recommendation (stdout); exit 0', async () => {
    const c = capture();
    const progress: string[] = [];
    expect(await calibrateIoCommand([dir, '--bytes', '256', '--max-concurrency', '4', '--duration', '0.01'], c.io, (s) => progress.push(s))).toBe(0);
    expect(progress).toHaveLength(3);
    expect(progress[2]).toMatch(/^calibrate-io: level 3\/3: concurrency 4: \d+ writes/);
    expect(c.out.some((l) => /^recommended limit: [124] /.test(l))).toBe(true);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('usage errors exit 2 with the usage: no DIR, a missing DIR, an unknown option, a bad number', async () => {
    for (const args of [[], [join(dir, 'nope')], [dir, '--fast'], [dir, '--bytes', 'ten'], [dir, '--bytes', '0'], [dir, '--duration', '-1'], [dir, dir], [dir, '--bytes']]) {
      const c = capture();
      expect(await calibrateIoCommand(args, c.io), JSON.stringify(args)).toBe(2);
      expect(c.err.join('\n')).toContain('usage: sluice calibrate-io DIR');
    }
  });

  it('is a command of `sluice` (main), listed in its usage', async () => {
    const c = capture();
    expect(await main(['calibrate-io', '--help'], c.io)).toBe(0);
    expect(c.out[0]).toContain('usage: sluice calibrate-io DIR');
    const m = capture();
    expect(await main(['--help'], m.io)).toBe(0);
    expect(m.out[0]).toContain('calibrate-io DIR');
  });

  it('Ctrl-C (SIGINT) stops it: exit 130, its files removed', async () => {
    const d = mkdtempSync(join(tmpdir(), 'sluice-calio-int-'));
    try {
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/sluice.ts', 'calibrate-io', d, '--bytes', '256', '--max-concurrency', '2', '--duration', '60'], {
        cwd: root, stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (x: string) => { stderr += x; });
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      // Interrupt once it is writing (its subdirectory exists).
      while (readdirSync(d).length === 0) await new Promise((r) => setTimeout(r, 5));
      child.kill('SIGINT');
      expect(await exited).toBe(130);
      expect(stderr).toContain('interrupted; its files were removed');
      expect(readdirSync(d)).toEqual([]);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('the runtime never loads it', () => {
  it('no file of the core (shm, admission, runtime) nor the main entry imports src/io', () => {
    const walk = (d: string): string[] => readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(d, e.name)) : [join(d, e.name)]));
    const core = ['shm', 'admission', 'runtime'].flatMap((d) => walk(join(root, 'src', d))).concat(join(root, 'src', 'index.ts'));
    for (const f of core) expect(readFileSync(f, 'utf8'), f).not.toMatch(/from '(\.\.\/)+io\//);
  });
});
