import yargs, { type Argv } from 'yargs';

export interface SupervisorArgs {
  config?: string | undefined;
  validate: boolean;
}

/** The yargs instance; main.ts parses `hideBin(process.argv)` with it. */
export function buildCli(argv: readonly string[]): Argv<SupervisorArgs> {
  return yargs([...argv])
    .scriptName('hal-supervisor')
    .usage('$0 --config FILE [--validate]\n\nRuns every HAL-O-SWARM service in one process.')
    .option('config', {
      type: 'string',
      describe: 'supervisor.config.json (absent: defaults and HAL_* environment only)',
    })
    .option('validate', {
      type: 'boolean',
      default: false,
      describe: 'check the config, print every problem or the effective config (secrets masked), exit',
    })
    .strict()
    .help()
    .version(false) as unknown as Argv<SupervisorArgs>;
}
