import { mkdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import {
  connectBus,
  ensureStreams,
  type NatsConnection,
  natsReadinessCheck,
  streamsReadinessCheck,
} from '@hal/bus';
import type { SupervisorConfig } from '@hal/config';
import {
  type Clock,
  createHalMetrics,
  createLogger,
  type Lifecycle,
  type Logger,
  Readiness,
  type Registry,
  systemClock,
} from '@hal/observability';
import { createHealthServer, type HealthServer, streamLimitsFor } from '@hal/runtime';
import { createEmbeddedNats, type EmbeddedNats } from './embedded-nats.ts';
import { SERVICES, type ServiceEntry } from './services.ts';

export interface SupervisorDeps {
  config: SupervisorConfig;
  log: Logger;
  registry: Registry;
  clock?: Clock;
  /** Default: SERVICES. */
  services?: readonly ServiceEntry[];
  /**
   * The logger of each in-process service. Default: a logger of its own with `service` set to
   * the service's name and `node` to this host, at the supervisor's level — so a line reads the
   * same whether the service runs here or on its own.
   */
  loggerFor?: (service: string) => Logger;
  /** nats-server binary for the embedded server (tests may point elsewhere). */
  natsBinary?: string;
}

export interface Supervisor extends Lifecycle {
  readonly readiness: Readiness;
  /** The embedded nats-server, when nats.url is not set. */
  readonly embeddedNats: EmbeddedNats | undefined;
  /** Port of the supervisor's own health server (0 when a service serves HTTP). */
  healthPort(): number;
}

/**
 * Everything in one process: NATS (embedded or configured) → streams → health → services in
 * list order. stop() undoes it in reverse, so services drain while NATS is still up.
 */
export function createSupervisor(deps: SupervisorDeps): Supervisor {
  const { config, log, registry } = deps;
  const clock = deps.clock ?? systemClock;
  const services = deps.services ?? SERVICES;
  const metrics = createHalMetrics(registry);
  const loggerFor =
    deps.loggerFor ?? ((service: string) => createLogger({ service, node: hostname(), level: log.level }));
  const readiness = new Readiness();
  const embeddedNats =
    config.nats.url === undefined
      ? createEmbeddedNats({
          dataDir: config.data_dir,
          port: config.nats.embedded_port,
          token: config.nats.token,
          log,
          ...(deps.natsBinary === undefined ? {} : { binary: deps.natsBinary }),
        })
      : undefined;
  const health: HealthServer | undefined = services.some((s) => s.servesHttp)
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
  let nc: NatsConnection | undefined;
  const started: { name: string; service: Lifecycle }[] = [];
  // A signal may arrive while start() is still bringing services up. stop() then waits for the
  // service being started to finish and start() brings up no more, so nothing starts on a
  // connection that stop() already closed.
  let starting: Promise<void> | undefined;
  let stopRequested = false;

  async function startAll(): Promise<void> {
    await mkdir(config.data_dir, { recursive: true });
    // Until NATS answers and every service runs, /readyz says so instead of reporting ready.
    readiness.register('nats', () => ({ ok: false, detail: 'starting' }));
    readiness.register('services', () => ({ ok: false, detail: 'starting' }));
    await health?.start();
    await embeddedNats?.start();
    if (stopRequested) return;
    const url = config.nats.url ?? embeddedNats?.url ?? '';
    nc = await connectBus({
      url,
      name: 'hal-supervisor',
      log,
      token: config.nats.token,
      onReconnect: () => metrics.natsReconnectsTotal.inc(),
    });
    readiness.register('nats', natsReadinessCheck(nc));
    await ensureStreams(nc, streamLimitsFor(config));
    readiness.register('streams', streamsReadinessCheck(nc));
    for (const entry of services) {
      if (stopRequested) return;
      const service = entry.create({
        config,
        nc,
        log: loggerFor(entry.name),
        registry,
        metrics,
        readiness,
        dataDir: config.data_dir,
        clock,
      });
      await service.start();
      started.push({ name: entry.name, service });
      log.info({ component: entry.name }, 'service started');
    }
    readiness.unregister('services');
    // Credentials in a nats://user:pass@host URL stay out of the log.
    log.info(
      { services: started.map((s) => s.name), nats: url.replace(/\/\/[^@/]*@/g, '//***@') },
      'supervisor started',
    );
  }

  return {
    readiness,
    embeddedNats,
    healthPort: () => health?.port() ?? 0,

    async start() {
      starting = startAll();
      await starting;
    },

    async stop() {
      stopRequested = true;
      await starting?.catch(() => undefined);
      // Reverse order: a service may still publish while draining, so NATS goes last.
      for (const { name, service } of started.reverse()) {
        try {
          await service.stop();
          log.info({ component: name }, 'service stopped');
        } catch (err) {
          log.error({ err, component: name }, 'service failed to stop cleanly');
        }
      }
      started.length = 0;
      await health?.stop();
      if (nc) {
        await nc.close().catch((err: unknown) => log.warn({ err }, 'nats close failed'));
        nc = undefined;
      }
      await embeddedNats?.stop();
      log.info('supervisor stopped');
    },
  };
}
