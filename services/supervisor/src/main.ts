import { ConfigError, loadConfig, runValidate } from '@hal/config';
import { createLogger, createRegistry } from '@hal/observability';
import { hideBin } from 'yargs/helpers';
import { buildCli } from './cli.ts';
import { createSupervisor } from './supervisor.ts';

/** Past this, shutdown is stuck: log it and leave anyway (systemd/k8s would SIGKILL soon after). */
const STOP_DEADLINE_MS = 10_000;

const args = await buildCli(hideBin(process.argv)).parseAsync();

if (args.validate) {
  process.exitCode = runValidate('supervisor', args.config, process.stdout, process.stderr);
} else {
  await run(args.config);
}

async function run(file: string | undefined): Promise<void> {
  let config: ReturnType<typeof loadConfig<'supervisor'>>;
  try {
    config = loadConfig('supervisor', file === undefined ? {} : { file });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    for (const p of err.problems) process.stderr.write(`${p.path}: ${p.message}\n`);
    process.exitCode = 1;
    return;
  }
  const log = createLogger({ service: 'supervisor', level: config.log_level });
  const supervisor = createSupervisor({ config, log, registry: createRegistry() });

  let stopping: Promise<void> | undefined;
  const shutdown = (signal: string): Promise<void> => {
    if (stopping) return stopping;
    log.info({ signal }, 'shutting down');
    // unref: it fires only if something still keeps the process alive past the deadline.
    setTimeout(() => {
      log.error({ deadline_ms: STOP_DEADLINE_MS }, 'shutdown did not finish in time; exiting');
      process.exitCode = 1;
      process.exit();
    }, STOP_DEADLINE_MS).unref();
    stopping = supervisor.stop().catch((err: unknown) => {
      log.error({ err }, 'shutdown failed');
      process.exitCode = 1;
    });
    return stopping;
  };
  // `on`, not `once`: a second Ctrl-C must not kill the process mid-shutdown with NATS still running.
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));

  try {
    await supervisor.start();
  } catch (err) {
    log.fatal({ err }, 'supervisor failed to start');
    process.exitCode = 1;
    await shutdown('start-failure');
  }
}
