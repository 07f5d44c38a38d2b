import { randomUUID } from 'node:crypto';
import { LEASES_KV_BUCKET } from '@hal/protocol';
import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import type { KV, KvEntry } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Logger } from 'pino';
import { openKv } from './kv.ts';

/** The lease bucket and the TTL its server applies. */
export interface LeaseBucket {
  kv: KV;
  /**
   * The bucket's TTL as nats-server enforces it. An existing bucket keeps the TTL it was created
   * with, whatever this instance asked for, and every holder times its lease by this one.
   */
  ttlMs: number;
}

/**
 * Opens (creating when missing) the lease bucket: history 1 and a TTL, so an entry its holder stops
 * renewing is removed by nats-server after `ttlMs` — the server's clock decides when a lease ends,
 * never a host's. nats-server 2.9 has no per-message TTL, so the TTL is the bucket's.
 */
export async function openLeaseBucket(
  nc: NatsConnection,
  opts: { ttlMs: number; replicas?: number | undefined },
): Promise<LeaseBucket> {
  const kv = await openKv(nc, LEASES_KV_BUCKET, {
    history: 1,
    ttl: opts.ttlMs,
    maxValueSize: 1024,
    ...(opts.replicas === undefined ? {} : { replicas: opts.replicas }),
  });
  const ttlMs = (await kv.status()).ttl;
  if (!(ttlMs > 0))
    throw new Error(`KV bucket ${LEASES_KV_BUCKET} has no TTL: a lease in it would never end`);
  return { kv, ttlMs };
}

export interface LeaseOptions {
  bucket: LeaseBucket;
  /** The role (`LeaseName`); one holder at a time per key. */
  key: string;
  /** This instance's id, written in the entry so people (and `holder()`) see who leads. */
  holder: string;
  log: Logger;
  /** How often the holder renews. Default a third of the TTL: one lost renewal is survived. */
  renewEveryMs?: number;
  /** How often a standby tries to take the lease. Default a quarter of the TTL. */
  retryEveryMs?: number;
  /**
   * The holder stops counting itself leader this long before the server can expire its entry:
   * room for the time between checking `isHeld()` and the act it allows, and for clock-rate drift.
   * Default a fifth of the TTL (at least 100 ms).
   */
  marginMs?: number;
  /** Called when this instance becomes the holder. */
  onAcquired?: () => void;
  /** Called when it stops being the holder without stop() (taken over, or not renewed in time). */
  onLost?: (reason: string) => void;
  /** A monotonic clock in ms; default `performance.now`. Never the wall clock: it may jump. */
  monotonicNow?: () => number;
}

export interface Lease {
  /** Starts contending; resolves after the first attempt (held or not). */
  start(): Promise<void>;
  /** Stops contending; a held lease is released (revision-checked), so a standby takes over at once. */
  stop(): Promise<void>;
  /**
   * Gives a held lease up but keeps contending (after a pause): for a holder that cannot do the
   * work, so that another instance may.
   */
  resign(): Promise<void>;
  /**
   * True while this instance holds the lease: until the moment its last successful write was sent
   * plus the TTL minus the margin, by its own monotonic clock. The server expires the entry no
   * earlier than that write plus the TTL, so a holder that stalls (GC, a stopped process, a lost
   * network) stops counting itself leader before any other instance can take over.
   */
  isHeld(): boolean;
  /** The held entry's revision, which changes at every renewal (a fencing token); undefined when not held. */
  revision(): number | undefined;
  /** Who holds the lease now, read from the bucket; undefined when nobody does. */
  holder(): Promise<string | undefined>;
}

interface Held {
  revision: number;
  /** Monotonic ms until which this instance counts itself the holder. */
  validUntil: number;
  /** Random per acquisition: tells our own entry apart after a renewal whose answer was lost. */
  token: string;
}

/**
 * A leader lease on one key of the lease bucket, taken with a revision-checked create and renewed
 * with a revision-checked update: two instances can never both write it, and when its holder
 * stops renewing, the server's TTL removes it and a standby's create succeeds.
 */
