/**
 * sluice/observe: metrics of a running runtime, read from shared memory when asked, and the
 * dashboard that watches and steers it (docs/api.md, "sluice/observe"). The core never imports
 * this directory (it loads prom-client and ws); import it only where you serve them.
 */
export { metricsSnapshot, histogramSnapshot, LE_MICROS } from './snapshot.js';
export type { MetricsSnapshot, HistogramSnapshot, ProducerSnapshot, TaskSnapshot, WorkerSnapshot } from './snapshot.js';
export { prometheusRegistry, metricsHandler, serveMetrics } from './prometheus.js';
export type { PrometheusOptions, ServeMetricsOptions, MetricsServer } from './prometheus.js';
export { serveDashboard } from './dashboard.js';
export type { DashboardOptions, DashboardServer } from './dashboard.js';
export type { LoginLimits } from './dashboard-security.js';
