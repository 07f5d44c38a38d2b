import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { needRoot, OPENCODE, sandbox, snapshot, treeDiff } from './install-harness.ts';

test('uninstall - removes what install added and keeps config and data; --purge removes those and the user', async (t) => {
  if (!needRoot(t)) return;
  const box = sandbox(t);
  const src = box.source('0.1.0');
  const install = await box.run(join(src, 'deploy/install.sh'), [
    '--all',
    '--root',
    box.root,
    '--yes',
    '--project',
    'api=/srv/api',
    '--opencode',
    OPENCODE,
  ]);
  assert.equal(install.code, 0, install.stderr);
  writeFileSync(join(box.root, 'var/lib/hal-o-swarm/data/events.db'), 'the event log');
  const installed = snapshot(box.root);
  box.calls();

  const removed = await box.run(join(src, 'deploy/uninstall.sh'), ['--root', box.root]);
  assert.equal(removed.code, 0, removed.stderr);
  const diff = treeDiff(installed, snapshot(box.root));
  const gone = diff.filter((l) => l.startsWith('- ')).map((l) => l.slice(2));
  assert.deepEqual(
    diff.filter((l) => !l.startsWith('- ')),
    [],
    'uninstall only removes',
  );
  for (const path of gone) {
    assert.ok(
      /^(opt\/hal-o-swarm|etc\/systemd\/system\/hal-|usr\/local\/bin\/halctl)/.test(path),
      `${path} was not install's to remove`,
    );
  }
  for (const kept of [
    'etc/hal-o-swarm/supervisor.config.json',
    'etc/hal-o-swarm/auth_token',
    'var/lib/hal-o-swarm/data/events.db',
  ])
    assert.ok(existsSync(join(box.root, kept)), `${kept} is kept`);
  assert.ok(!existsSync(join(box.root, 'opt/hal-o-swarm')));
  assert.deepEqual(box.calls(), [
    'systemctl stop hal-agent.service hal-supervisor.service hal-o-swarm.target',
    `systemctl --root ${box.root.replace(box.dir, '<sandbox>')} disable hal-agent.service hal-supervisor.service hal-o-swarm.target`,
    'systemctl daemon-reload',
  ]);

  const purged = await box.run(join(src, 'deploy/uninstall.sh'), ['--root', box.root, '--purge']);
  assert.equal(purged.code, 0, purged.stderr);
  assert.ok(!existsSync(join(box.root, 'etc/hal-o-swarm')));
  assert.ok(!existsSync(join(box.root, 'var/lib/hal-o-swarm')));
  assert.ok(!/^hal:/m.test(readFileSync(join(box.root, 'etc/passwd'), 'utf8')), 'the hal user is gone');
});
