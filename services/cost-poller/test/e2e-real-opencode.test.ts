// The acceptance on real components: two nodes (two in-process hal-agents, each with its
// own real `opencode serve`), one scripted LLM with known token counts, the real gateway (agent
// WebSockets + HTTP API) and the real cost-poller on one nats-server. Reports are read through
// the HTTP API, as halctl reads them.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { type Agent, createAgent } from '@hal/agent';
import { connectBus, ensureStreams } from '@hal/bus';
import { costConfigSchema, parseConfig } from '@hal/config';
import { type CostPoller, createCostPoller } from '@hal/cost-poller';
import { createGateway, createHttpApi } from '@hal/gateway';
import { createLogger, createRegistry, Readiness } from '@hal/observability';
import { type CostReport, type Reply, subjects } from '@hal/protocol';
import {
  freePort,
  type OpencodeServer,
  startNats,
  startOpencode,
  startScriptedLlm,
  tempDir,
  waitFor,
} from '@hal/testkit';

const TOKEN = 'cost-e2e-token-0123456789abcdef';
const PROJECT = 'web';
/** opencode reports the scripted provider's model as `fake-model` with cost 0 (OPENCODE-NOTES.md). */
const MODEL = 'fake-model';
/** USD per million tokens: 1000 in + 200 out = $0.003 + $0.003. */
const RATES = { [MODEL]: { input: 3, output: 15 } };
const log = createLogger({ service: 'cost-e2e', level: process.env.HAL_TEST_LOG ?? 'silent' });

const registry = () => createRegistry({ defaultMetrics: false });

async function startTestAgent(node: string, oc: OpencodeServer, supervisorUrl: string): Promise<Agent> {
  const dataDir = mkdtempSync(join(tmpdir(), `hal-cost-e2e-${node}-`));
  const config = parseConfig(
    'agent',
    {
      node_id: node,
      supervisor_url: supervisorUrl,
      auth_token: TOKEN,
      opencode: { url: oc.url },
      projects: oc.projects,
      data_dir: dataDir,
      heartbeat_interval_sec: 1,
      reconnect: { initial_ms: 100, max_ms: 1000 },
      command_timeout_ms: 20_000,
    },
    { env: {} },
  );
  // Commands are served once welcomed, which can be before the opencode subscription is live:
  // wait for the line that says it is, so the session's events are not missed.
  let subscribed = false;
  const agent = createAgent({
    config,
    log: createLogger({
      service: 'agent',
      node,
      level: 'info',
      destination: {
        write(line: string) {
          if (line.includes('"opencode events subscribed and reconciled"')) subscribed = true;
        },
      },
    }),
    sseBackoff: { initialMs: 100, maxMs: 500 },
  });
  const stop = agent.stop.bind(agent);
  agent.stop = async () => {
    await stop();
    rmSync(dataDir, { recursive: true, force: true });
  };
  await agent.start();
  await waitFor(() => agent.connection()?.ready() && subscribed, {
    timeoutMs: 20_000,
    message: `${node} welcomed and subscribed to opencode`,
  });
  return agent;
}

