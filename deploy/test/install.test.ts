import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { idsOf, needRoot, needTool, OPENCODE, sandbox, snapshot, treeDiff } from './install-harness.ts';

test('install - --all twice: the same tree, root-owned code, configs 0640, units enabled and started once', async (t) => {
  if (!needRoot(t) || !needTool(t, 'useradd', 'apt-get install -y passwd')) return;
  const box = sandbox(t);
  const src = box.source('0.1.0');
  const args = [
    '--all',
    '--root',
    box.root,
    '--yes',
    '--server-host',
    '0.0.0.0',
    '--project',
    '한국어-앱=/srv/한국어-앱',
    '--opencode',
    OPENCODE,
  ];
  const first = await box.run(join(src, 'deploy/install.sh'), args);
  assert.equal(first.code, 0, first.stderr);
  assert.deepEqual(box.calls(), [
    'npm ci --no-audit --no-fund',
    'npm run build',
    'npm prune --omit=dev --no-audit --no-fund',
    'systemctl daemon-reload',
    `systemctl --root ${box.root.replace(box.dir, '<sandbox>')} enable hal-o-swarm.target hal-supervisor.service hal-opencode@hal.service hal-agent.service`,
    'systemctl start hal-supervisor.service hal-opencode@hal.service hal-agent.service',
  ]);

  const tree = snapshot(box.root);
  const hal = idsOf(box.root, 'hal');
  const owned = (path: string) => tree.get(path);
  // Code: root-owned, nobody else may write it.
  assert.equal(owned('opt/hal-o-swarm/current')?.content, 'releases/0.1.0');
  for (const [path, e] of tree) {
    if (!path.startsWith('opt/')) continue;
    if (e.type === 'link') continue;
    assert.equal(e.owner, '0:0', `${path} is root-owned`);
    assert.equal(Number.parseInt(e.mode, 8) & 0o022, 0, `${path} (${e.mode}) is not group/other-writable`);
  }
  // Config and tokens: root:hal 0640 in a 0750 directory; data: hal's.
  const expect = (path: string, type: string, mode: string, owner: string) =>
    assert.deepEqual(
      { type: owned(path)?.type, mode: owned(path)?.mode, owner: owned(path)?.owner },
      { type, mode, owner },
      path,
    );
  expect('etc/hal-o-swarm', 'dir', '750', `0:${hal.gid}`);
  for (const f of ['supervisor.config.json', 'auth_token', 'agent.config.json'])
    expect(`etc/hal-o-swarm/${f}`, 'file', '640', `0:${hal.gid}`);
  for (const d of ['', '/data', '/agent'])
    expect(`var/lib/hal-o-swarm${d}`, 'dir', '750', `${hal.uid}:${hal.gid}`);
  for (const u of [
    'hal-supervisor.service',
    'hal-agent.service',
    'hal-opencode@.service',
    'hal-o-swarm.target',
  ])
    expect(`etc/systemd/system/${u}`, 'file', '644', '0:0');
  expect('usr/local/bin/halctl', 'file', '755', '0:0');

  const supervisor = JSON.parse(
    readFileSync(join(box.root, 'etc/hal-o-swarm/supervisor.config.json'), 'utf8'),
  );
  assert.deepEqual(supervisor, {
    data_dir: '/var/lib/hal-o-swarm/data',
    server: { host: '0.0.0.0', auth_token_file: '/etc/hal-o-swarm/auth_token' },
  });
  assert.match(readFileSync(join(box.root, 'etc/hal-o-swarm/auth_token'), 'utf8'), /^[0-9a-f]{64}$/);
  const agent = JSON.parse(readFileSync(join(box.root, 'etc/hal-o-swarm/agent.config.json'), 'utf8'));
  assert.deepEqual(agent.projects, [{ name: '한국어-앱', directory: '/srv/한국어-앱' }]);
  const agentUnit = readFileSync(join(box.root, 'etc/systemd/system/hal-agent.service'), 'utf8');
  assert.match(agentUnit, /^ReadWritePaths=\/var\/lib\/hal-o-swarm\/agent -\/srv\/한국어-앱$/m);
  assert.match(
    agentUnit,
    new RegExp(
      `^ExecStart=${process.execPath} /opt/hal-o-swarm/current/services/agent/bin/hal-agent.js`,
      'm',
    ),
  );

  // Again: nothing changes, nothing is rebuilt or restarted.
  const second = await box.run(join(src, 'deploy/install.sh'), args);
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stdout, /release 0\.1\.0 is installed and current; nothing to do/);
  assert.deepEqual(box.calls(), []);
  assert.deepEqual(treeDiff(tree, snapshot(box.root)), []);
});
