import {
  type ConnectionOptions,
  credsAuthenticator,
  type NatsConnection,
  nkeyAuthenticator,
  PermissionViolationError,
} from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import type { Logger } from 'pino';

export interface BusOptions {
  /** `nats://host:port`; several may be given comma-separated. */
  url: string;
  /** Connection name shown by `nats server report connections`. */
  name: string;
  log: Logger;
  /** How the connection proves who it is; absent = anonymous (a NATS without auth). */
  auth?: BusAuth | undefined;
  /** Called on every reconnect, e.g. to count `hal_o_swarm_nats_reconnects_total`. */
  onReconnect?: () => void;
  /**
   * Keep trying when the server is not up yet. A standalone service started before NATS (systemd
   * ordering, k8s rollout) waits instead of crash-looping.
   */
  waitOnFirstConnect?: boolean;
}

/** One way to authenticate to NATS. Secrets are values here, never paths: config resolves `*_file`. */
export type BusAuth =
  | { token: string }
  | { user: string; password: string }
  /** The content of a NATS `.creds` file (user JWT + nkey seed). */
  | { creds: string }
  /** An nkey seed (`SU…`). */
  | { nkeySeed: string };

function authOptions(auth: BusAuth | undefined): Partial<ConnectionOptions> {
  if (auth === undefined) return {};
  const bytes = (text: string) => new TextEncoder().encode(text.trim());
  if ('token' in auth) return { token: auth.token };
  if ('user' in auth) return { user: auth.user, pass: auth.password };
  if ('creds' in auth) return { authenticator: credsAuthenticator(bytes(auth.creds)) };
  return { authenticator: nkeyAuthenticator(bytes(auth.nkeySeed)) };
}

/**
 * Connects with endless reconnects: a supervisor that gives up on NATS after a blip would
 * leave agents unsupervised overnight, which is worse than retrying for ever.
 */
export async function connectBus(opts: BusOptions): Promise<NatsConnection> {
  const log = opts.log.child({ component: 'nats' });
  const nc = await connect({
    servers: opts.url.split(',').map((s) => s.trim()),
    name: opts.name,
    ...authOptions(opts.auth),
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    reconnectJitter: 250,
    pingInterval: 10_000,
    maxPingOut: 3,
    waitOnFirstConnect: opts.waitOnFirstConnect ?? false,
    // Without it nats.js builds two Errors (stack captured) for every request and JetStream
    // publish, to name the caller if it times out: ~15 % of the gateway's ingest CPU and a
    // large share of the policy's (every KV write is a request). A timeout still says which
    // subject; its stack starts in the client instead of at our call.
    noAsyncTraces: true,
  });
  log.info({ server: nc.getServer() }, 'nats connected');
  void watchStatus(nc, log, opts.onReconnect);
  return nc;
}

async function watchStatus(nc: NatsConnection, log: Logger, onReconnect?: () => void): Promise<void> {
  for await (const s of nc.status()) {
    switch (s.type) {
      case 'disconnect':
        log.warn({ server: s.server }, 'nats disconnected');
        break;
      case 'reconnect':
        onReconnect?.();
        log.info({ server: s.server }, 'nats reconnected');
        break;
      case 'error':
        log.error({ err: s.error }, 'nats error');
        break;
      case 'slowConsumer':
        log.warn({ subject: s.sub.getSubject() }, 'nats slow consumer');
        break;
      default:
        break;
    }
  }
}

/**
 * Ready when a round trip to the server completes in time. `flush()` waits while the client
 * is reconnecting, so a dead server shows up as a failed check instead of a stale "connected".
 */
export function natsReadinessCheck(nc: NatsConnection, timeoutMs = 750) {
  return async (): Promise<{ ok: boolean; detail?: string }> => {
    if (nc.isClosed()) return { ok: false, detail: 'connection closed' };
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    try {
      const result = await Promise.race([nc.flush().then(() => 'ok' as const), timeout]);
      return result === 'ok' ? { ok: true } : { ok: false, detail: 'no answer from nats-server' };
    } catch (err) {
      return { ok: false, detail: (err as Error).message };
    } finally {
      clearTimeout(timer);
    }
  };
}

/** The NATS server refused this user the subject (directly, or as the cause of a failed request). */
export function isPermissionViolation(err: unknown): boolean {
  for (let e = err; e instanceof Error; e = e.cause) {
    if (e instanceof PermissionViolationError) return true;
  }
  return false;
}
