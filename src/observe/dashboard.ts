/**
 * serveDashboard (issue 22, docs/design.md §4.17): a node:http server with one self-contained
 * page and a WebSocket (`ws`) that pushes the runtime's state every `intervalMs`, and takes
 * password-gated operator actions over the same socket.
 *
 * Security (each piece tested in test/observe/dashboard-security.test.ts, end to end in
 * test/observe/dashboard-browser.test.ts): loopback by default; the Host header must name this
 * server (DNS rebinding) on the page and on the upgrade, and the Origin of a browser's upgrade
 * must be this server's own (cross-site WebSocket hijacking); without a configured password
 * there is no admin at all; the password travels as a message on the socket (never in a URL),
 * is compared in constant time, and failed logins are limited per connection (then the socket
 * is closed) and globally; messages are at most `maxPayload` bytes, anything malformed gets an
 * error reply; the page carries a CSP without 'unsafe-inline', X-Frame-Options DENY, no-store.
 * Nothing here logs, so no secret can reach a log.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket, type RawData } from 'ws';
import type { Runtime, RuntimeStats } from '../runtime/runtime.js';
import { ConfigError, describe } from '../errors.js';
import { snapshot } from '../runtime/options.js';
import { REJECT_REASONS } from '../admission/reasons.js';
import { OUTCOMES } from '../admission/outcomes.js';
import { ADMIN_ACTIONS, type AdminAction } from '../trace/records.js';
import type { ObserverPort } from '../runtime/observers.js';
import {
  DEFAULT_LOGIN_LIMITS, LoginLimiter, PasswordCheck, allowedHostSet, hostAllowed, originAllowed, type LoginLimits,
} from './dashboard-security.js';
import { BUCKETS, FeedListener, bucketUpper, quantile } from './dashboard-feed.js';
import { PAGE_CSS, PAGE_HTML, PAGE_JS } from './dashboard-page.js';

/** serveDashboard's options. */
export interface DashboardOptions {
  /** TCP port; default 0 (any free port: read it from the result). */
  port?: number;
  /** Address to listen on; default '127.0.0.1' (loopback only). */
  host?: string;
  /**
   * The operator password. Without it the dashboard is read-only and every admin action is
   * refused (admin is disabled, not open). Compared in constant time; never logged.
   */
  password?: string;
  /** Push period in ms, from 100 to 10000; default 500. */
  intervalMs?: number;
  /**
   * More names the Host header may carry (e.g. 'dash.internal' or 'dash.internal:8080'); by
   * default only the listening address (and the loopback names when it is loopback).
   */
  allowedHosts?: readonly string[];
  /** Largest WebSocket message accepted, in bytes (512 to 65536); default 4096. */
  maxPayload?: number;
  /** Entries of the live feed kept and shown (8 to 1024); default 50. */
  feedSize?: number;
  /** Failed-login limits: `{ perConnection, global, windowMs }` (defaults 3, 10, 60000). */
  login?: Partial<LoginLimits>;
}

/** What serveDashboard resolves to. */
export interface DashboardServer {
  /** The page's URL, e.g. http://127.0.0.1:41234/ (no secret in it). */
  readonly url: string;
  readonly port: number;
  /** Stop pushing, close every socket and the server. Idempotent. */
  close(): Promise<void>;
}

interface Config {
  port: number; host: string; password: string | null; intervalMs: number; allowedHosts: string[]; maxPayload: number;
  feedSize: number; login: LoginLimits;
}

function intIn(where: string, name: string, v: unknown, lo: number, hi: number, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) {
    throw new ConfigError(`${where}: ${name} must be an integer from ${lo} to ${hi}; got ${describe(v)}`);
  }
  return v;
}

