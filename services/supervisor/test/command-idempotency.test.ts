import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { connectBus, ensureStreams, type NatsConnection } from '@hal/bus';
import { parseConfig } from '@hal/config';
import { createHalMetrics, createRegistry, type Lifecycle, Readiness } from '@hal/observability';
import {
  freePort,
  type NatsServer,
  type OpencodeServer,
  type ScriptedLlm,
  startNats,
  startOpencode,
  startScriptedLlm,
  waitFor,
} from '@hal/testkit';
import { SERVICES } from '../src/services.ts';
import { type LossyLink, startLossyLink } from './lossy-link.ts';
import { log, startAgent, type TestAgent, TOKEN } from './spine-harness.ts';

// Issue 10: every command carries an idempotency key, the agent runs it once per key, and a
// command whose answer was lost to a disconnect is COMMAND_OUTCOME_UNKNOWN until sent again with
// its key. The real services (API, gateway, tracker), a real agent on a real opencode and a
// scripted LLM; the agent reaches the gateway through a link that can lose command answers.
const NODE = 'keyed';
const TURN_MS = 60_000;

let llm: ScriptedLlm;
let opencode: OpencodeServer;
let nats: NatsServer;
let nc: NatsConnection;
let link: LossyLink;
let agent: TestAgent | undefined;
let dataDir: string | undefined;
let apiUrl = '';
const running: Lifecycle[] = [];

before(async () => {
  llm = await startScriptedLlm({ titleText: 'Keyed title' });
  opencode = await startOpencode({
    llm,
    // opencode takes 30-50 s to come up on a loaded 2-core machine.
    startTimeoutMs: 90_000,
    projects: [{ name: 'app' }],
  });
  nats = await startNats();
  nc = await connectBus({ url: nats.url, name: 'idempotency-test', log });
  await ensureStreams(nc);
  dataDir = mkdtempSync(join(tmpdir(), 'hal-keys-'));
  const [wsPort, httpPort] = [await freePort(), await freePort()];
  apiUrl = `http://127.0.0.1:${httpPort}`;
  const config = parseConfig(
    'supervisor',
    {
      data_dir: dataDir,
      nats: { url: nats.url },
      server: { auth_token: TOKEN, host: '127.0.0.1', port: wsPort, http_port: httpPort },
      heartbeat_interval_sec: 1,
      heartbeat_timeout_count: 5,
    },
    { env: {} },
  );
  const registry = createRegistry({ defaultMetrics: false });
  const deps = {
    config,
    nc,
    log,
    registry,
    metrics: createHalMetrics(registry),
    readiness: new Readiness(),
    dataDir,
    clock: { now: () => Date.now() },
    flags: {},
  };
  for (const entry of SERVICES) {
    const service = entry.create({ ...deps, log: log.child({ component: entry.name }) });
    await service.start();
    running.push(service);
  }
  link = await startLossyLink(wsPort);
  agent = await startAgent({
    node: NODE,
    supervisorUrl: link.url,
    opencodeUrl: opencode.url,
    projects: opencode.projects,
  });
  await waitFor(async () => (await api('GET', `/api/v1/nodes/${NODE}`)).status === 200, {
    timeoutMs: 20_000,
    message: 'the tracker knows the node',
  });
});

after(async () => {
  await agent?.dispose();
  await link?.stop();
  for (const s of running.reverse()) await s.stop();
  await nc?.close();
  await nats?.stop();
  await opencode?.stop();
  await llm?.stop();
  if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true });
});

interface ApiAnswer {
  status: number;
  body: {
    data?: Record<string, unknown>;
    meta?: Record<string, unknown>;
    error?: { code: string; message: string; details?: Record<string, unknown> };
  };
}

