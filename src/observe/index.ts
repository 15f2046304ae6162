/**
 * `sluice/observe`: watching and steering a running runtime from outside its hot path. Nothing
 * in the core imports this (it loads `ws`); import it only where you serve it.
 */
export { serveDashboard } from './dashboard.js';
export type { DashboardOptions, DashboardServer } from './dashboard.js';
export type { LoginLimits } from './dashboard-security.js';