function parseOptions(v: unknown): Config {
  const W = 'serveDashboard()';
  const o = snapshot(W, 'options', v, ['port', 'host', 'password', 'intervalMs', 'allowedHosts', 'maxPayload', 'feedSize', 'login']);
  const host = o.host === undefined ? '127.0.0.1' : o.host;
  if (typeof host !== 'string' || host.length === 0 || host.length > 255) throw new ConfigError(`${W}: host must be a non-empty string; got ${describe(host)}`);
  let password: string | null = null;
  if (o.password !== undefined) {
    if (typeof o.password !== 'string' || o.password.length === 0 || o.password.length > 1024) {
      // Never echo the value: it may be a secret.
      throw new ConfigError(`${W}: password must be a non-empty string of at most 1024 characters (leave it out for a read-only dashboard)`);
    }
    password = o.password;
  }
  let allowedHosts: string[] = [];
  if (o.allowedHosts !== undefined) {
    if (!Array.isArray(o.allowedHosts) || o.allowedHosts.length > 64) throw new ConfigError(`${W}: allowedHosts must be an array of at most 64 host names; got ${describe(o.allowedHosts)}`);
    allowedHosts = [...(o.allowedHosts as unknown[])].map((h) => {
      if (typeof h !== 'string' || !/^[\w.:[\]-]{1,255}$/.test(h)) throw new ConfigError(`${W}: allowedHosts entries must be host names (optionally with :port); got ${describe(h)}`);
      return h;
    });
  }
  const l = snapshot(W, 'login', o.login, ['perConnection', 'global', 'windowMs']);
  return {
    port: intIn(W, 'port', o.port, 0, 65535, 0),
    host, password, allowedHosts,
    intervalMs: intIn(W, 'intervalMs', o.intervalMs, 100, 10_000, 500),
    maxPayload: intIn(W, 'maxPayload', o.maxPayload, 512, 65536, 4096),
    feedSize: intIn(W, 'feedSize', o.feedSize, 8, 1024, 50),
    login: {
      perConnection: intIn(W, 'login.perConnection', l.perConnection, 1, 100, DEFAULT_LOGIN_LIMITS.perConnection),
      global: intIn(W, 'login.global', l.global, 1, 10_000, DEFAULT_LOGIN_LIMITS.global),
      windowMs: intIn(W, 'login.windowMs', l.windowMs, 1, 86_400_000, DEFAULT_LOGIN_LIMITS.windowMs),
    },
  };
}

/** The Guard House's operator API (issue 22's sibling), when this runtime has it: feature-detected. */
interface GuardApi {
  isolate(task: unknown, why?: string): unknown;
  release(task: unknown): unknown;
  state(task: unknown): unknown;
}

function guardOf(rt: Runtime): { guard: GuardApi | null; quarantine: { list(): unknown } | null } {
  const r = rt as unknown as { guard?: unknown; quarantine?: unknown };
  const g = r.guard as Partial<GuardApi> | undefined;
  const q = r.quarantine as { list?: unknown } | undefined;
  const guard = g !== null && typeof g === 'object' && typeof g.isolate === 'function' && typeof g.release === 'function' && typeof g.state === 'function'
    ? (g as GuardApi) : null;
  const quarantine = q !== null && typeof q === 'object' && typeof q.list === 'function' ? (q as { list(): unknown }) : null;
  return { guard, quarantine };
}

/** The breaker state a Guard House `state(task)` reports ('closed', 'open', 'half-open', 'isolated'), or null. */
function breakerState(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (typeof v === 'object' && v !== null && typeof (v as { state?: unknown }).state === 'string') return (v as { state: string }).state;
  return null;
}

/** A value made JSON-safe (depth and size bounded); undefined when it cannot be. */
function plain(v: unknown): unknown {
  try {
    const s = JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? Number(x) : x));
    if (s === undefined || s.length > 200_000) return undefined;
    return JSON.parse(s) as unknown;
  } catch {
    return undefined;
  }
}

const KNOWN_STATS = new Set(['state', 'global', 'producers', 'workers', 'events']);
const TOKEN_ID = /^(\d{1,3}):(\d{1,5})#(\d{1,7})$/;

/** Parse a token id as the dashboard and `sluice trace` print it (att:index#gen); null if malformed. */
export function parseTokenKey(s: unknown): { attachment: number; index: number; generation: number } | null {
  if (typeof s !== 'string') return null;
  const m = TOKEN_ID.exec(s);
  return m === null ? null : { attachment: Number(m[1]), index: Number(m[2]), generation: Number(m[3]) };
}

interface Client {
  ws: WebSocket;
  session: number;
  authed: boolean;
  failures: number;
  /** Messages this second (a flood closes the socket). */
  windowStart: number;
  inWindow: number;
}

