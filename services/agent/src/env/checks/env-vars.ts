import { existsSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import type { EnvFix, ProjectEnvSpec } from '@hal/protocol';
import { type CheckContext, type Finding, item } from './finding.ts';

/** Env vars: present (in opencode's env file or the agent's environment), equal when a value is given, paths that exist. */
export function checkEnvVars(spec: ProjectEnvSpec, ctx: CheckContext): Finding[] {
  const findings: Finding[] = [];
  const { probe } = ctx;
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
  return findings;
}
