import { ErrorCode, routesTestResponseSchema } from '@hal/protocol';
import type { Argv, CommandModule } from 'yargs';
import { envelope } from '../api-answer.ts';
import type { ApiClient } from '../client.ts';
import type { CommandContext, GlobalArgs } from '../command-context.ts';
import { CliError } from '../exit-codes.ts';
import { type Output, writeJson } from '../output.ts';

const testAnswer = envelope(routesTestResponseSchema);

export interface RoutesTestOptions {
  node?: string | undefined;
  project?: string | undefined;
  session?: string | undefined;
  /** The event's data as JSON text. */
  data?: string | undefined;
}

/** `halctl routes test <event-type>`: each route in order, whether it fires, waits or not, and why. */
export async function routesTest(
  client: ApiClient,
  out: Output,
  type: string,
  opts: RoutesTestOptions,
): Promise<void> {
  let data: unknown = {};
  if (opts.data !== undefined) {
    try {
      data = JSON.parse(opts.data);
    } catch {
      throw new CliError(ErrorCode.VALIDATION_FAILED, '--data must be a JSON object');
    }
  }
  const body = {
    type,
    ...(opts.node ? { node: opts.node } : {}),
    ...(opts.project ? { project: opts.project } : {}),
    ...(opts.session ? { session: opts.session } : {}),
    data,
  };
  const { data: r } = await client.post('/api/v1/routes/test', testAnswer, body);
  if (out.json) return writeJson(out, r);
  out.write(`${type} (severity ${r.severity})\n`);
  out.write(`notifies now: ${r.fires.join(', ') || 'nothing'}\n`);
  if (r.waits.length > 0) out.write(`notifies later: ${r.waits.join(', ')}\n`);
  for (const rule of r.rules) {
    const mark = rule.outcome === 'fires' ? '✔' : rule.outcome === 'waits' ? '…' : '✘';
    out.write(`${mark} [${rule.index}] ${rule.match} → ${rule.target}: ${rule.reason}\n`);
    for (const c of rule.checks) {
      out.write(`    ${c.holds ? 'holds' : 'fails'}: ${c.condition} = ${c.actual} (needs ${c.expected})\n`);
    }
  }
}

export function routesCommand(ctx: CommandContext): CommandModule<GlobalArgs, GlobalArgs> {
  return {
    command: 'routes',
    describe: 'Notification routes',
    builder: (y: Argv<GlobalArgs>) =>
      y
        .command(
          'test <type>',
          'Explain which routes an event would notify now, and why',
          (b) =>
            b
              .positional('type', {
                type: 'string',
                demandOption: true,
                describe: 'Event type, like session.idle',
              })
              .option('node', { type: 'string' })
              .option('project', { type: 'string' })
              .option('session', { type: 'string', describe: 'A known session: its current state is used' })
              .option('data', { type: 'string', describe: 'The event data as JSON' }),
          async (argv) =>
            routesTest(await ctx.client(argv), ctx.output(argv), argv.type, {
              node: argv.node,
              project: argv.project,
              session: argv.session,
              data: argv.data,
            }),
        )
        .example('$0 routes test session.idle --session ses_1', 'would an idle alert go out for ses_1 now?')
        .demandCommand(1, 'name a verb: test') as unknown as Argv<GlobalArgs>,
    handler: () => undefined,
  };
}