test('cost e2e - two sessions on two nodes on real opencode roll up exactly by session, project, node and model, estimated; a restart changes no total', async (t) => {
  const llm = await startScriptedLlm({ titleText: 'Cost e2e' });
  t.after(() => llm.stop());
  const [ocA, ocB] = await Promise.all([
    startOpencode({ llm, projects: [{ name: PROJECT }] }),
    startOpencode({ llm, projects: [{ name: PROJECT }] }),
  ]);
  t.after(() => Promise.all([ocA.stop(), ocB.stop()]));
  const nats = await startNats();
  t.after(() => nats.stop());
  const nc = await connectBus({ url: nats.url, name: 'cost-e2e', log });
  t.after(() => nc.close());
  await ensureStreams(nc);

  const wsPort = await freePort();
  const config = parseConfig(
    'supervisor',
    {
      server: { auth_token: TOKEN, host: '127.0.0.1', port: wsPort, http_port: 0 },
      heartbeat_interval_sec: 1,
    },
    { env: {} },
  );
  const gateway = createGateway({
    config,
    nc,
    log,
    registry: registry(),
    gatewayId: 'gw-1',
    stopGraceMs: 500,
  });
  await gateway.start();
  t.after(() => gateway.stop());
  const api = createHttpApi({ config, nc, log, registry: registry(), readiness: new Readiness() });
  await api.start();
  t.after(() => api.stop());

  const dataDir = tempDir('hal-cost-e2e-');
  const makePoller = (): CostPoller =>
    createCostPoller({
      config: { data_dir: dataDir, cost: costConfigSchema.parse({ model_rates: RATES, forecast: false }) },
      nc,
      log,
      registry: registry(),
    });
  let poller = makePoller();
  await poller.start();
  t.after(() => poller.stop());

  const agentA = await startTestAgent('node-a', ocA, `ws://127.0.0.1:${wsPort}`);
  t.after(() => agentA.stop());
  const agentB = await startTestAgent('node-b', ocB, `ws://127.0.0.1:${wsPort}`);
  t.after(() => agentB.stop());

  const { port } = api.address();
  // A week, not today: a run that crosses midnight UTC still finds both messages.
  const report = async (groupBy: string): Promise<CostReport> => {
    const res = await fetch(`http://127.0.0.1:${port}/api/v1/cost?period=week&group_by=${groupBy}`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    assert.equal(res.status, 200, await res.clone().text());
    return ((await res.json()) as { data: CostReport }).data;
  };
  const start = async (node: string, prompt: string): Promise<string> => {
    const body = {
      version: 1,
      command: { type: 'start', project: PROJECT, prompt },
      actor: { kind: 'user', id: 'cost-e2e' },
      timeout_ms: 20_000,
    };
    const msg = await nc.request(subjects.command(node), JSON.stringify(body), { timeout: 25_000 });
    const reply = msg.json<Reply<{ session: string }>>();
    assert.equal(reply.ok, true, JSON.stringify(reply));
    return (reply as { ok: true; data: { session: string } }).data.session;
  };
  const messagesIn = (n: number) =>
    waitFor(
      async () => {
        const r = await report('');
        return r.totals.messages >= n ? r : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 100, message: `${n} message.completed counted by the cost-poller` },
    );

  // One turn each, one after the other so each session gets its own scripted usage.
  llm.script({ text: 'Done on node a.', usage: { prompt_tokens: 1000, completion_tokens: 200 } });
  const sessionA = await start('node-a', 'build the landing page');
  await messagesIn(1);
  llm.script({ text: 'Done on node b.', usage: { prompt_tokens: 2000, completion_tokens: 400 } });
  const sessionB = await start('node-b', 'write the footer');
  const both = await messagesIn(2);
  assert.notEqual(sessionA, sessionB);

  // A: $0.003 + $0.003; B: $0.006 + $0.006. opencode prices the fake model at 0: all estimated.
  assert.deepEqual(both.totals, {
    observed_usd: 0.018,
    estimated_usd: 0.018,
    billed_usd: 0,
    tokens: { input: 3000, output: 600, reasoning: 0, cache_read: 0, cache_write: 0 },
    messages: 2,
  });
  const rows = (r: CostReport) =>
    r.rows.map((x) => [x.key, x.observed_usd, x.estimated_usd, x.billed_usd, x.messages]);
  const bySession = await report('session,project,node,model');
  assert.deepEqual(rows(bySession), [
    [{ session: sessionB, project: PROJECT, node: 'node-b', model: MODEL }, 0.012, 0.012, null, 1],
    [{ session: sessionA, project: PROJECT, node: 'node-a', model: MODEL }, 0.006, 0.006, null, 1],
  ]);
  assert.deepEqual(
    bySession.rows.map((x) => x.tokens),
    [
      { input: 2000, output: 400, reasoning: 0, cache_read: 0, cache_write: 0 },
      { input: 1000, output: 200, reasoning: 0, cache_read: 0, cache_write: 0 },
    ],
  );
  const byProject = await report('project');
  assert.deepEqual(rows(byProject), [[{ project: PROJECT }, 0.018, 0.018, 0, 2]]);
  const byNode = await report('node');
  assert.deepEqual(rows(byNode), [
    [{ node: 'node-b' }, 0.012, 0.012, null, 1],
    [{ node: 'node-a' }, 0.006, 0.006, null, 1],
  ]);
  const byModel = await report('provider,model');
  assert.deepEqual(rows(byModel), [[{ provider: 'fake', model: MODEL }, 0.018, 0.018, 0, 2]]);

  // The service restarts on the same database: every report is unchanged, nothing counted twice.
  await poller.stop();
  poller = makePoller();
  await poller.start();
  assert.deepEqual(await report('session,project,node,model'), bySession);
  assert.deepEqual(await report('project'), byProject);
  assert.deepEqual(await report('node'), byNode);
  assert.deepEqual(await report('provider,model'), byModel);
});
