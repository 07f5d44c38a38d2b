import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { cpSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  connectBus,
  ensureStreams,
  jetstreamClient,
  type NatsConnection,
  publishEvent,
  request,
} from '@hal/bus';
import { createLogger, createRegistry } from '@hal/observability';
import { type EventRecord, StreamName, subjects, TrackerQuery, trackerQuerySchemas } from '@hal/protocol';
import { startNats, tempDir, waitFor } from '@hal/testkit';
import { createTracker } from '@hal/tracker';
import { jetstreamManager } from '@nats-io/jetstream';
import Database from 'better-sqlite3';

const log = createLogger({ service: 'backup-drill', level: 'silent' });

let seq = 0;
function event(type: string, session: string | null, data: Record<string, unknown>): EventRecord {
  seq += 1;
  return {
    version: 1,
    id: randomUUID(),
    seq,
    node: 'node-a',
    project: session === null ? '' : 'proj',
    session,
    type,
    time: new Date(Date.parse('2026-11-20T10:00:00Z') + seq * 1000).toISOString(),
    data,
  };
}
const completion = () =>
  event('message.completed', 's1', {
    message_id: `m${seq + 1}`,
    model: 'gpt-5',
    provider: 'openai',
    tokens: { input: 100, output: 10, reasoning: 0, cache_read: 0, cache_write: 0 },
    cost_usd: 0.01,
  });

async function publish(nc: NatsConnection, events: EventRecord[]): Promise<void> {
  const js = jetstreamClient(nc);
  for (const e of events) await publishEvent(js, e);
}

function tracker(nc: NatsConnection, dataDir: string) {
  return createTracker({
    config: {
      data_dir: dataDir,
      heartbeat_interval_sec: 30,
      heartbeat_timeout_count: 3,
      security: { audit: { retention_days: 90 } },
    },
    nc,
    log,
    registry: createRegistry({ defaultMetrics: false }),
  });
}

async function inputTokens(nc: NatsConnection): Promise<number> {
  const view = await request(
    nc,
    subjects.trackerQuery(TrackerQuery.SESSIONS_GET),
    { session: 's1' },
    trackerQuerySchemas.sessions_get.response,
  );
  return view.tokens.input;
}

/**
 * docs/BACKUP.md, step by step: the SQLite files are backed up online (SQLite's backup API) first,
 * then the JetStream store is copied while NATS is stopped; a restore into empty directories gives
 * back every event exactly once, and the projection catches up from the stream by itself.
 */
test('backup - restore drill: SQLite online backup, then an offline copy of the JetStream store; the restored tracker counts every event once and keeps going', async (t) => {
  const dir = tempDir('hal-backup-');
  const live = { store: join(dir, 'live/nats'), data: join(dir, 'live/data') };
  const backup = { store: join(dir, 'backup/nats'), data: join(dir, 'backup/data') };
  const restored = { store: join(dir, 'restored/nats'), data: join(dir, 'restored/data') };

  // A running system with history.
  const nats = await startNats({ storeDir: live.store });
  const nc = await connectBus({ url: nats.url, name: 'backup-drill', log });
  await ensureStreams(nc);
  const running = tracker(nc, live.data);
  await running.start();
  await publish(nc, [
    event('node.online', null, {
      agent_version: '1.0.0',
      projects: [{ name: 'proj', directory: '/srv/proj' }],
      gateway: 'gw',
    }),
    event('session.created', 's1', { title: 'drill', directory: '/srv/proj' }),
    ...Array.from({ length: 30 }, completion),
  ]);
  await waitFor(async () => (await inputTokens(nc)) === 3000, {
    message: 'the tracker never applied 30 completions',
  });

  // 1. SQLite, online: a consistent copy while the tracker writes (WAL), no stop.
  mkdirSync(backup.data, { recursive: true });
  const source = new Database(join(live.data, 'tracker.sqlite'), { readonly: true, fileMustExist: true });
  await source.backup(join(backup.data, 'tracker.sqlite'));
  source.close();
  const copy = new Database(join(backup.data, 'tracker.sqlite'), { readonly: true });
  assert.equal(copy.pragma('integrity_check', { simple: true }), 'ok');
  copy.close();

  // Events keep arriving between the two steps: the stream copy is newer than the SQLite one.
  await publish(nc, Array.from({ length: 20 }, completion));
  await waitFor(async () => (await inputTokens(nc)) === 5000);

  // 2. JetStream, offline: stop what writes to the store (the supervisor, or hal-nats), copy it.
  await running.stop();
  await nc.close();
  await nats.stop();
  cpSync(live.store, backup.store, { recursive: true });

  // Disaster: the live directories are gone. Restore into empty ones and start.
  rmSync(join(dir, 'live'), { recursive: true, force: true });
  cpSync(backup.store, restored.store, { recursive: true });
  cpSync(backup.data, restored.data, { recursive: true });
  const nats2 = await startNats({ storeDir: restored.store });
  const nc2 = await connectBus({ url: nats2.url, name: 'backup-drill-restored', log });
  await ensureStreams(nc2);
  const info = await (await jetstreamManager(nc2)).streams.info(StreamName.EVENTS);
  assert.equal(info.state.messages, 52, 'every event is in the restored stream');
  const after = tracker(nc2, restored.data);
  await after.start();
  // One hook, in stop order: the tracker, then its connection, then NATS.
  t.after(async () => {
    await after.stop();
    await nc2.close();
    await nats2.stop();
  });
  // The 30 completions in the SQLite backup count once; the 20 after it come from the stream.
  await waitFor(async () => (await inputTokens(nc2)) === 5000, {
    message: 'the restored tracker did not catch up from the stream',
  });
  // And the restored system keeps working.
  await publish(nc2, Array.from({ length: 5 }, completion));
  await waitFor(async () => (await inputTokens(nc2)) === 5500);
  assert.equal(await inputTokens(nc2), 5500, 'nothing was applied twice');
});
