import {
  ErrorCode,
  envApproveResultSchema,
  envManifestDocumentSchema,
  envManifestViewSchema,
  HalError,
  type ProjectEnvSpec,
  resolveProjectEnv,
  TrackerQuery,
  trackerQuerySchemas,
} from '@hal/protocol';
import { z } from 'zod';
import type { ApiDeps } from '../deps.ts';
import { CHECK_TIMEOUT_MS, checkData, envCommands, provisionData } from '../env-commands.ts';
import { defineRoute, type RouteSpec } from '../route-table.ts';

const nodeParams = z.strictObject({ node: z.string().min(1).max(256) });
const timeoutMs = z.number().int().min(100).max(600_000).optional();
const project = z.string().min(1).max(256);

/** An approved install may take minutes. */
const APPROVE_TIMEOUT_MS = 600_000;

const checkBody = z.strictObject({ project: project.optional(), timeout_ms: timeoutMs });
const provisionBody = z.strictObject({
  project: project.optional(),
  dry_run: z.boolean().default(false),
  timeout_ms: timeoutMs,
});
const approveBody = z.strictObject({ project, item: z.string().min(1).max(300), timeout_ms: timeoutMs });
const putQuery = z.strictObject({
  /** Store only if the manifest is still at this revision (0: only if none exists yet). */
  if_revision: z.coerce.number().int().min(0).optional(),
});

/**
 * Environment manifests (spec §8): the manifest itself (admin), the latest results the tracker
 * keeps, and the commands that check, provision and approve on a node. Every command carries
 * the resolved specs of the node's projects, read from KV at that moment. AGENT.md has its own
 * routes (agent-md.ts).
 */
