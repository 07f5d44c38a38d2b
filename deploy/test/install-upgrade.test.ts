import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { needRoot, OPENCODE, sandbox } from './install-harness.ts';

test('install - an upgrade builds a new release, switches current, restarts what runs its code; --rollback returns', async (t) => {
  if (!needRoot(t)) return;
  const box = sandbox(t);
  const common = ['--root', box.root, '--yes', '--opencode', OPENCODE];
  const v1 = await box.run(join(box.source('0.1.0'), 'deploy/install.sh'), [
    '--all',
    ...common,
    '--project',
    'api=/srv/api',
  ]);
  assert.equal(v1.code, 0, v1.stderr);
  box.calls();
  // An operator's edit of a config survives every later install.
  const configFile = join(box.root, 'etc/hal-o-swarm/supervisor.config.json');
  const edited = JSON.parse(readFileSync(configFile, 'utf8'));
  edited.server.host = '10.1.2.3';
  writeFileSync(configFile, `${JSON.stringify(edited, null, 2)}\n`);

  const v2 = await box.run(join(box.source('0.2.0'), 'deploy/install.sh'), ['--all', ...common]);
  assert.equal(v2.code, 0, v2.stderr);
  assert.match(
    v2.stdout,
    /current → releases\/0\.2\.0 \(previous: releases\/0\.1\.0; roll back with --rollback\)/,
  );
  assert.deepEqual(box.calls(), [
    'npm ci --no-audit --no-fund',
    'npm run build',
    'npm prune --omit=dev --no-audit --no-fund',
    // Never opencode: restarting it would end every session.
    'systemctl try-restart hal-supervisor.service hal-agent.service',
  ]);
  const link = (name: string) =>
    readFileSync(join(box.root, 'opt/hal-o-swarm', name, '.hal-release'), 'utf8');
  assert.equal(link('current'), '0.2.0\n');
  assert.equal(link('previous'), '0.1.0\n');
  assert.deepEqual(JSON.parse(readFileSync(configFile, 'utf8')), edited);

  const back = await box.run(join(box.source('0.2.0'), 'deploy/install.sh'), [
    '--rollback',
    '--root',
    box.root,
  ]);
  assert.equal(back.code, 0, back.stderr);
  assert.match(back.stdout, /current → releases\/0\.1\.0 \(was releases\/0\.2\.0\)/);
  assert.equal(link('current'), '0.1.0\n');
  assert.equal(link('previous'), '0.2.0\n');
  assert.deepEqual(box.calls(), ['systemctl try-restart hal-agent.service hal-supervisor.service']);
});
