/**
 * `sluice dashboard`: the isolation demo's workload (careful, aggressive and hostile producers
 * on a 2-worker runtime: src/cli/demo) with the dashboard served beside it (sluice/observe), and
 * `sluice top URL`: a running dashboard's numbers in the terminal, read-only, over its socket.
 */
import WebSocket from 'ws';
import { Runtime } from '../index.js';
import { packageFile } from '../package-root.js';
import { serveDashboard, serveMetrics } from '../observe/index.js';
import { AGGRESSIVE, CAREFUL, HOSTILE, TASK_US, Tracked, drive } from './demo/producers.js';
import { compact, makeStyle, table, type Style } from './demo/view.js';

export const DASHBOARD_USAGE = `usage: sluice dashboard [--port N] [--host H] [--password-env VAR] [--metrics-port N] [--duration S]

Runs the isolation demo's workload (careful, aggressive and hostile producers on 2 workers) with
the live dashboard, and prints its URL. Open it in a browser; log in to drain, resume, kill a
queued token, isolate or release a task.
  --port N            TCP port (default 0: any free port; the URL says which)
  --host H            address to listen on (default 127.0.0.1, loopback only)
  --password-env VAR  take the admin password from environment variable VAR (never from the
                      command line, which other users can read); without it: read-only
  --metrics-port N    serve Prometheus's /metrics on this port too (default 9464; 0: any free
                      port), on the same host; the runtime keeps histograms (metrics: true)
  --duration S        stop after S seconds (default: run until Ctrl-C)
Exit status: 0 stopped, 2 bad arguments.`;

export const TOP_USAGE = `usage: sluice top URL [--once]

Connects to a running dashboard (URL as 'sluice dashboard' prints it, e.g. http://127.0.0.1:8080/)
read-only and shows its numbers in the terminal, refreshed as they arrive; q or Ctrl-C quits.
  --once   print one snapshot and exit
Exit status: 0 done, 1 could not connect (or the connection was refused), 2 bad arguments.`;

interface Io { out: (s: string) => void; err: (s: string) => void }
export class CliUsage extends Error {}

function parse(args: readonly string[], allowed: readonly string[], flags: readonly string[]): { pos: string[]; opts: Map<string, string> } {
  const pos: string[] = [];
  const opts = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (!a.startsWith('--')) { pos.push(a); continue; }
    const eq = a.indexOf('=');
    const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
    if (flags.includes(name)) {
      if (eq > 0) throw new CliUsage(`--${name} takes no value`);
      opts.set(name, '');
      continue;
    }
    if (!allowed.includes(name)) throw new CliUsage(`unknown option '--${name}'`);
    const v = eq > 0 ? a.slice(eq + 1) : args[++i];
    if (v === undefined || v === '' || (eq < 0 && v.startsWith('--'))) throw new CliUsage(`--${name} needs a value`);
    if (opts.has(name)) throw new CliUsage(`--${name} given twice`);
    opts.set(name, v);
  }
  return { pos, opts };
}

