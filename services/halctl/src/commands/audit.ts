import { auditRecordSchema } from '@hal/protocol';
import type { Argv, CommandModule } from 'yargs';
import { envelope } from '../api-answer.ts';
import type { ApiClient } from '../client.ts';
import type { CommandContext, GlobalArgs } from '../command-context.ts';
import { type Output, writeJson, writeTable } from '../output.ts';

const auditAnswer = envelope(auditRecordSchema.array());

export async function listAudit(
  client: ApiClient,
  out: Output,
  opts: { limit?: number | undefined; actor?: string | undefined; action?: string | undefined },
): Promise<void> {
  const { data } = await client.get('/api/v1/audit', auditAnswer, opts);
  if (out.json) return writeJson(out, data);
  writeTable(out, data, [
    { header: 'TIME', value: (r) => r.time },
    { header: 'ACTOR', value: (r) => `${r.actor.kind}:${r.actor.id}` },
    { header: 'ACTION', value: (r) => r.action },
    {
      header: 'TARGET',
      value: (r) =>
        Object.entries(r.target)
          .map(([k, v]) => `${k}=${v}`)
          .join(' ') || '-',
      shrink: true,
    },
    { header: 'RESULT', value: (r) => (r.result.ok ? 'ok' : `failed ${r.result.code ?? ''}`.trim()) },
  ]);
}

export function auditCommand(ctx: CommandContext): CommandModule<GlobalArgs, GlobalArgs> {
  return {
    command: 'audit',
    describe: 'Who did what (HAL_AUDIT)',
    builder: (y: Argv<GlobalArgs>) =>
      y
        .command(
          'list',
          'The newest audit records, newest first',
          (b) =>
            b
              .option('limit', { type: 'number', describe: 'How many records (1-1000)' })
              .option('actor', { type: 'string', describe: 'Only this actor (token name)' })
              .option('action', { type: 'string', describe: 'Only this action (session.kill, …)' }),
          async (argv) =>
            listAudit(await ctx.client(argv), ctx.output(argv), {
              limit: argv.limit,
              actor: argv.actor,
              action: argv.action,
            }),
        )
        .demandCommand(1, 'name a verb: list') as unknown as Argv<GlobalArgs>,
    handler: () => undefined,
  };
}
