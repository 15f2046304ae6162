// The dashboard without a browser (issue 22; docs/design.md §4.17): the security pieces one by one
// (Host and Origin checks, the constant-time password check, the login limits), then a real server
// on a real runtime driven by raw WebSocket clients: refused upgrades, maxPayload, hostile
// messages, admin without a password, login limits on the wire, the admin actions and their
// records (seam -> trace file). Queued tokens come from a blocked worker (workers: 1), not timing.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, Runtime, type Token } from '../../src/index.js';
import { serveDashboard, type DashboardServer } from '../../src/observe/index.js';
import {
  LoginLimiter, PasswordCheck, allowedHostSet, hostAllowed, originAllowed,
} from '../../src/observe/dashboard-security.js';
import { bucketOf, bucketUpper, quantile, BUCKETS } from '../../src/observe/dashboard-feed.js';
import { readTrace } from '../../src/trace/file.js';
import { ADMIN_ACTIONS, RecordKind } from '../../src/trace/records.js';
import { Signals } from '../helpers/signals.js';
import { connect, upgradeStatus } from './helpers.js';

const tasks = new URL('../fixtures/tasks.mjs', import.meta.url);

describe('Host and Origin checks (DNS rebinding, cross-site WebSocket hijacking)', () => {
  const allowed = allowedHostSet('127.0.0.1', 8080, ['dash.internal', 'other.example:9000']);

  it('accepts exactly this server\'s names at its port', () => {
    for (const h of ['127.0.0.1:8080', 'localhost:8080', 'LOCALHOST:8080', '[::1]:8080', 'dash.internal:8080', 'other.example:9000']) {
      expect(hostAllowed(h, allowed), h).toBe(true);
    }
    for (const h of [undefined, '', '127.0.0.1', '127.0.0.1:8081', 'evil.example:8080', 'localhost.evil.example:8080', 'dash.internal:9000', 'x'.repeat(400)]) {
      expect(hostAllowed(h, allowed), String(h)).toBe(false);
    }
    // A non-loopback listener does not answer to the loopback names unless told to.
    expect(hostAllowed('localhost:80', allowedHostSet('10.0.0.5', 80))).toBe(false);
    expect(hostAllowed('10.0.0.5:80', allowedHostSet('10.0.0.5', 80))).toBe(true);
  });

  it('refuses every Host header outside the set (property)', () => {
    fc.assert(fc.property(fc.string({ maxLength: 40 }), (h) => hostAllowed(h, allowed) === allowed.has(h.toLowerCase())));
  });

  it('an upgrade\'s Origin must be this server\'s own http origin; no Origin (not a web page) passes', () => {
    expect(originAllowed(undefined, allowed)).toBe(true);
    expect(originAllowed('http://127.0.0.1:8080', allowed)).toBe(true);
    expect(originAllowed('http://localhost:8080', allowed)).toBe(true);
    for (const o of ['http://evil.example', 'http://evil.example:8080', 'null', '', 'https://127.0.0.1:8080', 'http://127.0.0.1:8080/x',
      'http://user@127.0.0.1:8080', 'http://127.0.0.1:8081', 'file://', 'http://127.0.0.1:8080.evil.example']) {
      expect(originAllowed(o, allowed), o).toBe(false);
    }
  });
});

describe('the password check', () => {
  it('matches only the password; any length and type of candidate is compared without throwing (both sides hashed to equal length)', () => {
    const check = new PasswordCheck('correct horse battery staple');
    expect(check.matches('correct horse battery staple')).toBe(true);
    // timingSafeEqual throws on buffers of unequal length: these would throw if the raw strings were compared.
    for (const c of ['', 'c', 'correct horse battery stapl', 'correct horse battery staple ', 'x'.repeat(5000), '\u{1F600}']) {
      expect(check.matches(c)).toBe(false);
    }
    for (const c of [undefined, null, 42, ['correct horse battery staple'], { toString: () => 'correct horse battery staple' }]) {
      expect(check.matches(c)).toBe(false);
    }
    fc.assert(fc.property(fc.string(), (s) => check.matches(s) === (s === 'correct horse battery staple')));
  });
});