/** `sluice dashboard`. Resolves with the exit status once stopped (Ctrl-C or --duration). */
export async function dashboardCommand(args: readonly string[], io: Io): Promise<number> {
  const { pos, opts } = parse(args, ['port', 'host', 'password-env', 'duration', 'metrics-port'], []);
  if (pos.length > 0) throw new CliUsage(`unexpected argument '${pos[0]}'`);
  const portArg = (name: string, def: number): number => {
    if (!opts.has(name)) return def;
    const s = opts.get(name)!;
    if (!/^\d{1,5}$/.test(s) || Number(s) > 65535) throw new CliUsage(`--${name} must be an integer from 0 to 65535; got '${s}'`);
    return Number(s);
  };
  const port = portArg('port', 0);
  const metricsPort = portArg('metrics-port', 9464);
  let durationS = Infinity;
  if (opts.has('duration')) {
    const d = Number(opts.get('duration'));
    if (!Number.isFinite(d) || d <= 0 || d > 86_400) throw new CliUsage(`--duration must be seconds from 0 to 86400; got '${opts.get('duration')}'`);
    durationS = d;
  }
  let password: string | undefined;
  if (opts.has('password-env')) {
    const v = opts.get('password-env')!;
    password = process.env[v];
    if (password === undefined || password === '') throw new CliUsage(`--password-env: environment variable ${v} is not set (or empty)`);
  }
  const host = opts.get('host') ?? '127.0.0.1';

  const rt = await Runtime.start({
    tasks: packageFile('cli/demo/demo-tasks.mjs'), workers: 2,
    globalSlots: CAREFUL.limits.slots + AGGRESSIVE.limits.slots + HOSTILE.limits.slots, ringCapacity: 256, metrics: true,
  });
  let server: Awaited<ReturnType<typeof serveDashboard>>;
  let metrics: Awaited<ReturnType<typeof serveMetrics>>;
  try {
    server = await serveDashboard(rt, { port, host, ...(password === undefined ? {} : { password }) });
  } catch (err) {
    await rt.close();
    throw new CliUsage(`cannot listen on ${host}:${port}: ${(err as Error).message}`);
  }
  try {
    metrics = await serveMetrics(rt, { port: metricsPort, host });
  } catch (err) {
    await server.close();
    await rt.close();
    throw new CliUsage(`cannot serve /metrics on ${host}:${metricsPort}: ${(err as Error).message} (choose another with --metrics-port)`);
  }
  const spin = rt.task('spin');
  const t0 = performance.now();
  const stops = [CAREFUL, AGGRESSIVE, HOSTILE].map((s) => drive(new Tracked(s, rt.producer(s.name, s.limits), spin, null, t0)));
  io.out(`sluice dashboard: ${server.url}`);
  io.out(`prometheus: ${metrics.url} (scrape target ${host}:${metrics.port})`);
  io.out(password === undefined
    ? 'read-only (no --password-env): admin actions are disabled'
    : `admin: log in on the page with the password from $${opts.get('password-env')}`);
  io.out(`workload: the isolation demo's producers (${TASK_US} µs tasks); ${Number.isFinite(durationS) ? `stops after ${durationS} s` : 'Ctrl-C stops'}`);

  await new Promise<void>((resolve) => {
    const done = (): void => { process.off('SIGINT', done); process.off('SIGTERM', done); clearTimeout(timer); resolve(); };
    const timer = Number.isFinite(durationS) ? setTimeout(done, durationS * 1000) : undefined;
    process.on('SIGINT', done);
    process.on('SIGTERM', done);
  });
  for (const stop of stops) stop();
  await server.close();
  await metrics.close();
  if (rt.stats().state === 'draining') rt.resume(); // an operator's drain: close() drains anyway
  await rt.close();
  io.out('sluice dashboard: stopped');
  return 0;
}

/** The dashboard's update message, as `sluice top` reads it (fields it shows). */
interface Update {
  system: { state: string; workers: number; uptimeS: number; affinity: { pinned: boolean }; global: { inFlight: number; limit: number } };
  pool: Record<string, number>;
  workers: { index: number; cpus: number[] | null; executed: number; queued: number; parked: boolean; restarts: number; failed: boolean }[];
  producers: { name: string; admitted: number; rate: number; inFlight: number; limits: { slots: number }; rejected: Record<string, number>; latency: { p50: number | null; p99: number | null } }[];
  guard: { available: boolean; tasks?: Record<string, unknown> };
  feed: { at: number; kind: string; what: string; token: string | null; producer: string | null; task: string | null; session: number; ok: boolean }[];
}

const us = (v: number | null): string => (v === null ? '-' : v < 1000 ? `${v.toFixed(0)}µs` : v < 1e6 ? `${(v / 1000).toFixed(1)}ms` : `${(v / 1e6).toFixed(2)}s`);

