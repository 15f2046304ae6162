/**
 * The Guard House demo (`npm run demo:guard`, `sluice demo guard`): three task functions on one
 * runtime; halfway through, `flaky` starts failing. Its breaker opens and its calls are rejected
 * 'quarantined' at admission (no worker time spent on them) while `resize` and `checksum` run on
 * untouched; the failed call that tripped it (and any that failed under the open breaker) is
 * kept in the quarantine with its arguments. When `flaky` is healthy again, the cool-down passes,
 * half-open probes succeed and the breaker closes. Prints the Guard House table once a second,
 * then the quarantine and the checks.
 */
import { Runtime, type Rejection, type TaskStats } from '../../index.js';
import { packageFile } from '../../package-root.js';

/** `--duration <s>` (2..600, default 6). Throws an Error with the message to print. */
export function parseGuardDemoArgs(args: readonly string[]): number {
  let seconds = 6;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const v = a.startsWith('--duration=') ? a.slice(11) : a === '--duration' ? args[++i] : undefined;
    if (v === undefined) throw new Error(`unexpected argument '${a}'`);
    if (!/^\d{1,3}$/.test(v) || Number(v) < 2 || Number(v) > 600) throw new Error(`--duration must be an integer from 2 to 600; got '${v}'`);
    seconds = Number(v);
  }
  return seconds;
}

