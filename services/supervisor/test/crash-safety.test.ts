import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { connectBus, ensureStreams, jetstreamClient, type NatsConnection, publishEvent } from '@hal/bus';
import { createLogger } from '@hal/observability';
import { type EventRecord, NatsUser, StreamName } from '@hal/protocol';
import { freePort, startNats, waitFor } from '@hal/testkit';
import { CREDENTIALS_FILE } from '../src/nats-credentials.ts';
import { natsServersOn } from '../src/store-leftovers.ts';
import { isAlive, type Spawned, spawnSupervisor, TOKEN, tempDir, writeJson } from './supervisor-fixtures.ts';

const log = createLogger({ service: 'crash-test', level: 'silent' });

function events(node: string, count: number): EventRecord[] {
  return Array.from({ length: count }, (_, i) => ({
    version: 1,
    id: crypto.randomUUID(),
    seq: i + 1,
    node,
    project: 'crash',
    session: 'ses_crash',
    type: 'session.idle',
    time: new Date().toISOString(),
    data: { n: i },
  }));
}

async function publishAll(nc: NatsConnection, list: EventRecord[]): Promise<void> {
  const js = jetstreamClient(nc);
  for (const e of list) await publishEvent(js, e);
}

/** Every event id in HAL_EVENTS, read from the first message on. */
async function storedIds(nc: NatsConnection): Promise<Set<string>> {
  const js = jetstreamClient(nc);
  const { state } = await (await js.jetstreamManager()).streams.info(StreamName.EVENTS);
  const ids = new Set<string>();
  if (state.messages === 0) return ids;
  const consumer = await js.consumers.get(StreamName.EVENTS);
  const messages = await consumer.consume();
  for await (const m of messages) {
    ids.add(m.json<EventRecord>().id);
    if (m.seq >= state.last_seq) break;
  }
  return ids;
}

/** The nats-server pid the supervisor logged, once it has. */
function natsPidOf(sup: Spawned): Promise<number> {
  return waitFor(
    () => {
      for (const line of sup.stdout().split('\n')) {
        if (line.includes('"embedded nats-server started"')) return (JSON.parse(line) as { pid: number }).pid;
      }
      return undefined;
    },
    { timeoutMs: 30_000, message: 'the supervisor never logged its nats-server pid' },
  );
}

async function ready(httpPort: number): Promise<void> {
  await waitFor(
    async () => (await fetch(`http://127.0.0.1:${httpPort}/readyz`).catch(() => undefined))?.status === 200,
    { timeoutMs: 30_000, message: '/readyz never answered 200' },
  );
}

async function supervisorConfig(dir: string) {
  const [natsPort, httpPort] = [await freePort(), await freePort()];
  const dataDir = join(dir, 'data');
  const file = writeJson(dir, 'supervisor.config.json', {
    data_dir: dataDir,
    nats: { embedded_port: natsPort },
    server: { auth_token: TOKEN, http_port: httpPort, port: 0 },
  });
  return {
    file,
    natsPort,
    httpPort,
    dataDir,
    storeDir: join(dataDir, 'nats'),
    natsUrl: `nats://127.0.0.1:${natsPort}`,
  };
}

/** The test's connection to the supervisor's embedded server, as the operators' admin user. */
function asAdmin(cfg: { dataDir: string; natsUrl: string }): Promise<NatsConnection> {
  const file = join(cfg.dataDir, CREDENTIALS_FILE);
  const users = (JSON.parse(readFileSync(file, 'utf8')) as { users: Record<string, string> }).users;
  return connectBus({
    url: cfg.natsUrl,
    name: 'crash-test',
    log,
    auth: { user: NatsUser.ADMIN, password: users[NatsUser.ADMIN] ?? '' },
  });
}

