import { jetstreamClient, type NatsConnection } from '@hal/bus';
import type { Logger } from '@hal/observability';
import {
  type Command,
  ErrorCode,
  HalError,
  PolicyQuery,
  type PolicyView,
  type SessionView,
  toHalError,
} from '@hal/protocol';
import { type AuditLog, auditParams, createAuditLog } from './audit-log.ts';
import { type Principal, type Role, requireRole } from './roles.ts';
import {
  type CostClient,
  createCostClient,
  createPolicyClient,
  type PolicyClient,
} from './service-clients.ts';
import { createSessionCommands, type SessionCommands } from './session-commands.ts';
import { resolveTarget } from './target.ts';
import { createTrackerClient, type TrackerClient } from './tracker-client.ts';

export type SessionVerb = 'inject' | 'resume' | 'restart' | 'handoff' | 'kill';

export interface ActionResult {
  session: string;
  node: string;
  project: string;
  /** What the agent answered. */
  data: unknown;
}

export interface CommandLayer {
  tracker: TrackerClient;
  cost: CostClient;
  policy: PolicyClient;
  sessions: SessionCommands;
  audit: AuditLog;
  /** A session id or a project name → the session (see resolveTarget). */
  resolveSession(target: string): Promise<SessionView>;
  /** Inject / resume / restart / kill on a named target, role-checked and audited (refusals too). */
  act(
    principal: Principal,
    verb: SessionVerb,
    target: string,
    opts?: {
      prompt?: string;
      timeoutMs?: number;
      resolved?: Promise<SessionView>;
      idempotencyKey?: string;
    },
  ): Promise<ActionResult>;
  /** Answers a pending permission; without an id, the session's only pending one. */
  answerPermission(
    principal: Principal,
    target: string,
    response: 'once' | 'always' | 'reject',
    permissionId?: string,
    resolved?: Promise<SessionView>,
    opts?: { timeoutMs?: number; idempotencyKey?: string },
  ): Promise<ActionResult & { permission: string }>;
  start(
    principal: Principal,
    opts: {
      project: string;
      node?: string;
      prompt?: string;
      title?: string;
      timeoutMs?: number;
      /** Runs the start at most once, on one node, however often it is sent (24 h). */
      idempotencyKey?: string;
    },
  ): Promise<ActionResult>;
  setPolicy(principal: Principal, name: string, enabled: boolean): Promise<PolicyView>;
  /** A read: role-checked (viewer), not audited. */
  read<T>(principal: Principal, what: string, fn: () => Promise<T>): Promise<T>;
  /** Any other mutating action: role check + audit record around `fn`, refusals included. */
  audited<T>(
    principal: Principal,
    spec: { action: string; role: Role; target?: Record<string, string>; params?: unknown },
    fn: (target: Record<string, string>) => Promise<T>,
  ): Promise<T>;
}

export interface CommandLayerDeps {
  nc: NatsConnection;
  log: Logger;
  /** `security.audit.enabled`. */
  auditEnabled: boolean;
  /** Written into each audit record: `http-api`, `discord`. */
  source: string;
  now?: () => Date;
  trackerTimeoutMs?: number;
}

/**
 * The one command layer every front-end uses (the HTTP API, the Discord bridge): role check,
 * target resolution (session id or project name), the command over `hal.cmd.<node>`, and one
 * audit record per action — refused ones included, so a denied kill shows up in `halctl audit`.
 * It talks to the other services only over NATS.
 */