/** The Guard House table: one row per task function (health and breaker), for a terminal. */
export function guardTable(tasks: readonly TaskStats[], nowMs: number): string[] {
  const head = ['task', 'calls', 'ok', 'failed', 'success', 'health', 'mean µs', 'max µs', 'breaker', 'for', 'why'];
  const rows = tasks.map((t) => {
    const b = t.breaker;
    return [
      t.name, String(t.calls), String(t.outcomes.fulfilled), String(t.outcomes.rejected + t.outcomes.abandoned),
      t.successRate === null ? '-' : `${(t.successRate * 100).toFixed(1)}%`, t.health.toUpperCase(),
      t.runTime.meanUs === null ? '-' : t.runTime.meanUs.toFixed(0), String(t.runTime.maxUs),
      b === null ? 'no guard' : b.state === 'half-open' ? `half-open ${b.probesInFlight}+${b.probesSucceeded}/${b.config?.probes ?? '?'}` : b.state,
      b === null ? '' : `${((nowMs - b.since) / 1000).toFixed(1)}s`, b === null || b.state === 'closed' ? '' : b.why,
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [head, ...rows].map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
}

/** Run the demo for `seconds`, printing through `out`. True when every check passed. */
export async function runGuardDemo(seconds: number, out: (s: string) => void = (s) => process.stdout.write(`${s}\n`)): Promise<boolean> {
  const flag = new Int32Array(new SharedArrayBuffer(4));
  const rt = await Runtime.start({ tasks: packageFile('cli/demo/guard-tasks.mjs'), workers: 2, taskData: { flaky: flag } });
  const t0 = Date.now();
  let sawOpen = false;
  let healthyRejected = 0;
  let quarantinedRefusals = 0;
  let lastRefusal: { since: number; why: string; breaker: string } | null = null;
  const clockMs = (): number => Math.floor((rt as unknown as { clock: { now(): number } }).clock.now() / 1000);
  try {
    const flaky = rt.task('flaky', { guard: { minVolume: 10, failureRatio: 0.5, windowMs: 2000, coolDownMs: 1000, probes: 3 } });
    const resize = rt.task('resize');
    const checksum = rt.task('checksum');
    const app = rt.producer('app', { slots: 64 });
    const badFrom = seconds * 1000 / 3;
    const badUntil = seconds * 2000 / 3;
    out(`Guard House demo: ${seconds}s; 'flaky' fails from ${(badFrom / 1000).toFixed(1)}s to ${(badUntil / 1000).toFixed(1)}s; its guard: 10 calls, 50% failed in 2s trips it, 1s cool-down, 3 probes`);
    let n = 0;
    let nextPrint = 1000;
    const pending = new Set<Promise<unknown>>();
    for (;;) {
      const elapsed = Date.now() - t0;
      if (elapsed >= seconds * 1000) break;
      Atomics.store(flag, 0, elapsed >= badFrom && elapsed < badUntil ? 1 : 0);
      for (const task of [resize, checksum, flaky]) {
        const a = app.submit(task, n++);
        if (a.admitted) {
          const p = a.then(() => undefined, () => undefined);
          pending.add(p);
          void p.then(() => pending.delete(p));
        } else if (a.reason === 'quarantined') {
          quarantinedRefusals++;
          const r = a as Rejection;
          lastRefusal = { since: r.since!, why: r.why!, breaker: r.breaker! };
        } else if (task !== flaky) healthyRejected += a.reason === 'producer-slots' ? 0 : 1;
      }
      const st = rt.guard.state('flaky');
      if (st !== null && st.state === 'open') sawOpen = true;
      if (elapsed >= nextPrint) {
        nextPrint += 1000;
        out('');
        out(`t=${(elapsed / 1000).toFixed(1)}s  flaky is ${elapsed >= badFrom && elapsed < badUntil ? 'FAILING' : 'healthy'}`);
        for (const line of guardTable(rt.stats().tasks, clockMs())) out(`  ${line}`);
      }
      await new Promise((r) => setTimeout(r, 2));
    }
    await Promise.all(pending);
    // After the spell: keep calling flaky (healthy now) until its breaker has closed again.
    for (let i = 0; i < 500 && rt.guard.state('flaky')!.state !== 'closed'; i++) {
      const a = app.submit(flaky, n++);
      if (a.admitted) await a.then(() => undefined, () => undefined);
      else await new Promise((r) => setTimeout(r, 10));
    }
    const tasks = rt.stats().tasks;
    out('');
    out('final:');
    for (const line of guardTable(tasks, clockMs())) out(`  ${line}`);
    if (lastRefusal !== null) out(`\na 'quarantined' rejection looks like: { admitted: false, reason: 'quarantined', task: 'flaky', breaker: '${lastRefusal.breaker}', since: ${lastRefusal.since}, why: '${lastRefusal.why}' }`);
    const q = rt.quarantine.list();
    out(`\nquarantine: ${q.length} call(s) kept${rt.quarantine.dropped > 0 ? `, ${rt.quarantine.dropped} dropped` : ''}; the first:`);
    for (const e of q.slice(0, 5)) out(`  ${e.id}  ${e.task}(${JSON.stringify(e.payload)})  ${e.why}  ${e.error}`);
    let resubmitted = false;
    if (q.length > 0) {
      const a = rt.quarantine.resubmit(q[0]!.id);
      if (a.admitted) resubmitted = (await a) === q[0]!.payload;
      out(`resubmitted ${q[0]!.id}: ${resubmitted ? 'fulfilled' : 'not fulfilled'}`);
    }
    const by = (name: string): TaskStats => tasks.find((t) => t.name === name)!;
    const checks: [string, boolean][] = [
      ["flaky's breaker opened while it failed", sawOpen],
      ["flaky's calls were rejected 'quarantined' while it was open", quarantinedRefusals > 0],
      ['the healthy tasks were never refused for it, and every call of theirs fulfilled',
        healthyRejected === 0 && ['resize', 'checksum'].every((t) => by(t).outcomes.fulfilled === by(t).calls && by(t).health === 'excellent')],
      ["flaky's breaker closed again through half-open probes", rt.guard.state('flaky')!.state === 'closed'],
      ['the quarantine kept failed calls with their arguments, and one re-submitted fulfilled', q.length > 0 && resubmitted],
    ];
    out('');
    for (const [what, ok] of checks) out(`${ok ? 'ok  ' : 'FAIL'}  ${what}`);
    return checks.every(([, ok]) => ok);
  } finally {
    await rt.close();
  }
}

// `tsx src/cli/demo/guard.ts [--duration <s>]` (npm run demo:guard).
if (import.meta.url === `file://${process.argv[1]}`) {
  let seconds: number;
  try {
    seconds = parseGuardDemoArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(2);
  }
  runGuardDemo(seconds).then((ok) => { process.exitCode = ok ? 0 : 1; }, (err: unknown) => { process.stderr.write(`${String(err)}\n`); process.exitCode = 1; });
}
