import {
  ErrorCode,
  logEntrySchema,
  messagePartDataSchema,
  type SessionView,
  sessionViewSchema,
} from '@hal/protocol';
import type { Argv, CommandModule } from 'yargs';
import { z } from 'zod';
import { envelope } from '../api-answer.ts';
import { argSchemas, checkArg, checkOptionalArg } from '../arg-schemas.ts';
import type { ApiClient } from '../client.ts';
import type { CommandContext, GlobalArgs } from '../command-context.ts';
import { CliError } from '../exit-codes.ts';
import { dash, type Output, shortTime, writeFields, writeJson, writeTable } from '../output.ts';
import { EVENTS_STREAM_PATH, streamedEventSchema } from './events.ts';
import { sessionHandOff } from './hand-off.ts';

const enc = encodeURIComponent;

const sessionsListAnswer = envelope(
  sessionViewSchema.array(),
  z.object({ next_cursor: z.string().nullable().optional() }),
);
const sessionAnswer = envelope(sessionViewSchema);
const logsAnswer = envelope(
  logEntrySchema.array(),
  z.object({ last_seq: z.number().int().nonnegative().nullable().optional() }),
);
/** `logs --follow` streams message.part events only, so their data must be a message part. */
const streamedPartSchema = streamedEventSchema.extend({ data: messagePartDataSchema });
/**
 * A command's answer is whatever the agent replied (shown as JSON); the gateway adds the node
 * that acted. `data` may be absent when the agent replied with nothing.
 */
const actionAnswer = envelope(z.unknown().optional(), z.object({ node: z.string() }));

export interface SessionListOptions {
  node?: string | undefined;
  project?: string | undefined;
  state?: string | undefined;
  limit?: number | undefined;
  cursor?: string | undefined;
}

const tokens = (s: SessionView): string => `${s.tokens.input}/${s.tokens.output}`;

export async function listSessions(client: ApiClient, out: Output, opts: SessionListOptions): Promise<void> {
  const { data, meta } = await client.get('/api/v1/sessions', sessionsListAnswer, { ...opts });
  if (out.json) return writeJson(out, data);
  writeTable(out, data, [
    { header: 'SESSION', value: (s) => s.session },
    { header: 'NODE', value: (s) => s.node, shrink: true },
    { header: 'PROJECT', value: (s) => s.project, shrink: true },
    { header: 'STATE', value: (s) => s.state },
    { header: 'TITLE', value: (s) => dash(s.title), shrink: true },
    { header: 'IN/OUT', value: tokens, align: 'right' },
    { header: 'COST $', value: (s) => s.cost_usd.toFixed(4), align: 'right' },
    { header: 'LAST ACTIVITY', value: (s) => shortTime(s.last_activity_at) },
  ]);
  if (typeof meta.next_cursor === 'string') out.write(`(more: --cursor ${meta.next_cursor})\n`);
}

export async function getSession(client: ApiClient, out: Output, session: string): Promise<void> {
  const { data: s } = await client.get(`/api/v1/sessions/${enc(session)}`, sessionAnswer);
  if (out.json) return writeJson(out, s);
  writeFields(out, [
    ['session', s.session],
    ['node', s.node],
    ['project', s.project],
    ['state', s.state],
    ['title', dash(s.title)],
    ['model', s.model === null ? '-' : `${dash(s.provider)}/${s.model}`],
    ['task', dash(s.current_task)],
    [
      'tokens',
      `in ${s.tokens.input}, out ${s.tokens.output}, reasoning ${s.tokens.reasoning}, cache r/w ${s.tokens.cache_read}/${s.tokens.cache_write}`,
    ],
    ['cost', `$${s.cost_usd.toFixed(4)}`],
    ['compactions', String(s.compactions)],
    ['errors', s.errors === 0 ? '0' : `${s.errors} (last: ${dash(s.last_error)})`],
    ['pending permissions', s.pending_permissions.join(', ') || '-'],
    ['started', dash(s.started_at)],
    ['last activity', dash(s.last_activity_at)],
  ]);
}

