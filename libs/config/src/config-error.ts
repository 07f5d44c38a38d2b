import { ErrorCode, HalError } from '@hal/protocol';

/** One mistake in a config: where (`server.port`, `projects[1].name`) and what it means. */
export interface ConfigProblem {
  path: string;
  message: string;
}

/** Thrown by `loadConfig` with every problem found, never just the first. */
export class ConfigError extends HalError {
  readonly problems: readonly ConfigProblem[];

  constructor(what: string, problems: readonly ConfigProblem[]) {
    const first = problems[0];
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : '';
    super(ErrorCode.CONFIG_INVALID, `invalid ${what}: ${first?.path}: ${first?.message}${more}`, {
      details: { issues: problems },
    });
    this.name = 'ConfigError';
    this.problems = problems;
  }
}
