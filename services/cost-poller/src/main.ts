import { parseArgs } from 'node:util';
import { connectBus } from '@hal/bus';
import { loadConfig, runValidate } from '@hal/config';
import { createLogger, createRegistry } from '@hal/observability';
import { toHalError } from '@hal/protocol';
import { createCostPoller } from './cost-poller.ts';

/** `hal-cost-poller --config FILE [--validate]`: wiring only — config, logger, NATS, poller, signals. */
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { config: { type: 'string' }, validate: { type: 'boolean', default: false } },
  });
  if (values.validate === true) {
    process.exitCode = runValidate('supervisor', values.config, process.stdout, process.stderr);
    return;
  }
  let config: ReturnType<typeof loadConfig<'supervisor'>>;
  try {
    config = loadConfig('supervisor', values.config === undefined ? {} : { file: values.config });
  } catch (err) {
    process.stderr.write(`${toHalError(err).message}\n`);
    process.exitCode = 1;
    return;
  }
  const log = createLogger({ service: 'cost-poller', level: config.log_level });
  const nc = await connectBus({
    url: config.nats.url ?? `nats://127.0.0.1:${config.nats.embedded_port}`,
    name: 'hal-cost-poller',
    log,
    waitOnFirstConnect: true,
  });
  const poller = createCostPoller({ config, nc, log, registry: createRegistry() });

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    // The poller first (it writes to NATS and SQLite), the connection last.
    poller
      .stop()
      .then(() => nc.drain())
      .catch((err: unknown) => {
        log.error({ err }, 'stop failed');
        process.exitCode = 1;
      });
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  try {
    await poller.start();
  } catch (err) {
    log.fatal({ err }, 'cost poller failed to start');
    process.exitCode = 1;
    await poller.stop().catch(() => undefined);
    await nc.close();
  }
}

await main();
