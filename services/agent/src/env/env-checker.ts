import { existsSync, realpathSync } from 'node:fs';
import { isAbsolute, join, resolve, sep } from 'node:path';
import {
  CONTEXT_FILES,
  ENV_LIMITS,
  type EnvCategory,
  type EnvDrift,
  type EnvFix,
  type EnvItem,
  type EnvResult,
  type EnvStatus,
  type ProjectEnvSpec,
  parseVersion,
  satisfies,
  sha256,
} from '@hal/protocol';
import type { EnvFile } from './env-file.ts';
import type { EnvMemory } from './env-memory.ts';
import type { HostProbe } from './host-probe.ts';
import { type FileState, readState, resolveInside, writeAtomic } from './project-files.ts';
import { unifiedDiff } from './text-diff.ts';

/** One checked item, with the drift it shows and, for a safe fix, how to do it. */
export interface Finding {
  item: EnvItem;
  drift?: EnvDrift;
  /** Does the safe fix; resolves to what it did, in words. */
  apply?: () => Promise<string>;
  /** Set on the item that wrote the rendered AGENT.md (`agentmd.updated`). */
  agentMd?: { file: string; sha256: string; previous: string | null };
}

export interface CheckContext {
  node: string;
  probe: HostProbe;
  memory: EnvMemory;
  /** Where env var fixes go; absent: env vars are a manual fix. */
  envFile: EnvFile | undefined;
  now: () => Date;
}

const short = (hash: string) => `sha256:${hash.slice(0, 12)}`;
const clip = (text: string, max = 4000) => (text.length > max ? `${text.slice(0, max)}…` : text);

function item(
  category: EnvCategory,
  name: string,
  expected: string,
  actual: string,
  status: EnvItem['status'],
  fix?: EnvFix,
): EnvItem {
  return {
    id: `${category}:${name}`,
    category,
    name,
    expected: clip(expected),
    actual: clip(actual),
    status,
    ...(status === 'pass' || fix === undefined ? {} : { fix }),
  };
}

const SCAFFOLD: Readonly<Record<string, (project: string) => string>> = {
  'PROGRESS.md': (p) =>
    `# Progress — ${p}\n\nWhat is done, newest last. Mark milestones as \`- [x] milestone: <name>\`.\n\n`,
  'CURRENT_TASK.md': (p) =>
    `# Current task — ${p}\n\nThe task in progress, the exact stop point and the last commit.\n\n`,
  'DECISIONS.md': (p) => `# Decisions — ${p}\n\nDecisions taken and why, newest last.\n\n`,
};

/**
 * Checks one project directory against its spec, item by item, and says how each failing item
 * can be fixed. Reads only: every write is inside an `apply`, which only the provisioner calls.
 */
