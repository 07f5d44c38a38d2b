import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { opencodeBinary } from '@hal/testkit';

const REPO = fileURLToPath(new URL('../../', import.meta.url));

interface LockEntry {
  optionalDependencies?: Record<string, string>;
}

function readJson<T>(path: string): T {
  return JSON.parse(readFileSync(join(REPO, path), 'utf8')) as T;
}

test('setup - the workspace lock holds no opencode, so a fresh clone`s npm ci is not refused', () => {
  const pkg = readJson<{ devDependencies: Record<string, string>; halTools: Record<string, string> }>(
    'package.json',
  );
  assert.equal(pkg.devDependencies['opencode-ai'], undefined, 'opencode-ai must stay out of the lock');
  assert.match(
    pkg.halTools['opencode-ai'] ?? '',
    /^\d+\.\d+\.\d+$/,
    'halTools pins an exact opencode version',
  );
  const lock = readJson<{ packages: Record<string, LockEntry> }>('package-lock.json');
  const paths = Object.keys(lock.packages);
  assert.deepEqual(
    paths.filter((p) => /(^|\/)node_modules\/opencode-/.test(p)),
    [],
  );
  // npm ci refuses a lock whose packages name optional dependencies it does not list (the opencode
  // failure: its other platforms' binaries). Every one of them must be in the lock.
  const missing: string[] = [];
  for (const [path, entry] of Object.entries(lock.packages)) {
    for (const dep of Object.keys(entry.optionalDependencies ?? {})) {
      const nested = `${path === '' ? '' : `${path}/`}node_modules/${dep}`;
      if (!(nested in lock.packages) && !(`node_modules/${dep}` in lock.packages))
        missing.push(`${path} → ${dep}`);
    }
  }
  assert.deepEqual(missing, [], 'optional dependencies the lock does not list');
});

test('setup - the pinned opencode is installed in .tools/opencode and runs', () => {
  const version = readJson<{ halTools: Record<string, string> }>('package.json').halTools['opencode-ai'];
  const bin = opencodeBinary();
  assert.ok(bin.startsWith(join(REPO, '.tools', 'opencode')), bin);
  // A generous bound: a cold start of the opencode binary on a loaded 2-core machine took over 30 s.
  const r = spawnSync(bin, ['--version'], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), version);
});
