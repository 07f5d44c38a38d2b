import { loadConfig, runValidate } from '@hal/config';
import { createLogger } from '@hal/observability';
import { toHalError } from '@hal/protocol';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { createAgent } from './agent.ts';

/** `hal-agent --config FILE [--validate]`: wiring only — config, logger, agent, signals. */
async function main(argv: string[]): Promise<void> {
  const args = await yargs(argv)
    .scriptName('hal-agent')
    .usage('$0 --config agent.config.json [--validate]')
    .option('config', { type: 'string', describe: 'agent config file (JSON)' })
    .option('validate', { type: 'boolean', default: false, describe: 'check the config, print it and exit' })
    .strict()
    .help()
    .parseAsync();

  if (args.validate) {
    process.exitCode = runValidate('agent', args.config, process.stdout, process.stderr);
    return;
  }

  let config: ReturnType<typeof loadConfig<'agent'>>;
  try {
    config = loadConfig('agent', args.config === undefined ? {} : { file: args.config });
  } catch (err) {
    process.stderr.write(`${toHalError(err).message}\n`);
    process.exitCode = 1;
    return;
  }
  const log = createLogger({ service: 'agent', node: config.node_id, level: config.log_level });
  const agent = createAgent({ config, log });

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    // Stopping closes the socket and the SSE stream only: opencode sessions keep running.
    agent.stop().then(
      () => log.info('stopped'),
      (err: unknown) => {
        log.error({ err }, 'stop failed');
        process.exitCode = 1;
      },
    );
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));

  try {
    await agent.start();
    log.info({ supervisor_url: config.supervisor_url, projects: config.projects.length }, 'agent started');
  } catch (err) {
    log.fatal({ err }, 'agent failed to start');
    process.exitCode = 1;
    await agent.stop().catch(() => undefined);
  }
}

await main(hideBin(process.argv));
