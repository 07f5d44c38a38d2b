import { ENV_LIMITS, sha256 } from '@hal/protocol';
import { type FileState, readState, writeAtomic } from '../project-files.ts';
import { unifiedDiff } from '../text-diff.ts';
import { type CheckContext, type Finding, item, short } from './finding.ts';

/**
 * A file the agent renders (AGENT.md, git hooks): missing or an older rendering of ours is a
 * safe re-write; a file a person changed is reported with its diff and never overwritten.
 */
export function managedFile(
  ctx: CheckContext,
  category: 'agent_md' | 'git',
  name: string,
  displayPath: string,
  target: string,
  want: { content: string; sha256: string },
  mode: number,
  onWrite?: (previous: string | null) => Finding['agentMd'],
): Finding {
  const state: FileState = readState(target);
  const expected = short(want.sha256);
  const write = async (): Promise<string> => {
    writeAtomic(target, want.content, mode);
    ctx.memory.setRendered(target, want.sha256);
    return `wrote ${displayPath} (${expected})`;
  };
  if (state.kind === 'other') {
    return {
      item: item(category, name, expected, `${displayPath} ${state.detail}`, 'fail', {
        kind: 'manual',
        action: `replace ${displayPath} with a regular file`,
      }),
    };
  }
  if (state.kind === 'missing') {
    const f: Finding = {
      item: item(category, name, expected, 'missing', 'fail', {
        kind: 'safe',
        action: `write ${displayPath}`,
      }),
      drift: { file: displayPath, type: 'missing', detail: `${displayPath} does not exist` },
      apply: write,
    };
    if (onWrite) f.agentMd = onWrite(null);
    return f;
  }
  const local = sha256(state.content);
  const needsExec = (mode & 0o100) !== 0 && !state.executable;
  if (local === want.sha256) {
    // Equal to the template: ours from now on, even if a person wrote it.
    ctx.memory.setRendered(target, want.sha256);
    if (needsExec) {
      return {
        item: item(category, name, `${expected}, executable`, 'not executable', 'fail', {
          kind: 'safe',
          action: `make ${displayPath} executable`,
        }),
        apply: async () => {
          writeAtomic(target, want.content, mode);
          return `made ${displayPath} executable`;
        },
      };
    }
    return { item: item(category, name, expected, short(local), 'pass') };
  }
  const diff = unifiedDiff(
    want.content,
    state.content,
    `${displayPath} (rendered)`,
    `${displayPath} (local)`,
    ENV_LIMITS.diffChars,
  );
  if (ctx.memory.lastRendered(target) === local) {
    const f: Finding = {
      item: item(category, name, expected, `${short(local)} (an older rendering)`, 'fail', {
        kind: 'safe',
        action: `re-render ${displayPath} from the current template`,
      }),
      drift: {
        file: displayPath,
        type: 'outdated',
        detail: 'the template changed since the agent wrote this file',
        diff,
      },
      apply: write,
    };
    if (onWrite) f.agentMd = onWrite(local);
    return f;
  }
  // Not what we wrote: a person's file. Reported with its diff, never overwritten.
  return {
    item: item(category, name, expected, `${short(local)} (changed locally)`, 'warn', {
      kind: 'manual',
      action: `${displayPath} was changed by hand: merge the template into it, or delete it to have it rendered again`,
    }),
    drift: { file: displayPath, type: 'modified', detail: 'changed locally; left as it is', diff },
  };
}
