// The real stack the dashboard is tested against, each part as it runs in production: a real
// nats-server (testkit), hal-supervisor (tracker, cost-poller, policy, gateway, HTTP API and the
// dashboard's files) as a child process, a real `opencode serve` on a scripted LLM (testkit), and
// hal-agent as a child process watching it. Both run their mains compiled by testkit's compiledEntry
// (what a built install runs), not through tsx.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  compiledEntry,
  freePort,
  type NatsServer,
  type OpencodeServer,
  type ScriptedLlm,
  startNats,
  startOpencode,
  startScriptedLlm,
  waitFor,
} from '@hal/testkit';

export const TOKENS = {
  admin: 'dashboard-admin-token-0123456789abcdef',
  operator: 'dashboard-operator-token-0123456789ab',
  viewer: 'dashboard-viewer-token-0123456789abcd',
} as const;
/** USD per million tokens for the scripted model: every turn has an observed cost. */
export const RATE = { input: 3, output: 15 };
export const PROJECT = 'demo';
export const NODE = 'demo-node';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const SUPERVISOR_MAIN = join(REPO, 'services/supervisor/src/main.ts');
const AGENT_MAIN = join(REPO, 'services/agent/src/main.ts');
const BUILD = join(REPO, 'services/dashboard/build.mjs');

export interface Stack {
  llm: ScriptedLlm;
  opencode: OpencodeServer;
  apiUrl: string;
  /** A call on the API (GET unless a body is given) with a token (admin by default). */
  api<T = unknown>(
    path: string,
    body?: Record<string, unknown>,
    token?: string,
  ): Promise<{ status: number; body: T }>;
  /** Output of the supervisor and agent processes, for failure messages. */
  output(): string;
  stop(): Promise<void>;
}

/** The bundle the gateway serves, built like scripts/setup.mjs builds it (when stale). */
export function buildDashboard(): void {
  execFileSync(process.execPath, [BUILD, '--if-stale'], { stdio: 'inherit' });
}

const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

