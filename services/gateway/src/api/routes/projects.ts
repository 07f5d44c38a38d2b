import { resumeProject } from '@hal/commands';
import { z } from 'zod';
import type { ApiDeps } from '../deps.ts';
import { idempotencyKeyOf } from '../idempotency-key.ts';
import { defineRoute, type RouteSpec } from '../route-table.ts';
import { projectParams, resumeProjectBody } from '../schemas.ts';

const resumeProjectData = z.object({
  action: z.enum(['already_running', 'resumed', 'started']),
  project: z.string(),
  session: z.string(),
  node: z.string(),
  data: z.unknown().optional(),
});

/** `POST /api/v1/projects/{project}/resume`: the API side of `halctl resume <project>`. */
export function projectRoutes({ tracker, commands }: ApiDeps): RouteSpec[] {
  return [
    defineRoute({
      method: 'POST',
      url: '/api/v1/projects/:project/resume',
      summary:
        'Pick a project up again: nothing when one of its sessions is busy, else resume its most recent live session, else start a session that reads .context/PROGRESS.md and CURRENT_TASK.md (action: already_running | resumed | started)',
      tag: 'sessions',
      role: 'operator',
      params: projectParams,
      body: resumeProjectBody,
      response: resumeProjectData,
      auditAction: 'project.resume',
      idempotent: true,
      async handler({ params, body, principal, audit, req }) {
        const key = idempotencyKeyOf(req);
        audit.target.project = params.project;
        const result = await resumeProject({ tracker, sessions: commands }, principal, {
          project: params.project,
          ...(body.node === undefined ? {} : { node: body.node }),
          ...(body.prompt === undefined ? {} : { prompt: body.prompt }),
          ...(body.timeout_ms === undefined ? {} : { timeoutMs: body.timeout_ms }),
          idempotencyKey: key,
        });
        audit.target.session = result.session;
        audit.target.node = result.node;
        return { data: result, meta: { node: result.node, idempotency_key: key } };
      },
    }),
  ];
}
