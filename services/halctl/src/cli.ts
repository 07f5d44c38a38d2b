import { idempotencyKeySchema } from '@hal/protocol';
import yargs, { type Argv, type CommandModule } from 'yargs';
import { createApiClient, resolveConnection } from './client.ts';
import type { CommandContext, GlobalArgs } from './command-context.ts';
import { agentMdCommand } from './commands/agent-md.ts';
import { auditCommand } from './commands/audit.ts';
import { costCommand } from './commands/cost.ts';
import { envCommand } from './commands/env.ts';
import { eventsCommand } from './commands/events.ts';
import { nodesCommand } from './commands/nodes.ts';
import { policiesCommand } from './commands/policies-command.ts';
import { resumeCommand } from './commands/resume.ts';
import { routesCommand } from './commands/routes.ts';
import { sessionsCommand } from './commands/sessions-command.ts';
import { statusCommand } from './commands/status.ts';
import { CliError, ExitCode, exitCodeOf } from './exit-codes.ts';
import { jsonForTerminal, safeForTerminal } from './terminal-text.ts';

export interface TextStream {
  write(text: string): unknown;
  columns?: number | undefined;
}

export interface CliDeps {
  env: Readonly<Record<string, string | undefined>>;
  stdout: TextStream;
  stderr: TextStream;
  fetch?: typeof fetch;
  /** Aborts `--follow` streams (Ctrl-C). */
  signal?: AbortSignal;
  /** Makes the idempotency key of an invocation without --idempotency-key; default a random UUID. */
  newKey?: () => string;
}

/**
 * The command registry: one entry per resource. Later areas (cost, env, policies) add theirs
 * here; each module gets the same context and owns its verbs.
 */
export const commandModules: ReadonlyArray<(ctx: CommandContext) => CommandModule<GlobalArgs, GlobalArgs>> = [
  nodesCommand,
  sessionsCommand,
  eventsCommand,
  auditCommand,
  policiesCommand,
  costCommand,
  envCommand,
  agentMdCommand,
  routesCommand,
  statusCommand,
  resumeCommand,
];

const HELP_WIDTH = 100;

export function buildCli(deps: CliDeps): Argv<GlobalArgs> {
  const width = deps.stdout.columns ?? 120;
  let invocationKey: string | undefined;
  const ctx: CommandContext = {
    idempotencyKey(argv) {
      const given = argv['idempotency-key'];
      if (given === undefined) {
        invocationKey ??= deps.newKey?.() ?? crypto.randomUUID();
        return invocationKey;
      }
      const parsed = idempotencyKeySchema.safeParse(given);
      if (!parsed.success) {
        throw new CliError('USAGE', `--idempotency-key ${parsed.error.issues[0]?.message ?? 'is invalid'}`);
      }
      return parsed.data;
    },
    signal: deps.signal,
    async client(argv) {
      const conn = await resolveConnection({
        url: argv['supervisor-url'],
        token: argv['auth-token'],
        configPath: argv.config,
        env: deps.env,
      });
      const timeout = argv.timeout;
      if (timeout !== undefined && !(Number.isFinite(timeout) && timeout > 0 && timeout <= 3600)) {
        throw new CliError(
          'USAGE',
          `--timeout must be a number of seconds between 0 and 3600, got ${timeout}`,
        );
      }
      return createApiClient({
        ...conn,
        ...(deps.fetch === undefined ? {} : { fetch: deps.fetch }),
        ...(timeout === undefined ? {} : { timeoutMs: Math.round(timeout * 1000) }),
      });
    },
    output(argv) {
      const json = argv.json === true;
      // Nothing the API relays may drive the terminal: JSON gets escapes, text for people `�`.
      const safe = json ? jsonForTerminal : safeForTerminal;
      return { json, width, write: (text) => void deps.stdout.write(safe(text)) };
    },
  };
  let cli = yargs()
    .scriptName('halctl')
    .usage('$0 [--supervisor-url URL] [--auth-token T] [--json] <resource> <verb>')
    .option('supervisor-url', {
      type: 'string',
      describe: 'Supervisor API, http://host:8421 or ws://host:8420 (env HAL_URL)',
      global: true,
    })
    .option('auth-token', { type: 'string', describe: 'API token (env HAL_TOKEN)', global: true })
    .option('config', {
      type: 'string',
      describe: 'Config file with {"url", "token"} (default ~/.config/halctl/config.json)',
      global: true,
    })
    .option('json', { type: 'boolean', describe: 'Print raw JSON data for scripts', global: true })
    .option('timeout', {
      type: 'number',
      describe: 'Seconds to wait for an answer (default 30; streams wait for ever)',
      global: true,
    })
    .env(false)
    .strict()
    .exitProcess(false)
    .wrap(Math.min(HELP_WIDTH, width))
    .version(false)
    .completion('completion', 'Print a shell completion script (bash/zsh)')
    .demandCommand(
      1,
      'name a resource (nodes, sessions, events, audit, policies, …) or status / resume <project>',
    )
    .fail((msg, err) => {
      if (err) throw err;
      throw new CliError('USAGE', msg);
    }) as unknown as Argv<GlobalArgs>;
  for (const module of commandModules) cli = cli.command(module(ctx));
  return cli.help().alias('help', 'h') as Argv<GlobalArgs>;
}

function errorLine(err: unknown): { line: string; code: number } {
  if (err instanceof CliError) {
    const hint = err.code === 'USAGE' ? ' (see --help)' : '';
    return { line: `halctl: ${err.code}: ${err.message}${hint}\n`, code: exitCodeOf(err) };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { line: `halctl: INTERNAL: ${message}\n`, code: ExitCode.FAILURE };
}

/** Parses and runs one command line; returns the exit code (never exits the process). */
export async function runCli(args: readonly string[], deps: CliDeps): Promise<number> {
  const cli = buildCli(deps);
  try {
    const output = await new Promise<string>((resolve, reject) => {
      cli.parseAsync([...args], {}, (err, _argv, out) => (err ? reject(err) : resolve(out))).catch(reject);
    });
    // --help and `completion` come back as text instead of being printed by yargs.
    if (output !== '') deps.stdout.write(output.endsWith('\n') ? output : `${output}\n`);
    return ExitCode.OK;
  } catch (err) {
    if ((err as Error).name === 'AbortError') return ExitCode.OK;
    const { line, code } = errorLine(err);
    deps.stderr.write(safeForTerminal(line));
    return code;
  }
}
