// The public surface of @hal/observability: logs, metrics, readiness and health endpoints.

export { bearerToken, tokensEqual } from './bearer-token.ts';
export { type HealthPluginOptions, healthPlugin } from './health-plugin.ts';
export { type Clock, type Lifecycle, systemClock } from './lifecycle.ts';
export { createLogger, type Logger, type LoggerOptions, REDACT_CENSOR } from './logger.ts';
export {
  createHalMetrics,
  createRegistry,
  type HalMetrics,
  type Registry,
  type RegistryOptions,
} from './metrics.ts';
export { createRateLimitedLog, type RateLimitedLog, type RateLimitedLogOptions } from './rate-limited-log.ts';
export {
  Readiness,
  type ReadinessCheck,
  type ReadinessCheckOutcome,
  type ReadinessOptions,
  type ReadinessReport,
  type ReadinessResult,
} from './readiness.ts';
