import { parseArgs } from 'node:util';
import { connectBus, ensureStreams, natsReadinessCheck, streamsReadinessCheck } from '@hal/bus';
import { loadConfig, runValidate } from '@hal/config';
import { createHalMetrics, createLogger, createRegistry, Readiness } from '@hal/observability';
import { toHalError } from '@hal/protocol';
import { createGateway } from './gateway.ts';
import { createHttpApi } from './http-server.ts';

const USAGE = 'usage: hal-gateway [--config supervisor.config.json] [--validate]\n';

/** `hal-gateway` on its own: agent WebSockets on server.port, the HTTP API on server.http_port. */
async function main(argv: string[]): Promise<void> {
  let args: { config?: string | undefined; validate?: boolean | undefined };
  try {
    args = parseArgs({
      args: argv,
      options: { config: { type: 'string' }, validate: { type: 'boolean' } },
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
  const log = createLogger({ service: 'gateway', level: config.log_level });
  if (config.nats.url === undefined) {
    log.fatal('nats.url is required when the gateway runs on its own (the supervisor embeds NATS)');
    process.exitCode = 1;
    return;
  }
  const registry = createRegistry();
  const readiness = new Readiness();
  const nc = await connectBus({
    url: config.nats.url,
    name: 'hal-gateway',
    log,
    token: config.nats.token,
    waitOnFirstConnect: true,
    onReconnect: () => createHalMetrics(registry).natsReconnectsTotal.inc(),
  });
  readiness.register('nats', natsReadinessCheck(nc));
  await ensureStreams(nc, { auditMaxAgeDays: config.security.audit.retention_days });
  readiness.register('streams', streamsReadinessCheck(nc));
  const gateway = createGateway({ config, nc, log, registry, readiness });
  const api = createHttpApi({ config, nc, log, registry, readiness });

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    // The API goes first (no new commands), then the agents' sockets (their node.offline events
    // still need NATS), and NATS last so every pending publish is flushed.
    api
      .stop()
      .then(() => gateway.stop())
      .then(() => nc.drain())
      .catch((err: unknown) => {
        log.error({ err }, 'stop failed');
        process.exitCode = 1;
      });
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));

  try {
    await gateway.start();
    await api.start();
  } catch (err) {
    log.fatal({ err }, 'gateway failed to start');
    process.exitCode = 1;
    shutdown('start-failure');
  }
}

await main(process.argv.slice(2));
