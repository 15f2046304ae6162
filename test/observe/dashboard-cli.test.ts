// `sluice dashboard` and `sluice top` as a user runs them (issue 22): the dashboard command in a
// child process (the demo's workload with the dashboard; it prints the URL, never the password,
// and stops cleanly on SIGINT), `sluice top URL --once` reading one snapshot from it, and the
// argument errors (exit 2) and a refused connection (exit 1).
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';
import { main } from '../../src/cli/sluice.js';
import { renderTop, socketUrl } from '../../src/cli/dashboard.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (s) => out.push(s), err: (s) => err.push(s) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('sluice dashboard + sluice top', () => {
  it('serves the demo with the dashboard; top --once shows its numbers; SIGINT stops it (exit 0); the password is never printed', async () => {
    const PASSWORD = 'env-only secret 7';
    // node itself (not npx, which does not pass SIGINT on), with tsx as its loader.
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/sluice.ts', 'dashboard', '--password-env', 'DASH_PW', '--metrics-port', '0'], {
      cwd: root, env: { ...process.env, DASH_PW: PASSWORD }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    onTestFinished(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        stdout += d;
        const m = /sluice dashboard: (http:\/\/\S+)/.exec(stdout);
        if (m) resolve(m[1]!);
      });
      void exited.then((code) => reject(new Error(`dashboard exited (${code}) before printing its URL:\n${stdout}\n${stderr}`)));
    });
    try {
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      const top = await run(['top', url, '--once']);
      expect(top.err).toBe('');
      expect(top.code).toBe(0);
      expect(top.out).toMatch(/state running {2}workers 2/);
      for (const p of ['careful', 'aggressive', 'hostile']) expect(top.out).toContain(p);
      // The same runtime's Prometheus endpoint, printed beside the URL: a scrape names the demo's producers.
      const scrape = /prometheus: (http:\/\/\S+)/.exec(stdout)![1]!;
      const exposition = await (await fetch(scrape)).text();
      expect(exposition).toMatch(/sluice_tasks_admitted_total\{producer="careful"\} [1-9]/);
      expect(exposition).toMatch(/sluice_run_seconds_bucket\{/);
      expect(top.out).toMatch(/Guard House: .*spin null/); // the demo's tasks, each with its breaker (none: null)
    } finally {
      child.kill('SIGINT');
    }
    expect(await exited).toBe(0);
    expect(stdout).toContain('sluice dashboard: stopped');
    expect(stdout + stderr).not.toContain(PASSWORD);
  });

  it('bad arguments exit 2 with the usage; a dashboard that is not there exits 1', async () => {
    for (const argv of [['top'], ['top', 'ftp://x/'], ['top', 'not a url'], ['top', 'http://127.0.0.1:1/', '--bogus'],
      ['dashboard', '--port', 'x'], ['dashboard', '--password-env', 'SLUICE_SURELY_UNSET_VAR'], ['dashboard', 'extra'], ['dashboard', '--duration', '-1']]) {
      const r = await run(argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.err).toMatch(/usage: sluice (top|dashboard)/);
    }
    const refused = await run(['top', 'http://127.0.0.1:1/', '--once']);
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/cannot connect/);
    expect((await run(['dashboard', '--help'])).out).toMatch(/--password-env VAR/);
    expect((await run(['top', '--help'])).out).toMatch(/--once/);
    expect((await run(['--help'])).out).toMatch(/dashboard .*\n.*top URL/);
  });

  it('socketUrl and renderTop', () => {
    expect(socketUrl('http://127.0.0.1:8080/')).toBe('ws://127.0.0.1:8080/ws');
    expect(socketUrl('https://dash.example/x')).toBe('wss://dash.example/ws');
    expect(socketUrl('javascript:alert(1)')).toBeNull();
    const lines = renderTop('http://h:1/', {
      system: { state: 'draining', workers: 1, uptimeS: 3, affinity: { pinned: false }, global: { inFlight: 2, limit: 8 } },
      pool: { admitted: 5, waiting: 1, executing: 1, completed: 3, failed: 0, retracted: 0, abandoned: 0, rejected: 0 },
      workers: [{ index: 0, cpus: null, executed: 3, queued: 1, parked: false, restarts: 0, failed: false }],
      producers: [{ name: 'p', admitted: 5, rate: 2, inFlight: 2, limits: { slots: 4 }, rejected: { rate: 0 }, latency: { p50: 150, p99: 2500 } }],
      guard: { available: false },
      feed: [{ at: 0, kind: 'admin', what: 'drain', token: null, producer: null, task: null, session: 3, ok: true }],
    });
    const text = lines.join('\n');
    expect(text).toContain('state draining');
    expect(text).toMatch(/p +5 +2 +2\/4 +0 +150µs +2\.5ms/);
    expect(text).toContain('admin drain session 3 ok');
  });
});
