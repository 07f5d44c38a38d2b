import { StreamName, streamSubjects } from '@hal/protocol';
import {
  DiscardPolicy,
  JetStreamApiError,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { retryTransient } from './transient.ts';

const DAY_NS = 24 * 3600 * 1e9;
/** JSStreamNameExistErr: another process created the stream between our look-up and our add. */
const STREAM_NAME_IN_USE = 10058;
const GiB = 1024 ** 3;

export interface StreamLimits {
  eventsMaxAgeDays?: number;
  eventsMaxBytes?: number;
  notifyMaxAgeDays?: number;
  notifyMaxBytes?: number;
  auditMaxAgeDays?: number;
  auditMaxBytes?: number;
  /**
   * How long JetStream remembers a `Nats-Msg-Id` (config `nats.duplicate_window_sec`). An agent
   * resends what was not acked after a reconnect, so the window should outlast a gateway restart
   * plus the agent's reconnect backoff (30 s at most by default). nats-server holds every id of
   * the window in memory: at 1,000 events/s a 15-minute window was ~900,000 ids, the largest part
   * of its heap in the soak. A resend past the window is stored twice and counted once by the
   * consumers (tracker, policy, cost dedupe by event id), so a longer window buys little.
   */
  duplicateWindowSec?: number;
  /** Replicas of each stream (`nats.replicas`): 3 on a 3-node cluster. Default 1. */
  replicas?: number;
}

/** `nats.duplicate_window_sec`'s default, for a stream created without the deployment's limits. */
const DEFAULT_DUPLICATE_WINDOW_SEC = 120;

export function streamConfigs(limits: StreamLimits = {}): Array<Partial<StreamConfig> & { name: string }> {
  const dup = (limits.duplicateWindowSec ?? DEFAULT_DUPLICATE_WINDOW_SEC) * 1e9;
  const base = {
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    // Old events go first when full: refusing new publishes would stall every agent.
    discard: DiscardPolicy.Old,
    num_replicas: limits.replicas ?? 1,
    duplicate_window: dup,
  } as const;
  return [
    {
      ...base,
      name: StreamName.EVENTS,
      subjects: [...streamSubjects.HAL_EVENTS],
      max_age: (limits.eventsMaxAgeDays ?? 30) * DAY_NS,
      max_bytes: limits.eventsMaxBytes ?? 4 * GiB,
    },
    {
      ...base,
      name: StreamName.NOTIFY,
      subjects: [...streamSubjects.HAL_NOTIFY],
      max_age: (limits.notifyMaxAgeDays ?? 7) * DAY_NS,
      max_bytes: limits.notifyMaxBytes ?? 256 * 1024 ** 2,
    },
    {
      ...base,
      name: StreamName.AUDIT,
      subjects: [...streamSubjects.HAL_AUDIT],
      max_age: (limits.auditMaxAgeDays ?? 90) * DAY_NS,
      max_bytes: limits.auditMaxBytes ?? GiB,
    },
  ];
}

/**
 * Creates the three streams when missing. With `limits`, an existing stream is also updated to
 * them — only the owner of the deployment's config passes limits; a service that merely needs
 * the streams calls this without, so it can never undo a configured retention. Safe to call from
 * every service at start, in any order and at the same time: a lost creation race turns into an
 * update (or nothing) instead of an error. Replicas are only ever raised (see raiseReplicas).
 */
export async function ensureStreams(nc: NatsConnection, limits?: StreamLimits): Promise<void> {
  const jsm = await jetstreamManager(nc);
  for (const config of streamConfigs(limits)) {
    try {
      // A create lost in a cluster's race (no answer) is made again: add is idempotent.
      await retryTransient(() => jsm.streams.add(config));
    } catch (err) {
      if (!(err instanceof JetStreamApiError) || err.code !== STREAM_NAME_IN_USE) throw err;
      if (limits === undefined) continue;
      const current = await jsm.streams.info(config.name);
      await jsm.streams.update(config.name, {
        ...config,
        num_replicas: Math.max(current.config.num_replicas, config.num_replicas ?? 1),
      });
    }
  }
}

/**
 * Raises a stream (a KV bucket is the stream `KV_<bucket>`) to `replicas` when it has fewer, and
 * never lowers it: an operator who set more by hand (`nats stream edit --replicas 5`) keeps them,
 * and a service started with an older or smaller config cannot shrink a cluster's redundancy.
 * Returns the replica count the stream has afterwards.
 */
export async function raiseReplicas(nc: NatsConnection, stream: string, replicas: number): Promise<number> {
  const jsm = await jetstreamManager(nc);
  const current = await jsm.streams.info(stream);
  if (current.config.num_replicas >= replicas) return current.config.num_replicas;
  const updated = await jsm.streams.update(stream, { ...current.config, num_replicas: replicas });
  return updated.config.num_replicas;
}

export function streamsReadinessCheck(nc: NatsConnection) {
  return async (): Promise<{ ok: boolean; detail?: string }> => {
    const jsm = await jetstreamManager(nc);
    const missing: string[] = [];
    for (const name of Object.values(StreamName)) {
      try {
        await jsm.streams.info(name);
      } catch {
        missing.push(name);
      }
    }
    return missing.length === 0
      ? { ok: true }
      : { ok: false, detail: `missing streams: ${missing.join(', ')}` };
  };
}
