import { ENV_LIMITS, type EnvItem, type EnvResult, type EnvStatus, type ProjectEnvSpec } from '@hal/protocol';
import { checkAgentMd } from './checks/agent-md.ts';
import { checkContextFiles } from './checks/context-files.ts';
import { checkDocs } from './checks/docs.ts';
import { checkEnvVars } from './checks/env-vars.ts';
import type { CheckContext, Finding } from './checks/finding.ts';
import { checkGit } from './checks/git.ts';
import { checkPrograms } from './checks/programs.ts';

/**
 * Checks one project directory against its spec, item by item (one module per kind of check,
 * in `checks/`, in the order they are reported), and says how each failing item can be fixed.
 * Reads only: every write is inside an `apply`, which only the provisioner calls.
 */
export async function checkProject(
  spec: ProjectEnvSpec,
  directory: string,
  ctx: CheckContext,
): Promise<Finding[]> {
  return [
    ...(await checkPrograms(spec, directory, ctx)),
    ...checkEnvVars(spec, ctx),
    ...checkAgentMd(spec, directory, ctx),
    ...checkContextFiles(spec, directory),
    ...(await checkGit(spec, directory, ctx)),
    ...checkDocs(spec, directory),
  ];
}

/** `ready` when every required item passes, `missing` when one fails, `degraded` otherwise. */
export function statusOf(items: readonly EnvItem[]): EnvStatus {
  if (items.some((i) => i.status === 'fail')) return 'missing';
  if (items.some((i) => i.status === 'warn')) return 'degraded';
  return 'ready';
}

export function resultOf(
  findings: readonly Finding[],
  meta: { node: string; project: string; directory: string; revision: number; now: Date },
): EnvResult {
  const items = findings.map((f) => f.item).slice(0, ENV_LIMITS.items);
  return {
    node: meta.node,
    project: meta.project,
    directory: meta.directory,
    status: statusOf(items),
    checked_at: meta.now.toISOString(),
    revision: meta.revision,
    items,
    drift: findings.flatMap((f) => (f.drift ? [f.drift] : [])).slice(0, ENV_LIMITS.items),
  };
}
