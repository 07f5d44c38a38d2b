import { parseArgs } from 'node:util';
import { type ConfigOf, type ConfigProblem, type ConfigRole, readConfig, runValidate } from '@hal/config';
import { createLogger, type Lifecycle, type Logger } from '@hal/observability';

/** Past this, shutdown is stuck: log it and leave (systemd/k8s would SIGKILL soon after). */
export const STOP_DEADLINE_MS = 10_000;

export interface ProcessContext<R extends ConfigRole> {
  config: ConfigOf<R>;
  log: Logger;
  /** The boolean flags declared in the spec, e.g. `{ rebuild: true }`. */
  flags: Readonly<Record<string, boolean>>;
}

export interface ProcessSpec<R extends ConfigRole> {
  /** `tracker` → binary `hal-tracker`, log field service=tracker. */
  name: string;
  /** Which config the process reads: `supervisor.config.json` or `agent.config.json`. */
  role: R;
  /** One line for --help. */
  summary: string;
  /** Boolean flags beyond --config, --validate and --help, with their help text. */
  flags?: Readonly<Record<string, string>>;
  /** Default STOP_DEADLINE_MS; tests shorten it. */
  stopDeadlineMs?: number;
  /** Problems the schema cannot see (a key this binary needs that others may leave out). */
  problems?: (config: ConfigOf<R>) => ConfigProblem[];
  /** Extra fields on every log line, from the config (the agent's `node`). */
  logFields?: (config: ConfigOf<R>) => Record<string, string>;
  /**
   * Flags that stand in for a config file (`hal-agent --supervisor … --project name=dir`): the
   * config is built from them, then environment and `*_file` secrets apply as usual. Not with
   * --config. `build` returns the raw config, or a line saying what is wrong (exit 2).
   */
  quickStart?: {
    options: Readonly<Record<string, { type: 'string' | 'boolean'; multiple?: boolean; help: string }>>;
    build(values: Readonly<Record<string, string | boolean | string[] | undefined>>): object | string;
  };
  /** Builds what runs. Throwing here is a start failure: logged, exit code 1. */
  create(ctx: ProcessContext<R>): Lifecycle;
}

export function usage(spec: Pick<ProcessSpec<ConfigRole>, 'name' | 'role' | 'flags'>): string {
  const extra = Object.keys(spec.flags ?? {})
    .map((f) => ` [--${f}]`)
    .join('');
  return `usage: hal-${spec.name} [--config ${spec.role}.config.json] [--validate]${extra}\n`;
}

function help(spec: ProcessSpec<ConfigRole>): string {
  const rows: [string, string][] = [
    ['--config FILE', `${spec.role}.config.json (absent: defaults and HAL_* environment only)`],
    ['--validate', 'check the config, print every problem or the effective config (secrets masked), exit'],
    ...Object.entries(spec.flags ?? {}).map(([f, text]): [string, string] => [`--${f}`, text]),
    ...Object.entries(spec.quickStart?.options ?? {}).map(([f, o]): [string, string] => [
      `--${f}${o.type === 'string' ? ` ${f.toUpperCase().replace(/-/g, '_')}` : ''}`,
      o.help,
    ]),
    ['--help', 'show this help'],
  ];
  const width = Math.max(...rows.map(([f]) => f.length));
  return `${usage(spec)}\n${spec.summary}\n\n${rows.map(([f, t]) => `  ${f.padEnd(width)}  ${t}`).join('\n')}\n`;
}

/**
 * The `main` of every HAL binary: arguments → config (every problem printed) → logger →
 * create → start, and on SIGINT/SIGTERM (or a failed start) stop, bounded by the stop
 * deadline. Exit codes: 0 stopped cleanly, 1 bad config / failed start / failed or stuck stop,
 * 2 bad arguments. It never calls process.exit() except when the deadline passes.
 */
export async function runProcess<R extends ConfigRole>(
  spec: ProcessSpec<R>,
  argv: readonly string[] = process.argv.slice(2),
): Promise<void> {
  let values: Record<string, string | boolean | string[] | undefined>;
  try {
    const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = {
      config: { type: 'string' },
      validate: { type: 'boolean' },
      help: { type: 'boolean' },
    };
    for (const flag of Object.keys(spec.flags ?? {})) options[flag] = { type: 'boolean' };
    for (const [flag, o] of Object.entries(spec.quickStart?.options ?? {})) {
      options[flag] = o.multiple ? { type: o.type, multiple: true } : { type: o.type };
    }
    values = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false })
      .values as typeof values;
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${usage(spec)}`);
    process.exitCode = 2;
    return;
  }
  let raw: object | undefined;
  const quick = Object.keys(spec.quickStart?.options ?? {}).filter((f) => values[f] !== undefined);
  if (spec.quickStart && quick.length > 0) {
    const built =
      typeof values.config === 'string'
        ? '--config cannot be combined with flags that build the config'
        : spec.quickStart.build(values);
    if (typeof built === 'string') {
      process.stderr.write(`${built}\n${usage(spec)}`);
      process.exitCode = 2;
      return;
    }
    raw = built;
  }
  if (values.help === true) {
    process.stdout.write(help(spec as ProcessSpec<ConfigRole>));
    return;
  }
  const file = typeof values.config === 'string' ? values.config : undefined;
  if (values.validate === true) {
    // The binary's own needs too (a standalone service needs nats.url): a config --validate passes
    // must be one the binary starts with.
    process.exitCode = runValidate(spec.role, file, process.stdout, process.stderr, {
      ...(raw ? { raw } : {}),
      ...(spec.problems === undefined ? {} : { checks: spec.problems }),
    });
    return;
  }
  const read = readConfig(spec.role, file === undefined ? (raw ? { raw } : {}) : { file });
  const problems = read.ok ? (spec.problems?.(read.config) ?? []) : read.problems;
  if (!read.ok || problems.length > 0) {
    for (const p of problems) process.stderr.write(`${p.path}: ${p.message}\n`);
    process.stderr.write(`${problems.length} problem(s) found in the ${spec.role} config\n`);
    process.exitCode = 1;
    return;
  }
  const config = read.config;
  const log = createLogger({
    service: spec.name,
    ...spec.logFields?.(config),
    level: (config as { log_level: string }).log_level,
  });
  const flags: Record<string, boolean> = {};
  for (const flag of Object.keys(spec.flags ?? {})) flags[flag] = values[flag] === true;

  let target: Lifecycle;
  try {
    target = spec.create({ config, log, flags });
  } catch (err) {
    log.fatal({ err }, 'failed to start');
    process.exitCode = 1;
    return;
  }

  const deadlineMs = spec.stopDeadlineMs ?? STOP_DEADLINE_MS;
  let stopping: Promise<void> | undefined;
  const shutdown = (reason: string): Promise<void> => {
    if (stopping) return stopping;
    log.info({ reason }, 'stopping');
    // unref: it fires only if something still keeps the process alive past the deadline.
    setTimeout(() => {
      log.error({ deadline_ms: deadlineMs }, 'shutdown did not finish in time; exiting');
      process.exitCode = 1;
      process.exit();
    }, deadlineMs).unref();
    stopping = target.stop().then(
      () => log.info('stopped'),
      (err: unknown) => {
        log.error({ err }, 'stop failed');
        process.exitCode = 1;
      },
    );
    return stopping;
  };
  // `on`, not `once`: a second Ctrl-C must not kill the process mid-shutdown with NATS still running.
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));

  try {
    await target.start();
    if (!stopping) log.info('started');
  } catch (err) {
    log.fatal({ err }, 'failed to start');
    process.exitCode = 1;
    await shutdown('start-failure');
  }
}