describe('the global failed-login limit', () => {
  it('allows `global` failures per window, then refuses until the oldest leaves the window', () => {
    let now = 1000;
    const l = new LoginLimiter({ perConnection: 3, global: 3, windowMs: 60_000 }, () => now);
    for (let i = 0; i < 3; i++) { expect(l.allow()).toBe(true); l.fail(); now += 1000; }
    expect(l.allow()).toBe(false);
    expect(l.retryAfterMs()).toBe(60_000 - 3000);
    now = 1000 + 60_000 - 1;
    expect(l.allow()).toBe(false);
    now = 1000 + 60_000;
    expect(l.allow()).toBe(true); // the first failure left the window
    l.fail();
    expect(l.allow()).toBe(false);
  });
});

describe('latency buckets', () => {
  it('every value falls in the bucket whose bounds hold it (log-linear, < 25% wide)', () => {
    fc.assert(fc.property(fc.double({ min: 0, max: 1e8, noNaN: true }), (us) => {
      const b = bucketOf(us);
      const lo = b === 0 ? 0 : bucketUpper(b - 1);
      return b >= 0 && b < BUCKETS && us >= lo && us < bucketUpper(b) && (b === 0 || b === BUCKETS - 1 || bucketUpper(b) / lo <= 1.25 + 1e-12);
    }));
    const h = new Array<number>(BUCKETS).fill(0);
    h[bucketOf(100)] = 90;
    h[bucketOf(5000)] = 10;
    expect(quantile(h, 0.5)).toBe(bucketUpper(bucketOf(100)));
    expect(quantile(h, 0.99)).toBe(bucketUpper(bucketOf(5000)));
    expect(quantile(new Array<number>(BUCKETS).fill(0), 0.5)).toBeNull();
  });
});

describe('serveDashboard options', () => {
  let rt: Runtime;
  beforeAll(async () => { rt = await Runtime.start({ tasks, workers: 1 }); });
  afterAll(async () => { await rt.close(); });

  it('bad options are ConfigErrors, and a bad password is never echoed', async () => {
    for (const o of [{ port: -1 }, { port: 70000 }, { host: '' }, { intervalMs: 5 }, { maxPayload: 1 << 30 }, { feedSize: 0 }, { nope: 1 },
      { allowedHosts: 'x' }, { allowedHosts: ['a b'] }, { login: { global: 0 } }, { login: { extra: 1 } }, 'x']) {
      await expect(serveDashboard(rt, o as never)).rejects.toThrow(ConfigError);
    }
    const err = (await serveDashboard(rt, { password: 'p'.repeat(2000) }).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).not.toContain('ppppp');
    await expect(serveDashboard(rt, { password: '' })).rejects.toThrow(ConfigError);
  });
});

