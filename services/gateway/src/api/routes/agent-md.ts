import {
  ErrorCode,
  envDriftSchema,
  envProvisionResultSchema,
  HalError,
  resolveProjectEnv,
  TrackerQuery,
} from '@hal/protocol';
import { z } from 'zod';
import type { ApiDeps } from '../deps.ts';
import { CHECK_TIMEOUT_MS, checkData, envCommands, provisionData } from '../env-commands.ts';
import { defineRoute, type RouteSpec } from '../route-table.ts';

const projectParams = z.strictObject({ project: z.string().min(1).max(256) });
const timeoutMs = z.number().int().min(100).max(600_000).optional();
const project = z.string().min(1).max(256);

const syncBody = z.strictObject({
  project: project.optional(),
  node: z.string().min(1).max(256).optional(),
  dry_run: z.boolean().default(false),
  timeout_ms: timeoutMs,
});
const agentMdData = z.object({
  project: z.string(),
  revision: z.number(),
  file: z.string(),
  sha256: z.string(),
  content: z.string(),
});
const agentMdDiffData = z.object({
  project: z.string(),
  revision: z.number(),
  sha256: z.string(),
  nodes: z.array(
    z.object({
      node: z.string(),
      /** `current`: the node's file is the rendered template; otherwise the drift type, or why it could not be asked. */
      state: z.enum(['current', 'missing', 'outdated', 'modified', 'unreachable']),
      drift: envDriftSchema.optional(),
      error: z.object({ code: z.string(), message: z.string() }).optional(),
    }),
  ),
});
const syncData = z.object({
  results: z.array(
    z.object({
      node: z.string(),
      ok: z.boolean(),
      results: z.array(envProvisionResultSchema).optional(),
      error: z.object({ code: z.string(), message: z.string() }).optional(),
    }),
  ),
});

/**
 * AGENT.md (spec §8): the file rendered from the manifest's template, each online node's copy
 * against it (a live check), and a sync that renders it on every node — files people changed
 * are kept and reported, never overwritten.
 */
export function agentMdRoutes(deps: ApiDeps): RouteSpec[] {
  const { tracker } = deps;
  const { manifest, send } = envCommands(deps);

  /** Online nodes serving `project` (all online nodes' projects when absent). */
  async function nodesWith(
    projectName?: string,
    node?: string,
  ): Promise<Array<{ node: string; projects: string[] }>> {
    const { nodes } = await tracker.query(TrackerQuery.NODES_LIST, { status: 'online' });
    return nodes
      .filter((n) => node === undefined || n.node === node)
      .map((n) => ({
        node: n.node,
        projects: n.projects.map((p) => p.name).filter((p) => projectName === undefined || p === projectName),
      }))
      .filter((n) => n.projects.length > 0);
  }

  const errorOf = (err: unknown) =>
    err instanceof HalError
      ? { code: err.code, message: err.message }
      : { code: ErrorCode.INTERNAL, message: 'internal error' };

  return [
    defineRoute({
      method: 'GET',
      url: '/api/v1/agent-md/:project',
      summary: "The project's AGENT.md as rendered from its template at the current manifest revision",
      tag: 'agent-md',
      role: 'viewer',
      params: projectParams,
      response: agentMdData,
      async handler({ params }) {
        const m = await manifest();
        const spec = resolveProjectEnv(m, params.project);
        if (spec?.agent_md === undefined) {
          throw new HalError(
            ErrorCode.NOT_FOUND,
            spec === undefined
              ? `the environment manifest has no project "${params.project}"`
              : `project "${params.project}" has no AGENT.md template (agent_config.template)`,
            { details: { project: params.project, revision: m.revision } },
          );
        }
        const md = spec.agent_md;
        return {
          data: {
            project: params.project,
            revision: m.revision,
            file: md.path,
            sha256: md.sha256,
            content: md.content,
          },
        };
      },
    }),
    defineRoute({
      method: 'GET',
      url: '/api/v1/agent-md/:project/diff',
      summary: "Each online node's AGENT.md of the project against the rendered template (a live check)",
      tag: 'agent-md',
      role: 'viewer',
      params: projectParams,
      response: agentMdDiffData,
      async handler({ params, principal }) {
        const m = await manifest();
        const spec = resolveProjectEnv(m, params.project);
        if (spec?.agent_md === undefined) {
          throw new HalError(
            ErrorCode.NOT_FOUND,
            `project "${params.project}" has no AGENT.md template in the manifest`,
            {
              details: { project: params.project, revision: m.revision },
            },
          );
        }
        const md = spec.agent_md;
        const targets = await nodesWith(params.project);
        const nodes = await Promise.all(
          targets.map(async (t) => {
            try {
              const data = await send(
                t.node,
                { type: 'env_check', specs: [spec], project: params.project },
                principal,
                CHECK_TIMEOUT_MS,
                checkData,
              );
              const drift = data.results[0]?.drift.find((d) => d.file === md.path);
              return { node: t.node, state: drift?.type ?? 'current', ...(drift ? { drift } : {}) } as const;
            } catch (err) {
              return { node: t.node, state: 'unreachable', error: errorOf(err) } as const;
            }
          }),
        );
        return { data: { project: params.project, revision: m.revision, sha256: md.sha256, nodes } };
      },
    }),
    defineRoute({
      method: 'POST',
      url: '/api/v1/agent-md/sync',
      summary:
        'Render AGENT.md on every online node of a project (or all); files people changed are kept and reported',
      tag: 'agent-md',
      role: 'operator',
      body: syncBody,
      response: syncData.shape.results,
      auditAction: 'agentmd.sync',
      async handler({ body, principal, audit }) {
        if (body.project) audit.target.project = body.project;
        if (body.node) audit.target.node = body.node;
        const m = await manifest();
        const targets = await nodesWith(body.project, body.node);
        const results = await Promise.all(
          targets.map(async (t) => {
            const specs = t.projects.flatMap((p) => {
              const s = resolveProjectEnv(m, p);
              return s?.agent_md === undefined ? [] : [s];
            });
            if (specs.length === 0) return { node: t.node, ok: true, results: [] };
            try {
              const data = await send(
                t.node,
                { type: 'env_provision', specs, dry_run: body.dry_run, only: ['agent_md'] },
                principal,
                body.timeout_ms ?? CHECK_TIMEOUT_MS,
                provisionData,
              );
              return { node: t.node, ok: true, results: data.results };
            } catch (err) {
              return { node: t.node, ok: false, error: errorOf(err) };
            }
          }),
        );
        return { data: results, meta: { revision: m.revision, nodes: results.length } };
      },
    }),
  ];
}