export function envRoutes(deps: ApiDeps): RouteSpec[] {
  const { tracker } = deps;
  const { manifest, send } = envCommands(deps);

  /** Specs of the projects the node serves that the manifest names; NOT_FOUND if none. */
  async function specsFor(node: string, only?: string): Promise<ProjectEnvSpec[]> {
    const [view, m] = await Promise.all([tracker.query(TrackerQuery.NODES_GET, { node }), manifest()]);
    const names = view.projects.map((p) => p.name).filter((p) => only === undefined || p === only);
    if (only !== undefined && names.length === 0) {
      throw new HalError(ErrorCode.PROJECT_NOT_FOUND, `node "${node}" has no project "${only}"`, {
        details: { node, project: only },
      });
    }
    const specs = names.flatMap((p) => {
      const spec = resolveProjectEnv(m, p);
      return spec === undefined ? [] : [spec];
    });
    if (specs.length === 0) {
      throw new HalError(
        ErrorCode.NOT_FOUND,
        `the environment manifest (revision ${m.revision}) has no entry for ${only === undefined ? `any project of node "${node}"` : `project "${only}"`}`,
        { details: { node, projects: names, revision: m.revision } },
      );
    }
    return specs;
  }

  return [
    defineRoute({
      method: 'GET',
      url: '/api/v1/env/manifest',
      summary: 'The environment manifest: projects, templates, hooks, files; and its revision',
      tag: 'env',
      role: 'admin',
      response: envManifestViewSchema,
      async handler() {
        const m = await manifest();
        return { data: m, meta: { revision: m.revision } };
      },
    }),
    defineRoute({
      method: 'PUT',
      url: '/api/v1/env/manifest',
      summary: 'Replace the environment manifest (a new revision); ?if_revision=N refuses a stale write',
      tag: 'env',
      role: 'admin',
      query: putQuery,
      body: envManifestDocumentSchema,
      response: envManifestViewSchema,
      auditAction: 'env.manifest.put',
      async handler({ body, query, audit }) {
        const stored = await (await deps.envManifest()).put(body, query.if_revision);
        // The document may be large: the audit keeps what changed, not the whole text.
        audit.params = {
          revision: stored.revision,
          projects: Object.keys(stored.document.projects),
          templates: Object.keys(stored.document.templates),
        };
        return { data: stored, meta: { revision: stored.revision } };
      },
    }),
    defineRoute({
      method: 'GET',
      url: '/api/v1/env/status',
      summary: 'Latest environment check of every node × project, with approvals waiting',
      tag: 'env',
      role: 'viewer',
      query: trackerQuerySchemas.env_status.request.strict(),
      response: trackerQuerySchemas.env_status.response.shape.results,
      async handler({ query }) {
        const { results } = await tracker.query(TrackerQuery.ENV_STATUS, query);
        return { data: results, meta: { count: results.length } };
      },
    }),
    defineRoute({
      method: 'GET',
      url: '/api/v1/env/status/:node',
      summary: "Latest environment check of one node's projects",
      tag: 'env',
      role: 'viewer',
      params: nodeParams,
      response: trackerQuerySchemas.env_status.response.shape.results,
      async handler({ params }) {
        const [, { results }] = await Promise.all([
          tracker.query(TrackerQuery.NODES_GET, { node: params.node }),
          tracker.query(TrackerQuery.ENV_STATUS, { node: params.node }),
        ]);
        return { data: results, meta: { count: results.length } };
      },
    }),
    defineRoute({
      method: 'GET',
      url: '/api/v1/env/drift',
      summary: 'Files that differ from the manifest (missing, outdated, modified), per node × project',
      tag: 'env',
      role: 'viewer',
      query: trackerQuerySchemas.env_drift.request.strict(),
      response: trackerQuerySchemas.env_drift.response.shape.drift,
      async handler({ query }) {
        const { drift } = await tracker.query(TrackerQuery.ENV_DRIFT, query);
        return { data: drift, meta: { count: drift.length } };
      },
    }),
    defineRoute({
      method: 'POST',
      url: '/api/v1/env/check/:node',
      summary: "Check a node's projects against the manifest now",
      tag: 'env',
      role: 'operator',
      params: nodeParams,
      body: checkBody,
      response: checkData.shape.results,
      auditAction: 'env.check',
      async handler({ params, body, principal, audit }) {
        audit.target.node = params.node;
        if (body.project) audit.target.project = body.project;
        const specs = await specsFor(params.node, body.project);
        const data = await send(
          params.node,
          { type: 'env_check', specs, ...(body.project ? { project: body.project } : {}) },
          principal,
          body.timeout_ms ?? CHECK_TIMEOUT_MS,
          checkData,
        );
        return { data: data.results, meta: { node: params.node, count: data.results.length } };
      },
    }),
    defineRoute({
      method: 'POST',
      url: '/api/v1/env/provision/:node',
      summary:
        'Apply the safe fixes on a node (dry_run: only say what would change); risky ones wait for approval',
      tag: 'env',
      role: 'operator',
      params: nodeParams,
      body: provisionBody,
      response: provisionData.shape.results,
      auditAction: 'env.provision',
      async handler({ params, body, principal, audit }) {
        audit.target.node = params.node;
        if (body.project) audit.target.project = body.project;
        const specs = await specsFor(params.node, body.project);
        const data = await send(
          params.node,
          {
            type: 'env_provision',
            specs,
            dry_run: body.dry_run,
            ...(body.project ? { project: body.project } : {}),
          },
          principal,
          body.timeout_ms ?? CHECK_TIMEOUT_MS,
          provisionData,
        );
        return { data: data.results, meta: { node: params.node, dry_run: body.dry_run } };
      },
    }),
    defineRoute({
      method: 'POST',
      url: '/api/v1/env/approve/:node',
      summary:
        "Approve one risky fix: the node runs the manifest's command through its privileged helper, or shows it",
      tag: 'env',
      role: 'admin',
      params: nodeParams,
      body: approveBody,
      response: envApproveResultSchema,
      auditAction: 'env.approve',
      async handler({ params, body, principal, audit }) {
        audit.target.node = params.node;
        audit.target.project = body.project;
        audit.target.item = body.item;
        const [spec] = await specsFor(params.node, body.project);
        const data = await send(
          params.node,
          { type: 'env_approve', spec: spec!, item: body.item },
          principal,
          body.timeout_ms ?? APPROVE_TIMEOUT_MS,
          envApproveResultSchema,
        );
        audit.params = { ...audit.params, command: data.command, ran: data.ran, exit_code: data.exit_code };
        return { data, meta: { node: params.node } };
      },
    }),
  ];
}
