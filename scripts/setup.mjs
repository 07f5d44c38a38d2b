#!/usr/bin/env node
// `npm start` and `npm test` run this first. Idempotent and quick when everything is present:
// installs the npm dependencies when needed and makes sure nats-server is on PATH.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed with exit code ${r.status}`);
}

/** npm writes node_modules/.package-lock.json on every install: older than the lock = stale. */
function dependenciesStale() {
  const marker = join(root, 'node_modules', '.package-lock.json');
  if (!existsSync(marker)) return true;
  return statSync(join(root, 'package-lock.json')).mtimeMs > statSync(marker).mtimeMs;
}

function onPath(binary) {
  const r = spawnSync(binary, ['--version'], { stdio: 'ignore' });
  return !r.error && r.status === 0;
}

function ensureNatsServer() {
  if (onPath('nats-server')) return;
  if (process.platform === 'linux' && process.getuid?.() === 0 && onPath('apt-get')) {
    console.log('setup: installing nats-server (apt-get install -y nats-server)');
    run('apt-get', ['update']);
    run('apt-get', ['install', '-y', 'nats-server']);
    if (onPath('nats-server')) return;
  }
  console.error(
    [
      'setup: nats-server is not installed, and this script cannot install it (it needs root and apt-get).',
      '  Debian/Ubuntu:  sudo apt-get install -y nats-server',
      '  other systems:  https://docs.nats.io/running-a-nats-service/introduction/installation',
      '  or point the supervisor at an existing server with nats.url (HAL_NATS_URL).',
    ].join('\n'),
  );
  process.exit(1);
}

try {
  if (dependenciesStale()) {
    console.log('setup: installing npm dependencies (npm ci)');
    try {
      run('npm', ['ci', '--no-audit', '--no-fund']);
    } catch {
      // npm ci refuses a lock that lacks optional platform packages (opencode-darwin-*, …) when
      // the registry in use does not serve them, so they could never be locked. npm install
      // follows the same lock and skips what it cannot fetch for other platforms.
      console.log('setup: npm ci refused the lock; installing with npm install instead');
      run('npm', ['install', '--no-audit', '--no-fund']);
    }
  }
  ensureNatsServer();
} catch (err) {
  console.error(`setup: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
}
