/**
 * Prometheus exposition of a runtime (issue 22): a prom-client Registry of its own whose metrics
 * are read from shared memory when scraped (metricsSnapshot, once per scrape) -- nothing runs on
 * the submit or task path. Names and units follow Prometheus conventions: `_total` counters,
 * `_seconds` histograms, a `_ratio` gauge; labels are bounded (producer: at most maxProducers;
 * task: the module's exports, at most 64; reason and outcome: the fixed tables; worker: the pool).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { Runtime } from '../runtime/runtime.js';
import { snapshot } from '../runtime/options.js';
import { ConfigError, describe } from '../errors.js';
import { type HistogramSnapshot, type MetricsSnapshot, metricsSnapshot } from './snapshot.js';

export interface PrometheusOptions {
  /** Also export Node's default process metrics (prom-client collectDefaultMetrics). Default false. */
  processMetrics?: boolean;
}

type Labels = Record<string, string | number>;
interface Sample { labels?: Labels; value: number; metricName?: string }
type Kind = 'counter' | 'gauge' | 'histogram';

/** The processMetrics option of an options snapshot (snapshot() read each key once: getters and Proxies included). */
function processMetricsOf(where: string, o: Record<string, unknown>): boolean {
  const pm = o.processMetrics;
  if (pm !== undefined && typeof pm !== 'boolean') throw new ConfigError(`${where}: processMetrics must be a boolean; got ${describe(pm)}`);
  return pm === true;
}

/** The runtime handle, or a ConfigError (nothing is read from anything else). */
function checkRuntime(where: string, rt: unknown): Runtime {
  if (!(rt instanceof Runtime)) throw new ConfigError(`${where}: expected a Runtime; got ${describe(rt)}`);
  return rt;
}

function histogramSamples(name: string, labels: Labels, h: HistogramSnapshot): Sample[] {
  const out: Sample[] = h.buckets.map((b) => ({ metricName: `${name}_bucket`, labels: { ...labels, le: b.le === null ? '+Inf' : b.le }, value: b.count }));
  out.push({ metricName: `${name}_sum`, labels, value: h.sum });
  out.push({ metricName: `${name}_count`, labels, value: h.count });
  return out;
}

/**
 * A prom-client Registry exporting `rt` (see docs/api.md for every metric). Serve it with
 * `registry.metrics()` and `registry.contentType`, or metricsHandler / serveMetrics.
 */
