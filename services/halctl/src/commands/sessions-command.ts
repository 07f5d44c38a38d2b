// `halctl sessions …`: the yargs command tree; what each subcommand does is in sessions.ts.
import type { Argv, CommandModule } from 'yargs';
import { argSchemas, checkArg, checkOptionalArg } from '../arg-schemas.ts';
import type { ApiClient } from '../client.ts';
import type { CommandContext, GlobalArgs } from '../command-context.ts';
import type { Output } from '../output.ts';
import { sessionHandOff } from './hand-off.ts';
import { getSession, listSessions, sessionAction, sessionLogs } from './sessions.ts';

type Run = (argv: GlobalArgs, f: (client: ApiClient, out: Output) => Promise<void>) => Promise<void>;

export function sessionsCommand(ctx: CommandContext): CommandModule<GlobalArgs, GlobalArgs> {
  const run: Run = async (argv, f) => f(await ctx.client(argv), ctx.output(argv));
  const id = (b: Argv<GlobalArgs>) =>
    b.positional('id', {
      type: 'string',
      demandOption: true,
      describe: 'Session id, or a project name (its most recently active live session)',
    });
  const withPrompt = (b: Argv<GlobalArgs>) =>
    id(b).option('prompt', { type: 'string', describe: 'Prompt to send with it' });
  return {
    command: 'sessions',
    describe: 'Sessions on every node',
    builder: (y: Argv<GlobalArgs>) =>
      y
        .option('idempotency-key', {
          type: 'string',
          describe:
            'Runs start/inject/resume/restart/handoff/kill/approve/deny at most once (default: a new key per run); after COMMAND_OUTCOME_UNKNOWN, retry with the key it names',
        })
        .command(
          'list',
          'List sessions',
          (b) =>
            b
              .option('node', { type: 'string', describe: 'Only sessions on this node' })
              .option('project', { type: 'string', describe: 'Only sessions of this project' })
              .option('state', { type: 'string', describe: 'Only sessions in this state (idle, running, …)' })
              .option('limit', { type: 'number', describe: 'Page size (1-500)' })
              .option('cursor', { type: 'string', describe: 'Next page, from a previous list' }),
          (argv) =>
            run(argv, (c, o) =>
              listSessions(c, o, {
                node: argv.node,
                project: argv.project,
                state: argv.state,
                limit: argv.limit,
                cursor: argv.cursor,
              }),
            ),
        )
        .command('get <id>', 'Show one session', id, (argv) => run(argv, (c, o) => getSession(c, o, argv.id)))
        .command(
          'logs <id>',
          "Show the session's log (assistant text and tool calls)",
          (b) =>
            id(b)
              .option('follow', {
                alias: 'f',
                type: 'boolean',
                describe: 'Keep printing new parts as they arrive',
              })
              .option('limit', { type: 'number', describe: 'Entries to show' }),
          (argv) =>
            run(argv, (c, o) =>
              sessionLogs(c, o, argv.id, { limit: argv.limit, follow: argv.follow, signal: ctx.signal }),
            ),
        )
        .command(
          'start',
          'Start a session of a project',
          (b) =>
            b
              .option('project', { type: 'string', demandOption: true, describe: 'Project name' })
              .option('node', {
                type: 'string',
                describe: 'Node to start on (default: any online node with the project)',
              })
              .option('prompt', { type: 'string', describe: 'First prompt' })
              .option('title', { type: 'string', describe: 'Session title' }),
          (argv) =>
            run(argv, (c, o) =>
              sessionAction(
                c,
                o,
                {
                  verb: 'start',
                  project: argv.project,
                  node: argv.node,
                  prompt: argv.prompt,
                  title: argv.title,
                },
                ctx.idempotencyKey(argv),
              ),
            ),
        )
        .command(
          'inject <id> <prompt>',
          'Send a prompt into a session',
          (b) => id(b).positional('prompt', { type: 'string', demandOption: true }),
          (argv) =>
            run(argv, (c, o) =>
              sessionAction(
                c,
                o,
                { verb: 'inject', session: argv.id, prompt: argv.prompt },
                ctx.idempotencyKey(argv),
              ),
            ),
        )
        .command('resume <id>', 'Resume a session', withPrompt, (argv) =>
          run(argv, (c, o) =>
            sessionAction(
              c,
              o,
              { verb: 'resume', session: argv.id, prompt: argv.prompt },
              ctx.idempotencyKey(argv),
            ),
          ),
        )
        .command(
          'restart <id>',
          'Restart a session, as a hand-off: it writes .context/, goes idle (up to 60 s), is stopped, and a new session continues',
          (b) =>
            withPrompt(b).option('follow', {
              type: 'boolean',
              describe: 'Wait for the new session (exit 1 when the hand-off failed)',
            }),
          (argv) =>
            run(argv, (c, o) =>
              sessionHandOff(
                c,
                o,
                {
                  verb: 'restart',
                  session: argv.id,
                  prompt: argv.prompt,
                  follow: argv.follow,
                  signal: ctx.signal,
                },
                ctx.idempotencyKey(argv),
              ),
            ),
        )
        .command(
          'handoff <id>',
          'Graceful restart: the session writes .context/, goes idle, is stopped, and a new session continues',
          (b) =>
            id(b)
              .option('prompt', { type: 'string', describe: "Words for the new session's first prompt" })
              .option('wait-idle', {
                type: 'number',
                describe: 'Seconds to wait for idle after asking it to write .context/ (default 60)',
              })
              .option('follow', {
                type: 'boolean',
                describe: 'Wait for the outcome (exit 1 when it failed)',
              }),
          (argv) =>
            run(argv, (c, o) =>
              sessionHandOff(
                c,
                o,
                {
                  session: checkArg('session', argSchemas.session, argv.id),
                  prompt: checkOptionalArg('--prompt', argSchemas.handOffPrompt, argv.prompt),
                  waitIdleSeconds: checkOptionalArg(
                    '--wait-idle',
                    argSchemas.waitIdleSeconds,
                    argv['wait-idle'],
                  ),
                  follow: argv.follow,
                  signal: ctx.signal,
                },
                ctx.idempotencyKey(argv),
              ),
            ),
        )
        .command('kill <id>', 'Abort a session', id, (argv) =>
          run(argv, (c, o) =>
            sessionAction(c, o, { verb: 'kill', session: argv.id }, ctx.idempotencyKey(argv)),
          ),
        )
        .command(
          'approve <id> <permissionId>',
          'Allow a pending permission (once, or --always)',
          (b) =>
            id(b)
              .positional('permissionId', { type: 'string', demandOption: true })
              .option('always', { type: 'boolean', describe: 'Allow this kind of request from now on' }),
          (argv) =>
            run(argv, (c, o) =>
              sessionAction(
                c,
                o,
                {
                  verb: 'permission',
                  session: argv.id,
                  permissionId: argv.permissionId,
                  response: argv.always ? 'always' : 'once',
                },
                ctx.idempotencyKey(argv),
              ),
            ),
        )
        .command(
          'deny <id> <permissionId>',
          'Reject a pending permission',
          (b) => id(b).positional('permissionId', { type: 'string', demandOption: true }),
          (argv) =>
            run(argv, (c, o) =>
              sessionAction(
                c,
                o,
                {
                  verb: 'permission',
                  session: argv.id,
                  permissionId: argv.permissionId,
                  response: 'reject',
                },
                ctx.idempotencyKey(argv),
              ),
            ),
        )
        .example('$0 sessions list --state idle --json', 'idle sessions as JSON')
        .example('$0 sessions inject ses_123 "run the tests"', 'send a prompt')
        .demandCommand(1, 'name a verb') as unknown as Argv<GlobalArgs>,
    handler: () => undefined,
  };
}
