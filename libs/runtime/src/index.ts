// The public surface of @hal/runtime: how a HAL service process starts, reports health and stops.
export { createHealthServer, type HealthServer, type HealthServerOptions } from './health-server.ts';
export { runService, STOP_DEADLINE_MS, type StandaloneDeps, type StandaloneSpec } from './run-service.ts';
export { streamLimitsFor } from './stream-limits.ts';
