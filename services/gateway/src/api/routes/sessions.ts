import type { Principal } from '@hal/commands';
import type { Command } from '@hal/protocol';
import { sessionViewSchema, TrackerQuery, trackerQuerySchemas } from '@hal/protocol';
import type { z } from 'zod';
import type { ApiDeps } from '../deps.ts';
import { idempotencyKeyOf } from '../idempotency-key.ts';
import { type AuditDraft, defineRoute, type RouteSpec } from '../route-table.ts';
import {
  commandResultData,
  idParams,
  injectBody,
  killBody,
  permissionBody,
  permissionParams,
  resumeBody,
  sessionEventsQuery,
  sessionLogsQuery,
  sessionsListQuery,
  startSessionBody,
} from '../schemas.ts';

export function sessionRoutes(deps: ApiDeps): RouteSpec[] {
  const { tracker, commands } = deps;

  /** Finds the session's node, then asks that node's gateway to act; the agent's answer is the data. */
  const act = async (
    session: string,
    command: Command,
    principal: Principal,
    audit: AuditDraft,
    timeoutMs: number | undefined,
    key: string,
  ) => {
    const node = await commands.nodeOfSession(session);
    audit.target.node = node;
    return {
      data: await commands.send(node, command, principal, timeoutMs, key),
      meta: { node, idempotency_key: key },
    };
  };

  const sessionAction = (
    verb: 'resume' | 'restart' | 'kill' | 'inject',
    summary: string,
    body: typeof injectBody | typeof resumeBody | typeof killBody,
  ) =>
    defineRoute({
      method: 'POST',
      url: `/api/v1/sessions/:id/${verb}`,
      summary,
      tag: 'sessions',
      role: 'operator',
      params: idParams,
      body: body as z.ZodType<{ prompt?: string; timeout_ms?: number | undefined }>,
      response: commandResultData,
      auditAction: `session.${verb}`,
      idempotent: true,
      async handler({ params, body: b, principal, audit, req }) {
        const key = idempotencyKeyOf(req);
        const prompt = b.prompt === undefined ? {} : { prompt: b.prompt };
        const command = (
          verb === 'kill'
            ? { type: 'kill', session: params.id }
            : { type: verb, session: params.id, ...prompt }
        ) as Command;
        return act(params.id, command, principal, audit, b.timeout_ms, key);
      },
    });

  return [
    defineRoute({
      method: 'GET',
      url: '/api/v1/sessions',
      summary: 'List sessions (filter by node, project, state; paginated with cursor)',
      tag: 'sessions',
      role: 'viewer',
      query: sessionsListQuery,
      response: trackerQuerySchemas.sessions_list.response.shape.sessions,
      async handler({ query }) {
        const page = await tracker.query(TrackerQuery.SESSIONS_LIST, query);
        return {
          data: page.sessions,
          meta: { next_cursor: page.next_cursor, total: page.total, count: page.sessions.length },
        };
      },
    }),
    defineRoute({
      method: 'GET',
      url: '/api/v1/sessions/:id',
      summary: 'One session: state, model, tokens, cost, pending permissions',
      tag: 'sessions',
      role: 'viewer',
      params: idParams,
      response: sessionViewSchema,
      async handler({ params }) {
        return { data: await tracker.query(TrackerQuery.SESSIONS_GET, { session: params.id }) };
      },
    }),
    defineRoute({
      method: 'GET',
      url: '/api/v1/sessions/:id/logs',
      summary: "The session's log: the assistant's text and tool calls, in order",
      tag: 'sessions',
      role: 'viewer',
      params: idParams,
      query: sessionLogsQuery,
      response: trackerQuerySchemas.sessions_logs.response.shape.entries,
      async handler({ params, query }) {
        // The look-up runs alongside, so an unknown id is SESSION_NOT_FOUND, not an empty log.
        const [, logs] = await Promise.all([
          tracker.query(TrackerQuery.SESSIONS_GET, { session: params.id }),
          tracker.query(TrackerQuery.SESSIONS_LOGS, { ...query, session: params.id }),
        ]);
        const last = logs.entries.at(-1);
        return {
          data: logs.entries,
          meta: { count: logs.entries.length, last_seq: last?.stream_seq ?? null },
        };
      },
    }),
    defineRoute({
      method: 'GET',
      url: '/api/v1/sessions/:id/events',
      summary: "The session's events from the event index",
      tag: 'sessions',
      role: 'viewer',
      params: idParams,
      query: sessionEventsQuery,
      response: trackerQuerySchemas.events_list.response.shape.events,
      async handler({ params, query }) {
        const [, page] = await Promise.all([
          tracker.query(TrackerQuery.SESSIONS_GET, { session: params.id }),
          tracker.query(TrackerQuery.EVENTS_LIST, { ...query, session: params.id }),
        ]);
        return {
          data: page.events,
          meta: { next_after_seq: page.next_after_seq, count: page.events.length },
        };
      },
    }),
    defineRoute({
      method: 'POST',
      url: '/api/v1/sessions',
      summary: 'Start a session of a project (on the given node, or any online node that has the project)',
      tag: 'sessions',
      role: 'operator',
      body: startSessionBody,
      response: commandResultData,
      successStatus: 201,
      auditAction: 'session.start',
      idempotent: true,
      async handler({ body, principal, audit, req }) {
        const key = idempotencyKeyOf(req);
        audit.target.project = body.project;
        const node = await commands.startNode(principal, body.project, body.node, key);
        audit.target.node = node;
        const command: Command = {
          type: 'start',
          project: body.project,
          ...(body.prompt === undefined ? {} : { prompt: body.prompt }),
          ...(body.title === undefined ? {} : { title: body.title }),
        };
        return {
          data: await commands.send(node, command, principal, body.timeout_ms, key),
          meta: { node, idempotency_key: key },
        };
      },
    }),
    sessionAction('inject', 'Send a prompt into a session', injectBody),
    sessionAction('resume', 'Resume a session (optionally with a prompt)', resumeBody),
    sessionAction('restart', 'Restart a session (optionally with a prompt)', resumeBody),
    sessionAction('kill', 'Abort a session', killBody),
    defineRoute({
      method: 'POST',
      url: '/api/v1/sessions/:id/permissions/:permissionId',
      summary: 'Answer a pending permission request (once, always or reject)',
      tag: 'sessions',
      role: 'operator',
      params: permissionParams,
      body: permissionBody,
      response: commandResultData,
      auditAction: 'session.permission',
      idempotent: true,
      async handler({ params, body, principal, audit, req }) {
        const key = idempotencyKeyOf(req);
        audit.target.permission = params.permissionId;
        const command: Command = {
          type: 'permission',
          session: params.id,
          permission_id: params.permissionId,
          response: body.response,
        };
        return act(params.id, command, principal, audit, body.timeout_ms, key);
      },
    }),
  ];
}