export function createLease(opts: LeaseOptions): Lease {
  const { kv, ttlMs } = opts.bucket;
  const log = opts.log.child({ component: 'lease', lease: opts.key, instance: opts.holder });
  const now = opts.monotonicNow ?? (() => performance.now());
  const marginMs = opts.marginMs ?? Math.max(100, Math.floor(ttlMs / 5));
  const validForMs = ttlMs - marginMs;
  const renewEveryMs = opts.renewEveryMs ?? Math.floor(ttlMs / 3);
  const retryEveryMs = opts.retryEveryMs ?? Math.floor(ttlMs / 4);
  if (validForMs <= 0) throw new Error(`lease margin ${marginMs} ms must be below the TTL ${ttlMs} ms`);
  if (renewEveryMs >= validForMs)
    throw new Error(`lease renewal every ${renewEveryMs} ms must be below TTL − margin (${validForMs} ms)`);

  let held: Held | undefined;
  let running = false;
  let timer: NodeJS.Timeout | undefined;
  let expiry: NodeJS.Timeout | undefined;
  let inFlight: Promise<void> | undefined;

  const entryValue = (token: string) =>
    JSON.stringify({ holder: opts.holder, token, at: new Date().toISOString() });

  function tokenOf(entry: KvEntry | null): { holder?: string; token?: string } {
    if (entry === null || entry.operation !== 'PUT' || entry.length === 0) return {};
    try {
      return entry.json<{ holder?: string; token?: string }>();
    } catch {
      return {};
    }
  }

  function call(fn: (() => void) | undefined): void {
    try {
      fn?.();
    } catch (err) {
      log.error({ err }, 'lease callback failed');
    }
  }

  function lose(reason: string): void {
    if (held === undefined) return;
    held = undefined;
    clearTimeout(expiry);
    log.warn({ reason }, 'lease lost');
    call(() => opts.onLost?.(reason));
  }

  function hold(next: Held): void {
    const wasHeld = held !== undefined;
    held = next;
    clearTimeout(expiry);
    const fire = (): void => {
      if (held !== next) return;
      const left = next.validUntil - now();
      // A timer may fire a little before the monotonic deadline: wait out the rest.
      if (left > 0) expiry = setTimeout(fire, Math.ceil(left)).unref();
      else lose('not renewed in time');
    };
    expiry = setTimeout(fire, Math.ceil(next.validUntil - now())).unref();
    if (!wasHeld) {
      log.info({ revision: next.revision, ttl_ms: ttlMs }, 'lease acquired');
      call(opts.onAcquired);
    }
  }

  async function acquire(): Promise<void> {
    const token = randomUUID();
    const sentAt = now();
    try {
      const revision = await kv.create(opts.key, entryValue(token));
      if (!running) {
        // Stopped while the attempt was in flight: give it straight back.
        await kv.delete(opts.key, { previousSeq: revision }).catch(() => undefined);
        return;
      }
      hold({ revision, validUntil: sentAt + validForMs, token });
    } catch (err) {
      if (!isTaken(err)) log.warn({ err }, 'lease attempt failed');
    }
  }

  async function renew(current: Held): Promise<void> {
    const sentAt = now();
    try {
      const revision = await kv.update(opts.key, entryValue(current.token), current.revision);
      if (!running) return;
      // Also after a loss by time while this write was in flight: the entry is ours again, as fresh
      // as this write, and the instance is told it leads again.
      hold({ revision, validUntil: sentAt + validForMs, token: current.token });
    } catch (err) {
      if (isTaken(err)) {
        // An earlier renewal may have landed without our seeing its answer: then the entry is still
        // ours (same token) and only its revision moved. Adopt it; the validity does not grow.
        const entry = await kv.get(opts.key).catch(() => null);
        if (entry !== null && tokenOf(entry).token === current.token && held === current) {
          held = { ...current, revision: entry.revision };
          return;
        }
        lose('taken by another instance');
        return;
      }
      log.warn({ err }, 'lease renewal failed; retrying');
      if (held === current && now() >= current.validUntil) lose('not renewed in time');
    }
  }

  function schedule(ms: number): void {
    clearTimeout(timer);
    if (!running) return;
    timer = setTimeout(() => {
      inFlight = (held === undefined ? acquire() : renew(held)).finally(() => {
        inFlight = undefined;
        schedule(held === undefined ? retryEveryMs : renewEveryMs);
      });
    }, ms);
    // The lease never keeps a process alive on its own: its owner stops it, or the process ends.
    timer.unref();
  }

  return {
    async start() {
      if (running) return;
      running = true;
      inFlight = acquire().finally(() => {
        inFlight = undefined;
      });
      await inFlight;
      schedule(held === undefined ? retryEveryMs : renewEveryMs);
    },
    async stop() {
      running = false;
      clearTimeout(timer);
      await inFlight;
      await giveUp();
    },
    async resign() {
      await inFlight;
      await giveUp();
      schedule(ttlMs);
    },
    isHeld() {
      if (held === undefined) return false;
      if (now() < held.validUntil) return true;
      // Stalled past the deadline (the expiry timer has not run yet): not the leader any more.
      const stale = held;
      queueMicrotask(() => {
        if (held === stale) lose('not renewed in time');
      });
      return false;
    },
    revision: () => held?.revision,
    async holder() {
      const entry = await kv.get(opts.key);
      return tokenOf(entry).holder;
    },
  };

  async function giveUp(): Promise<void> {
    const h = held;
    if (h === undefined) return;
    // Stop counting ourselves leader first, then free the key for a standby (only our revision).
    held = undefined;
    clearTimeout(expiry);
    try {
      await kv.delete(opts.key, { previousSeq: h.revision });
      log.info('lease released');
    } catch (err) {
      log.warn({ err }, 'lease not released; it expires after its TTL');
    }
  }
}

/** The write lost a compare-and-set: another instance holds (or just renewed) the key. */
function isTaken(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence ||
      err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}
