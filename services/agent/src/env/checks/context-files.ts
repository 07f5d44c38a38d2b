import { CONTEXT_FILES, type ProjectEnvSpec } from '@hal/protocol';
import { readState, resolveInside, writeAtomic } from '../project-files.ts';
import { type Finding, item } from './finding.ts';

const SCAFFOLD: Readonly<Record<string, (project: string) => string>> = {
  'PROGRESS.md': (p) =>
    `# Progress — ${p}\n\nWhat is done, newest last. Mark milestones as \`- [x] milestone: <name>\`.\n\n`,
  'CURRENT_TASK.md': (p) =>
    `# Current task — ${p}\n\nThe task in progress, the exact stop point and the last commit.\n\n`,
  'DECISIONS.md': (p) => `# Decisions — ${p}\n\nDecisions taken and why, newest last.\n\n`,
};

/** What the agent scaffolds for a context file: no one's words yet (the task reader ignores it). */
export function contextScaffold(name: string, project: string): string | undefined {
  return SCAFFOLD[name]?.(project);
}

/** The `.context/` files a session keeps its progress in: present, or scaffolded (a safe fix). */
export function checkContextFiles(spec: ProjectEnvSpec, directory: string): Finding[] {
  const findings: Finding[] = [];
  for (const name of CONTEXT_FILES) {
    const rel = `${spec.context_dir}${name}`;
    let target: string;
    try {
      target = resolveInside(directory, rel);
    } catch (err) {
      findings.push({
        item: item('context', name, 'present', (err as Error).message, 'fail', {
          kind: 'manual',
          action: 'fix context_dir',
        }),
      });
      continue;
    }
    const state = readState(target);
    if (state.kind === 'file') {
      findings.push({ item: item('context', name, 'present', 'present', 'pass') });
    } else if (state.kind === 'other') {
      findings.push({
        item: item('context', name, 'present', `${rel} ${state.detail}`, 'fail', {
          kind: 'manual',
          action: `replace ${rel} with a regular file`,
        }),
      });
    } else {
      findings.push({
        item: item('context', name, 'present', 'missing', 'fail', { kind: 'safe', action: `create ${rel}` }),
        drift: { file: rel, type: 'missing', detail: `${rel} does not exist` },
        apply: async () => {
          writeAtomic(target, SCAFFOLD[name]!(spec.project));
          return `created ${rel}`;
        },
      });
    }
  }
  return findings;
}
