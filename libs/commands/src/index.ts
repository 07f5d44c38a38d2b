// The public surface of @hal/commands: the command layer every front-end (HTTP API, Discord) calls.
export { type AuditLog, auditParams, createAuditLog } from './audit-log.ts';
export {
  type CommandLayer,
  createCommandLayer,
} from './command-layer.ts';
export { resumeProject } from './project-resume.ts';
export { actorOf, type Principal, Role, requireRole, roleAtLeast } from './roles.ts';
export { COST_QUERY_TIMING, createPolicyClient } from './service-clients.ts';
export { queryService } from './service-query.ts';
export {
  createSessionCommands,
  type SessionCommands,
} from './session-commands.ts';
export { resolveTarget, type TargetCandidate } from './target.ts';
export {
  createTrackerClient,
  type TrackerClient,
} from './tracker-client.ts';
