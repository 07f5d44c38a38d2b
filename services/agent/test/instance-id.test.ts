import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadInstanceId } from '../src/index.ts';

test('instance id - created once in the data dir with mode 0600, then the same on every start', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hal-instance-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const dataDir = join(dir, 'agent');
  const id = loadInstanceId(dataDir);
  assert.match(id, /^[0-9a-f-]{36}$/);
  assert.equal(statSync(join(dataDir, 'instance-id')).mode & 0o777, 0o600);
  assert.equal(loadInstanceId(dataDir), id);
  assert.equal(readFileSync(join(dataDir, 'instance-id'), 'utf8'), `${id}\n`);
  // Another data dir is another instance.
  assert.notEqual(loadInstanceId(join(dir, 'other')), id);
  // A damaged file is replaced rather than sent to the gateway.
  writeFileSync(join(dataDir, 'instance-id'), 'x\n');
  const fresh = loadInstanceId(dataDir);
  assert.match(fresh, /^[0-9a-f-]{36}$/);
});
