/**
 * The hostile-value property (issue 16, every containment class at once). fast-check generates
 * mixed workloads from the catalogue of test/helpers/hostile.ts -- tasks whose results or errors
 * cannot be read (throwing getters, Proxies, thenables that throw or settle twice, never-settling
 * promises under a deadline, functions, Symbols, values larger than spillBytes, Errors with
 * throwing getters, cause chains, cyclic causes, AggregateErrors), among normal tasks -- and
 * submits them from two main-thread producers and an attached thread, on tokens and on the
 * callback path, with 'saturated'/'clear' listeners, submitCallback callbacks and AbortSignal
 * listeners that throw. Real worker threads. Each run, on a fresh runtime, must show:
 *   - every admitted token resolves exactly once (each outcome recorded once; each callback called
 *     once), before a bound well past every deadline, with its entry's outcome where that is
 *     determined (e.g. a `then` getter that throws -> rejected; never settling -> abandoned);
 *   - no task body ran twice (executions counted in shared memory);
 *   - each user throw surfaced as exactly one uncaught exception, and nothing of sluice's did;
 *   - the books close: global inFlight 0; each producer inFlight 0 and admitted == resolved;
 *     no worker still counts an async task;
 *   - no worker is wedged: each still executes tasks afterwards;
 *   - close({ timeoutMs }) returns.
 * It runs in a child process (test/fixtures/hostile-run.ts) because the throws must become
 * uncaught exceptions, which that process counts.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { ALL_ENTRIES, AWAITING_FIX, ENTRY } from './helpers/hostile.js';

// Entries whose fix has not landed: AWAITING_FIX in test/helpers/hostile.ts (shared with the chaos
// run's mix). Left out of the two checks below, each run alone as it.fails. Empty today.
const fixture = fileURLToPath(new URL('./fixtures/hostile-run.ts', import.meta.url));

interface RunOutput {
  results: Array<{ name: string; failures: string[] }>; counterexample?: unknown; seed?: number;
  exercised: { throwsBy: Record<string, number>; outcomes: Record<string, number> };
}

function runChild(args: object): Promise<RunOutput> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', fixture], {
      env: { ...process.env, HOSTILE_ARGS: JSON.stringify(args) }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    child.once('error', reject);
    child.once('exit', (code) => {
      const line = out.trim().split('\n').pop() ?? '';
      try {
        resolve(JSON.parse(line) as RunOutput);
      } catch {
        reject(new Error(`hostile-run exited ${String(code)} without a summary:\n${out.slice(-2000)}\n${err.slice(-4000)}`));
      }
    });
  });
}

const seed = process.env.SLUICE_HOSTILE_SEED === undefined ? undefined : Number(process.env.SLUICE_HOSTILE_SEED);
const landed = ALL_ENTRIES.filter((e) => !(e in AWAITING_FIX));

describe('hostile values, listeners and callbacks never wedge, leak or hang (issue 16)', () => {
  it('mixed hostile workloads (fast-check, real workers, two producers + an attached thread): every token resolves once with its outcome, no body runs twice, each user throw is one uncaught exception, books close, no worker wedged, close returns', async () => {
    const out = await runChild({ mode: 'property', entries: landed, runs: 12, seed });
    const r = out.results[0]!;
    expect(r.failures, `seed ${out.seed} (SLUICE_HOSTILE_SEED replays); counterexample ${JSON.stringify(out.counterexample)}`).toEqual([]);
  }, 150_000);

  it('the whole catalogue in one run (every landed entry on each path it allows, both threads, throwing listeners and callbacks) holds every check', async () => {
    const out = await runChild({ mode: 'sweep', entries: landed });
    expect(out.results[0]!.failures).toEqual([]);
    // Not vacuous: every landed entry resolved at least once, and each kind of user throw happened.
    const seen = new Set(Object.keys(out.exercised.outcomes).map((k) => k.split(' ')[0]));
    expect(landed.filter((e) => ENTRY.has(e) && !seen.has(e))).toEqual([]);
    const places: Record<string, string> = { 'listener:saturated': 'saturated', 'listener:clear': 'clear', 'callback:throws': 'callback', 'abort:listener': 'abort' };
    for (const [entry, place] of Object.entries(places)) {
      if (landed.includes(entry)) expect(out.exercised.throwsBy[place], `${entry} never threw`).toBeGreaterThan(0);
    }
  }, 120_000);

  const awaiting = Object.keys(AWAITING_FIX);
  if (awaiting.length > 0) {
    describe('entries awaiting a containment fix (expected to fail until it lands)', () => {
      let results: Map<string, string[]>;
      beforeAll(async () => {
        const out = await runChild({ mode: 'entries', entries: awaiting, boundMs: 5_000 }); // these are expected to hang: a shorter bound
        results = new Map(out.results.map((r) => [r.name, r.failures]));
      }, 150_000);
      for (const entry of awaiting) {
        it.fails(`${entry} (${AWAITING_FIX[entry]})`, () => {
          expect(results.get(entry)).toEqual([]);
        });
      }
    });
  }
});
