import { enrolledProjectSchema, enrollmentGrantSchema, enrollmentViewSchema } from '@hal/protocol';
import { z } from 'zod';
import type { ApiDeps } from '../deps.ts';
import { defineRoute, type RouteSpec } from '../route-table.ts';
import { idParams } from '../schemas.ts';

const enrollBody = z.strictObject({
  /** The projects the control plane routes to this node (`sessions start`); hello cannot add any. */
  projects: z
    .array(enrolledProjectSchema)
    .max(1000)
    .default([])
    .superRefine((projects, ctx) => {
      const seen = new Set<string>();
      projects.forEach((p, i) => {
        if (seen.has(p.name)) {
          ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicate project name "${p.name}"` });
        }
        seen.add(p.name);
      });
    }),
  /** Replace the token of a node that is already enrolled; its current token stops working at once. */
  rotate: z.boolean().default(false),
});

/**
 * Node enrollment: each agent's own credential. The token is shown once, in the answer to the
 * enroll; HAL_NODES keeps only its hash. Audited as `node.enroll` / `node.revoke` (never the token).
 */
export function enrollmentRoutes({ enrollments }: ApiDeps): RouteSpec[] {
  /** `:id` is a node here; registerRoutes files path ids as sessions, so the target is corrected. */
  const nodeTarget = (audit: { target: Record<string, string> }, node: string) => {
    delete audit.target.session;
    audit.target.node = node;
  };
  return [
    defineRoute({
      method: 'GET',
      url: '/api/v1/enrollments',
      summary: 'Enrolled and revoked nodes with their projects (never a token or its hash)',
      tag: 'nodes',
      role: 'viewer',
      response: z.array(enrollmentViewSchema),
      async handler() {
        const data = await enrollments.list();
        return { data, meta: { count: data.length } };
      },
    }),
    defineRoute({
      method: 'POST',
      url: '/api/v1/nodes/:id/enroll',
      summary:
        'Enroll a node: mint its own agent token (shown once; stored only as a hash) and set its projects',
      tag: 'nodes',
      role: 'admin',
      params: idParams,
      body: enrollBody,
      response: enrollmentGrantSchema,
      successStatus: 201,
      auditAction: 'node.enroll',
      async handler({ params, body, principal, audit, reply }) {
        nodeTarget(audit, params.id);
        const grant = await enrollments.enroll({
          node: params.id,
          projects: body.projects,
          rotate: body.rotate,
          actor: principal.name,
        });
        // The one answer that carries the token: no proxy or browser may keep a copy.
        reply.header('cache-control', 'no-store');
        return { data: grant };
      },
    }),
    defineRoute({
      method: 'POST',
      url: '/api/v1/nodes/:id/revoke',
      summary:
        "Revoke a node's enrollment: every gateway closes its socket and refuses it until enrolled again",
      tag: 'nodes',
      role: 'admin',
      params: idParams,
      response: enrollmentViewSchema,
      auditAction: 'node.revoke',
      async handler({ params, principal, audit }) {
        nodeTarget(audit, params.id);
        return { data: await enrollments.revoke(params.id, principal.name) };
      },
    }),
  ];
}
