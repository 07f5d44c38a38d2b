import { renameSync } from 'node:fs';
import { join } from 'node:path';
import {
  claimOwnConsumer,
  ensureStreams,
  type InstanceClaim,
  jetstreamClient,
  type NatsConnection,
} from '@hal/bus';
import {
  DatabaseUnreadableError,
  dbReadinessCheck,
  type HalDatabase,
  openDatabase,
  removeDatabaseFiles,
} from '@hal/db';
import {
  type Clock,
  createHalMetrics,
  type Logger,
  type Readiness,
  type Registry,
  systemClock,
} from '@hal/observability';
import { SessionState, StreamName } from '@hal/protocol';
import { JetStreamApiError } from '@nats-io/jetstream';
import { type Checkpointer, startCheckpointer } from './checkpointer.ts';
import { createEventConsumer, type EventConsumer } from './consumer.ts';
import { createLiveness, type Liveness } from './liveness.ts';
import { migrationsFolder } from './migrations.ts';
import { createProjection, type Projection } from './projection.ts';
import { createTrackerQueries, type TrackerQueries } from './queries.ts';
import { createRetention, type Retention } from './retention.ts';
import * as schema from './schema.ts';

/** JSStreamNotFoundErr. */
const STREAM_NOT_FOUND = 10059;
const GAUGE_REFRESH_MS = 250;
/**
 * Longest a tracker that is catching up keeps out of the query group: with another tracker up, it
 * answers only once it knows what that one knows; alone, stale answers beat none after this long.
 */
const DEFAULT_CATCH_UP_WAIT_MS = 60_000;

/** The part of the supervisor config the tracker reads. */
export interface TrackerConfig {
  data_dir: string;
  heartbeat_interval_sec: number;
  heartbeat_timeout_count: number;
  security: { audit: { retention_days: number } };
  /** Names this instance's durable consumer (`hal-tracker-<id>`); absent: kept in data_dir. */
  instance_id?: string | undefined;
  /**
   * `consumer_inactive_sec`: the consumer of an instance gone this long is removed by the server;
   * `lease_ttl_sec`: how long the claim of a killed instance on its id outlives it.
   */
  instances?: { consumer_inactive_sec: number; lease_ttl_sec?: number };
  /** `replicas` of the lease bucket when the tracker is the first to open it (absent: 1; never lowered). */
  nats?: { replicas: number };
}

/** An unused consumer is removed after this long when the config does not say (1 hour). */
const DEFAULT_CONSUMER_INACTIVE_SEC = 3_600;

export interface TrackerDeps {
  config: TrackerConfig;
  nc: NatsConnection;
  log: Logger;
  registry: Registry;
  clock?: Clock;
  /** Empty every table and replay HAL_EVENTS from the start (`--rebuild`). */
  rebuild?: boolean;
  /**
   * Durable consumer name; default `hal-tracker-<instance id>`. Each tracker database has its own,
   * and the tracker deletes or re-creates no consumer but this one.
   */
  consumerName?: string;
  /** How often silent nodes are looked for; default one heartbeat interval. */
  livenessCheckIntervalMs?: number;
  /** Registers `db.tracker`. */
  readiness?: Readiness;
  /** Longest wait, at start, to catch up with the stream before answering queries (default 60 s). */
  catchUpWaitMs?: number;
}

export interface Tracker {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** The last HAL_EVENTS sequence applied to the database (0 before start). */
  appliedSeq(): number;
}

