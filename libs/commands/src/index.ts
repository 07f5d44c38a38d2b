// The public surface of @hal/commands: the command layer every front-end (HTTP API, Discord) calls.
export { type AuditEntry, type AuditLog, auditParams, createAuditLog } from './audit-log.ts';
export {
  type ActionResult,
  type CommandLayer,
  type CommandLayerDeps,
  createCommandLayer,
  type SessionVerb,
} from './command-layer.ts';
export {
  ProjectResumeAction,
  type ProjectResumeResult,
  resumeProject,
} from './project-resume.ts';
export { actorOf, type Principal, Role, requireRole, roleAtLeast } from './roles.ts';
export {
  type CostClient,
  createCostClient,
  createPolicyClient,
  type PolicyClient,
} from './service-clients.ts';
export { queryService, type ServiceQuery } from './service-query.ts';
export {
  createSessionCommands,
  DEFAULT_COMMAND_TIMEOUT_MS,
  type SessionCommands,
} from './session-commands.ts';
export { BUSY_STATES, LIVE_STATES, resolveTarget, type TargetCandidate } from './target.ts';
export {
  createTrackerClient,
  type TrackerClient,
  type TrackerRequest,
  type TrackerResponse,
} from './tracker-client.ts';
