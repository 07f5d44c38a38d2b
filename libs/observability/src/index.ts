// The public surface of @hal/observability: logs, metrics, readiness and health endpoints, and
// the clock and capped backoff that time a process's waits and retries.

export { type Backoff, backoffDelay } from './backoff.ts';
export { bearerToken, tokensEqual } from './bearer-token.ts';
export { healthPlugin } from './health-plugin.ts';
export { type Clock, type Lifecycle, systemClock } from './lifecycle.ts';
export { createLogger, type Logger } from './logger.ts';
export {
  createHalMetrics,
  createRegistry,
  type HalMetrics,
  type Registry,
} from './metrics.ts';
export { createRateLimitedLog } from './rate-limited-log.ts';
export {
  Readiness,
  type ReadinessResult,
} from './readiness.ts';