describe('a dashboard on a runtime with queued tokens (one worker, blocked)', () => {
  const PASSWORD = 'open sesame 42';
  let rt: Runtime;
  let sig: Signals;
  let blocker: Token;
  let d: DashboardServer;
  let ro: DashboardServer;
  let dir: string;
  const output: string[] = [];
  const writes = { out: process.stdout.write, err: process.stderr.write };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sluice-dash-'));
    sig = new Signals();
    rt = await Runtime.start({ tasks, workers: 1, globalSlots: 64, steal: false, trace: { mode: 'flight', records: 4096 } });
    blocker = rt.producer('tenant').submit(rt.task('blockUntil'), 'hold') as Token;
    await sig.started('hold');
    d = await serveDashboard(rt, { password: PASSWORD, intervalMs: 100, login: { perConnection: 2, global: 1000, windowMs: 60_000 } });
    ro = await serveDashboard(rt, { intervalMs: 100 });
    // Everything the process writes while the tests run: the password must never appear in it.
    const tap = (w: typeof process.stdout.write) => function (this: NodeJS.WriteStream, chunk: unknown, ...rest: unknown[]): boolean {
      output.push(String(chunk));
      return (w as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
    };
    process.stdout.write = tap(writes.out) as typeof process.stdout.write;
    process.stderr.write = tap(writes.err) as typeof process.stderr.write;
  });
  afterAll(async () => {
    process.stdout.write = writes.out;
    process.stderr.write = writes.err;
    expect(output.join('')).not.toContain(PASSWORD);
    await d.close();
    await ro.close();
    await d.close(); // idempotent
    sig.release('hold');
    await blocker.promise().catch(() => undefined);
    if (rt.stats().state === 'draining') rt.resume();
    await rt.close();
    sig.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('listens on loopback; the page carries the security headers and a CSP without unsafe-inline', async () => {
    expect(d.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const r = await fetch(d.url);
    expect(r.status).toBe(200);
    const csp = r.headers.get('content-security-policy')!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).not.toContain('unsafe-eval');
    expect(r.headers.get('x-frame-options')).toBe('DENY');
    expect(r.headers.get('cache-control')).toBe('no-store');
    expect(r.headers.get('x-content-type-options')).toBe('nosniff');
    const html = await r.text();
    expect(html).not.toMatch(/<script>[^<]/); // no inline script
    expect(html).not.toMatch(/ on[a-z]+=/); // no inline handlers
    expect((await fetch(`${d.url}nope`)).status).toBe(404);
    expect((await fetch(d.url, { method: 'POST' })).status).toBe(405);
  });

  it('refuses a foreign Origin and a foreign Host on the upgrade (403), and a foreign Host on the page', async () => {
    const port = d.port;
    expect(await upgradeStatus(d.url, { origin: 'http://evil.example' })).toBe(403);
    expect(await upgradeStatus(d.url, { origin: 'null' })).toBe(403);
    expect(await upgradeStatus(d.url, { headers: { Host: `evil.example:${port}` } })).toBe(403);
    expect(await upgradeStatus(d.url, { origin: `http://evil.example:${port}`, headers: { Host: `evil.example:${port}` } })).toBe(403);
    expect(await upgradeStatus(d.url, { origin: `http://127.0.0.1:${port}` })).toBe(101);
    expect(await upgradeStatus(d.url, { origin: `http://localhost:${port}`, headers: { Host: `localhost:${port}` } })).toBe(101);
    const { request } = await import('node:http');
    const status = await new Promise<number>((resolve, reject) => {
      request({ host: '127.0.0.1', port, path: '/', headers: { Host: 'rebound.evil.example' } }, (res) => { res.resume(); resolve(res.statusCode!); })
        .on('error', reject).end();
    });
    expect(status).toBe(403);
  });

  it('a message over maxPayload closes that socket (1009); the server carries on', async () => {
    const c = await connect(d.url);
    c.ws.send(JSON.stringify({ type: 'login', password: 'x'.repeat(5000) }));
    expect((await c.closed).code).toBe(1009);
    const c2 = await connect(d.url);
    expect((await c2.ask({ type: 'ping' })).type).toBe('pong');
    c2.close();
  });

  it('at most 64 sockets at once: the next upgrade is refused (503) until one closes', async () => {
    const s = await serveDashboard(rt);
    try {
      const open = await Promise.all(Array.from({ length: 64 }, () => connect(s.url)));
      expect(await upgradeStatus(s.url, {})).toBe(503);
      open[0]!.close();
      await open[0]!.closed;
      expect(await upgradeStatus(s.url, {})).toBe(101);
      for (const c of open) c.close();
    } finally {
      await s.close();
    }
  });

  it('hostile messages get an error reply, never a crash', async () => {
    const c = await connect(d.url);
    for (const raw of ['not json', '[1,2]', 'null', '42', '"x"', '{"type":"x"}', '{"type":{"toString":1}}', '{"type":"admin","action":"explode"}',
      '{"type":"admin","action":["drain"]}', '{"type":"login","password":42}', '{"type":"login"}', '{"__proto__":{"type":"login"}}']) {
      const reply = await c.ask(raw);
      expect(reply.type, raw).toBe('error');
    }
    const bin = c.next((m) => m.type === 'error');
    c.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    expect((await bin).error).toMatch(/binary/);
    expect((await c.ask({ type: 'ping' })).type).toBe('pong');
    expect(rt.stats().state).toBe('running');
    c.close();
  });

  it('without a configured password, admin is disabled (not open): login and every action are refused', async () => {
    const c = await connect(ro.url);
    expect(c.messages[0]).toMatchObject({ type: 'hello', admin: false });
    const login = await c.ask({ type: 'login', password: '' });
    expect(login).toMatchObject({ type: 'login', ok: false });
    expect(String(login.error)).toMatch(/disabled/);
    for (const action of ADMIN_ACTIONS) {
      const r = await c.ask({ type: 'admin', action, token: '0:1#0', task: 'inc' });
      expect(r, action).toMatchObject({ type: 'admin', ok: false });
    }
    expect(rt.stats().state).toBe('running');
    c.close();
  });

  it('admin needs a login; wrong passwords are refused and, at perConnection failures, the socket is closed (1008)', async () => {
    const c = await connect(d.url);
    expect(await c.ask({ type: 'admin', action: 'drain' })).toMatchObject({ ok: false, error: 'log in first' });
    expect(rt.stats().state).toBe('running');
    expect(await c.ask({ type: 'login', password: 'guess 1' })).toMatchObject({ type: 'login', ok: false });
    const closed = c.closed;
    await c.ask({ type: 'login', password: 'guess 2' });
    expect((await closed).code).toBe(1008);
    expect(rt.stats().state).toBe('running');
  });

  it('logged in: drain and resume change the runtime\'s state; kill retracts a queued token; each action is in the feed and the trace', async () => {
    const c = await connect(d.url);
    expect(await c.ask({ type: 'login', password: PASSWORD })).toMatchObject({ type: 'login', ok: true });
    const queued = rt.producer('tenant').submit(rt.task('inc'), 1) as Token;
    expect(queued.state).toBe('pending');
    const id = `${queued.key.attachment}:${queued.key.index}#${queued.key.generation}`;
    // The queued token is listed (by the same key) in the next update.
    const listed = await c.next((m) => m.type === 'update' && (m.queued as { token: string }[]).some((q) => q.token === id));
    expect((listed.queued as { token: string; producer: string; task: string }[]).find((q) => q.token === id)).toMatchObject({ producer: 'tenant', task: 'inc' });

    expect(await c.ask({ type: 'admin', action: 'drain' })).toMatchObject({ ok: true });
    expect(rt.stats().state).toBe('draining');
    expect(rt.producer('tenant').submit(rt.task('inc'), 1)).toMatchObject({ admitted: false, reason: 'draining' });
    expect(await c.ask({ type: 'admin', action: 'resume' })).toMatchObject({ ok: true });
    expect(rt.stats().state).toBe('running');

    expect(await c.ask({ type: 'admin', action: 'kill', token: id })).toMatchObject({ ok: true, message: 'retracted' });
    expect(queued.outcome).toBe('retracted');
    expect(await c.ask({ type: 'admin', action: 'kill', token: id })).toMatchObject({ ok: false }); // already resolved
    const running = `${blocker.key.attachment}:${blocker.key.index}#${blocker.key.generation}`;
    expect(await c.ask({ type: 'admin', action: 'kill', token: running })).toMatchObject({ ok: false }); // never a running task
    expect(blocker.state).toBe('running');
    expect(await c.ask({ type: 'admin', action: 'kill', token: '0:1' })).toMatchObject({ type: 'error' });
    // The Guard House: isolate, then release (its own test below has the details).
    expect(await c.ask({ type: 'admin', action: 'isolate', task: 'inc' })).toMatchObject({ ok: true, message: 'isolated inc' });
    expect(await c.ask({ type: 'admin', action: 'release', task: 'inc' })).toMatchObject({ ok: true });
    expect(await c.ask({ type: 'admin', action: 'isolate', task: 'no-such-task' })).toMatchObject({ type: 'error' });

    // The feed shows each action with its session and result.
    const u = await c.next((m) => m.type === 'update');
    const admins = (u.feed as { kind: string; what: string; ok: boolean; session: number; token: string | null }[]).filter((f) => f.kind === 'admin');
    expect(admins.map((a) => [a.what, a.ok])).toEqual([['drain', true], ['resume', true], ['kill', true], ['kill', false], ['kill', false], ['isolate', true], ['release', true]]);
    const session = (c.messages.find((m) => m.type === 'hello')!.session) as number;
    expect(new Set(admins.map((a) => a.session))).toEqual(new Set([session]));
    expect(admins[2]!.token).toBe(id);
    expect((u.feed as { kind: string; what: string; token: string }[]).some((f) => f.kind === 'resolved' && f.what === 'retracted' && f.token === id)).toBe(true);
    expect(u.guard).toMatchObject({ available: true, quarantine: [] });

    // And the recorder has them: ADMIN records with action, session, target and result.
    const file = join(dir, 'admin.trace');
    rt.saveTrace(file);
    const recs = readTrace(file).records.filter((r) => r.kind === RecordKind.ADMIN);
    expect(recs.map((r) => [ADMIN_ACTIONS[r.aux], r.k0, r.k1])).toEqual([
      ['drain', session, 1], ['resume', session, 1], ['kill', session, 1], ['kill', session, 0], ['kill', session, 0], ['isolate', session, 1], ['release', session, 1],
    ]);
    expect([recs[2]!.tokenAtt, recs[2]!.token, recs[2]!.gen]).toEqual([queued.key.attachment, queued.key.index, queued.key.generation]);
    expect(recs[5]!.task).toBe(rt.names.indexOf('inc'));
    c.close();
  });

  it('the Guard House panel shows every task\'s breaker; isolate and release go through rt.guard', async () => {
    const c = await connect(d.url);
    expect(c.messages[0]).toMatchObject({ type: 'hello', guard: true });
    await c.ask({ type: 'login', password: PASSWORD });
    expect(await c.ask({ type: 'admin', action: 'isolate', task: 'echo' })).toMatchObject({ ok: true, message: 'isolated echo' });
    expect(rt.guard.state('echo')).toMatchObject({ state: 'isolated', note: `dashboard session ${c.messages.find((m) => m.type === 'hello')!.session}` });
    const u = await c.next((m) => m.type === 'update' && (m.guard as { tasks?: Record<string, unknown> }).tasks?.echo !== null);
    expect(u.guard).toMatchObject({ available: true, quarantine: [] });
    expect((u.guard as { tasks: Record<string, unknown> }).tasks.echo).toMatchObject({ state: 'isolated' });
    // Isolated: a submit of it is refused at admission.
    expect(rt.producer('guarded').submit(rt.task('echo'), 1)).toMatchObject({ admitted: false, reason: 'quarantined' });
    expect(await c.ask({ type: 'admin', action: 'release', task: 'echo' })).toMatchObject({ ok: true });
    expect(rt.guard.state('echo')).toMatchObject({ state: 'closed' }); // released: back to closed (it keeps a breaker word now)
    expect(await c.ask({ type: 'admin', action: 'release', task: 'echo' })).toMatchObject({ ok: false }); // nothing to release
    c.close();
  });

  it('the global login limit refuses even the right password once full, without checking it', async () => {
    const lim = await serveDashboard(rt, { password: PASSWORD, login: { perConnection: 100, global: 2, windowMs: 3_600_000 } });
    try {
      const c = await connect(lim.url);
      await c.ask({ type: 'login', password: 'a' });
      const c2 = await connect(lim.url); // another connection: the limit is global
      await c2.ask({ type: 'login', password: 'b' });
      const r = await c2.ask({ type: 'login', password: PASSWORD });
      expect(r).toMatchObject({ type: 'login', ok: false });
      expect(String(r.error)).toMatch(/too many failed logins/);
      expect(await c2.ask({ type: 'admin', action: 'drain' })).toMatchObject({ ok: false });
      expect(rt.stats().state).toBe('running');
      c.close();
      c2.close();
    } finally {
      await lim.close();
    }
  });
});

