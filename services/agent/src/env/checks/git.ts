import { realpathSync } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import type { ProjectEnvSpec } from '@hal/protocol';
import { type CheckContext, type Finding, item, short } from './finding.ts';
import { managedFile } from './managed-file.ts';

/** Git: a work tree, its origin remote and branch, and the manifest's hooks (inside the project only). */
export async function checkGit(
  spec: ProjectEnvSpec,
  directory: string,
  ctx: CheckContext,
): Promise<Finding[]> {
  const findings: Finding[] = [];
  const { probe } = ctx;
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
          findings.push(
            managedFile(ctx, 'git', name, `.git/hooks/${hook.name}`, join(dir, hook.name), hook, 0o755),
          );
        }
      }
    }
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