function logLine(e: {
  role: string;
  kind: string;
  text: string | null;
  tool: string | null;
  tool_status: string | null;
}) {
  if (e.tool !== null) return `[${e.role}] tool ${e.tool} ${dash(e.tool_status)}\n`;
  return `[${e.role}] ${e.text ?? `(${e.kind})`}\n`;
}

export async function sessionLogs(
  client: ApiClient,
  out: Output,
  session: string,
  opts: { limit?: number | undefined; follow?: boolean | undefined; signal?: AbortSignal | undefined },
): Promise<void> {
  const { data, meta } = await client.get(`/api/v1/sessions/${enc(session)}/logs`, logsAnswer, {
    limit: opts.limit,
  });
  for (const e of data) out.write(out.json ? `${JSON.stringify(e)}\n` : logLine(e));
  if (!opts.follow) return;
  // Follow from the last logged stream sequence: the SSE replay closes the gap exactly.
  const after = meta.last_seq ?? undefined;
  const stream = client.stream(
    EVENTS_STREAM_PATH,
    streamedPartSchema,
    { session, type: 'message.part', after_seq: after },
    opts.signal === undefined ? {} : { signal: opts.signal },
  );
  for await (const m of stream) {
    const d = m.data.data;
    out.write(
      out.json
        ? `${JSON.stringify({ ...m.data, stream_seq: m.id })}\n`
        : logLine({
            role: d.role,
            kind: d.part_type,
            text: d.text ?? null,
            tool: d.tool ?? null,
            tool_status: d.tool_status ?? null,
          }),
    );
  }
}

export type SessionAction =
  | {
      verb: 'start';
      project: string;
      node?: string | undefined;
      prompt?: string | undefined;
      title?: string | undefined;
    }
  | { verb: 'inject'; session: string; prompt: string }
  | { verb: 'resume'; session: string; prompt?: string | undefined }
  | { verb: 'kill'; session: string }
  | { verb: 'permission'; session: string; permissionId: string; response: 'once' | 'always' | 'reject' };

function strip(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

/**
 * One session command. `idempotencyKey` (one per halctl invocation unless --idempotency-key names
 * it) makes it run at most once; when its answer is lost, the error says how to retry with it.
 */
export async function sessionAction(
  client: ApiClient,
  out: Output,
  action: SessionAction,
  idempotencyKey: string,
): Promise<void> {
  const keyed = { idempotencyKey };
  let res: z.output<typeof actionAnswer>;
  let what: string;
  try {
    switch (action.verb) {
      case 'start':
        res = await client.post(
          '/api/v1/sessions',
          actionAnswer,
          strip({ ...action, verb: undefined }),
          keyed,
        );
        what = `start ${action.project}`;
        break;
      case 'permission':
        res = await client.post(
          `/api/v1/sessions/${enc(action.session)}/permissions/${enc(action.permissionId)}`,
          actionAnswer,
          { response: action.response },
          keyed,
        );
        what = `permission ${action.permissionId} ${action.response} on session ${action.session}`;
        break;
      default:
        res = await client.post(
          `/api/v1/sessions/${enc(action.session)}/${action.verb}`,
          actionAnswer,
          strip({ prompt: 'prompt' in action ? action.prompt : undefined }),
          keyed,
        );
        what = `${action.verb} session ${action.session}`;
    }
  } catch (err) {
    if (err instanceof CliError && err.code === ErrorCode.COMMAND_OUTCOME_UNKNOWN) {
      throw new CliError(
        err.code,
        `${err.message} (retry: the same command with --idempotency-key ${idempotencyKey})`,
        {
          cause: err,
        },
      );
    }
    throw err;
  }
  if (out.json) return writeJson(out, res.data);
  const detail = res.data === undefined || res.data === null ? '' : ` ${JSON.stringify(res.data)}`;
  out.write(`ok: ${what} on node ${res.meta.node}${detail}\n`);
}

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
