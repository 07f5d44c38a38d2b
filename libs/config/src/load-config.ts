import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type { z } from 'zod';
import { type AgentConfig, agentConfigSchema } from './agent-schema.ts';
import { ConfigError, type ConfigProblem } from './config-error.ts';
import { dependencyProblems } from './dependencies.ts';
import { applyPatch, type EnvSource, envOverrides } from './env-overrides.ts';
import { hoistServerHeartbeatKeys } from './heartbeat-keys.ts';
import { problemsFromZod } from './issue-messages.ts';
import { parseJsonText } from './json-source.ts';
import { routeConditionProblems, routeTargetProblems } from './policies.ts';
import { resolveSecretFiles } from './secret-files.ts';
import { type SupervisorConfig, supervisorConfigSchema } from './supervisor-schema.ts';

export type ConfigRole = 'supervisor' | 'agent';
export type ConfigOf<R extends ConfigRole> = R extends 'supervisor' ? SupervisorConfig : AgentConfig;

export interface LoadConfigOptions {
  /** The JSON file; absent = defaults and environment only. */
  file?: string;
  /**
   * The config as an object instead of a file (e.g. built from command-line flags); used only
   * when `file` is absent. Environment and `*_file` secrets apply to it as to a file.
   */
  raw?: object;
  /** Default: process.env. */
  env?: EnvSource;
  /** Relative paths (file, data_dir, secret files, project directories) resolve against it. */
  cwd?: string;
}

interface RoleSpec {
  schema: z.ZodType;
  aliases: Readonly<Record<string, string>>;
  crossChecks: (raw: unknown) => ConfigProblem[];
  /** Rewrites accepted alternative spellings in place before validation; returns what cannot be. */
  normalize: (raw: Record<string, unknown>) => ConfigProblem[];
  absolutePaths: (config: Record<string, unknown>, cwd: string) => void;
}

const ROLES: Record<ConfigRole, RoleSpec> = {
  supervisor: {
    schema: supervisorConfigSchema,
    aliases: {
      HAL_AUTH_TOKEN: 'server.auth_token',
      HAL_AUTH_TOKEN_FILE: 'server.auth_token_file',
      HAL_NATS_URL: 'nats.url',
      HAL_NATS_TOKEN: 'nats.token',
    },
    crossChecks: (raw) => [
      ...routeTargetProblems(raw),
      ...routeConditionProblems(raw),
      ...dependencyProblems(raw),
    ],
    normalize: hoistServerHeartbeatKeys,
    absolutePaths: (c, cwd) => {
      const s = c as SupervisorConfig;
      s.data_dir = resolve(cwd, s.data_dir);
      const tls = s.security.tls;
      if (tls.cert_path) tls.cert_path = resolve(cwd, tls.cert_path);
      if (tls.key_path) tls.key_path = resolve(cwd, tls.key_path);
    },
  },
  agent: {
    schema: agentConfigSchema,
    aliases: {},
    crossChecks: () => [],
    normalize: () => [],
    absolutePaths: (c, cwd) => {
      const a = c as AgentConfig;
      a.data_dir = resolve(cwd, a.data_dir);
      for (const p of a.projects) p.directory = resolve(cwd, p.directory);
      if (a.env.opencode_env_file) a.env.opencode_env_file = resolve(cwd, a.env.opencode_env_file);
    },
  },
};

export type ConfigResult<R extends ConfigRole> =
  | { ok: true; config: ConfigOf<R> }
  | { ok: false; problems: ConfigProblem[] };

/** Every problem of a config, or the config; never throws. `--validate` and `loadConfig` share it. */
export function readConfig<R extends ConfigRole>(role: R, options: LoadConfigOptions = {}): ConfigResult<R> {
  const cwd = options.cwd ?? process.cwd();
  if (options.file === undefined) {
    return buildConfig(role, options.raw ?? {}, { env: options.env ?? process.env, cwd });
  }
  const file = isAbsolute(options.file) ? options.file : resolve(cwd, options.file);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    return {
      ok: false,
      problems: [{ path: options.file, message: `cannot read the config file "${file}" (${code})` }],
    };
  }
  const parsed = parseJsonText(text, options.file);
  if (!parsed.ok) return { ok: false, problems: [parsed.problem] };
  if (typeof parsed.value !== 'object' || parsed.value === null || Array.isArray(parsed.value)) {
    return { ok: false, problems: [{ path: options.file, message: 'must hold a JSON object ({ ... })' }] };
  }
  return buildConfig(role, parsed.value, { env: options.env ?? process.env, cwd });
}

/** Raw values (a parsed file, or an object in a test) → merged with env and secret files → validated. */
export function buildConfig<R extends ConfigRole>(
  role: R,
  raw: object,
  options: { env?: EnvSource; cwd?: string } = {},
): ConfigResult<R> {
  const spec = ROLES[role];
  const cwd = options.cwd ?? process.cwd();
  const merged = structuredClone(raw) as Record<string, unknown>;
  const env = envOverrides(spec.schema, options.env ?? {}, spec.aliases);
  for (const patch of env.patches) applyPatch(merged, patch);
  const consequence = `the ${role} will not start until this is fixed`;
  const problems = [
    ...env.problems,
    ...resolveSecretFiles(merged, cwd),
    ...spec.normalize(merged).map((p) => ({ ...p, message: `${p.message}; ${consequence}` })),
  ];
  const result = spec.schema.safeParse(merged, { reportInput: true });
  if (!result.success) problems.push(...problemsFromZod(result.error, spec.schema, consequence));
  problems.push(...spec.crossChecks(merged).map((p) => ({ ...p, message: `${p.message}; ${consequence}` })));
  if (problems.length > 0 || !result.success) return { ok: false, problems };
  const config = result.data as Record<string, unknown>;
  spec.absolutePaths(config, cwd);
  return { ok: true, config: deepFreeze(config) as ConfigOf<R> };
}

/**
 * The typed, frozen config of a role: defaults ← file ← `HAL_*` env ← `*_file` secrets.
 * Throws a ConfigError (CONFIG_INVALID) listing every problem with its key path.
 */
export function loadConfig<R extends ConfigRole>(role: R, options: LoadConfigOptions = {}): ConfigOf<R> {
  const result = readConfig(role, options);
  if (!result.ok)
    throw new ConfigError(`${role} config${options.file ? ` (${options.file})` : ''}`, result.problems);
  return result.config;
}

/** Like loadConfig, for a config given as an object (tests, embedding); env defaults to none. */
export function parseConfig<R extends ConfigRole>(
  role: R,
  raw: object,
  options: { env?: EnvSource; cwd?: string } = {},
): ConfigOf<R> {
  const result = buildConfig(role, raw, options);
  if (!result.ok) throw new ConfigError(`${role} config`, result.problems);
  return result.config;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
