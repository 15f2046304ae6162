/**
 * sluice/observe's Prometheus exposition (issue 22):
 *   - the exposition passes `promtool check metrics` (fails, never skips, without promtool);
 *   - its numbers are the runtime's: admitted counter, histogram _count, cumulative `le`
 *     buckets (monotonic, +Inf = count), per producer and per task;
 *   - a real Prometheus server, started here on loopback, scrapes it and answers a query for
 *     sluice_tasks_admitted_total with what the runtime admitted;
 *   - the core (everything outside src/observe and src/cli) never imports src/observe.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { createServer as netServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Runtime, type Producer } from '../../src/index.js';
import { metricsHandler, metricsSnapshot, prometheusRegistry, serveMetrics } from '../../src/observe/index.js';
import { ConfigError } from '../../src/errors.js';
import { runChild } from '../helpers/child.js';

const tasks = new URL('../fixtures/tasks.mjs', import.meta.url);
const PROMTOOL = '/usr/bin/promtool';
const PROMETHEUS = '/usr/bin/prometheus';

async function runAll(p: Producer, task: string, n: number, payload: (i: number) => unknown): Promise<void> {
  const tokens: PromiseLike<unknown>[] = [];
  for (let i = 0; i < n; i++) {
    const a = p.submit(task, payload(i));
    if (!a.admitted) throw new Error(`rejected: ${a.reason}`);
    tokens.push(a.token.then(undefined, () => 'rejected'));
  }
  await Promise.all(tokens);
}

function get(url: string, method = 'GET'): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    request(url, { method }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => { body += d; }).on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
    }).on('error', reject).end();
  });
}

/** The value of the sample `name{labels}` in an exposition, or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('Prometheus exposition', () => {
  let rt: Runtime;
  beforeAll(async () => {
    rt = await Runtime.start({ tasks, workers: 2, metrics: true });
    const p = rt.producer('web "front"\\end', { slots: 64 }); // a name that needs escaping
    await runAll(p, 'inc', 40, (i) => i);
    await runAll(p, 'fail', 5, () => 'x');
    await runAll(rt.producer('batch'), 'asyncInc', 20, (i) => i);
  });
  afterAll(async () => { await rt.close(); });

  it('passes promtool check metrics', async () => {
    expect(existsSync(PROMTOOL), `${PROMTOOL} is missing: install Debian's prometheus package (.ci/run does)`).toBe(true);
    const text = await prometheusRegistry(rt, { processMetrics: true }).metrics();
    const r = await runChild(PROMTOOL, ['check', 'metrics'], { input: text, timeout: 60_000 });
    expect(r.error).toBeUndefined();
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(text).toMatch(/^process_cpu_user_seconds_total /m); // processMetrics: true
  });

  it('reports the runtime\'s counts: counters, in-flight, histogram buckets per producer and per task', async () => {
    const text = await prometheusRegistry(rt).metrics();
    expect(text).not.toMatch(/^process_/m);
    const front = 'producer="web \\"front\\"\\\\end"';
    expect(sample(text, `sluice_tasks_admitted_total{${front}}`)).toBe(45);
    expect(sample(text, 'sluice_tasks_admitted_total{producer="batch"}')).toBe(20);
    expect(sample(text, `sluice_tasks_resolved_total{${front},outcome="fulfilled"}`)).toBe(40);
    expect(sample(text, `sluice_tasks_resolved_total{${front},outcome="rejected"}`)).toBe(5);
    expect(sample(text, `sluice_tasks_rejected_total{${front},reason="rate"}`)).toBe(0);
    expect(sample(text, `sluice_tasks_in_flight{${front}}`)).toBe(0);
    expect(sample(text, 'sluice_global_in_flight')).toBe(0);
    expect(sample(text, `sluice_run_seconds_count{${front}}`)).toBe(45);
    expect(sample(text, 'sluice_queue_wait_seconds_count{producer="batch"}')).toBe(20);
    expect(sample(text, 'sluice_task_run_seconds_count{task="inc"}')).toBe(40);
    expect(sample(text, 'sluice_task_run_seconds_count{task="fail"}')).toBe(5);
    expect(sample(text, 'sluice_task_run_seconds_count{task="asyncInc"}')).toBe(20);
    // Cumulative buckets: monotonic in le, +Inf = _count.
    const buckets = text.split('\n').filter((l) => l.startsWith('sluice_task_run_seconds_bucket{task="inc"'));
    expect(buckets.length).toBe(34);
    const counts = buckets.map((l) => Number(l.split(' ')[1]));
    for (let i = 1; i < counts.length; i++) expect(counts[i]).toBeGreaterThanOrEqual(counts[i - 1]!);
    expect(buckets.at(-1)).toMatch(/le="\+Inf"\} 40$/);
    for (const w of [0, 1]) {
      const u = sample(text, `sluice_worker_utilization_ratio{worker="${w}"}`)!;
      expect(u).toBeGreaterThanOrEqual(0);
      expect(u).toBeLessThanOrEqual(1);
    }
    // The snapshot the exposition is made of (the dashboard reads it too).
    const snap = metricsSnapshot(rt);
    expect(snap.metrics).toBe(true);
    expect(snap.producers.find((p) => p.name === 'batch')!.run!.count).toBe(20);
    expect(JSON.parse(JSON.stringify(snap))).toEqual(snap); // JSON-safe
  });

  it('exports counters and gauges but no histograms without metrics: true, and still passes promtool', async () => {
    const off = await Runtime.start({ tasks, workers: 1 });
    try {
      await runAll(off.producer('p'), 'inc', 3, (i) => i);
      const text = await prometheusRegistry(off).metrics();
      expect(sample(text, 'sluice_tasks_admitted_total{producer="p"}')).toBe(3);
      expect(text).not.toMatch(/^sluice_run_seconds_count/m);
      expect(existsSync(PROMTOOL), `${PROMTOOL} is missing`).toBe(true);
      const r = await runChild(PROMTOOL, ['check', 'metrics'], { input: text, timeout: 60_000 });
      expect(r.stdout + r.stderr).toBe('');
      expect(r.status).toBe(0);
    } finally {
      await off.close();
    }
  });

  it('serveMetrics serves GET /metrics on loopback, 404 elsewhere, 405 for other methods; bad options are a ConfigError', async () => {
    const server = await serveMetrics(rt, { port: 0 });
    try {
      expect(server.url).toBe(`http://127.0.0.1:${server.port}/metrics`);
      const ok = await get(server.url);
      expect(ok.status).toBe(200);
      expect(ok.type).toMatch(/^text\/plain; version=0\.0\.4/);
      expect(sample(ok.body, 'sluice_tasks_admitted_total{producer="batch"}')).toBe(20);
      expect((await get(`http://127.0.0.1:${server.port}/other`)).status).toBe(404);
      expect((await get(server.url, 'POST')).status).toBe(405);
      const head = await get(server.url, 'HEAD');
      expect([head.status, head.body]).toEqual([200, '']);
    } finally {
      await server.close();
    }
    await expect(serveMetrics(rt, { port: -1 })).rejects.toThrow(ConfigError);
    await expect(serveMetrics(rt, { host: '' })).rejects.toThrow(ConfigError);
    expect(() => prometheusRegistry(rt, { processMetric: true } as never)).toThrow(ConfigError);
    expect(() => prometheusRegistry(rt, { processMetrics: 'yes' } as never)).toThrow(ConfigError);
    expect(() => prometheusRegistry(rt, 5 as never)).toThrow(ConfigError);
    expect(() => metricsHandler({} as never)).toThrow(ConfigError);
    // Not a runtime, hostile options: a ConfigError, nothing else thrown, no server left listening.
    for (const bad of [null, {}, { stats: () => ({}) }, new Proxy({}, { get() { throw new Error('trap'); } })]) {
      expect(() => metricsSnapshot(bad as never)).toThrow(ConfigError);
      expect(() => prometheusRegistry(bad as never)).toThrow(ConfigError);
      await expect(serveMetrics(bad as never)).rejects.toThrow(ConfigError);
    }
    let reads = 0;
    const getter = { get processMetrics(): boolean { reads++; throw new Error('getter'); } };
    expect(() => prometheusRegistry(rt, getter)).toThrow(ConfigError);
    expect(reads).toBe(1);
    const trap = new Proxy({}, { ownKeys() { throw new Error('ownKeys'); } });
    await expect(serveMetrics(rt, trap as never)).rejects.toThrow(ConfigError);
  });
});

describe('a real Prometheus server scrapes sluice', () => {
  let rt: Runtime;
  let prom: ChildProcess | null = null;
  let metricsServer: Server | null = null;
  let dir = '';
  let promLog = '';

  afterAll(async () => {
    if (prom !== null && prom.exitCode === null) {
      const exited = new Promise((r) => prom!.once('exit', r));
      prom.kill('SIGKILL');
      await exited;
    }
    if (metricsServer !== null) await new Promise((r) => metricsServer!.close(r));
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
    await rt?.close();
  });

  it('answers /api/v1/query?query=sluice_tasks_admitted_total with what the runtime admitted', async () => {
    expect(existsSync(PROMETHEUS), `${PROMETHEUS} is missing: install Debian's prometheus package (.ci/run does)`).toBe(true);
    rt = await Runtime.start({ tasks, workers: 1, metrics: true });
    await runAll(rt.producer('e2e'), 'inc', 123, (i) => i);

    // Our /metrics, counting scrapes: each scrape is the event the polling below waits for.
    const handler = metricsHandler(prometheusRegistry(rt));
    let scrapes = 0;
    let onScrape: (() => void) | null = null;
    metricsServer = createServer((req, res) => {
      res.on('finish', () => { scrapes++; onScrape?.(); });
      handler(req, res);
    });
    await new Promise<void>((r) => metricsServer!.listen(0, '127.0.0.1', r));
    const port = (metricsServer.address() as { port: number }).port;

    const promPort = await freePort();
    dir = mkdtempSync(join(tmpdir(), 'sluice-prom-'));
    writeFileSync(join(dir, 'prometheus.yml'), [
      'global:', '  scrape_interval: 1s', '  evaluation_interval: 1s',
      'scrape_configs:', '  - job_name: sluice', '    static_configs:', `      - targets: ['127.0.0.1:${port}']`, '',
    ].join('\n'));
    prom = spawn(PROMETHEUS, [
      `--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${promPort}`,
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    prom.stdout!.setEncoding('utf8').on('data', (d: string) => { promLog += d; });
    prom.stderr!.setEncoding('utf8').on('data', (d: string) => { promLog = (promLog + d).slice(-20_000); });
    const died = new Promise<never>((_, reject) => prom!.once('exit', (code) => reject(new Error(`prometheus exited (${code}):\n${promLog}`))));
    died.catch(() => {});

    // Poll: after each scrape of ours (at most 90, about 1.5 min), ask Prometheus.
    let last = '';
    for (let attempt = 0; attempt < 90; attempt++) {
      const seen = scrapes;
      // A bound, not a synchronisation: the next scrape is the event; 60 s without one is a failure.
      let bound: NodeJS.Timeout | undefined;
      const noScrape = new Promise<never>((_, reject) => { bound = setTimeout(() => reject(new Error(`no scrape for 60 s; prometheus log:\n${promLog}`)), 60_000); });
      try {
        await Promise.race([died, noScrape, new Promise<void>((r) => { onScrape = () => { if (scrapes > seen) r(); }; if (scrapes > seen) r(); })]);
      } finally {
        clearTimeout(bound);
        onScrape = null;
      }
      const q = await get(`http://127.0.0.1:${promPort}/api/v1/query?query=sluice_tasks_admitted_total`).catch((e: Error) => ({ status: 0, type: '', body: e.message }));
      last = q.body;
      if (q.status !== 200) continue;
      const r = JSON.parse(q.body) as { status: string; data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
      const mine = r.data.result.find((s) => s.metric.producer === 'e2e');
      if (mine === undefined) continue;
      expect(r.status).toBe('success');
      expect(mine.metric.job).toBe('sluice');
      expect(Number(mine.value[1])).toBe(123);
      expect(Number(mine.value[1])).toBe(rt.stats().producers.find((p) => p.name === 'e2e')!.admitted);
      return;
    }
    throw new Error(`Prometheus never answered with the sample; last answer: ${last}\nlog:\n${promLog}`);
  }, 180_000);
});

describe('the core does not load sluice/observe', () => {
  it('no file outside src/observe and src/cli imports from src/observe', () => {
    const src = fileURLToPath(new URL('../../src', import.meta.url));
    const files = (d: string): string[] => readdirSync(d).flatMap((f) => {
      const p = join(d, f);
      return statSync(p).isDirectory() ? (['observe', 'cli'].includes(f) && d === src ? [] : files(p)) : p.endsWith('.ts') ? [p] : [];
    });
    const offenders = files(src).filter((f) => /from\s+['"][^'"]*\/observe\//.test(readFileSync(f, 'utf8')));
    expect(offenders).toEqual([]);
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = netServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    }).on('error', reject);
  });
}