export async function checkProject(
  spec: ProjectEnvSpec,
  directory: string,
  ctx: CheckContext,
): Promise<Finding[]> {
  const findings: Finding[] = [];
  const { probe } = ctx;

  // ---- runtimes and tools: versions from `--version` -------------------------------------
  const program = async (
    category: 'runtime' | 'tool',
    s: ProjectEnvSpec['runtime'][number] | ProjectEnvSpec['tools'][number],
  ): Promise<void> => {
    const expected = s.version ?? 'installed';
    const install: EnvFix = s.install
      ? {
          kind: 'risky',
          action: `install ${s.name} (${expected}) with the manifest's command`,
          command: s.install,
        }
      : {
          kind: 'manual',
          action: `install ${s.name} (${expected}) on this host; the manifest has no install command`,
        };
    const path = probe.which(s.binary);
    if (path === undefined) {
      findings.push({
        item: item(category, s.name, expected, `${s.binary} not found on PATH`, 'fail', install),
      });
      return;
    }
    if (s.version === undefined) {
      findings.push({ item: item(category, s.name, expected, `installed (${path})`, 'pass') });
      return;
    }
    const out = await probe.run(path, ['--version'], { cwd: directory });
    const text = `${out.stdout}\n${out.stderr}`;
    const version = parseVersion(text);
    if (version === undefined) {
      const why = out.failure ?? `no version in its --version output: ${text.trim().split('\n')[0] ?? ''}`;
      findings.push({ item: item(category, s.name, expected, `unknown (${why})`, 'fail', install) });
      return;
    }
    const ok = satisfies(version, s.version);
    findings.push({ item: item(category, s.name, expected, version, ok ? 'pass' : 'fail', install) });
  };
  for (const r of spec.runtime) await program('runtime', r);
  for (const t of spec.tools) await program('tool', t);

  // ---- env vars: present (agent or opencode env file), paths valid ------------------------
  const fileVars = ctx.envFile?.read() ?? new Map<string, string>();
  for (const v of spec.env_vars) {
    const actual = fileVars.get(v.name) ?? probe.env[v.name];
    const where = fileVars.has(v.name) ? `set in ${ctx.envFile?.path}` : 'set in the agent environment';
    const expected = v.value ?? 'set';
    const pathOf = (value: string) => (isAbsolute(value) ? value : undefined);
    const canWrite = v.value !== undefined && ctx.envFile !== undefined;
    const envFile = ctx.envFile;
    const value = v.value;
    const writeFix: EnvFix =
      canWrite && envFile !== undefined
        ? { kind: 'safe', action: `write ${v.name} to ${envFile.path} (opencode's environment file)` }
        : {
            kind: 'manual',
            action:
              v.value === undefined
                ? `set ${v.name} in opencode's environment (the manifest only says it is required)`
                : `set ${v.name}=${v.value} in opencode's environment (no env.opencode_env_file is configured)`,
          };
    const apply =
      canWrite && envFile !== undefined && value !== undefined
        ? async () => {
            envFile.set(v.name, value);
            return `wrote ${v.name} to ${envFile.path}`;
          }
        : undefined;
    if (actual === undefined || actual === '') {
      findings.push({
        item: item('env', v.name, expected, 'unset', 'fail', writeFix),
        ...(apply ? { apply } : {}),
      });
      continue;
    }
    if (v.value !== undefined && actual !== v.value) {
      // The actual value may be a secret: it is never reported.
      findings.push({
        item: item('env', v.name, expected, `${where}, to another value`, 'fail', writeFix),
        ...(apply ? { apply } : {}),
      });
      continue;
    }
    const p = pathOf(actual);
    if (p !== undefined && !existsSync(p)) {
      findings.push({
        item: item('env', v.name, expected, `${where}, but path ${p} does not exist`, 'fail', {
          kind: 'manual',
          action: `create ${p} or install what provides it`,
        }),
      });
      continue;
    }
    findings.push({ item: item('env', v.name, expected, where, 'pass') });
  }

  // ---- managed files: AGENT.md and git hooks share the modified/outdated rule -------------
  const managed = (
    category: 'agent_md' | 'git',
    name: string,
    displayPath: string,
    target: string,
    want: { content: string; sha256: string },
    mode: number,
    onWrite?: (previous: string | null) => Finding['agentMd'],
  ): Finding => {
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
  };

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
        managed('agent_md', md.path, md.path, target, md, 0o644, (previous) => ({
          file: md.path,
          sha256: md.sha256,
          previous,
        })),
      );
    }
  }

  // ---- .context/ ---------------------------------------------------------------------------
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

  // ---- git: remote, branch, hooks ----------------------------------------------------------
  const wantsGit = spec.git.remote !== undefined || spec.git.branch !== undefined || spec.hooks.length > 0;
  if (wantsGit) {
    const git = probe.which('git');
    const inRepo =
      git === undefined
        ? undefined
        : await probe.run(git, ['rev-parse', '--is-inside-work-tree'], { cwd: directory });
    if (git === undefined || inRepo?.code !== 0 || inRepo.stdout.trim() !== 'true') {
      findings.push({
        item: item(
          'git',
          'repository',
          'a git work tree',
          git === undefined ? 'git not found on PATH' : 'not a git repository',
          'fail',
          {
            kind: 'manual',
            action: `clone the project's repository into ${directory}`,
          },
        ),
      });
    } else {
      if (spec.git.remote !== undefined) {
        const want = spec.git.remote;
        const got = await probe.run(git, ['remote', 'get-url', 'origin'], { cwd: directory });
        const actual = got.code === 0 ? got.stdout.trim() : 'no remote "origin"';
        if (got.code === 0 && actual === want)
          findings.push({ item: item('git', 'remote', want, actual, 'pass') });
        else if (got.code !== 0) {
          findings.push({
            item: item('git', 'remote', want, actual, 'fail', {
              kind: 'safe',
              action: `add remote origin ${want}`,
            }),
            apply: async () => {
              const r = await probe.run(git, ['remote', 'add', 'origin', want], { cwd: directory });
              if (r.code !== 0) throw new Error(`git remote add failed: ${r.stderr.trim() || r.failure}`);
              return `added remote origin ${want}`;
            },
          });
        } else {
          findings.push({
            item: item('git', 'remote', want, actual, 'fail', {
              kind: 'manual',
              action: 'origin points elsewhere; change it only if that is intended',
              command: ['git', '-C', directory, 'remote', 'set-url', 'origin', want],
            }),
          });
        }
      }
      if (spec.git.branch !== undefined) {
        const want = spec.git.branch;
        const got = await probe.run(git, ['rev-parse', '--abbrev-ref', 'HEAD'], { cwd: directory });
        const actual = got.code === 0 ? got.stdout.trim() : 'no commit yet';
        findings.push({
          item: item('git', 'branch', want, actual, actual === want ? 'pass' : 'fail', {
            // Switching branches under a working session would pull the ground from under it.
            kind: 'manual',
            action: `switch to ${want} when no session is working in the directory`,
            command: ['git', '-C', directory, 'switch', want],
          }),
        });
      }
      if (spec.hooks.length > 0) {
        const hooksDir = await probe.run(git, ['rev-parse', '--git-path', 'hooks'], { cwd: directory });
        const dir = hooksDir.code === 0 ? resolve(directory, hooksDir.stdout.trim()) : undefined;
        const inside = dir !== undefined && isInside(directory, dir);
        for (const hook of spec.hooks) {
          const name = `hooks/${hook.name}`;
          if (!inside || dir === undefined) {
            findings.push({
              item: item(
                'git',
                name,
                short(hook.sha256),
                `hooks directory ${dir ?? '(unknown)'} is outside the project`,
                'fail',
                {
                  kind: 'manual',
                  action: `install the ${hook.name} hook by hand (core.hooksPath points outside the project)`,
                },
              ),
            });
            continue;
          }
          findings.push(managed('git', name, `.git/hooks/${hook.name}`, join(dir, hook.name), hook, 0o755));
        }
      }
    }
  }

  // ---- docs --------------------------------------------------------------------------------
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

function isInside(root: string, path: string): boolean {
  let realRoot: string;
  try {
    realRoot = realpathSync(root);
  } catch {
    return false;
  }
  // The hooks dir may not exist yet: compare its deepest existing ancestor.
  let p = path;
  for (;;) {
    try {
      const real = realpathSync(p);
      return real === realRoot || real.startsWith(realRoot + sep);
    } catch {
      const parent = resolve(p, '..');
      if (parent === p) return false;
      p = parent;
    }
  }
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