test('supervisor crash safety - SIGKILL of hal-supervisor alone, started again at once: one nats-server on the store, every event still there; its watchdog ends the server of a supervisor that is not restarted', async (t) => {
  const dir = tempDir();
  const cfg = await supervisorConfig(dir);
  const running: Spawned[] = [];
  t.after(async () => {
    for (const s of running) s.child.kill('SIGKILL');
    for (const pid of natsServersOn(cfg.storeDir)) process.kill(pid, 'SIGKILL');
  });

  const first = await spawnSupervisor(['--config', cfg.file], dir);
  running.push(first);
  const firstNats = await natsPidOf(first);
  await ready(cfg.httpPort);
  const before = events('crash-node', 20);
  const nc = await asAdmin(cfg);
  await publishAll(nc, before);
  await nc.close();

  // The node process alone: its watchdog and nats-server are in another process group.
  first.child.kill('SIGKILL');
  await first.done;
  const second = await spawnSupervisor(['--config', cfg.file], dir);
  running.push(second);
  const secondNats = await natsPidOf(second);
  await ready(cfg.httpPort);

  assert.notEqual(secondNats, firstNats);
  assert.equal(isAlive(firstNats), false, 'the first nats-server is gone');
  assert.deepEqual(natsServersOn(cfg.storeDir), [secondNats], 'exactly one nats-server on the store');
  assert.match(second.stdout(), new RegExp(`"url":"${cfg.natsUrl}"`), 'the new server took the old port');

  const again = await asAdmin(cfg);
  t.after(() => again.close());
  const ids = await storedIds(again);
  assert.deepEqual(
    before.filter((e) => !ids.has(e.id)),
    [],
    'every event published before the crash is in HAL_EVENTS',
  );
  const api = await waitFor(
    async () => {
      const res = await fetch(`http://127.0.0.1:${cfg.httpPort}/api/v1/events?node=crash-node&limit=100`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      const body = (await res.json()) as { data?: Array<{ id: string }> };
      return body.data !== undefined && body.data.length >= before.length ? body.data : undefined;
    },
    { timeoutMs: 20_000, message: 'the API lists the events from before the crash' },
  );
  assert.deepEqual(new Set(api.map((e) => e.id)), new Set(before.map((e) => e.id)));

  // Nothing restarts this one: the watchdog alone must end its server.
  second.child.kill('SIGKILL');
  await second.done;
  await waitFor(() => !isAlive(secondNats), {
    timeoutMs: 10_000,
    message: 'the nats-server of a SIGKILLed supervisor ended',
  });
  assert.deepEqual(natsServersOn(cfg.storeDir), []);
});

test('supervisor crash safety - a nats-server left on the store without its supervisor is stopped at start; a second supervisor on a live data_dir is refused', async (t) => {
  const dir = tempDir();
  const cfg = await supervisorConfig(dir);
  const running: Spawned[] = [];
  t.after(async () => {
    for (const s of running) s.child.kill('SIGKILL');
    for (const pid of natsServersOn(cfg.storeDir)) process.kill(pid, 'SIGKILL');
  });

  // As an older release leaves it: a plain nats-server on the store, no watchdog, no lock.
  const leftover = await startNats({ storeDir: cfg.storeDir, port: cfg.natsPort });
  t.after(() => leftover.stop());
  const nc = await connectBus({ url: cfg.natsUrl, name: 'crash-test', log });
  await ensureStreams(nc);
  const before = events('left-node', 5);
  await publishAll(nc, before);
  await nc.close();

  const sup = await spawnSupervisor(['--config', cfg.file], dir);
  running.push(sup);
  const natsPid = await natsPidOf(sup);
  await ready(cfg.httpPort);
  assert.equal(isAlive(leftover.pid), false, 'the leftover server was stopped');
  assert.match(
    sup.stdout(),
    new RegExp(`"pid":${leftover.pid}.*"msg":"stopping a nats-server left on the store"`),
  );
  assert.deepEqual(natsServersOn(cfg.storeDir), [natsPid]);
  const again = await asAdmin(cfg);
  t.after(() => again.close());
  const ids = await storedIds(again);
  assert.deepEqual(
    before.filter((e) => !ids.has(e.id)),
    [],
  );

  const intruder = await spawnSupervisor(['--config', cfg.file], dir);
  running.push(intruder);
  const { code, stdout } = await intruder.done;
  assert.equal(code, 1);
  assert.match(
    stdout,
    new RegExp(`another hal-supervisor \\(pid ${sup.child.pid}\\) runs nats-server \\(pid ${natsPid}\\) on `),
  );
  assert.ok(isAlive(natsPid), 'the running supervisor keeps its server');
  assert.deepEqual(natsServersOn(cfg.storeDir), [natsPid]);

  sup.child.kill('SIGTERM');
  assert.equal((await sup.done).code, 0);
  assert.deepEqual(natsServersOn(cfg.storeDir), []);
});
