import { ErrorCode } from '@hal/protocol';
import type { Argv, CommandModule } from 'yargs';
import { z } from 'zod';
import { envelope } from '../api-answer.ts';
import { argSchemas, checkArg, checkOptionalArg } from '../arg-schemas.ts';
import type { ApiClient } from '../client.ts';
import type { CommandContext, GlobalArgs } from '../command-context.ts';
import { CliError } from '../exit-codes.ts';
import { type Output, writeJson } from '../output.ts';

const resumeAnswer = envelope(
  z.object({
    action: z.enum(['already_running', 'resumed', 'started']),
    project: z.string(),
    session: z.string(),
    node: z.string(),
    data: z.unknown().optional(),
  }),
);

const WORDS = {
  already_running: 'is already working in session',
  resumed: 'resumed in session',
  started: 'started again in new session',
} as const;

/**
 * `halctl resume <project>`: nothing when a session of it is busy, else its latest live session
 * resumes, else a new session starts that reads `.context/`. Runs at most once per
 * idempotency key (a retry after a lost answer never starts a second session).
 */
export async function resumeProjectCommand(
  client: ApiClient,
  out: Output,
  opts: { project: string; node?: string | undefined; prompt?: string | undefined },
  idempotencyKey: string,
): Promise<void> {
  const body = {
    ...(opts.node === undefined ? {} : { node: opts.node }),
    ...(opts.prompt === undefined ? {} : { prompt: opts.prompt }),
  };
  let answer: z.output<typeof resumeAnswer>;
  try {
    answer = await client.post(
      `/api/v1/projects/${encodeURIComponent(opts.project)}/resume`,
      resumeAnswer,
      body,
      { idempotencyKey },
    );
  } catch (err) {
    if (err instanceof CliError && err.code === ErrorCode.COMMAND_OUTCOME_UNKNOWN) {
      throw new CliError(
        err.code,
        `${err.message} (retry: the same command with --idempotency-key ${idempotencyKey})`,
        { cause: err },
      );
    }
    throw err;
  }
  const r = answer.data;
  if (out.json) return writeJson(out, r);
  out.write(`ok: project ${r.project} ${WORDS[r.action]} ${r.session} on node ${r.node}\n`);
}

export function resumeCommand(ctx: CommandContext): CommandModule<GlobalArgs, GlobalArgs> {
  return {
    command: 'resume <project>',
    describe: "Keep a project's work going: resume its latest session, or start one that reads .context/",
    builder: (y: Argv<GlobalArgs>) =>
      y
        .positional('project', { type: 'string', demandOption: true, describe: 'Project name' })
        .option('node', { type: 'string', describe: 'Only on this node' })
        .option('prompt', {
          type: 'string',
          describe: 'Words to add (a resume prompt, or after the context)',
        })
        .option('idempotency-key', {
          type: 'string',
          describe:
            'Runs it at most once (default: a new key per run); after COMMAND_OUTCOME_UNKNOWN, retry with the key it names',
        }) as unknown as Argv<GlobalArgs>,
    handler: async (argv) => {
      const a = argv as GlobalArgs & { project?: unknown; node?: unknown; prompt?: unknown };
      const opts = {
        project: checkArg('project', argSchemas.project, a.project),
        node: checkOptionalArg('--node', argSchemas.node, a.node),
        prompt: checkOptionalArg('--prompt', argSchemas.prompt, a.prompt),
      };
      await resumeProjectCommand(await ctx.client(argv), ctx.output(argv), opts, ctx.idempotencyKey(argv));
    },
  };
}
