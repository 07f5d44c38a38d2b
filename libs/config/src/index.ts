// The public surface of @hal/config: schemas, loading, validation output and secret masking.

export { ConfigError, type ConfigProblem } from './config-error.ts';
export {
  type CostConfig,
  type CostProjectMapping,
  CostProvider,
  type CostProviderConfig,
  costConfigSchema,
} from './cost.ts';
export type { DependenciesConfig } from './dependencies.ts';

export {
  type ConfigOf,
  type ConfigRole,
  loadConfig,
  parseConfig,
  readConfig,
} from './load-config.ts';

export { MASK, maskSecrets } from './mask-secrets.ts';
export {
  CountScope,
  DEFAULT_ROUTES,
  type NumberComparison,
  type PoliciesConfig,
  PolicyName,
  ROUTE_TARGET_PATTERN,
  type RouteRule,
  type WebhookConfig,
} from './policies.ts';
export { runValidate } from './run-validate.ts';
export { sharedTokenNotice } from './security.ts';
export {
  type DiscordConfig,
  type NatsConfig,
  type SupervisorConfig,
  supervisorConfigSchema,
} from './supervisor-schema.ts';
