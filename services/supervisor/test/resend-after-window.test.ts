import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { connectBus, ensureStreams, jetstreamClient, type NatsConnection, request } from '@hal/bus';
import { parseConfig } from '@hal/config';
import { createHalMetrics, createRegistry, type Lifecycle, Readiness } from '@hal/observability';
import {
  CostQuery,
  costReportSchema,
  type EventRecord,
  POLICY_KV_BUCKET,
  StreamName,
  subjects,
  TrackerQuery,
  trackerQuerySchemas,
} from '@hal/protocol';
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

// Issue 10: "events resent after a 20-minute gap are counted once by the tracker, policy and
// cost". The gap is simulated with a 1 s duplicate window on the streams (the stream limits of
// ensureStreams): past it, JetStream stores a resend as a second message with the same event id,
// exactly as after a real outage longer than the default 2 minutes. The resend is the real
// agent's: its link drops the gateway's acks, so JetStream holds the events but the agent keeps
// them, and after a reconnect it sends everything unacked again.
const DUPLICATE_WINDOW_SEC = 1;
const NODE = 'resender';
const TURN_MS = 60_000;

let llm: ScriptedLlm;
let opencode: OpencodeServer;
let nats: NatsServer;
let nc: NatsConnection;
let link: LossyLink;
let agent: TestAgent | undefined;
let dataDir: string | undefined;
const running: Lifecycle[] = [];

