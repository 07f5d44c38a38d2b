import { parseArgs } from 'node:util';
import { connectBus, ensureStreams } from '@hal/bus';
import { loadConfig, runValidate } from '@hal/config';
import { createHalMetrics, createLogger, createRegistry } from '@hal/observability';
import { toHalError } from '@hal/protocol';
import { createPolicy } from './policy-service.ts';

const USAGE = 'usage: hal-policy [--config supervisor.config.json] [--validate]\n';

/** `hal-policy`: wiring only — config, logger, NATS, policy service, signals. */
async function main(argv: string[]): Promise<void> {
  let args: { config?: string | undefined; validate?: boolean | undefined };
  try {
    args = parseArgs({
      args: argv,
      options: { config: { type: 'string' }, validate: { type: 'boolean' } },
      strict: true,
    }).values;
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  if (args.validate === true) {
    process.exitCode = runValidate('supervisor', args.config, process.stdout, process.stderr);
    return;
  }
  let config: ReturnType<typeof loadConfig<'supervisor'>>;
  try {
    config = loadConfig('supervisor', args.config === undefined ? {} : { file: args.config });
  } catch (err) {
    process.stderr.write(`${toHalError(err).message}\n`);
    process.exitCode = 1;
    return;
  }
  const log = createLogger({ service: 'policy', level: config.log_level });
  if (config.nats.url === undefined) {
    log.fatal('nats.url is required when the policy service runs on its own (the supervisor embeds NATS)');
    process.exitCode = 1;
    return;
  }
  const registry = createRegistry();
  const nc = await connectBus({
    url: config.nats.url,
    name: 'hal-policy',
    log,
    token: config.nats.token,
    waitOnFirstConnect: true,
    onReconnect: () => createHalMetrics(registry).natsReconnectsTotal.inc(),
  });
  const policy = createPolicy({ config, nc, log, registry });

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    // The service stops its timer and consumer first; only then is NATS drained, so the last acks land.
    policy
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
    await ensureStreams(nc, { auditMaxAgeDays: config.security.audit.retention_days });
    await policy.start();
  } catch (err) {
    log.fatal({ err }, 'policy service failed to start');
    process.exitCode = 1;
    await policy.stop().catch(() => undefined);
    await nc.close();
  }
}

await main(process.argv.slice(2));