const MAX_MESSAGES_PER_SECOND = 50;
/** Open sockets at once; more are refused (503) so a flood of connections cannot exhaust memory. */
const MAX_CLIENTS = 64;

/**
 * Serve the dashboard of `rt` (the thread that started it: its feed, queued tokens and admin
 * act on that thread). Resolves once listening.
 */
export async function serveDashboard(rt: Runtime, options?: DashboardOptions): Promise<DashboardServer> {
  const cfg = parseOptions(options);
  const port0: ObserverPort = rt._observer();
  const passwordCheck = cfg.password === null ? null : new PasswordCheck(cfg.password);
  const limiter = new LoginLimiter(cfg.login);
  const feed = new FeedListener(port0.attachment, port0.tokenCapacity, 256, cfg.feedSize);
  const unlisten = port0.listen(feed);
  const clients = new Set<Client>();
  let sessions = 0;
  let allowed = new Set<string>();
  const startedAt = Date.now();
  let prev: { at: number; admitted: Map<string, number>; completed: number } | null = null;
  const history: { at: number; admitted: number; completed: number }[] = [];

  const headers = (res: ServerResponse, type: string, host: string): void => {
    res.setHeader('Content-Type', type);
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('X-Frame-Options', 'DENY');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
    res.setHeader('Content-Security-Policy',
      `default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self' ws://${host}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`);
  };

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const host = req.headers.host;
    if (!hostAllowed(host, allowed)) {
      res.writeHead(403, { 'Content-Type': 'text/plain', 'Cache-Control': 'no-store' });
      res.end('unknown Host\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain' });
      res.end('method not allowed\n');
      return;
    }
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/favicon.ico') { // none: answered, so a browser logs no 404
      headers(res, 'image/x-icon', host!.toLowerCase());
      res.statusCode = 204;
      res.end();
      return;
    }
    const body = path === '/' ? PAGE_HTML : path === '/dashboard.js' ? PAGE_JS : path === '/dashboard.css' ? PAGE_CSS : null;
    const type = path === '/' ? 'text/html; charset=utf-8' : path === '/dashboard.js' ? 'text/javascript; charset=utf-8' : 'text/css; charset=utf-8';
    headers(res, body === null ? 'text/plain' : type, host!.toLowerCase());
    if (body === null) {
      res.statusCode = 404;
      res.end('not found\n');
      return;
    }
    res.statusCode = 200;
    res.end(req.method === 'HEAD' ? undefined : body);
  };

  const server: Server = createServer(onRequest);
  server.headersTimeout = 10_000;
  server.requestTimeout = 15_000;
  const wss = new WebSocketServer({ noServer: true, maxPayload: cfg.maxPayload, perMessageDeflate: false, clientTracking: false });

  const refuse = (socket: Duplex, code: number, why: string): void => {
    try {
      socket.end(`HTTP/1.1 ${code} ${why}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${why.length + 1}\r\n\r\n${why}\n`);
    } catch { /* already gone */ }
    socket.destroy();
  };

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => { socket.destroy(); });
    if ((req.url ?? '') !== '/ws') return refuse(socket, 404, 'Not Found');
    if (!hostAllowed(req.headers.host, allowed)) return refuse(socket, 403, 'Forbidden');
    // §4.17 step 1: a browser's Origin must be this server's (header absent: not a web page).
    const origin = req.headers.origin;
    if (Array.isArray(origin) || !originAllowed(origin, allowed)) return refuse(socket, 403, 'Forbidden');
    let open = 0; // sockets not yet closing (one that sent or got a close frame no longer counts)
    for (const c of clients) if (c.ws.readyState === 1) open++;
    if (open >= MAX_CLIENTS) return refuse(socket, 503, 'Service Unavailable');
    wss.handleUpgrade(req, socket, head, (ws) => { accept(ws); });
  });

  const send = (c: Client, msg: unknown): void => {
    if (c.ws.readyState !== 1) return;
    try {
      c.ws.send(JSON.stringify(msg));
    } catch { /* closing */ }
  };

  const accept = (ws: WebSocket): void => {
    const c: Client = { ws, session: ++sessions, authed: false, failures: 0, windowStart: Date.now(), inWindow: 0 };
    clients.add(c);
    ws.on('error', () => { ws.terminate(); }); // e.g. a message over maxPayload: ws closes with 1009
    ws.on('close', () => { clients.delete(c); });
    ws.on('message', (data: RawData, isBinary: boolean) => { onMessage(c, data, isBinary); });
    send(c, { type: 'hello', session: c.session, admin: passwordCheck !== null, guard: guardOf(rt).guard !== null, tasks: [...rt.names], intervalMs: cfg.intervalMs });
    send(c, update());
  };

  const reply = (c: Client, id: unknown, msg: Record<string, unknown>): void => {
    send(c, typeof id === 'number' && Number.isSafeInteger(id) ? { ...msg, id } : msg);
  };

  function onMessage(c: Client, data: RawData, isBinary: boolean): void {
    const now = Date.now();
    if (now - c.windowStart >= 1000) { c.windowStart = now; c.inWindow = 0; }
    if (++c.inWindow > MAX_MESSAGES_PER_SECOND) { c.ws.close(1008, 'too many messages'); return; }
    if (isBinary) return reply(c, undefined, { type: 'error', error: 'binary messages are not accepted' });
    let msg: unknown;
    try {
      msg = JSON.parse(Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.concat(Array.isArray(data) ? data : [Buffer.from(data)]).toString('utf8'));
    } catch {
      return reply(c, undefined, { type: 'error', error: 'not JSON' });
    }
    if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) return reply(c, undefined, { type: 'error', error: 'a message is a JSON object' });
    const m = msg as Record<string, unknown>;
    const id = m.id;
    switch (m.type) {
      case 'login': return login(c, id, m.password);
      case 'logout': c.authed = false; return reply(c, id, { type: 'login', ok: false, authenticated: false, error: 'logged out' });
      case 'admin': return admin(c, id, m);
      case 'ping': return reply(c, id, { type: 'pong' });
      default: return reply(c, id, { type: 'error', error: `unknown message type ${describe(m.type)}` });
    }
  }

  /** §4.17 step 2: refused unchecked while the global window is full; else a constant-time compare. */
  function login(c: Client, id: unknown, password: unknown): void {
    if (passwordCheck === null) return reply(c, id, { type: 'login', ok: false, authenticated: false, error: 'admin is disabled: the dashboard was started without a password' });
    if (typeof password !== 'string') return reply(c, id, { type: 'error', error: 'login: password must be a string' });
    if (!limiter.allow()) {
      return reply(c, id, { type: 'login', ok: false, authenticated: c.authed, error: `too many failed logins: try again in ${Math.ceil(limiter.retryAfterMs() / 1000)} s` });
    }
    if (passwordCheck.matches(password)) {
      c.authed = true;
      return reply(c, id, { type: 'login', ok: true, authenticated: true });
    }
    limiter.fail();
    c.failures++;
    c.authed = false;
    reply(c, id, { type: 'login', ok: false, authenticated: false, error: 'wrong password' });
    if (c.failures >= cfg.login.perConnection) c.ws.close(1008, 'too many failed logins');
  }

  function admin(c: Client, id: unknown, m: Record<string, unknown>): void {
    const action = m.action;
    const code = ADMIN_ACTIONS.indexOf(action as AdminAction);
    if (typeof action !== 'string' || code < 0) return reply(c, id, { type: 'error', error: `admin: unknown action ${describe(action)} (known: ${ADMIN_ACTIONS.join(', ')})` });
    if (passwordCheck === null) return reply(c, id, { type: 'admin', action, ok: false, error: 'admin is disabled: the dashboard was started without a password' });
    if (!c.authed) return reply(c, id, { type: 'admin', action, ok: false, error: 'log in first' });
    let task = -1;
    let key: { attachment: number; index: number; generation: number } | null = null;
    let ok = false;
    let message = '';
    try {
      // §4.17 step 3: the same calls a user makes, nothing else.
      switch (action as AdminAction) {
        case 'drain':
          ok = rt.stats().state === 'running';
          rt.drain().catch(() => {}); // stops admission now; its promise is the quiesce
          message = ok ? 'draining: admission stopped, admitted tasks finish' : 'not running';
          break;
        case 'resume':
          ok = rt.stats().state === 'draining';
          rt.resume();
          message = ok ? 'running: admitting again' : 'not draining';
          break;
        case 'kill': {
          key = parseTokenKey(m.token);
          if (key === null) return reply(c, id, { type: 'error', error: 'admin kill: token must be an id like 0:12#3 (att:index#generation)' });
          ok = rt.cancelToken(key);
          message = ok ? 'retracted' : 'not retracted: not a pending token of this thread (it started, resolved, or never was)';
          break;
        }
        case 'isolate': case 'release': {
          if (typeof m.task !== 'string' || !rt.names.includes(m.task)) return reply(c, id, { type: 'error', error: `admin ${action}: task must be one of the task names` });
          task = rt.names.indexOf(m.task);
          const { guard } = guardOf(rt);
          if (guard === null) { message = 'Guard House: not available'; break; }
          const r = action === 'isolate' ? guard.isolate(m.task, `dashboard session ${c.session}`) : guard.release(m.task);
          // Took effect: isolated now (isolate returns the state it left), or release said so.
          const now = breakerState(guard.state(m.task));
          ok = action === 'isolate' ? now === 'isolated' : r === true;
          message = ok ? `${action === 'isolate' ? 'isolated' : 'released'} ${m.task}` : `${m.task} was ${action === 'isolate' ? 'not isolated' : 'not isolated: nothing to release'}`;
          break;
        }
      }
    } catch (err) {
      ok = false;
      message = err instanceof Error ? `${err.name}: ${err.message}` : 'failed';
    }
    // §4.17 step 4: the action, its target, its session and its result, recorded and in the feed.
    port0.admin(code, c.session, task, key?.attachment ?? -1, key?.index ?? -1, key?.generation ?? -1, ok);
    reply(c, id, { type: 'admin', action, ok, message });
    push(); // every operator sees the effect (and the feed entry) at once
  }

  function update(): Record<string, unknown> {
    const now = Date.now();
    let s: RuntimeStats;
    try {
      s = rt.stats();
    } catch (err) {
      return { type: 'error', error: `stats failed: ${err instanceof Error ? err.message : 'unknown'}` };
    }
    const sum = (f: (p: RuntimeStats['producers'][number]) => number): number => s.producers.reduce((a, p) => a + f(p), 0);
    const admitted = sum((p) => p.admitted);
    const completed = sum((p) => p.resolved.fulfilled);
    const waiting = s.workers.reduce((a, w) => a + w.queued, 0);
    const dt = prev === null ? 0 : (now - prev.at) / 1000;
    const admittedNow = new Map(s.producers.map((p) => [p.name, p.admitted]));
    history.push({ at: now, admitted, completed });
    if (history.length > 240) history.shift();
    const producers = s.producers.map((p, i) => {
      const counts: number[] = [];
      let n = 0;
      for (let b = 0; b < BUCKETS; b++) { const v = feed.hist[i * BUCKETS + b]!; counts.push(v); n += v; }
      const pick = (q: number): number | null => quantile(counts, q);
      const before = prev?.admitted.get(p.name);
      return {
        name: p.name, limits: p.limits, admitted: p.admitted, inFlight: p.inFlight, saturated: p.saturated, tokens: p.tokens,
        rejected: p.rejected, resolved: p.resolved,
        rate: dt > 0 && before !== undefined ? Math.max(0, (p.admitted - before) / dt) : 0,
        latency: { count: n, p50: pick(0.5), p90: pick(0.9), p99: pick(0.99), counts: n === 0 ? [] : counts },
        extra: plain(Object.fromEntries(Object.entries(p).filter(([k]) => !['name', 'limits', 'admitted', 'inFlight', 'saturated', 'tokens', 'rejected', 'resolved'].includes(k)))),
      };
    });
    prev = { at: now, admitted: admittedNow, completed };
    const { guard, quarantine } = guardOf(rt);
    let guardPanel: unknown = { available: false };
    if (guard !== null) {
      const states: Record<string, unknown> = {};
      for (const n of rt.names) { try { states[n] = plain(guard.state(n)); } catch { states[n] = 'unknown'; } }
      let q: unknown = null;
      try { q = quarantine === null ? null : plain(quarantine.list()); } catch { q = null; }
      guardPanel = { available: true, tasks: states, health: plain((s as unknown as { tasks?: unknown }).tasks), quarantine: q };
    }
    const queued = port0.queued(50).map((k) => {
      const t = feed.taskOfToken(k.index, k.generation);
      return { token: `${k.attachment}:${k.index}#${k.generation}`, producer: s.producers[k.producer]?.name ?? String(k.producer), task: t >= 0 ? rt.names[t] ?? null : null };
    });
    const rejectedTotal = sum((p) => REJECT_REASONS.reduce((a, r) => a + (p.rejected[r] ?? 0), 0));
    return {
      type: 'update',
      at: now,
      system: {
        state: s.state, workers: s.workers.length, uptimeS: (now - startedAt) / 1000, affinity: { ...rt.affinity },
        global: s.global, events: s.events.slice(-10),
      },
      pool: {
        admitted, waiting, executing: Math.max(0, s.global.inFlight - waiting), completed,
        failed: sum((p) => p.resolved.rejected), retracted: sum((p) => p.resolved.retracted), abandoned: sum((p) => p.resolved.abandoned),
        rejected: rejectedTotal, inFlight: s.global.inFlight, limit: s.global.limit,
      },
      workers: s.workers.map((w) => ({
        index: w.index, cpus: w.cpus, executed: w.executed, queued: w.queued, parked: w.parked, restarts: w.restarts, failed: w.failed,
        stolen: w.stolen, asyncInFlight: w.asyncInFlight,
        extra: plain(Object.fromEntries(Object.entries(w).filter(([k]) => !['index', 'threadId', 'tid', 'cpus', 'routed', 'restarts', 'failed', 'executed', 'queued', 'asyncInFlight', 'parked', 'parks', 'stolen'].includes(k)))),
      })),
      producers,
      reasons: REJECT_REASONS,
      outcomes: OUTCOMES,
      tasks: rt.names,
      buckets: Array.from({ length: BUCKETS }, (_, b) => { const u = bucketUpper(b); return Number.isFinite(u) ? u : null; }),
      throughput: history.map((h, i) => {
        const p = history[i - 1];
        const d = p === undefined ? 0 : (h.at - p.at) / 1000;
        return { at: h.at, admitted: d > 0 ? (h.admitted - p!.admitted) / d : 0, completed: d > 0 ? (h.completed - p!.completed) / d : 0 };
      }).slice(1),
      // Whatever rt.stats() has beyond the fields above (percentiles, utilization, tasks): shown as it is.
      extra: plain(Object.fromEntries(Object.entries(s).filter(([k]) => !KNOWN_STATS.has(k)))),
      guard: guardPanel,
      queued,
      feed: feed.entries().map((e) => ({
        ...e,
        producer: e.producer >= 0 ? s.producers[e.producer]?.name ?? String(e.producer) : null,
        task: e.task >= 0 ? rt.names[e.task] ?? null : null,
        what: e.kind === 'resolved' ? OUTCOMES[e.code] ?? '?' : e.kind === 'admin' ? ADMIN_ACTIONS[e.code] ?? '?' : e.kind === 'cancelled' ? (e.code === 1 ? 'forced' : 'retracted') : `worker ${e.code}`,
      })),
      admin: { enabled: passwordCheck !== null },
    };
  }

  function push(): void {
    const u = update(); // also with nobody connected: rates need the previous reading
    if (clients.size === 0) return;
    const msg = JSON.stringify(u);
    for (const c of clients) {
      // A reader that does not keep up is skipped (bounded memory), not queued without end.
      if (c.ws.readyState === 1 && c.ws.bufferedAmount < 1 << 20) c.ws.send(msg, () => {});
    }
  }
  const timer = setInterval(push, cfg.intervalMs);
  timer.unref();

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(cfg.port, cfg.host, () => { server.off('error', reject); resolve(); });
    });
  } catch (err) {
    clearInterval(timer);
    unlisten();
    throw err;
  }
  const addr = server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : cfg.port;
  allowed = allowedHostSet(cfg.host, port, cfg.allowedHosts);
  const shownHost = cfg.host.includes(':') ? `[${cfg.host}]` : cfg.host === '0.0.0.0' ? '127.0.0.1' : cfg.host;
  let closing: Promise<void> | null = null;
  return {
    url: `http://${shownHost}:${port}/`,
    port,
    close(): Promise<void> {
      closing ??= new Promise<void>((resolve) => {
        clearInterval(timer);
        unlisten();
        for (const c of clients) c.ws.terminate();
        clients.clear();
        wss.close();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