before(async () => {
  llm = await startScriptedLlm({ titleText: 'Resend title' });
  // opencode prices each message itself, so every consumer has a cost to count.
  opencode = await startOpencode({
    llm,
    // opencode takes 30-50 s to come up on a loaded 2-core machine.
    startTimeoutMs: 90_000,
    projects: [{ name: 'app' }],
    modelCost: { input: 1000, output: 1000 },
  });
  nats = await startNats();
  nc = await connectBus({ url: nats.url, name: 'resend-test', log });
  await ensureStreams(nc, { duplicateWindowSec: DUPLICATE_WINDOW_SEC });
  dataDir = mkdtempSync(join(tmpdir(), 'hal-resend-'));
  const wsPort = await freePort();
  const config = parseConfig(
    'supervisor',
    {
      data_dir: dataDir,
      nats: { url: nats.url },
      server: { auth_token: TOKEN, host: '127.0.0.1', port: wsPort, http_port: 0 },
      heartbeat_interval_sec: 1,
      heartbeat_timeout_count: 5,
      cost: { forecast: false },
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
  // The production wiring of each consumer (the supervisor's list), without the HTTP API.
  for (const entry of SERVICES.filter((s) => s.name !== 'http-api')) {
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

const directory = (): string => opencode.projects[0]?.directory ?? '';

async function opencodePost<T>(path: string, body: unknown): Promise<T> {
  const res = await fetch(`${opencode.url}${path}?directory=${encodeURIComponent(directory())}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(TURN_MS),
  });
  assert.ok(res.ok, `${path}: HTTP ${res.status}`);
  const text = await res.text();
  return (text === '' ? undefined : JSON.parse(text)) as T;
}

/** Every HAL_EVENTS message of the session, straight from the stream. */
async function stored(session: string): Promise<EventRecord[]> {
  const jsm = await jetstreamClient(nc).jetstreamManager();
  const info = await jsm.streams.info(StreamName.EVENTS);
  const out: EventRecord[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const m = await jsm.streams.getMessage(StreamName.EVENTS, { seq });
    const e = m?.json<EventRecord>();
    if (e?.session === session) out.push(e);
  }
  return out;
}

/** Every durable consumer of HAL_EVENTS (tracker, policy, cost) has handled all it was given. */
async function consumersSettled(): Promise<boolean> {
  const jsm = await jetstreamClient(nc).jetstreamManager();
  const durables = [];
  for await (const c of jsm.consumers.list(StreamName.EVENTS)) if (c.config.durable_name) durables.push(c);
  return durables.length === 3 && durables.every((c) => c.num_pending === 0 && c.num_ack_pending === 0);
}

interface Counts {
  tracker: { cost: number; input: number; output: number; compactions: number };
  policy: { cost: number; compactions: number };
  cost: { usd: number; messages: number };
}

async function counts(session: string): Promise<Counts> {
  const view = await request(
    nc,
    subjects.trackerQuery(TrackerQuery.SESSIONS_GET),
    { session },
    trackerQuerySchemas.sessions_get.response,
  );
  const jsm = await jetstreamClient(nc).jetstreamManager();
  const key = `sess.${Buffer.from(session).toString('base64url')}`;
  const entry = await jsm.streams.getMessage(`KV_${POLICY_KV_BUCKET}`, {
    last_by_subj: `$KV.${POLICY_KV_BUCKET}.${key}`,
  });
  const facts = entry?.json<{ cost_usd: number; compactions: number }>();
  const report = await request(
    nc,
    subjects.costQuery(CostQuery.REPORT),
    { period: 'today', group_by: ['session'] },
    costReportSchema,
  );
  const row = report.rows.find((r) => r.key.session === session);
  return {
    tracker: {
      cost: view.cost_usd,
      input: view.tokens.input,
      output: view.tokens.output,
      compactions: view.compactions,
    },
    policy: { cost: facts?.cost_usd ?? -1, compactions: facts?.compactions ?? -1 },
    cost: { usd: row?.observed_usd ?? -1, messages: row?.messages ?? -1 },
  };
}

/** The records waiting in the agent's spool, oldest first. */
function spooled(): EventRecord[] {
  const spool = agent?.agent.spool;
  if (spool === undefined) return [];
  return spool.pending(spool.ackedSeq(), 10_000).map((r) => JSON.parse(r.json) as EventRecord);
}

test('resend after the duplicate window - tracker, policy and cost count each event once', async () => {
  llm.script(
    { text: 'Turn done.', usage: { prompt_tokens: 3000, completion_tokens: 500 } },
    { text: 'Summary.' },
  );
  // The agent is cut off while a turn and a compaction happen: it spools them.
  link.refuse(true);
  link.cut();
  const session = (await opencodePost<{ id: string }>('/session', { title: 'resend' })).id;
  await opencodePost(`/session/${session}/prompt_async`, { parts: [{ type: 'text', text: 'Do the task' }] });
  await waitFor(() => spooled().some((e) => e.session === session && e.type === 'session.idle'), {
    timeoutMs: TURN_MS,
    message: 'the turn is spooled',
  });
  await opencodePost(`/session/${session}/summarize`, { providerID: 'fake', modelID: 'fake-model' });
  await waitFor(
    () => {
      const mine = spooled().filter((e) => e.session === session);
      const compacted = mine.findIndex((e) => e.type === 'session.compacted');
      return compacted >= 0 && mine.slice(compacted).some((e) => e.type === 'session.idle');
    },
    { timeoutMs: TURN_MS, message: 'the compaction is spooled' },
  );
  const ackedBefore = agent?.agent.spool.ackedSeq();

  // Back online, but every ack is lost: JetStream stores the backlog, the agent keeps it.
  link.dropAcks(true);
  link.refuse(false);
  const backlog = spooled().filter((e) => e.session === session);
  await waitFor(async () => (await stored(session)).length >= backlog.length, {
    timeoutMs: 20_000,
    message: 'the backlog is stored in HAL_EVENTS',
  });
  await waitFor(consumersSettled, { message: 'the consumers handled the first copies' });
  const once = await counts(session);
  assert.ok(once.tracker.cost > 0 && once.policy.cost > 0 && once.cost.usd > 0, JSON.stringify(once));
  assert.equal(once.tracker.compactions, 1);
  assert.equal(once.policy.compactions, 1);
  assert.equal(agent?.agent.spool.ackedSeq(), ackedBefore, 'no ack reached the agent');

  // JetStream's window is wall-clock time inside nats-server: nothing to await but the clock.
  await sleep(DUPLICATE_WINDOW_SEC * 1000 + 500);
  link.dropAcks(false);
  link.cut();
  await waitFor(() => (agent?.agent.spool.depth() ?? 1) === 0, {
    timeoutMs: 20_000,
    message: 'the agent resent its spool and had it acked',
  });
  const all = await stored(session);
  for (const e of backlog.filter((x) => x.type === 'message.completed' || x.type === 'session.compacted')) {
    assert.equal(
      all.filter((x) => x.id === e.id).length,
      2,
      `${e.type} ${e.id} is stored twice (past the window)`,
    );
  }
  await waitFor(consumersSettled, { message: 'the consumers handled the resent copies' });
  assert.deepEqual(await counts(session), once);
});
