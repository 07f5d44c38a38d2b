import type { ProjectEnvSpec } from '@hal/protocol';
import { resolveInside } from '../project-files.ts';
import { type CheckContext, type Finding, item, short } from './finding.ts';
import { managedFile } from './managed-file.ts';

/** AGENT.md rendered from the manifest's template, inside the project. */
export function checkAgentMd(spec: ProjectEnvSpec, directory: string, ctx: CheckContext): Finding[] {
  const findings: Finding[] = [];
  if (spec.agent_md !== undefined) {
    const md = spec.agent_md;
    let target: string | undefined;
    try {
      target = resolveInside(directory, md.path);
    } catch (err) {
      findings.push({
        item: item('agent_md', md.path, short(md.sha256), (err as Error).message, 'fail', {
          kind: 'manual',
          action: 'fix the path',
        }),
      });
    }
    if (target !== undefined) {
      findings.push(
        managedFile(ctx, 'agent_md', md.path, md.path, target, md, 0o644, (previous) => ({
          file: md.path,
          sha256: md.sha256,
          previous,
        })),
      );
    }
  }
  return findings;
}
