import type { ProjectEnvSpec } from '@hal/protocol';
import { readState, resolveInside, writeAtomic } from '../project-files.ts';
import { type Finding, item } from './finding.ts';

/** The manifest's docs: present; a missing one is copied when the manifest carries it. */
export function checkDocs(spec: ProjectEnvSpec, directory: string): Finding[] {
  const findings: Finding[] = [];
  for (const doc of spec.docs) {
    const fail = doc.required ? 'fail' : 'warn';
    let target: string;
    try {
      target = resolveInside(directory, doc.path);
    } catch (err) {
      findings.push({
        item: item('doc', doc.path, 'present', (err as Error).message, fail, {
          kind: 'manual',
          action: 'fix the path',
        }),
      });
      continue;
    }
    const state = readState(target);
    if (state.kind === 'file') {
      findings.push({ item: item('doc', doc.path, 'present', 'present', 'pass') });
      continue;
    }
    if (state.kind === 'other') {
      findings.push({
        item: item('doc', doc.path, 'present', `${doc.path} ${state.detail}`, fail, {
          kind: 'manual',
          action: `replace ${doc.path} with a regular file`,
        }),
      });
      continue;
    }
    const content = doc.content;
    findings.push({
      item: item(
        'doc',
        doc.path,
        doc.required ? 'present' : 'present (recommended)',
        'missing',
        fail,
        content === undefined
          ? { kind: 'manual', action: `write ${doc.path} (the manifest has no copy of it)` }
          : { kind: 'safe', action: `copy ${doc.path} from the manifest` },
      ),
      drift: { file: doc.path, type: 'missing', detail: `${doc.path} does not exist` },
      ...(content === undefined
        ? {}
        : {
            apply: async () => {
              writeAtomic(target, content);
              return `copied ${doc.path}`;
            },
          }),
    });
  }
  return findings;
}
