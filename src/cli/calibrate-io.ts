/**
 * `sluice calibrate-io DIR [--bytes N] [--max-concurrency N] [--duration S]`: the storage
 * calibration of src/io/calibrate.ts from the command line. A progress line while it runs (on
 * stderr), the curve as a table and the recommended limit (stdout). Ctrl-C stops it and removes
 * its files. Exit status: 0 done, 1 an I/O error while measuring, 2 bad arguments (unknown
 * option, a bad number, DIR missing, not a directory or not writable), 130 interrupted.
 */
import { ConfigError, AbortedError } from '../errors.js';
import { calibrateIo, formatCalibration } from '../io/calibrate.js';

export const CALIBRATE_USAGE = `usage: sluice calibrate-io DIR [--bytes N] [--max-concurrency N] [--duration S]

Writes (and fsyncs) files in a fresh subdirectory of DIR at concurrency 1, 2, 4, ... up to
--max-concurrency, measures throughput and latency at each level, prints the curve and
recommends an I/O class limit: the smallest level within 5% of the best throughput (where
throughput stops growing; Little's law: concurrency = throughput x latency). Its files are
removed at the end, also on Ctrl-C or an error.
  --bytes N             bytes per write (default 262144)
  --max-concurrency N   the highest level (default 64)
  --duration S          seconds per level (default 2; decimals allowed)
The writes run on libuv's thread pool (UV_THREADPOOL_SIZE, default 4), as a task's fs calls do:
run it with a larger UV_THREADPOOL_SIZE to measure beyond that.
Exit status: 0 done, 1 an I/O error while measuring, 2 bad arguments, 130 interrupted.`;

interface Out { out: (s: string) => void; err: (s: string) => void }

function usage(io: Out, message: string): number {
  io.err(`sluice calibrate-io: ${message}\n\n${CALIBRATE_USAGE}`);
  return 2;
}

export async function calibrateIoCommand(args: readonly string[], io: Out, progress: (s: string) => void = (s) => io.err(s)): Promise<number> {
  if (args.some((a) => a === '--help' || a === '-h')) { io.out(CALIBRATE_USAGE); return 0; }
  let dir: string | undefined;
  const opts = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (!a.startsWith('--')) {
      if (dir !== undefined) return usage(io, `unexpected argument '${a}'`);
      dir = a;
      continue;
    }
    const eq = a.indexOf('=');
    const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
    if (!['bytes', 'max-concurrency', 'duration'].includes(name)) return usage(io, `unknown option '--${name}'`);
    const v = eq > 0 ? a.slice(eq + 1) : args[++i];
    if (v === undefined || v === '') return usage(io, `--${name} needs a value`);
    if (opts.has(name)) return usage(io, `--${name} given twice`);
    opts.set(name, v);
  }
  if (dir === undefined) return usage(io, 'a DIR is needed');
  const int = (name: string): number | undefined => {
    const s = opts.get(name);
    if (s === undefined) return undefined;
    if (!/^\d{1,10}$/.test(s)) throw new ConfigError(`--${name} must be a positive integer; got '${s}'`);
    return Number(s);
  };
  const ac = new AbortController();
  const onSigint = (): void => ac.abort(new Error('interrupted (SIGINT)'));
  process.once('SIGINT', onSigint);
  try {
    let durationMs: number | undefined;
    const d = opts.get('duration');
    if (d !== undefined) {
      if (!/^\d+(\.\d+)?$/.test(d) || Number(d) <= 0) throw new ConfigError(`--duration must be a positive number of seconds; got '${d}'`);
      durationMs = Math.max(1, Math.round(Number(d) * 1000));
    }
    const r = await calibrateIo(dir, {
      bytes: int('bytes'), maxConcurrency: int('max-concurrency'), durationMs, signal: ac.signal,
      onLevel: (l, i, n) => progress(`calibrate-io: level ${i + 1}/${n}: concurrency ${l.concurrency}: ${l.ops} writes, ${l.mbPerSec.toFixed(1)} MB/s, p99 ${l.latencyMs.p99.toFixed(2)} ms`),
    });
    for (const l of formatCalibration(r)) io.out(l);
    return 0;
  } catch (err) {
    if (err instanceof ConfigError) return usage(io, err.message.replace(/^calibrateIo: /, ''));
    if (err instanceof AbortedError) { io.err('sluice calibrate-io: interrupted; its files were removed'); return 130; }
    io.err(`sluice calibrate-io: ${(err as Error).message ?? String(err)}`);
    return 1;
  } finally {
    process.off('SIGINT', onSigint);
  }
}
