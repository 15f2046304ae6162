/**
 * sluice/observe: metrics of a running runtime, read from shared memory when asked (docs/api.md,
 * "sluice/observe"). The core never imports this directory.
 */
export { metricsSnapshot, histogramSnapshot, LE_MICROS } from './snapshot.js';
export type { MetricsSnapshot, HistogramSnapshot, ProducerSnapshot, TaskSnapshot, WorkerSnapshot } from './snapshot.js';
export { prometheusRegistry, metricsHandler, serveMetrics } from './prometheus.js';
export type { PrometheusOptions, ServeMetricsOptions, MetricsServer } from './prometheus.js';
