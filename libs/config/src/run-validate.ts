import type { ConfigProblem } from './config-error.ts';
import { type ConfigOf, type ConfigRole, type LoadConfigOptions, readConfig } from './load-config.ts';
import { maskSecrets } from './mask-secrets.ts';
import { sharedTokenNotice } from './security.ts';
import type { SupervisorConfig } from './supervisor-schema.ts';

export interface TextSink {
  write(chunk: string): unknown;
}

/**
 * `--validate`: every problem as `path: message` on `err` and exit code 1, or the effective
 * config (secrets masked) as JSON on `out` and exit code 0.
 */
export function runValidate<R extends ConfigRole>(
  role: R,
  file: string | undefined,
  out: TextSink,
  err: TextSink,
  options: Omit<LoadConfigOptions, 'file'> & {
    /** What the binary itself needs beyond the schema (a standalone service needs `nats.url`). */
    checks?: (config: ConfigOf<R>) => ConfigProblem[];
  } = {},
): number {
  const { checks, ...load } = options;
  const result = readConfig(role, { ...load, ...(file === undefined ? {} : { file }) });
  const problems = result.ok ? (checks?.(result.config) ?? []) : result.problems;
  if (!result.ok || problems.length > 0) {
    for (const p of problems) err.write(`${p.path}: ${p.message}\n`);
    err.write(`${problems.length} problem(s) found in the ${role} config\n`);
    return 1;
  }
  out.write(`${JSON.stringify(maskSecrets(result.config), null, 2)}\n`);
  // Notes go to stderr so stdout stays the config as JSON, for scripts.
  if (role === 'supervisor') {
    err.write(`note: ${sharedTokenNotice((result.config as SupervisorConfig).security)}\n`);
  }
  return 0;
}
