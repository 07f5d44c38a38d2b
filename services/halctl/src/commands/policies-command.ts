import type { Argv, CommandModule } from 'yargs';
import { z } from 'zod';
import { envelope } from '../api-answer.ts';
import type { CommandContext, GlobalArgs } from '../command-context.ts';
import { policiesList } from './policies.ts';

/** The envelope only: `policiesList` parses `data` itself, so its tests need no HTTP. */
const policiesAnswer = envelope(z.unknown());

/** The yargs side of `halctl policies`; the work is `policiesList` in policies.ts. */
export function policiesCommand(ctx: CommandContext): CommandModule<GlobalArgs, GlobalArgs> {
  return {
    command: 'policies',
    describe: 'Automation policies and what they did',
    builder: (y: Argv<GlobalArgs>) =>
      y
        .command(
          'list',
          'List policies with their state and recent actions',
          (b) => b,
          async (argv) => {
            const client = await ctx.client(argv);
            const out = ctx.output(argv);
            await policiesList({ get: async (path) => (await client.get(path, policiesAnswer)).data }, out, {
              json: out.json,
            });
          },
        )
        .demandCommand(1, 'name a verb: list') as unknown as Argv<GlobalArgs>,
    handler: () => undefined,
  };
}
