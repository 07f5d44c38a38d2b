import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { idsOf, needRoot, OPENCODE, sandbox, snapshot, treeDiff } from './install-harness.ts';

test('install - --dry-run prints what it would do and changes nothing', async (t) => {
  if (!needRoot(t)) return;
  const box = sandbox(t);
  const before = snapshot(box.root);
  const dry = await box.run(join(box.source('0.1.0'), 'deploy/install.sh'), [
    '--all',
    '--dry-run',
    '--root',
    box.root,
    '--yes',
    '--project',
    'api=/srv/api',
    '--opencode',
    OPENCODE,
  ]);
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /^\+ useradd --root .* hal$/m);
  assert.match(
    dry.stdout,
    /^\+ copy .* npm ci; npm run build; npm prune --omit=dev; mv to .*releases\/0\.1\.0$/m,
  );
  assert.match(dry.stdout, /^\+ write .*\/etc\/hal-o-swarm\/supervisor\.config\.json \(root:hal 0640\)$/m);
  assert.match(
    dry.stdout,
    /^\+ systemctl start hal-supervisor\.service hal-opencode@hal\.service hal-agent\.service$/m,
  );
  assert.deepEqual(treeDiff(before, snapshot(box.root)), []);
  assert.deepEqual(box.calls(), [], 'no systemctl or npm call was made');
});

test('install - preflight: Node older than 20.19, no npm, no opencode: each refused with the exact fix', async (t) => {
  const box = sandbox(t);
  const script = join(box.source('0.1.0'), 'deploy/install.sh');
  // A PATH holding only what install.sh needs before its checks, plus the part under test.
  const tools = join(box.dir, 'tools');
  mkdirSync(tools);
  for (const tool of ['dirname', 'sed', 'head', 'cat', 'awk', 'env', 'bash'])
    symlinkSync(`/usr/bin/${tool}`, join(tools, tool));
  const oldNode = join(box.dir, 'old-node');
  mkdirSync(oldNode);
  writeFileSync(join(oldNode, 'node'), '#!/bin/sh\n[ "$1" = -p ] && echo 18.19.0 && exit 0\nexit 1\n', {
    mode: 0o755,
  });
  writeFileSync(join(oldNode, 'npm'), '#!/bin/sh\necho 9.2.0\n', { mode: 0o755 });
  const asRoot = process.getuid?.() === 0 ? [] : ['--dry-run'];

  const old = await box.run(script, ['--supervisor', ...asRoot], { PATH: `${oldNode}:${tools}` });
  assert.equal(old.code, 1);
  assert.match(
    old.stderr,
    /Node\.js 20\.19 or newer is required; .*\/old-node\/node is 18\.19\.0 \(Debian 12 ships 18\)/,
  );
  assert.match(
    old.stderr,
    /curl -fsSL https:\/\/deb\.nodesource\.com\/setup_20\.x \| bash - && apt-get install -y nodejs/,
  );

  const noNpm = join(box.dir, 'no-npm');
  mkdirSync(noNpm);
  symlinkSync(process.execPath, join(noNpm, 'node'));
  const missingNpm = await box.run(script, ['--supervisor', ...asRoot], { PATH: `${noNpm}:${tools}` });
  assert.equal(missingNpm.code, 1);
  assert.match(
    missingNpm.stderr,
    /npm is missing \(Debian packages it apart from node\): apt-get install -y npm/,
  );

  const version = JSON.parse(readFileSync(join(box.source('0.1.0'), 'package.json'), 'utf8')).halTools[
    'opencode-ai'
  ];
  const noOpencode = await box.run(script, ['--agent', '--root', box.root, ...asRoot], {
    PATH: `${join(box.dir, 'bin')}:${noNpm}:${tools}`,
  });
  assert.equal(noOpencode.code, 1);
  assert.ok(
    noOpencode.stderr.includes(`opencode is required on an agent host and was not found`) &&
      noOpencode.stderr.includes(`npm install -g opencode-ai@${version}`),
    noOpencode.stderr,
  );
});

test('install - --agent takes the node token from a file: agent.token 0640, the config points at it', async (t) => {
  if (!needRoot(t)) return;
  const box = sandbox(t);
  const tokenFile = join(box.dir, 'node.token');
  writeFileSync(tokenFile, `${'n'.repeat(48)}\n`);
  const result = await box.run(join(box.source('0.1.0'), 'deploy/install.sh'), [
    '--agent',
    '--root',
    box.root,
    '--yes',
    '--supervisor-url',
    'wss://hal.example.com',
    '--node-token-file',
    tokenFile,
    '--project',
    'api=/srv/api',
    '--opencode',
    OPENCODE,
  ]);
  assert.equal(result.code, 0, result.stderr);
  const etc = join(box.root, 'etc/hal-o-swarm');
  assert.equal(readFileSync(join(etc, 'agent.token'), 'utf8'), 'n'.repeat(48));
  const hal = idsOf(box.root, 'hal');
  const tree = snapshot(box.root);
  assert.deepEqual(
    {
      mode: tree.get('etc/hal-o-swarm/agent.token')?.mode,
      owner: tree.get('etc/hal-o-swarm/agent.token')?.owner,
    },
    { mode: '640', owner: `0:${hal.gid}` },
  );
  assert.deepEqual(JSON.parse(readFileSync(join(etc, 'agent.config.json'), 'utf8')), {
    supervisor_url: 'wss://hal.example.com',
    auth_token_file: '/etc/hal-o-swarm/agent.token',
    data_dir: '/var/lib/hal-o-swarm/agent',
    projects: [{ name: 'api', directory: '/srv/api' }],
  });
  // An agent host runs no supervisor and no NATS.
  assert.ok(!tree.has('etc/systemd/system/hal-supervisor.service'));
  assert.ok(!tree.has('etc/hal-o-swarm/supervisor.config.json'));
  assert.equal(readFileSync(join(etc, 'opencode-hal.env'), 'utf8'), 'OPENCODE_PORT=4096\n');
  assert.deepEqual(box.calls().slice(3), [
    'systemctl daemon-reload',
    `systemctl --root ${box.root.replace(box.dir, '<sandbox>')} enable hal-o-swarm.target hal-opencode@hal.service hal-agent.service`,
    'systemctl start hal-opencode@hal.service hal-agent.service',
  ]);
});
