// Quick start of a new host: the real hal-agent bin with flags only (no config file, the token in
// a file), against the whole supervisor on a real nats-server. On connect the control plane sends
// the manifest; the agent provisions the safe items and reports; the alert lists what needs an
// approval. opencode plays no part here: the agent watches the fake one.
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { EnvStatusView, Notification } from '@hal/protocol';
import { compiledEntry, type FakeOpencode, startFakeOpencode, waitFor } from '@hal/testkit';
import { type Fleet, startFleet, TOKEN } from './fleet-harness.ts';

// hal-agent's main, compiled once by testkit's compiledEntry (what a built install runs), not through tsx.
const AGENT_MAIN = fileURLToPath(new URL('../../agent/src/main.ts', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'hal-quickstart-'));
const project = join(root, 'app');
const tokenFile = join(root, 'node.token');
let fleet: Fleet;
let opencode: FakeOpencode;
let agent: ChildProcess | undefined;
let output = '';

/** The environment of a host that has nothing of HAL in it: no HAL_* variables, a bare PATH. */
function hostEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: '/usr/bin:/bin', HOME: root };
  return env;
}

before(async () => {
  mkdirSync(project);
  writeFileSync(tokenFile, `${TOKEN}\n`);
  chmodSync(tokenFile, 0o600);
  opencode = await startFakeOpencode();
  fleet = await startFleet();
  await fleet.startSupervisor();
  const res = await fetch(`${fleet.apiUrl}/api/v1/env/manifest`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      projects: {
        app: {
          tools: { protoc: { install: ['apt-get', 'install', '-y', 'protobuf-compiler'] } },
          agent_config: { template: 'main' },
        },
      },
      templates: { main: '# {{project_name}}\nKeep .context/ up to date.\n' },
    }),
  });
  assert.equal(res.status, 200, await res.text());
});

after(async () => {
  if (agent && agent.exitCode === null) {
    const exited = new Promise((r) => agent?.once('exit', r));
    agent.kill('SIGTERM');
    await exited;
  }
  await fleet?.close();
  await opencode?.stop();
  rmSync(root, { recursive: true, force: true });
});

async function run(args: string[]): Promise<{ code: number; stderr: string }> {
  const main = await compiledEntry(AGENT_MAIN);
  return new Promise((resolve) => {
    execFile(process.execPath, [main, ...args], { env: hostEnv(), timeout: 30_000 }, (err, _out, stderr) =>
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stderr }),
    );
  });
}

test('quick start - a token on the command line is refused, with the reason', async () => {
  const r = await run(['--supervisor', fleet.wsUrl, '--token', TOKEN, '--project', `app=${project}`]);
  assert.equal(r.code, 2);
  assert.match(
    r.stderr,
    /^a token on the command line is readable by every process on this host \(\/proc\/\*\/cmdline\)/,
  );
  const bad = await run(['--supervisor', fleet.wsUrl, '--token-file', tokenFile, '--project', 'app']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^--project "app" must be NAME=DIR, like api=\/srv\/api/);
});

test('quick start - flags only; on connect the manifest is applied and the alert lists what needs approval', async () => {
  const args = [
    await compiledEntry(AGENT_MAIN),
    '--supervisor',
    fleet.wsUrl,
    '--token-file',
    tokenFile,
    '--project',
    `app=${project}`,
    '--node-id',
    'qs1',
    '--data-dir',
    join(root, 'agent-data'),
    '--opencode-url',
    opencode.url,
  ];
  agent = spawn(process.execPath, args, { env: hostEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  agent.stdout?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  agent.stderr?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  // Nothing on the command line of the running agent is secret.
  const cmdline = readFileSync(`/proc/${agent.pid}/cmdline`, 'utf8');
  assert.ok(!cmdline.includes(TOKEN), 'the token is not in /proc/<pid>/cmdline');

  await waitFor(
    () => fleet.events.of((e) => e.node === 'qs1' && e.type === 'env.provision.complete').length > 0,
    { timeoutMs: 60_000, message: `qs1 provisioned on connect (agent output: ${output.slice(-2000)})` },
  );
  assert.equal(readFileSync(join(project, 'AGENT.md'), 'utf8'), '# app\nKeep .context/ up to date.\n');
  assert.ok(existsSync(join(project, '.context/PROGRESS.md')));
  const decisions = () =>
    fleet.events.of((e) => e.type === 'policy.action' && e.data.policy === 'provision_on_connect');
  await waitFor(() => decisions().length > 0, { message: 'the provision_on_connect decision is recorded' });
  const decision = decisions();
  assert.equal(decision[0]?.node, 'qs1');
  assert.match(String(decision[0]?.data.reason), /^provision app on qs1 \(manifest revision \d+\)$/);

  await waitFor(
    () =>
      fleet.notifications.of(
        (n: Notification) => n.kind === 'env.provision.manual_required' && n.node === 'qs1',
      ).length > 0,
    { message: 'the alert lists what needs approval' },
  );
  const alert = fleet.notifications.of(
    (n: Notification) => n.kind === 'env.provision.manual_required' && n.node === 'qs1',
  )[0]!;
  assert.match(alert.title, /^qs1\/app: 1 environment fix\(es\) wait for a person$/);
  assert.match(
    alert.body,
    /tool:protoc \(needs approval\): install protoc \(installed\) with the manifest's command\n {2}`apt-get install -y protobuf-compiler`/,
  );
  assert.deepEqual(
    alert.actions.map((a) => a.label),
    ['Approve tool:protoc'],
  );
  await waitFor(async () => {
    const s = await fleet.api<{ data: EnvStatusView[] }>('/api/v1/env/status/qs1');
    return s.body.data[0]?.pending_approval.join(',') === 'tool:protoc';
  });
});
