import type { Argv, CommandModule } from 'yargs';
import type { CommandContext, GlobalArgs } from '../command-context.ts';
import { policiesList } from './policies.ts';

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
            await policiesList({ get: async (path) => (await client.get(path)).data }, out, {
              json: out.json,
            });
          },
        )
        .demandCommand(1, 'name a verb: list') as unknown as Argv<GlobalArgs>,
    handler: () => undefined,
  };
}