async function api(method: 'GET' | 'POST', path: string, body?: unknown, key?: string): Promise<ApiAnswer> {
  const res = await fetch(`${apiUrl}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${TOKEN}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(key === undefined ? {} : { 'idempotency-key': key }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(TURN_MS),
  });
  return { status: res.status, body: (await res.json()) as ApiAnswer['body'] };
}

async function sessionIdle(session: string): Promise<void> {
  await waitFor(
    async () => {
      const r = await api('GET', `/api/v1/sessions/${session}`);
      return r.status === 200 && r.body.data?.state === 'idle';
    },
    { timeoutMs: TURN_MS, intervalMs: 100, message: `session ${session} idle` },
  );
}

async function newSession(): Promise<string> {
  llm.script({ text: 'Ready.' });
  const prompt = `first task ${crypto.randomUUID()}`;
  const r = await api('POST', '/api/v1/sessions', { project: 'app', node: NODE, prompt });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  const session = String(r.body.data?.session);
  await waitFor(() => llm.chatRequests(prompt).length > 0, { timeoutMs: TURN_MS, message: 'first turn' });
  await sessionIdle(session);
  return session;
}

test('command idempotency - an inject sent twice with one key reaches the LLM once; a second key is a new inject', async () => {
  const session = await newSession();
  const prompt = `inject once ${crypto.randomUUID()}`;
  llm.script({ text: 'Injected turn done.' }, { text: 'Second turn done.' });
  const key = crypto.randomUUID();
  const first = await api('POST', `/api/v1/sessions/${session}/inject`, { prompt }, key);
  assert.equal(first.status, 200, JSON.stringify(first.body));
  assert.equal(first.body.meta?.idempotency_key, key);
  // The retry, and two more at once while nothing has changed: the recorded outcome each time.
  const again = await Promise.all([
    api('POST', `/api/v1/sessions/${session}/inject`, { prompt }, key),
    api('POST', `/api/v1/sessions/${session}/inject`, { prompt }, key),
    api('POST', `/api/v1/sessions/${session}/inject`, { prompt }, key),
  ]);
  for (const r of again) {
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body.data, first.body.data);
  }
  await waitFor(() => llm.chatRequests(prompt).length > 0, {
    timeoutMs: TURN_MS,
    message: 'the inject turn',
  });
  await sessionIdle(session);
  assert.equal(llm.chatRequests(prompt).length, 1, 'the prompt reached the LLM once');

  // The same key on another command is refused; a new key injects again.
  const reused = await api('POST', `/api/v1/sessions/${session}/inject`, { prompt: 'something else' }, key);
  assert.equal(reused.status, 409, JSON.stringify(reused.body));
  assert.equal(reused.body.error?.code, 'CONFLICT');
  const fresh = await api('POST', `/api/v1/sessions/${session}/inject`, { prompt }, crypto.randomUUID());
  assert.equal(fresh.status, 200, JSON.stringify(fresh.body));
  await waitFor(() => llm.chatRequests(prompt).length === 2, {
    timeoutMs: TURN_MS,
    message: 'the second inject',
  });
  await sessionIdle(session);

  // A header that is not a key is refused before anything is sent.
  const bad = await api('POST', `/api/v1/sessions/${session}/kill`, {}, 'not a key!');
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error?.code, 'VALIDATION_FAILED');
  assert.match(bad.body.error?.message ?? '', /^header Idempotency-Key must be/);
});

test('command idempotency - an inject whose answer is lost to a disconnect is COMMAND_OUTCOME_UNKNOWN; the retry with its key returns the real result', async () => {
  const session = await newSession();
  const prompt = `lost answer ${crypto.randomUUID()}`;
  llm.script({ text: 'Ran while the answer was lost.' });
  const key = crypto.randomUUID();
  link.dropResults(true);
  const pending = api('POST', `/api/v1/sessions/${session}/inject`, { prompt, timeout_ms: 30_000 }, key);
  // The agent ran it (the LLM has the prompt), but its answer never reaches the gateway.
  await waitFor(() => llm.chatRequests(prompt).length > 0, { timeoutMs: TURN_MS, message: 'the inject ran' });
  link.cut();
  const lost = await pending;
  assert.equal(lost.status, 503, JSON.stringify(lost.body));
  assert.equal(lost.body.error?.code, 'COMMAND_OUTCOME_UNKNOWN');
  assert.equal(lost.body.error?.details?.idempotency_key, key);
  assert.match(
    lost.body.error?.message ?? '',
    /disconnected while the inject command was running; it may have run/,
  );

  link.dropResults(false);
  await waitFor(() => agent?.agent.connection()?.ready(), {
    timeoutMs: 20_000,
    message: 'the agent is back',
  });
  const retried = await waitFor(
    async () => {
      const r = await api('POST', `/api/v1/sessions/${session}/inject`, { prompt, timeout_ms: 30_000 }, key);
      // Until the new connection holds the node, the API says so (nothing was sent).
      return r.body.error?.code === 'NODE_OFFLINE' ? undefined : r;
    },
    { timeoutMs: 20_000, intervalMs: 200, message: 'the retry reaches the agent' },
  );
  assert.equal(retried.status, 200, JSON.stringify(retried.body));
  assert.deepEqual(retried.body.data, { session, injected: true });
  await sessionIdle(session);
  assert.equal(llm.chatRequests(prompt).length, 1, 'the prompt reached the LLM once');
});
