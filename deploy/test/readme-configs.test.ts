import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import {
  compiledEntry,
  freePort,
  startFakeAnthropic,
  startFakeDiscord,
  startFakeOpencode,
  tempDir,
  waitFor,
} from '@hal/testkit';
import { REPO } from './install-harness.ts';

// The bins' mains, compiled once by testkit's compiledEntry (what a built install runs), not through tsx.
const SUPERVISOR = () => compiledEntry(join(REPO, 'services/supervisor/src/main.ts'));
const AGENT = () => compiledEntry(join(REPO, 'services/agent/src/main.ts'));

// The product README's two example files, as written; only the <placeholders> are replaced.
const SECRET = 'd'.repeat(64);
const GUILD = '112233445566778899';
const ALERTS = '223344556677889900';
const DEV_LOG = '334455667788990011';
const BOT_TOKEN = 'fake-bot-token.readme-example';
const ADMIN_KEY = 'sk-ant-admin01-readme-example';
const PROJECT = '한국어-프로젝트';

function supervisorExample() {
  return {
    server: {
      port: 8420,
      http_port: 8421,
      auth_token: SECRET,
      heartbeat_interval_sec: 30,
      heartbeat_timeout_count: 3,
    },
    channels: {
      discord: { bot_token: BOT_TOKEN, guild_id: GUILD, channels: { alerts: ALERTS, 'dev-log': DEV_LOG } },
    },
    cost: { poll_interval_minutes: 60, providers: { anthropic: { admin_api_key: ADMIN_KEY } } },
    policies: { resume_on_idle: { enabled: true, idle_threshold_seconds: 300, max_retries: 3 } },
  };
}

function agentExample(projectDir: string) {
  return {
    supervisor_url: 'ws://supervisor.example.internal:8420',
    auth_token: SECRET,
    opencode_port: 4096,
    projects: [{ name: PROJECT, directory: projectDir }],
  };
}

interface Proc {
  child: ChildProcess;
  out(): string;
  exited: Promise<number | null>;
}

async function start(
  t: TestContext,
  main: () => Promise<string>,
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv,
): Promise<Proc> {
  const clean: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('HAL_')) clean[k] = v;
  const child = spawn(process.execPath, [await main(), ...args], {
    cwd,
    env: { ...clean, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (b: Buffer) => {
    out += b.toString();
  });
  child.stderr?.on('data', (b: Buffer) => {
    out += b.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const hard = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(hard);
    }
  });
  return { child, out: () => out, exited };
}

test('product README configs - both load as written (placeholders replaced): --validate passes', async (t) => {
  const dir = tempDir('hal-readme-');
  writeFileSync(join(dir, 'supervisor.config.json'), JSON.stringify(supervisorExample(), null, 2));
  writeFileSync(join(dir, 'agent.config.json'), JSON.stringify(agentExample(join(dir, 'p')), null, 2));
  const [sup, agent] = await Promise.all([
    start(t, SUPERVISOR, ['--config', 'supervisor.config.json', '--validate'], dir, {}),
    start(t, AGENT, ['--config', 'agent.config.json', '--validate'], dir, {}),
  ]);
  assert.equal(await sup.exited, 0, sup.out());
  assert.equal(await agent.exited, 0, agent.out());
  // The effective config (JSON), among notes such as what the shared token allows.
  const json = (text: string) => JSON.parse(text.slice(text.indexOf('{'), text.lastIndexOf('}') + 1));
  const effective = json(sup.out());
  assert.equal(effective.heartbeat_interval_sec, 30, 'the heartbeat keys written inside server apply');
  assert.equal(effective.heartbeat_timeout_count, 3);
  assert.equal(effective.server.auth_token, '***', 'secrets are masked');
  assert.equal(json(agent.out()).projects[0].name, PROJECT);
});

test('product README configs - the supervisor and an agent run on them, Discord and Anthropic pointed at fakes by environment (nothing reaches the internet)', async (t) => {
  const dir = tempDir('hal-readme-');
  const projectDir = join(dir, 'projects', PROJECT);
  mkdirSync(projectDir, { recursive: true });
  writeFileSync(join(dir, 'supervisor.config.json'), JSON.stringify(supervisorExample(), null, 2));
  writeFileSync(join(dir, 'agent.config.json'), JSON.stringify(agentExample(projectDir), null, 2));

  const discord = await startFakeDiscord({
    token: BOT_TOKEN,
    guild: {
      id: GUILD,
      channels: [
        { name: 'alerts', id: ALERTS },
        { name: 'dev-log', id: DEV_LOG },
      ],
    },
  });
  t.after(() => discord.stop());
  const anthropic = await startFakeAnthropic({ adminKey: ADMIN_KEY });
  t.after(() => anthropic.stop());
  const opencode = await startFakeOpencode({ defaultDirectory: projectDir });
  t.after(() => opencode.stop());
  const [ws, http] = await Promise.all([freePort(), freePort()]);

  // The file's ports 8420/8421 may be taken on a test machine; everything else is the file's.
  const supervisor = await start(t, SUPERVISOR, ['--config', 'supervisor.config.json'], dir, {
    HAL_SERVER__PORT: String(ws),
    HAL_SERVER__HTTP_PORT: String(http),
    HAL_NATS__EMBEDDED_PORT: '0',
    HAL_CHANNELS__DISCORD__API_URL: discord.apiUrl,
    HAL_COST__PROVIDERS__ANTHROPIC__BASE_URL: anthropic.url,
  });
  const api = `http://127.0.0.1:${http}`;
  await waitFor(async () => (await fetch(`${api}/readyz`).catch(() => undefined))?.status === 200, {
    timeoutMs: 120_000,
    intervalMs: 100,
    message: 'the supervisor never became ready',
  });
  const agent = await start(t, AGENT, ['--config', 'agent.config.json'], dir, {
    HAL_SUPERVISOR_URL: `ws://127.0.0.1:${ws}`,
    HAL_OPENCODE_PORT: String(opencode.port),
  });
  const headers = { authorization: `Bearer ${SECRET}` };
  const node = await waitFor(
    async () => {
      const res = await fetch(`${api}/api/v1/nodes`, { headers });
      const body = (await res.json()) as {
        data: { nodes: Array<{ status: string; projects: { name: string }[] }> };
      };
      return body.data.nodes.find((n) => n.status === 'online');
    },
    { timeoutMs: 60_000, intervalMs: 100, message: `the agent never came online:\n${agent.out()}` },
  );
  assert.deepEqual(
    node.projects.map((p) => p.name),
    [PROJECT],
  );
  // The bot logged in to the fake Discord, and the cost poller asked the fake Anthropic.
  await waitFor(() => discord.calls.some((c) => c.path.includes('/gateway/bot')), {
    timeoutMs: 60_000,
    message: 'the Discord bridge never asked the fake Discord for its gateway',
  });
  await waitFor(() => anthropic.requests.some((r) => r.status === 200), {
    timeoutMs: 60_000,
    message: `the cost poller never polled the fake Anthropic: ${JSON.stringify(anthropic.requests)}`,
  });
  assert.ok(anthropic.requests.every((r) => r.headers['x-api-key'] === ADMIN_KEY));
  assert.equal(agent.child.exitCode, null);
  assert.equal(supervisor.child.exitCode, null);
});