function spawnMain(main: string, config: string, log: string[]): ChildProcess {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('HAL_')) env[k] = v;
  const child = spawn(process.execPath, [main, '--config', config], {
    cwd: REPO,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  const keep = (chunk: Buffer) => {
    log.push(chunk.toString('utf8'));
    if (log.length > 400) log.splice(0, log.length - 400);
    if (process.env.HAL_TEST_LOG !== undefined) process.stderr.write(chunk);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return child;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const hard = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(hard);
}

async function warmUp(opencodeUrl: string, directory: string): Promise<void> {
  const url = (path: string) => `${opencodeUrl}${path}?directory=${encodeURIComponent(directory)}`;
  const post = async (path: string, body: unknown) => {
    const res = await fetch(url(path), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`opencode warm-up: ${res.status} on ${path}`);
    return (await res.json()) as { id?: string };
  };
  const session = await post('/session', { title: 'warm-up' });
  if (session.id === undefined) throw new Error('opencode warm-up: no session id');
  // The synchronous prompt answers when the turn is over (the scripted LLM's default text).
  await post(`/session/${session.id}/message`, { parts: [{ type: 'text', text: 'warm up' }] });
  await fetch(url(`/session/${session.id}`), { method: 'DELETE' });
}

export async function startStack(opts: { budgets?: unknown[] } = {}): Promise<Stack> {
  buildDashboard();
  const root = mkdtempSync(join(tmpdir(), 'hal-dashboard-e2e-'));
  const log: string[] = [];
  const parts: Array<() => Promise<void>> = [];
  const stopAll = async () => {
    for (const stop of parts.reverse()) await stop().catch(() => undefined);
    rmSync(root, { recursive: true, force: true });
  };
  try {
    const llm = await startScriptedLlm({ titleText: 'Dashboard demo' });
    parts.push(() => llm.stop());
    // 'ask': bash and edit wait for a person's approval, as the permission test needs.
    const opencode = await startOpencode({
      llm,
      projects: [{ name: PROJECT }],
      permission: 'ask',
      // A loaded 2-core machine can take long to start opencode; a ready one answers at once.
      startTimeoutMs: 120_000,
    });
    parts.push(() => opencode.stop());
    const project = opencode.projects.find((p) => p.name === PROJECT);
    if (project === undefined) throw new Error('opencode has no demo project');
    // opencode's first turn in a project is slow (it loads the provider and the project); take it
    // now, beside the supervisor's start-up, on a throwaway session deleted before the agent looks.
    const warm = warmUp(opencode.url, project.directory);
    const nats: NatsServer = await startNats();
    parts.push(() => nats.stop());
    const [wsPort, httpPort] = [await freePort(), await freePort()];
    const supervisorConfig = join(root, 'supervisor.config.json');
    writeFileSync(
      supervisorConfig,
      JSON.stringify({
        data_dir: join(root, 'data'),
        nats: { url: nats.url },
        server: { auth_token: TOKENS.admin, host: '127.0.0.1', port: wsPort, http_port: httpPort },
        heartbeat_interval_sec: 1,
        heartbeat_timeout_count: 3,
        cost: { model_rates: { 'fake-model': RATE }, budgets: opts.budgets ?? [] },
        security: {
          api_tokens: [
            { name: 'olga', token: TOKENS.operator, role: 'operator' },
            { name: 'vic', token: TOKENS.viewer, role: 'viewer' },
          ],
        },
        log_level: 'warn',
      }),
    );
    const supervisor = spawnMain(await compiledEntry(SUPERVISOR_MAIN), supervisorConfig, log);
    parts.push(() => stopChild(supervisor));
    const apiUrl = `http://127.0.0.1:${httpPort}`;
    const withOutput = <T>(p: Promise<T>) =>
      p.catch((err: unknown) => {
        throw new Error(`${err instanceof Error ? err.message : String(err)}; output:\n${log.join('')}`);
      });
    await withOutput(
      waitFor(async () => (await fetch(`${apiUrl}/readyz`).catch(() => undefined))?.status === 200, {
        timeoutMs: 60_000,
        intervalMs: 200,
        message: 'supervisor ready',
      }),
    );

    await warm;
    const agentConfig = join(root, 'agent.config.json');
    writeFileSync(
      agentConfig,
      JSON.stringify({
        node_id: NODE,
        supervisor_url: `ws://127.0.0.1:${wsPort}`,
        auth_token: TOKENS.admin,
        opencode: { url: opencode.url },
        projects: [project],
        data_dir: join(root, 'agent'),
        heartbeat_interval_sec: 1,
        reconnect: { initial_ms: 100, max_ms: 1000 },
        command_timeout_ms: 20_000,
        log_level: 'info',
      }),
    );
    const agent = spawnMain(await compiledEntry(AGENT_MAIN), agentConfig, log);
    parts.push(() => stopChild(agent));

    const api: Stack['api'] = async (path, body, token = TOKENS.admin) => {
      const headers: Record<string, string> = { authorization: `Bearer ${token}` };
      const init: RequestInit =
        body === undefined
          ? { headers }
          : {
              method: 'POST',
              headers: { ...headers, 'content-type': 'application/json' },
              body: JSON.stringify(body),
            };
      const res = await fetch(`${apiUrl}${path}`, init);
      return { status: res.status, body: (await res.json()) as never };
    };
    // Commands are served once the agent has subscribed to opencode's events (its log says so).
    await withOutput(
      waitFor(() => log.some((l) => l.includes('opencode events subscribed and reconciled')), {
        timeoutMs: 60_000,
        intervalMs: 200,
        message: 'agent subscribed to opencode',
      }),
    );
    await waitFor(
      async () => {
        const r = await api<{ data: { nodes: Array<{ node: string; status: string; resources: unknown }> } }>(
          '/api/v1/nodes',
        );
        return r.body.data.nodes.some(
          (n) => n.node === NODE && n.status === 'online' && n.resources !== null,
        );
      },
      { timeoutMs: 30_000, intervalMs: 200, message: 'the demo node online with a heartbeat' },
    );
    return { llm, opencode, apiUrl, api, output: () => log.join(''), stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
