// The public surface of @hal/config: schemas, loading, validation output and secret masking.
export {
  type AgentConfig,
  type AgentProject,
  agentConfigSchema,
  agentProjectSchema,
} from './agent-schema.ts';
export { ConfigError, type ConfigProblem } from './config-error.ts';
export {
  type Budget,
  budgetSchema,
  type CostConfig,
  type CostProjectMapping,
  CostProvider,
  type CostProviderConfig,
  costConfigSchema,
  costProjectMappingSchema,
  costProviderSchema,
  type ModelRate,
  modelRateSchema,
} from './cost.ts';
export { type DependenciesConfig, dependenciesSchema, dependencyProblems } from './dependencies.ts';
export type { EnvSource } from './env-overrides.ts';
export {
  type ConfigOf,
  type ConfigResult,
  type ConfigRole,
  type LoadConfigOptions,
  loadConfig,
  parseConfig,
  readConfig,
} from './load-config.ts';
export { LogLevel, logLevelSchema } from './log-level.ts';
export { isSecretKey, MASK, maskSecrets } from './mask-secrets.ts';
export {
  CountScope,
  DEFAULT_ROUTES,
  errorLoopSchema,
  escalateWaitingInputSchema,
  killOnCostSchema,
  type NumberComparison,
  nodeOfflineSchema,
  numberComparisonSchema,
  type PoliciesConfig,
  PolicyName,
  policiesSchema,
  provisionOnConnectSchema,
  ROUTE_TARGET_PATTERN,
  type RouteCondition,
  type RouteRule,
  restartOnCompactionSchema,
  resumeAfterLimitSchema,
  resumeOnIdleSchema,
  routeConditionProblems,
  routeConditionSchema,
  routeRuleSchema,
  routesSchema,
  routeTargetProblems,
  STATEFUL_EVENT_TYPES,
  startDependentsSchema,
  type WebhookConfig,
  webhookSchema,
  webhooksSchema,
} from './policies.ts';
export { runValidate, type TextSink } from './run-validate.ts';
export {
  type ApiToken,
  ApiTokenRole,
  apiTokenSchema,
  MIN_TOKEN_LENGTH,
  type SecurityConfig,
  securityConfigSchema,
  sharedTokenNotice,
} from './security.ts';
export {
  type DiscordConfig,
  discordConfigSchema,
  type InstancesConfig,
  instanceIdSchema,
  instancesConfigSchema,
  type NatsConfig,
  natsConfigSchema,
  type ServerConfig,
  type SupervisorConfig,
  serverConfigSchema,
  supervisorConfigSchema,
} from './supervisor-schema.ts';