export function prometheusRegistry(rt: Runtime, options?: PrometheusOptions): Registry {
  checkRuntime('prometheusRegistry', rt);
  const processMetrics = processMetricsOf('prometheusRegistry', snapshot('prometheusRegistry', 'options', options, ['processMetrics']));
  const registry = new Registry();
  // One snapshot per scrape: registry.metrics() calls every get() in the same turn.
  let cached: MetricsSnapshot | null = null;
  const snap = (): MetricsSnapshot => {
    if (cached === null) {
      cached = metricsSnapshot(rt);
      setImmediate(() => { cached = null; });
    }
    return cached;
  };
  const add = (name: string, type: Kind, help: string, samples: (s: MetricsSnapshot) => Sample[]): void => {
    const metric = { name, help, type, aggregator: 'sum', get: async () => ({ name, help, type, aggregator: 'sum', values: samples(snap()) }) };
    registry.registerMetric(metric as unknown as Parameters<Registry['registerMetric']>[0]);
  };

  add('sluice_tasks_admitted_total', 'counter', 'Tasks admitted, per producer (all threads).',
    (s) => s.producers.map((p) => ({ labels: { producer: p.name }, value: p.admitted })));
  add('sluice_tasks_rejected_total', 'counter', 'Submits rejected, per producer and reason.',
    (s) => s.producers.flatMap((p) => Object.entries(p.rejected).map(([reason, v]) => ({ labels: { producer: p.name, reason }, value: v }))));
  add('sluice_tasks_resolved_total', 'counter', 'Admitted tasks resolved, per producer and outcome.',
    (s) => s.producers.flatMap((p) => Object.entries(p.resolved).map(([outcome, v]) => ({ labels: { producer: p.name, outcome }, value: v }))));
  add('sluice_tasks_in_flight', 'gauge', 'Tasks admitted and not yet resolved, per producer.',
    (s) => s.producers.map((p) => ({ labels: { producer: p.name }, value: p.inFlight })));
  add('sluice_global_in_flight', 'gauge', 'Tasks admitted and not yet resolved, all producers.', (s) => [{ value: s.global.inFlight }]);
  add('sluice_global_slots', 'gauge', 'The global in-flight limit (globalSlots).', (s) => [{ value: s.global.limit }]);
  add('sluice_queue_wait_seconds', 'histogram', 'Queue wait (submit to start), per producer, in the metrics window.',
    (s) => s.producers.flatMap((p) => (p.queueWait === null ? [] : histogramSamples('sluice_queue_wait_seconds', { producer: p.name }, p.queueWait))));
  add('sluice_run_seconds', 'histogram', 'Run time (start to end), per producer, in the metrics window.',
    (s) => s.producers.flatMap((p) => (p.run === null ? [] : histogramSamples('sluice_run_seconds', { producer: p.name }, p.run))));
  add('sluice_task_queue_wait_seconds', 'histogram', 'Queue wait (submit to start), per task function, in the metrics window.',
    (s) => s.tasks.flatMap((t) => histogramSamples('sluice_task_queue_wait_seconds', { task: t.name }, t.queueWait)));
  add('sluice_task_run_seconds', 'histogram', 'Run time (start to end), per task function, in the metrics window.',
    (s) => s.tasks.flatMap((t) => histogramSamples('sluice_task_run_seconds', { task: t.name }, t.run)));
  add('sluice_worker_utilization_ratio', 'gauge', 'Share of the metrics window a worker spent running tasks (0..1).',
    (s) => s.workers.flatMap((w) => (w.utilization === null ? [] : [{ labels: { worker: w.index }, value: w.utilization }])));
  add('sluice_worker_queued', 'gauge', 'Tasks waiting in a worker\'s ring.',
    (s) => s.workers.map((w) => ({ labels: { worker: w.index }, value: w.queued })));
  add('sluice_worker_async_in_flight', 'gauge', 'Async tasks in flight on a worker.',
    (s) => s.workers.map((w) => ({ labels: { worker: w.index }, value: w.asyncInFlight })));
  add('sluice_worker_executed_total', 'counter', 'Tasks a worker slot started.',
    (s) => s.workers.map((w) => ({ labels: { worker: w.index }, value: w.executed })));
  add('sluice_worker_restarts_total', 'counter', 'Times a worker slot\'s thread died and was replaced.',
    (s) => s.workers.map((w) => ({ labels: { worker: w.index }, value: w.restarts })));
  add('sluice_metrics_window_seconds', 'gauge', 'Seconds the histograms and utilization cover (since start or rt.resetStats()).',
    (s) => (s.windowSeconds === null ? [] : [{ value: s.windowSeconds }]));
  if (processMetrics) {
    collectDefaultMetrics({ register: registry });
    // prom-client names three gauges `_total` (promtool rejects that); each is the sum of its by-type gauge, kept.
    for (const n of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) registry.removeSingleMetric(n);
  }
  return registry;
}

/**
 * A node:http request handler answering every request with `registry`'s exposition (build one
 * per runtime with prometheusRegistry). A failed collection answers 500 with no detail.
 */
export function metricsHandler(registry: Registry): (req: IncomingMessage, res: ServerResponse) => void {
  if (!(registry instanceof Registry)) throw new ConfigError(`metricsHandler: expected a prom-client Registry (prometheusRegistry(rt)); got ${describe(registry)}`);
  return (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return;
    }
    registry.metrics().then((text) => {
      res.writeHead(200, { 'Content-Type': registry.contentType });
      res.end(req.method === 'HEAD' ? undefined : text);
    }, () => {
      res.writeHead(500, { 'Content-Type': 'text/plain' }).end('metrics collection failed\n');
    });
  };
}

export interface ServeMetricsOptions extends PrometheusOptions {
  /** Port; default 9464 (0: any free port). */
  port?: number;
  /** Interface; default '127.0.0.1' (loopback only). */
  host?: string;
}

export interface MetricsServer {
  /** The URL of the exposition, e.g. http://127.0.0.1:9464/metrics. */
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Serve `rt`'s metrics at GET /metrics (404 elsewhere) on loopback unless told otherwise. */
export async function serveMetrics(rt: Runtime, options?: ServeMetricsOptions): Promise<MetricsServer> {
  checkRuntime('serveMetrics', rt);
  const o = snapshot('serveMetrics', 'options', options, ['port', 'host', 'processMetrics']);
  const processMetrics = processMetricsOf('serveMetrics', o);
  const port = o.port === undefined ? 9464 : o.port;
  const host = o.host === undefined ? '127.0.0.1' : o.host;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`serveMetrics: port must be an integer 0..65535; got ${describe(port)}`);
  if (typeof host !== 'string' || host.length === 0) throw new ConfigError(`serveMetrics: host must be a non-empty string; got ${describe(host)}`);
  const handler = metricsHandler(prometheusRegistry(rt, { processMetrics }));
  const server: Server = createServer((req, res) => {
    if ((req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    handler(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => { server.off('error', reject); resolve(); });
  });
  const addr = server.address();
  const bound = typeof addr === 'object' && addr !== null ? addr.port : port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${bound}/metrics`,
    port: bound,
    close: () => new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections(); }),
  };
}