export function createTracker(deps: TrackerDeps): Tracker {
  const log = deps.log.child({ component: 'tracker' });
  const clock = deps.clock ?? systemClock;
  const metrics = createHalMetrics(deps.registry);
  const file = join(deps.config.data_dir, 'tracker.sqlite');
  let database: HalDatabase<typeof schema> | undefined;
  let projection: Projection | undefined;
  let consumer: EventConsumer | undefined;
  let queries: TrackerQueries | undefined;
  let liveness: Liveness | undefined;
  let retention: Retention | undefined;
  let gaugeTimer: NodeJS.Timeout | undefined;
  let catchUp: { target: number; done: () => void } | undefined;
  let catchUpTimer: NodeJS.Timeout | undefined;
  let claim: InstanceClaim | undefined;
  let checkpointer: Checkpointer | undefined;

  const countRecoveryError = (n = 1) => metrics.recoveryErrorsTotal.inc({ component: 'tracker' }, n);

  /** Opens the file; an unreadable one is moved aside (kept for a post-mortem) and rebuilt from the stream. */
  function open(): HalDatabase<typeof schema> {
    try {
      return openDatabase({ file, migrationsFolder, schema, log });
    } catch (err) {
      if (!(err instanceof DatabaseUnreadableError)) throw err;
      const aside = `${file}.unreadable-${clock.now()}`;
      renameSync(file, aside);
      removeDatabaseFiles(file);
      countRecoveryError();
      log.error({ err, moved_to: aside }, 'database unreadable; rebuilding from the event stream');
      return openDatabase({ file, migrationsFolder, schema, log });
    }
  }

  function refreshGauges(): void {
    if (projection === undefined || database?.sqlite.open !== true) return;
    const counts = projection.store.countsByState();
    for (const state of Object.values(SessionState))
      metrics.sessionsActive.set({ state }, counts.get(state) ?? 0);
    metrics.nodesOnline.set(projection.store.nodesOnline());
  }

  // Counting by state is a scan: after a burst of batches, refresh once rather than per batch.
  function scheduleGauges(): void {
    if (gaugeTimer !== undefined) return;
    gaugeTimer = setTimeout(() => {
      gaugeTimer = undefined;
      refreshGauges();
    }, GAUGE_REFRESH_MS);
    gaugeTimer.unref();
  }

  /** The tracker needs the stream to exist; it creates it with defaults only when nobody has yet. */
  async function ensureEventsStream(): Promise<void> {
    const jsm = await jetstreamClient(deps.nc).jetstreamManager();
    try {
      await jsm.streams.info(StreamName.EVENTS);
    } catch (err) {
      if (!(err instanceof JetStreamApiError) || err.code !== STREAM_NOT_FOUND) throw err;
      await ensureStreams(deps.nc);
    }
  }

  return {
    async start() {
      database = open();
      const opened = database;
      deps.readiness?.register('db.tracker', dbReadinessCheck(opened));
      const { sqlite } = database;
      const proj = createProjection(sqlite);
      projection = proj;
      const ckpt = startCheckpointer({ sqlite, log: deps.log });
      checkpointer = ckpt;
      if (deps.rebuild === true) {
        proj.reset();
        log.warn('rebuild requested: tables emptied, replaying the event stream');
      }
      await ensureEventsStream();
      queries = createTrackerQueries({
        nc: deps.nc,
        sqlite,
        log: deps.log,
        onCorruptRow: (err) => {
          countRecoveryError();
          log.warn({ table: err.table, key: err.key, err }, 'unreadable row skipped');
        },
      });
      let durableName = deps.consumerName;
      if (durableName === undefined) {
        // Before the consumer: a second process with this instance id must not share it.
        const own = await claimOwnConsumer({
          nc: deps.nc,
          role: 'tracker',
          config: deps.config,
          log: deps.log,
        });
        ({ durableName, claim } = own);
      }
      consumer = createEventConsumer({
        js: jetstreamClient(deps.nc),
        projection: proj,
        log: deps.log,
        durableName,
        inactiveThresholdSec: deps.config.instances?.consumer_inactive_sec ?? DEFAULT_CONSUMER_INACTIVE_SEC,
        onBatch: (result) => {
          ckpt.committed();
          if (catchUp !== undefined && proj.appliedSeq() >= catchUp.target) catchUp.done();
          if (result.rejected.length > 0) countRecoveryError(result.rejected.length);
          scheduleGauges();
        },
        onStreamReset: () => proj.reset(),
      });
      const intervalMs = deps.config.heartbeat_interval_sec * 1000;
      liveness = createLiveness({
        nc: deps.nc,
        sqlite,
        store: proj.store,
        log: deps.log,
        clock,
        timeoutMs: intervalMs * deps.config.heartbeat_timeout_count,
        checkIntervalMs: deps.livenessCheckIntervalMs ?? intervalMs,
        onChange: scheduleGauges,
      });
      retention = createRetention({
        sqlite,
        log: deps.log,
        clock,
        retentionDays: deps.config.security.audit.retention_days,
      });
      await retention.start();
      // What the stream holds now: queries are joined once this is applied, so a tracker that
      // restarts (or starts beside another) never answers the shared query group with less than
      // the others know. Alone, it waits at most catchUpWaitMs, then answers what it has.
      const jsm = await jetstreamClient(deps.nc).jetstreamManager();
      const target = (await jsm.streams.info(StreamName.EVENTS)).state.last_seq;
      const q = queries;
      const joined = new Promise<void>((resolve) => {
        catchUp = {
          target,
          done: () => {
            catchUp = undefined;
            clearTimeout(catchUpTimer);
            resolve();
          },
        };
      }).then(async () => {
        if (database !== opened) return;
        await q.start();
        log.info({ applied_seq: proj.appliedSeq(), target_seq: target }, 'answering queries');
      });
      await consumer.start();
      await liveness.start();
      refreshGauges();
      if (proj.appliedSeq() >= target) {
        catchUp?.done();
        await joined;
      } else {
        catchUpTimer = setTimeout(() => catchUp?.done(), deps.catchUpWaitMs ?? DEFAULT_CATCH_UP_WAIT_MS);
        catchUpTimer.unref();
        joined.catch((err: unknown) => log.error({ err }, 'joining the query group failed'));
      }
      log.info({ applied_seq: proj.appliedSeq() }, 'tracker started');
    },
    async stop() {
      // Stop everything that reads or writes the database first: a batch, a heartbeat or a query
      // arriving after close() would hit a closed handle. The consumer applies and acks what it
      // already received before it returns.
      await consumer?.stop();
      await liveness?.stop();
      await retention?.stop();
      clearTimeout(catchUpTimer);
      catchUp = undefined;
      await queries?.stop();
      clearTimeout(gaugeTimer);
      gaugeTimer = undefined;
      // The worker's connection goes first: closing the last one checkpoints and removes the WAL.
      await checkpointer?.stop();
      checkpointer = undefined;
      database?.close();
      database = undefined;
      await claim?.release();
      claim = undefined;
      log.info('tracker stopped');
    },
    appliedSeq: () => (database?.sqlite.open === true ? (projection?.appliedSeq() ?? 0) : 0),
  };
}
