import { type BusAuth, connectBus, type NatsConnection, natsReadinessCheck } from '@hal/bus';
import type { Logger, Readiness } from '@hal/observability';
import type { LifecyclePart } from './lifecycle-group.ts';

export interface BusPartOptions {
  /** The part's name in logs and the readiness check it registers (`nats`, `nats.tracker`). */
  partName: string;
  /** NATS connection name (`hal-tracker`), shown by `nats server report connections`. */
  connectionName: string;
  /** Read when the part starts: an embedded server's URL is known only once it runs. */
  url: () => string;
  /** Read when the part starts, like the URL (an embedded server's passwords). */
  auth: () => BusAuth | undefined;
  log: Logger;
  readiness?: Readiness;
  onReconnect?: () => void;
  waitOnFirstConnect?: boolean;
}

export interface BusPart extends LifecyclePart {
  /** The connection; throws before start(). */
  nc(): NatsConnection;
}

/** How long stop() lets a drain flush the last acks before closing the connection anyway. */
const DRAIN_TIMEOUT_MS = 2_000;

/** A NATS connection as a lifecycle part: connects on start, drains on stop. */
export function busPart(opts: BusPartOptions): BusPart {
  const { partName, readiness } = opts;
  let conn: NatsConnection | undefined;
  return {
    name: partName,
    nc() {
      if (conn === undefined) throw new Error(`${partName}: not connected (start() first)`);
      return conn;
    },
    async start() {
      conn = await connectBus({
        url: opts.url(),
        name: opts.connectionName,
        log: opts.log,
        auth: opts.auth(),
        ...(opts.onReconnect === undefined ? {} : { onReconnect: opts.onReconnect }),
        waitOnFirstConnect: opts.waitOnFirstConnect ?? false,
      });
      readiness?.register(partName, natsReadinessCheck(conn));
    },
    async stop() {
      const nc = conn;
      if (nc === undefined || nc.isClosed()) return;
      // Drain so the last acks and publishes of the parts stopped before reach the server; a
      // server that is gone would make a drain wait for ever, so it is bounded.
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), DRAIN_TIMEOUT_MS);
      });
      const drained = await Promise.race([nc.drain().then(() => 'drained' as const), timedOut]).catch(
        (err: unknown) => {
          opts.log.warn({ err, component: partName }, 'nats drain failed');
          return 'failed' as const;
        },
      );
      clearTimeout(timer);
      if (drained !== 'drained') await nc.close().catch(() => undefined);
    },
  };
}
