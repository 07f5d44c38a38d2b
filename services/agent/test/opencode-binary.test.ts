import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { resolveOpencodeBinary } from '../src/opencode-binary.ts';

const CHECKOUT_OPENCODE = resolve(
  fileURLToPath(new URL('../../../', import.meta.url)),
  '.tools/opencode/node_modules/.bin/opencode',
);

test('opencode binary - a configured path is used as is', () => {
  assert.equal(resolveOpencodeBinary('/opt/oc/bin/opencode', ''), '/opt/oc/bin/opencode');
});

test('opencode binary - a name found on PATH stays a name (spawn finds it)', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hal-oc-path-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'opencode'), '#!/bin/sh\n');
  chmodSync(join(dir, 'opencode'), 0o755);
  assert.equal(resolveOpencodeBinary('opencode', `/nonexistent:${dir}`), 'opencode');
});

test('opencode binary - the default falls back to the checkout`s pinned .tools/opencode when PATH has none', () => {
  assert.equal(resolveOpencodeBinary('opencode', '/nonexistent'), CHECKOUT_OPENCODE);
  // Another name is never swapped for the checkout's opencode.
  assert.equal(resolveOpencodeBinary('my-opencode', '/nonexistent'), 'my-opencode');
});
