import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { tempDir } from '@hal/testkit';
import { needRoot, needTool, OPENCODE, REPO, sandbox } from './install-harness.ts';

const exec = promisify(execFile);

/** `key=value` lines of a unit's [Service] (and other) sections, comments left out. */
function directives(unit: string): Array<[string, string]> {
  return unit
    .split('\n')
    .filter((l) => /^[A-Za-z]+=/.test(l))
    .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as [string, string]);
}
const value = (unit: string, key: string) => directives(unit).find(([k]) => k === key)?.[1];

/** Runs systemd-analyze verify on unit files; resolves to its output (empty when clean). */
async function verify(files: string[]): Promise<{ ok: boolean; output: string }> {
  try {
    const { stdout, stderr } = await exec('systemd-analyze', ['verify', ...files]);
    return { ok: true, output: `${stdout}${stderr}`.trim() };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    return { ok: false, output: `${e.stdout ?? ''}${e.stderr ?? ''}`.trim() };
  }
}

const SANDBOXING =
  /^(NoNewPrivileges|Protect[A-Za-z]+|Private[A-Za-z]+|Restrict[A-Za-z]+|LockPersonality|CapabilityBoundingSet|ReadWritePaths|ReadOnlyPaths|InaccessiblePaths|SystemCallFilter|MemoryDenyWriteExecute)$/;