export function createCommandLayer(deps: CommandLayerDeps): CommandLayer {
  const now = deps.now ?? (() => new Date());
  const tracker = createTrackerClient(deps.nc, deps.trackerTimeoutMs);
  const sessions = createSessionCommands({ nc: deps.nc, tracker });
  const audit = createAuditLog({
    js: jetstreamClient(deps.nc),
    enabled: deps.auditEnabled,
    log: deps.log,
    now,
    source: deps.source,
  });
  const cost = createCostClient(deps.nc);
  const policy = createPolicyClient(deps.nc);

  async function audited<T>(
    principal: Principal,
    spec: { action: string; role: Role; target?: Record<string, string>; params?: unknown },
    fn: (target: Record<string, string>) => Promise<T>,
  ): Promise<T> {
    const target = { ...spec.target };
    let result: { ok: boolean; code?: string; message?: string } = { ok: true };
    try {
      requireRole(principal, spec.role, spec.action);
      return await fn(target);
    } catch (err) {
      const e = toHalError(err);
      result = { ok: false, code: e.code, message: e.message.slice(0, 500) };
      throw err;
    } finally {
      await audit.record({
        principal,
        action: spec.action,
        target,
        params: auditParams(spec.params),
        result,
      });
    }
  }

  const resolveSession = (target: string) => resolveTarget(tracker, target);

  return {
    tracker,
    cost,
    policy,
    sessions,
    audit,
    resolveSession,
    audited,
    async read(principal, what, fn) {
      requireRole(principal, 'viewer', what);
      return fn();
    },
    act(principal, verb, targetName, opts = {}) {
      const params = { target: targetName, ...(opts.prompt === undefined ? {} : { prompt: opts.prompt }) };
      return audited(principal, { action: `session.${verb}`, role: 'operator', params }, async (target) => {
        // A front-end may have started the look-up early (Discord: while the interaction is acknowledged).
        const view = await (opts.resolved ?? resolveSession(targetName));
        Object.assign(target, { session: view.session, node: view.node, project: view.project });
        const command = (
          verb === 'kill'
            ? { type: 'kill', session: view.session }
            : {
                type: verb,
                session: view.session,
                ...(opts.prompt === undefined ? {} : { prompt: opts.prompt }),
              }
        ) as Command;
        const data = await sessions.send(view.node, command, principal, opts.timeoutMs, opts.idempotencyKey);
        return { session: view.session, node: view.node, project: view.project, data };
      });
    },
    answerPermission(principal, targetName, response, permissionId, resolved, opts = {}) {
      const params = { target: targetName, response };
      return audited(
        principal,
        { action: 'session.permission', role: 'operator', params },
        async (target) => {
          const view = await (resolved ?? resolveSession(targetName));
          Object.assign(target, { session: view.session, node: view.node, project: view.project });
          let permission = permissionId;
          if (permission === undefined) {
            if (view.pending_permissions.length === 0) {
              throw new HalError(
                ErrorCode.PERMISSION_NOT_FOUND,
                `session ${view.session} has no pending permission`,
              );
            }
            if (view.pending_permissions.length > 1) {
              throw new HalError(
                ErrorCode.CONFLICT,
                `session ${view.session} has ${view.pending_permissions.length} pending permissions; name one: ${view.pending_permissions.join(', ')}`,
                { details: { permissions: view.pending_permissions } },
              );
            }
            permission = view.pending_permissions[0]!;
          }
          target.permission = permission;
          const data = await sessions.send(
            view.node,
            { type: 'permission', session: view.session, permission_id: permission, response },
            principal,
            opts.timeoutMs,
            opts.idempotencyKey,
          );
          return { session: view.session, node: view.node, project: view.project, data, permission };
        },
      );
    },
    start(principal, opts) {
      return audited(
        principal,
        { action: 'session.start', role: 'operator', target: { project: opts.project }, params: opts },
        async (target) => {
          const node = await sessions.startNode(principal, opts.project, opts.node, opts.idempotencyKey);
          target.node = node;
          const command: Command = {
            type: 'start',
            project: opts.project,
            ...(opts.prompt === undefined ? {} : { prompt: opts.prompt }),
            ...(opts.title === undefined ? {} : { title: opts.title }),
          };
          const data = await sessions.send(node, command, principal, opts.timeoutMs, opts.idempotencyKey);
          const session =
            typeof data === 'object' && data !== null && 'session' in data && typeof data.session === 'string'
              ? data.session
              : '';
          if (session !== '') target.session = session;
          return { session, node, project: opts.project, data };
        },
      );
    },
    setPolicy(principal, name, enabled) {
      const verb = enabled ? PolicyQuery.ENABLE : PolicyQuery.DISABLE;
      return audited(principal, { action: `policy.${verb}`, role: 'admin', target: { policy: name } }, () =>
        policy.query(verb, { name, by: principal.name }),
      );
    },
  };
}
