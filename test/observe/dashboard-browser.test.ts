// The dashboard in a real browser (issue 22, "Tested in a real browser"): headless Chromium
// (Debian's `chromium`, driven by puppeteer-core) loads the page, sees live numbers change while
// tasks run, is refused with a wrong password, logs in, drains and resumes (the runtime's state
// changes on the server), kills a queued token (it resolves 'retracted'), and a page on a foreign
// origin cannot open the dashboard's socket; raw clients with a foreign Origin or Host are refused
// the upgrade. Saves test-output/dashboard.png. No sleeps: every wait is a DOM condition
// (waitForFunction) or a runtime signal; a blocked worker (workers: 1) keeps tokens queued.
//
// Chromium missing is a failure, never a skip: .ci/run installs it (apt-get install chromium).
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RetractedError, Runtime, type Token } from '../../src/index.js';
import { serveDashboard, type DashboardServer } from '../../src/observe/index.js';
import { Signals } from '../helpers/signals.js';
import { upgradeStatus } from './helpers.js';

const CHROMIUM = process.env.SLUICE_CHROMIUM ?? '/usr/bin/chromium';
const tasks = new URL('../fixtures/tasks.mjs', import.meta.url);
const outDir = fileURLToPath(new URL('../../test-output/', import.meta.url));
const PASSWORD = 'correct horse battery staple';

const text = (page: Page, sel: string): Promise<string> => page.$eval(sel, (e) => e.textContent ?? '');
/** Wait until `expr` (JavaScript evaluated in the page, polled on animation frames) is truthy. */
const until = async (page: Page, expr: string): Promise<void> => { await page.waitForFunction(expr); };
const disabled = (page: Page, sel: string): Promise<boolean> => page.$eval(sel, (b) => (b as unknown as { disabled: boolean }).disabled);
const byId = (id: string): string => `document.getElementById(${JSON.stringify(id)})`;