test('systemd units - rendered for --all and --split: systemd-analyze verify passes, kill modes, MemoryMax, opencode unsandboxed, one port per service', async (t) => {
  if (!needRoot(t)) return;
  if (
    !needTool(t, 'systemd-analyze', 'node scripts/setup.mjs installs it as root (apt-get install -y systemd)')
  )
    return;
  const all = sandbox(t);
  const split = sandbox(t);
  const common = ['--yes', '--opencode', OPENCODE];
  const [a, b] = await Promise.all([
    all.run(join(all.source('0.1.0'), 'deploy/install.sh'), [
      '--all',
      '--root',
      all.root,
      ...common,
      '--project',
      'api=/srv/api',
    ]),
    split.run(join(split.source('0.1.0'), 'deploy/install.sh'), ['--split', '--root', split.root, ...common]),
  ]);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(b.code, 0, b.stderr);
  const unitDir = (box: { root: string }) => join(box.root, 'etc/systemd/system');
  const read = (box: { root: string }, name: string) => readFileSync(join(unitDir(box), name), 'utf8');

  // A template is verified through an instance, as systemd would load it.
  const instances = tempDir('hal-units-');
  copyFileSync(join(unitDir(all), 'hal-opencode@.service'), join(instances, 'hal-opencode@root.service'));
  const files = [
    ...readdirSync(unitDir(all))
      .filter((n) => !n.includes('@.'))
      .map((n) => join(unitDir(all), n)),
    ...readdirSync(unitDir(split)).map((n) => join(unitDir(split), n)),
    join(instances, 'hal-opencode@root.service'),
  ];
  assert.deepEqual(files.map((f) => f.split('/').pop()).sort(), [
    'hal-agent.service',
    'hal-cost-poller.service',
    'hal-discord-bridge.service',
    'hal-gateway.service',
    'hal-nats.service',
    'hal-o-swarm.target',
    'hal-o-swarm.target',
    'hal-opencode@root.service',
    'hal-policy.service',
    'hal-supervisor.service',
    'hal-tracker.service',
  ]);
  const verified = await verify(files);
  assert.ok(verified.ok && verified.output === '', `systemd-analyze verify:\n${verified.output}`);

  for (const file of files.filter((f) => f.endsWith('.service'))) {
    const unit = readFileSync(file, 'utf8');
    assert.match(value(unit, 'MemoryMax') ?? '', /^\d+[KMG]$/, `${file}: MemoryMax`);
    assert.ok(!unit.includes('@'.concat('NODE@')) && !/@[A-Z_]+@/.test(unit), `${file} is fully rendered`);
    const exec0 = value(unit, 'ExecStart')?.split(' ')[0] ?? '';
    assert.ok(statSync(exec0).isFile(), `${file}: ExecStart ${exec0} exists`);
  }
  // Node is the one found on PATH at install time, not a hard-coded /usr/bin/node.
  const nodeOnPath = (await exec('sh', ['-c', 'command -v node'])).stdout.trim();
  assert.equal(value(read(all, 'hal-supervisor.service'), 'ExecStart')?.split(' ')[0], nodeOnPath);

  assert.equal(value(read(all, 'hal-supervisor.service'), 'KillMode'), 'mixed');
  const agent = read(all, 'hal-agent.service');
  assert.equal(value(agent, 'KillMode'), 'process');
  assert.equal(value(agent, 'ReadWritePaths'), '/var/lib/hal-o-swarm/agent -/srv/api');
  const opencode = read(all, 'hal-opencode@.service');
  assert.equal(value(opencode, 'User'), '%i');
  const agentSandbox = directives(agent)
    .map(([k]) => k)
    .filter((k) => SANDBOXING.test(k));
  assert.ok(agentSandbox.length >= 10, `the agent is sandboxed: ${agentSandbox.join(', ')}`);
  assert.deepEqual(
    directives(opencode).filter(([k]) => SANDBOXING.test(k)),
    [],
    'opencode runs with none of the agent sandboxing',
  );

  // Split on one host: each service its own health/metrics port; the gateway keeps server.http_port.
  const ports = new Map<string, string>();
  for (const service of ['gateway', 'tracker', 'policy', 'cost-poller', 'discord-bridge']) {
    const unit = read(split, `hal-${service}.service`);
    const env = directives(unit)
      .filter(([k]) => k === 'Environment')
      .map(([, v]) => v);
    const port = env.find((e) => e.startsWith('HAL_SERVER__HTTP_PORT='))?.split('=')[1] ?? '';
    ports.set(service, port);
    assert.equal(value(unit, 'After'), 'network-online.target hal-nats.service');
  }
  assert.equal(ports.get('gateway'), '8421');
  assert.equal(new Set(ports.values()).size, 5, JSON.stringify([...ports]));
  assert.equal(value(read(split, 'hal-nats.service'), 'Conflicts'), 'nats-server.service');
  const natsConf = readFileSync(join(split.root, 'etc/hal-o-swarm/nats.conf'), 'utf8');
  assert.match(natsConf, /^jetstream \{\n {2}store_dir: "\/var\/lib\/hal-o-swarm\/nats"/m);
  const token = readFileSync(join(split.root, 'etc/hal-o-swarm/nats.token'), 'utf8');
  assert.ok(natsConf.includes(`token: "${token}"`));
  assert.deepEqual(
    JSON.parse(readFileSync(join(split.root, 'etc/hal-o-swarm/supervisor.config.json'), 'utf8')).nats,
    {
      url: 'nats://127.0.0.1:4222',
      token_file: '/etc/hal-o-swarm/nats.token',
    },
  );
});

test('systemd units - systemd-analyze verify catches a broken unit (so a clean result means something)', async (t) => {
  if (
    !needTool(t, 'systemd-analyze', 'node scripts/setup.mjs installs it as root (apt-get install -y systemd)')
  )
    return;
  const dir = tempDir('hal-units-');
  const file = join(dir, 'hal-broken.service');
  writeFileSync(file, '[Service]\nExecStart=/nonexistent/node main.js\nKillMode=sometimes\n');
  const verified = await verify([file]);
  assert.equal(verified.ok, false);
  assert.match(verified.output, /KillMode|not executable|nonexistent/);
});

test('scripts - shellcheck passes on every shell script', async (t) => {
  if (
    !needTool(t, 'shellcheck', 'node scripts/setup.mjs installs it as root (apt-get install -y shellcheck)')
  )
    return;
  const scripts: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (['node_modules', '.git', '.tools', '.hal', 'dist'].includes(entry.name)) continue;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (
        entry.name.endsWith('.sh') ||
        readFileSync(path, 'utf8')
          .slice(0, 40)
          .match(/^#!.*\b(ba)?sh\b/)
      ) {
        scripts.push(relative(REPO, path));
      }
    }
  };
  walk(REPO);
  assert.ok(
    scripts.includes('deploy/install.sh') && scripts.includes('deploy/uninstall.sh'),
    scripts.join(' '),
  );
  try {
    await exec('shellcheck', scripts, { cwd: REPO });
  } catch (err) {
    assert.fail(`shellcheck:\n${(err as { stdout?: string }).stdout ?? String(err)}`);
  }
});