/** One screen of `sluice top` for an update message. */
export function renderTop(url: string, u: Update, st: Style = makeStyle(false), feedLines = 8): string[] {
  const s = u.system;
  const p = u.pool;
  const lines = [
    `${st.bold('sluice top')}  ${url}  state ${st.bold(s.state)}  workers ${s.workers} (${s.affinity.pinned ? 'pinned' : 'unpinned'})  up ${s.uptimeS.toFixed(0)} s  global ${s.global.inFlight}/${s.global.limit}`,
    '',
    `pool  admitted ${compact(p.admitted ?? 0)}  waiting ${p.waiting}  executing ${p.executing}  completed ${compact(p.completed ?? 0)}  failed ${p.failed}  retracted ${p.retracted}  abandoned ${p.abandoned}  rejected ${compact(p.rejected ?? 0)}`,
    '',
  ];
  const total = u.workers.reduce((a, w) => a + w.executed, 0) || 1;
  lines.push(...table(['worker', 'cpu', 'tasks run', 'share', 'queued', 'restarts', 'state'], u.workers.map((w) => [
    `w${w.index}`, w.cpus === null ? '-' : w.cpus.join(','), compact(w.executed), `${Math.round((100 * w.executed) / total)}%`, String(w.queued), String(w.restarts),
    w.failed ? 'retired' : w.parked ? 'parked' : 'active',
  ]), new Set([2, 3, 4, 5])).lines, '');
  lines.push(...table(['producer', 'admitted', 'rate/s', 'in flight', 'rejected', 'p50', 'p99'], u.producers.map((x) => {
    const rej = Object.entries(x.rejected).filter(([, n]) => n > 0).map(([r, n]) => `${r} ${compact(n)}`).join(', ');
    return [x.name, compact(x.admitted), x.rate.toFixed(0), `${x.inFlight}/${x.limits.slots}`, rej || '0', us(x.latency.p50), us(x.latency.p99)];
  }), new Set([1, 2, 3])).lines, '');
  lines.push(u.guard.available ? `Guard House: ${Object.entries(u.guard.tasks ?? {}).map(([k, v]) => `${k} ${typeof v === 'string' ? v : JSON.stringify(v)}`).join(', ')}` : 'Guard House: not available');
  lines.push('', st.dim('feed (newest first)'));
  for (const f of u.feed.slice(-feedLines).reverse()) {
    lines.push(`  ${new Date(f.at).toISOString().slice(11, 23)} ${f.kind} ${f.what}${f.token ? ` ${f.token}` : ''}${f.kind === 'admin' ? ` session ${f.session} ${f.ok ? 'ok' : 'no effect'}` : ''}${f.producer ? ` ${f.producer}` : ''}${f.task ? ` · ${f.task}` : ''}`);
  }
  return lines;
}

/** The dashboard's socket URL for a page URL (http://h:p/ -> ws://h:p/ws); null when not an http(s) URL. */
export function socketUrl(page: string): string | null {
  let u: URL;
  try {
    u = new URL(page);
  } catch {
    return null;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return null;
  return `${u.protocol === 'https:' ? 'wss' : 'ws'}://${u.host}/ws`;
}

/** `sluice top URL [--once]`. */
export async function topCommand(args: readonly string[], io: Io): Promise<number> {
  const { pos, opts } = parse(args, [], ['once']);
  if (pos.length !== 1) throw new CliUsage(pos.length === 0 ? 'a dashboard URL is needed' : `unexpected argument '${pos[1]}'`);
  const url = pos[0]!;
  const wsUrl = socketUrl(url);
  if (wsUrl === null) throw new CliUsage(`not a dashboard URL: '${url}' (expected http://host:port/)`);
  const once = opts.has('once');
  const tty = !once && process.stdout.isTTY === true;
  const st = makeStyle(tty);
  return new Promise<number>((resolve) => {
    const ws = new WebSocket(wsUrl, { maxPayload: 16 << 20, handshakeTimeout: 10_000 });
    let shown = false;
    let code = 0;
    const stdin = process.stdin;
    const onKey = (b: Buffer): void => { const k = b.toString(); if (k === 'q' || k === '\u0003') ws.close(); };
    const finish = (): void => {
      if (tty) {
        stdin.off('data', onKey);
        if (stdin.isTTY) stdin.setRawMode(false);
        stdin.pause();
        process.stdout.write('\x1b[?25h');
      }
      process.off('SIGINT', onSig);
      resolve(code);
    };
    const onSig = (): void => { ws.close(); };
    process.on('SIGINT', onSig);
    if (tty && stdin.isTTY) {
      stdin.setRawMode(true);
      stdin.resume();
      stdin.on('data', onKey);
      process.stdout.write('\x1b[?25l');
    }
    ws.on('message', (data) => {
      let m: { type?: string } & Partial<Update>;
      try { m = JSON.parse(String(data)) as typeof m; } catch { return; }
      if (m.type !== 'update') return;
      const lines = renderTop(url, m as Update, st, tty ? Math.max(3, (process.stdout.rows ?? 40) - 24) : 8);
      if (tty) process.stdout.write(`\x1b[H\x1b[2J${lines.join('\n')}\n${st.dim('q quits')}\n`);
      else io.out(lines.join('\n'));
      shown = true;
      if (once) ws.close();
    });
    ws.on('unexpected-response', (_req, res) => {
      io.err(`sluice top: the dashboard refused the connection (HTTP ${res.statusCode})`);
      code = 1;
      ws.terminate();
    });
    ws.on('error', (err) => {
      if (code === 0) io.err(`sluice top: cannot connect to ${url}: ${err.message}`);
      code = 1;
    });
    ws.on('close', () => {
      if (!shown && code === 0) { io.err('sluice top: the connection closed before any data arrived'); code = 1; }
      finish();
    });
  });
}