describe('the dashboard in headless Chromium', () => {
  let browser: Browser;
  let page: Page;
  let rt: Runtime;
  let sig: Signals;
  let blocker: Token | null = null;
  let d: DashboardServer;
  let evil: Server;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    sig = new Signals();
    rt = await Runtime.start({ tasks, workers: 1, globalSlots: 64, steal: false });
    d = await serveDashboard(rt, { password: PASSWORD, intervalMs: 250 });
    if (!existsSync(CHROMIUM)) return; // the first test fails, saying so; every other one fails too
    browser = await puppeteer.launch({
      executablePath: CHROMIUM, headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--no-default-browser-check'],
    });
    page = await browser.newPage();
    await page.setViewport({ width: 1400, height: 1100 });
    page.on('pageerror', (e) => pageErrors.push(`pageerror: ${String(e)}`));
    page.on('console', (m) => { if (m.type() === 'error') pageErrors.push(`console: ${m.text()}`); });
  });

  afterAll(async () => {
    await browser?.close();
    await d?.close();
    await new Promise<void>((r) => (evil ? evil.close(() => r()) : r()));
    sig?.release('hold');
    await blocker?.promise().catch(() => undefined);
    if (rt !== undefined) {
      if (rt.stats().state === 'draining') rt.resume();
      await rt.close();
    }
    sig?.close();
  });

  it(`Chromium is installed at ${CHROMIUM} (apt-get install chromium; .ci/run installs it): never skipped`, () => {
    expect(existsSync(CHROMIUM), `Chromium is not installed at ${CHROMIUM}: the browser test needs it`).toBe(true);
  });

  it('loads the page and sees live numbers change while tasks run', async () => {
    await page.goto(d.url, { waitUntil: 'load' });
    await until(page, `${byId('conn')}.textContent === 'live'`);
    await until(page, `${byId('state')}.textContent === 'running'`);
    const before = await text(page, '#pool-completed');
    await Promise.all(Array.from({ length: 200 }, (_, i) => rt.run('inc', i)));
    // The next pushes carry the new count; the DOM shows it (no sleeping: wait for the value).
    await until(page, `(t => t !== ${JSON.stringify(before)} && Number(t.replace(/,/g, '')) >= 200)(${byId('pool-completed')}.textContent)`);
    expect(await text(page, '#sys-workers')).toBe('1');
    // Per-producer admission and the worker table are drawn from the same update.
    await until(page, `[...document.querySelectorAll('#producers tr td:first-child')].some((td) => td.textContent === 'default')`);
    await until(page, `document.querySelectorAll('#workers tr').length === 1`);
    await until(page, `document.querySelectorAll('#feed li[data-kind="resolved"]').length > 0`);
    expect(await text(page, '#guard')).not.toContain('not available'); // the Guard House panel, drawn from rt.guard
    // Read-only until logged in: admin buttons are disabled.
    expect(await disabled(page, '#admin-drain')).toBe(true);
  });

  it('a wrong password is refused: still read-only', async () => {
    await page.type('#login-password', 'not the password');
    await page.click('#login-button');
    await until(page, `${byId('login-status')}.textContent.startsWith('login refused')`);
    expect(await disabled(page, '#admin-drain')).toBe(true);
    expect(await page.$eval('#login-password', (i) => (i as unknown as { value: string }).value)).toBe('not the password');
    await page.$eval('#login-password', (i) => { (i as unknown as { value: string }).value = ''; });
    // The password went over the socket, not into the URL.
    expect(page.url()).toBe(d.url);
  });

  it('logs in, drains and resumes: the runtime\'s state changes on the server', async () => {
    await page.type('#login-password', PASSWORD);
    await page.click('#login-button');
    await until(page, `${byId('login-status')}.textContent === 'logged in: admin enabled'`);
    expect(page.url()).toBe(d.url);
    await until(page, `!${byId('admin-drain')}.disabled`);

    await page.click('#admin-drain');
    await until(page, `${byId('state')}.textContent === 'draining'`);
    expect(rt.stats().state).toBe('draining');
    expect(rt.producer('default').submit(rt.task('inc'), 1)).toMatchObject({ admitted: false, reason: 'draining' });

    await page.click('#admin-resume');
    await until(page, `${byId('state')}.textContent === 'running'`);
    expect(rt.stats().state).toBe('running');
    expect(rt.producer('default').submit(rt.task('inc'), 1).admitted).toBe(true);
    await until(page, `[...document.querySelectorAll('#feed li[data-kind="admin"]')].some((li) => / resume /.test(li.textContent))`);
  });

  it('shows the shared-memory percentiles and utilization when rt.stats() reports them (the metrics branch\'s fields)', async () => {
    // rt.stats() with `metrics: true` (built on its own branch) adds producers[].latency,
    // tasks[] and workers[].utilization; a stand-in adds the same shapes here.
    const lat = (p50: number) => ({ queueWait: { count: 9, p50, p90: p50, p99: 2 * p50, p999: 2 * p50, max: 3 * p50 }, run: { count: 9, p50, p90: p50, p99: 2 * p50, p999: 2 * p50, max: 3 * p50 } });
    const real = rt.stats.bind(rt);
    Object.defineProperty(rt, 'stats', {
      configurable: true,
      value: () => {
        const st = real();
        return {
          ...st, tasks: [{ name: 'inc', latency: lat(40) }], windowSeconds: 12,
          producers: st.producers.map((p) => ({ ...p, latency: lat(100) })), workers: st.workers.map((w) => ({ ...w, utilization: 0.25 })),
        };
      },
    });
    try {
      await until(page, `!document.getElementById('shm-latency').hidden`);
      await until(page, `[...document.querySelectorAll('#shm-latency-rows td:first-child')].some((td) => td.textContent === 'task inc')`);
      await until(page, `[...document.querySelectorAll('#workers td')].some((td) => td.textContent === '25%')`);
    } finally {
      delete (rt as unknown as Record<string, unknown>).stats;
    }
    await until(page, `document.getElementById('shm-latency').hidden`);
  });

  it('kills a queued token: it resolves retracted; the running one is untouched', async () => {
    blocker = rt.producer('tenant').submit(rt.task('blockUntil'), 'hold') as Token;
    await sig.started('hold');
    const queued = rt.producer('tenant').submit(rt.task('inc'), 7) as Token;
    expect(queued.state).toBe('pending');
    const id = `${queued.key.attachment}:${queued.key.index}#${queued.key.generation}`;
    const sel = `#queued li[data-token="${id}"] button.kill`;
    await page.waitForSelector(sel);
    await until(page, `!document.querySelector(${JSON.stringify(sel)}).disabled`);
    // Take the picture while there is something queued and the charts have data.
    mkdirSync(outDir, { recursive: true });
    const shot = `${outDir}dashboard.png`;
    await page.screenshot({ path: shot, fullPage: true });
    expect(statSync(shot).size).toBeGreaterThan(10_000);

    await page.click(sel);
    await until(page, `${byId('admin-result')}.textContent.startsWith('kill: ok')`);
    expect(queued.outcome).toBe('retracted');
    await expect(queued.promise()).rejects.toBeInstanceOf(RetractedError);
    expect(blocker.state).toBe('running');
    await until(page, `!document.querySelector(${JSON.stringify(`#queued li[data-token="${id}"]`)})`);
    await until(page, `[...document.querySelectorAll('#feed li')].some((li) => li.textContent.includes(${JSON.stringify(`resolved retracted  ${id}`)}))`);
  });

  it('the page ran without a script error or a CSP violation', () => {
    expect(pageErrors).toEqual([]);
  });

  it('a page on a foreign origin cannot open the dashboard\'s socket (cross-site WebSocket hijacking)', async () => {
    const target = d.url.replace(/^http/, 'ws') + 'ws';
    evil = createServer((_req, res) => {
      res.setHeader('Content-Type', 'text/html');
      res.end(`<!doctype html><title>waiting</title><script>
        const ws = new WebSocket(${JSON.stringify(target)});
        ws.onopen = () => { document.title = 'opened'; };
        ws.onerror = () => { document.title = 'refused'; };
      </script>`);
    });
    await new Promise<void>((r) => evil.listen(0, '127.0.0.1', () => r()));
    const port = (evil.address() as { port: number }).port;
    const p2 = await browser.newPage();
    // localhost:<other port> is another origin than 127.0.0.1:<dashboard port>.
    await p2.goto(`http://localhost:${port}/`);
    await until(p2, `document.title !== 'waiting'`);
    expect(await p2.title()).toBe('refused');
    // Control: the same page, against a dashboard told to trust that origin, opens the socket,
    // so what refused it above was the Origin check.
    const trusting = await serveDashboard(rt, { allowedHosts: [`localhost:${port}`] });
    try {
      const target2 = trusting.url.replace(/^http/, 'ws') + 'ws';
      await p2.evaluate(`(() => { document.title = 'waiting'; const ws = new WebSocket(${JSON.stringify(target2)});
        ws.onopen = () => { document.title = 'opened'; }; ws.onerror = () => { document.title = 'refused'; }; })()`);
      await until(p2, `document.title !== 'waiting'`);
      expect(await p2.title()).toBe('opened');
    } finally {
      await p2.close();
      await trusting.close();
    }
  });

  it('raw clients: a foreign Origin and a bad Host are refused the upgrade', async () => {
    expect(await upgradeStatus(d.url, { origin: 'http://evil.example' })).toBe(403);
    expect(await upgradeStatus(d.url, { headers: { Host: 'evil.example' } })).toBe(403);
    expect(await upgradeStatus(d.url, { origin: d.url.slice(0, -1) })).toBe(101); // its own origin passes
  });
});
