import { parseArgs } from 'node:util';
import {
  connectBus,
  ensureStreams,
  type NatsConnection,
  natsReadinessCheck,
  streamsReadinessCheck,
} from '@hal/bus';
import { ConfigError, loadConfig, runValidate, type SupervisorConfig } from '@hal/config';
import {
  createHalMetrics,
  createLogger,
  createRegistry,
  type Lifecycle,
  type Logger,
  Readiness,
  type Registry,
} from '@hal/observability';
import { createHealthServer } from './health-server.ts';
import { streamLimitsFor } from './stream-limits.ts';

/** Past this, shutdown is stuck: log it and leave (systemd/k8s would SIGKILL soon after). */
export const STOP_DEADLINE_MS = 10_000;

export interface StandaloneDeps {
  config: SupervisorConfig;
  nc: NatsConnection;
  log: Logger;
  registry: Registry;
  readiness: Readiness;
  /** Extra boolean flags declared in the spec, e.g. `{ rebuild: true }`. */
  flags: Readonly<Record<string, boolean>>;
}

export interface StandaloneSpec {
  /** `tracker` → binary `hal-tracker`, NATS connection name `hal-tracker`, log field service=tracker. */
  name: string;
  /** Boolean flags beyond --config and --validate, with their help text. */
  flags?: Readonly<Record<string, string>>;
  /** True when the service serves server.http_port itself (the gateway's API). */
  servesHttp?: boolean;
  /** The service's parts, started in order and stopped in reverse. */
  create(deps: StandaloneDeps): Lifecycle[];
}

function usage(spec: StandaloneSpec): string {
  const extra = Object.keys(spec.flags ?? {})
    .map((f) => ` [--${f}]`)
    .join('');
  return `usage: hal-${spec.name} [--config supervisor.config.json] [--validate]${extra}\n`;
}

/**
 * The `main` of a service run on its own (one systemd unit or k8s Deployment per service):
 * arguments → config → logger → NATS and streams → health endpoints → the service → signals.
 * Every standalone service shares it, so they all stop, log and report readiness alike.
 */
export async function runService(
  spec: StandaloneSpec,
  argv: string[] = process.argv.slice(2),
): Promise<void> {
  let values: Record<string, string | boolean | undefined>;
  try {
    const options: Record<string, { type: 'string' | 'boolean' }> = {
      config: { type: 'string' },
      validate: { type: 'boolean' },
    };
    for (const flag of Object.keys(spec.flags ?? {})) options[flag] = { type: 'boolean' };
    values = parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${usage(spec)}`);
    process.exitCode = 2;
    return;
  }
  const file = typeof values.config === 'string' ? values.config : undefined;
  if (values.validate === true) {
    process.exitCode = runValidate('supervisor', file, process.stdout, process.stderr);
    return;
  }
  let config: SupervisorConfig;
  try {
    config = loadConfig('supervisor', file === undefined ? {} : { file });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    for (const p of err.problems) process.stderr.write(`${p.path}: ${p.message}\n`);
    process.exitCode = 1;
    return;
  }
  const log = createLogger({ service: spec.name, level: config.log_level });
  if (config.nats.url === undefined) {
    log.fatal(
      { key: 'nats.url' },
      'nats.url is required when a service runs on its own (hal-supervisor embeds NATS)',
    );
    process.exitCode = 1;
    return;
  }
  const registry = createRegistry();
  const readiness = new Readiness();
  const health = spec.servesHttp
    ? undefined
    : createHealthServer({
        host: config.server.http_host,
        port: config.server.http_port,
        readiness,
        registry,
        metricsPublic: config.server.metrics_public,
        authToken: config.server.auth_token,
        log,
      });
  // Not ready until NATS answers and every part has started: a load balancer or k8s must not
  // send traffic to a process that is still bringing its service up.
  readiness.register('nats', () => ({ ok: false, detail: 'connecting' }));
  readiness.register('service', () => ({ ok: false, detail: 'starting' }));
  await health?.start();
  const nc = await connectBus({
    url: config.nats.url,
    name: `hal-${spec.name}`,
    log,
    token: config.nats.token,
    // A service started before NATS (systemd ordering, a k8s rollout) waits instead of crash-looping.
    waitOnFirstConnect: true,
    onReconnect: () => createHalMetrics(registry).natsReconnectsTotal.inc(),
  });
  readiness.register('nats', natsReadinessCheck(nc));

  const flags: Record<string, boolean> = {};
  for (const flag of Object.keys(spec.flags ?? {})) flags[flag] = values[flag] === true;
  const parts = spec.create({ config, nc, log, registry, readiness, flags });
  const started: Lifecycle[] = [];
  let stopping: Promise<void> | undefined;
  let starting: Promise<void> | undefined;

  const shutdown = (reason: string): Promise<void> => {
    if (stopping) return stopping;
    log.info({ reason }, 'stopping');
    setTimeout(() => {
      log.error({ deadline_ms: STOP_DEADLINE_MS }, 'shutdown did not finish in time; exiting');
      process.exitCode = 1;
      process.exit();
    }, STOP_DEADLINE_MS).unref();
    stopping = (async () => {
      // Let a start in progress settle, so nothing starts on a connection we are closing.
      await starting?.catch(() => undefined);
      // Reverse order: parts drain while NATS is still up; NATS is drained last so the final
      // acks and publishes reach the server.
      for (const part of started.reverse()) {
        await part.stop().catch((err: unknown) => {
          log.error({ err }, 'stop failed');
          process.exitCode = 1;
        });
      }
      await health?.stop();
      await nc.drain().catch((err: unknown) => log.warn({ err }, 'nats drain failed'));
      log.info('stopped');
    })();
    return stopping;
  };
  // `on`, not `once`: a second Ctrl-C must not kill the process mid-shutdown.
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));

  starting = (async () => {
    await ensureStreams(nc, streamLimitsFor(config));
    readiness.register('streams', streamsReadinessCheck(nc));
    for (const part of parts) {
      if (stopping) return;
      await part.start();
      started.push(part);
    }
    readiness.unregister('service');
    log.info('started');
  })();
  try {
    await starting;
  } catch (err) {
    log.fatal({ err }, 'failed to start');
    process.exitCode = 1;
    await shutdown('start-failure');
  }
}
