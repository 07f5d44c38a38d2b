import { type Principal, resolveTarget } from '@hal/commands';
import type { Command, SessionView } from '@hal/protocol';
import { handOffAcceptedSchema, sessionViewSchema, TrackerQuery, trackerQuerySchemas } from '@hal/protocol';
import type { z } from 'zod';
import type { ApiDeps } from '../deps.ts';
import { idempotencyKeyOf } from '../idempotency-key.ts';
import { type AuditDraft, defineRoute, type RouteSpec } from '../route-table.ts';
import {
  commandResultData,
  handOffBody,
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

/** Every route naming one session says so in its summary (OpenAPI). */
const BY_PROJECT = ' (`:id`: a session id, or a project name for its most recently active live session)';

export function sessionRoutes(deps: ApiDeps): RouteSpec[] {
  const { tracker, commands } = deps;

  /**
   * `:id` is a session id or a project name, as in Discord (`@hal/commands` resolveTarget): a
   * project means its most recently active live session, and several busy ones are
   * TARGET_AMBIGUOUS with the candidates, never a guess. The audit names the session it became.
   */
  const target = async (named: string, audit?: AuditDraft): Promise<SessionView> => {
    const view = await resolveTarget(tracker, named);
    if (audit) {
      audit.target.session = view.session;
      audit.target.node = view.node;
      audit.target.project = view.project;
      if (view.session !== named) audit.params.target = named;
    }
    return view;
  };

  /** Asks the session's node's gateway to act; the agent's answer is the data. */
  const act = async (
    view: SessionView,
    command: Command,
    principal: Principal,
    timeoutMs: number | undefined,
    key: string,
  ) => ({
    data: await commands.send(view.node, command, principal, timeoutMs, key),
    meta: { node: view.node, session: view.session, idempotency_key: key },
  });

  /** A read of one session's records: the look-up runs alongside, re-read when a project was named. */
  const readOf = async <T>(named: string, read: (session: string) => Promise<T>): Promise<T> => {
    const [view, first] = await Promise.all([target(named), read(named).catch(() => undefined)]);
    return view.session === named && first !== undefined ? first : read(view.session);
  };

  const sessionAction = (
    verb: 'resume' | 'restart' | 'kill' | 'inject',
    summary: string,
    body: typeof injectBody | typeof resumeBody | typeof killBody,
  ) =>
    defineRoute({
      method: 'POST',
      url: `/api/v1/sessions/:id/${verb}`,
      summary: `${summary}${BY_PROJECT}`,
      tag: 'sessions',
      role: 'operator',
      params: idParams,
      body: body as z.ZodType<{ prompt?: string; timeout_ms?: number | undefined }>,
      response: commandResultData,
      auditAction: `session.${verb}`,
      idempotent: true,
      async handler({ params, body: b, principal, audit, req }) {
        const key = idempotencyKeyOf(req);
        const view = await target(params.id, audit);
        const prompt = b.prompt === undefined ? {} : { prompt: b.prompt };
        const command = (
          verb === 'kill'
            ? { type: 'kill', session: view.session }
            : { type: verb, session: view.session, ...prompt }
        ) as Command;
        return act(view, command, principal, b.timeout_ms, key);
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
      summary: `One session: state, model, tokens, cost, pending permissions${BY_PROJECT}`,
      tag: 'sessions',
      role: 'viewer',
      params: idParams,
      response: sessionViewSchema,
      async handler({ params }) {
        return { data: await target(params.id) };
      },
    }),
    defineRoute({
      method: 'GET',
      url: '/api/v1/sessions/:id/logs',
      summary: `The session's log: the assistant's text and tool calls, in order${BY_PROJECT}`,
      tag: 'sessions',
      role: 'viewer',
      params: idParams,
      query: sessionLogsQuery,
      response: trackerQuerySchemas.sessions_logs.response.shape.entries,
      async handler({ params, query }) {
        // The look-up runs alongside, so an unknown id is SESSION_NOT_FOUND, not an empty log.
        const logs = await readOf(params.id, (session) =>
          tracker.query(TrackerQuery.SESSIONS_LOGS, { ...query, session }),
        );
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
      summary: `The session's events from the event index${BY_PROJECT}`,
      tag: 'sessions',
      role: 'viewer',
      params: idParams,
      query: sessionEventsQuery,
      response: trackerQuerySchemas.events_list.response.shape.events,
      async handler({ params, query }) {
        const page = await readOf(params.id, (session) =>
          tracker.query(TrackerQuery.EVENTS_LIST, { ...query, session }),
        );
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
    sessionAction(
      'restart',
      "Restart a session: the graceful hand-off of POST /api/v1/sessions/{id}/handoff with its default 60 s idle wait (the prompt is added to the new session's first prompt). Answers at once with a handoff_id; the new session arrives in handoff.completed (an agent of the previous protocol answers with the new session)",
      resumeBody,
    ),
    sessionAction('kill', 'Abort a session', killBody),
    defineRoute({
      method: 'POST',
      url: '/api/v1/sessions/:id/handoff',
      summary: `Hand a session off (graceful restart): it writes .context/PROGRESS.md and CURRENT_TASK.md, goes idle (bounded), is aborted, and a new session continues from those files. Answers at once with a handoff_id; handoff.started / handoff.completed / handoff.failed events follow${BY_PROJECT}`,
      tag: 'sessions',
      role: 'operator',
      params: idParams,
      body: handOffBody,
      response: handOffAcceptedSchema,
      successStatus: 202,
      auditAction: 'session.handoff',
      idempotent: true,
      async handler({ params, body, principal, audit, req }) {
        const key = idempotencyKeyOf(req);
        const view = await target(params.id, audit);
        const command: Command = {
          type: 'handoff',
          session: view.session,
          ...(body.prompt === undefined ? {} : { prompt: body.prompt }),
          ...(body.wait_idle_seconds === undefined ? {} : { wait_idle_ms: body.wait_idle_seconds * 1000 }),
        };
        const answer = await act(view, command, principal, body.timeout_ms, key);
        return { ...answer, data: handOffAcceptedSchema.parse(answer.data) };
      },
    }),
    defineRoute({
      method: 'POST',
      url: '/api/v1/sessions/:id/permissions/:permissionId',
      summary: `Answer a pending permission request (once, always or reject)${BY_PROJECT}`,
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
        const view = await target(params.id, audit);
        const command: Command = {
          type: 'permission',
          session: view.session,
          permission_id: params.permissionId,
          response: body.response,
        };
        return act(view, command, principal, body.timeout_ms, key);
      },
    }),
  ];
}
