#!/usr/bin/env node
// `npm start` and `npm test` run this first. Idempotent and quick when everything is present:
// installs the npm dependencies when needed, the pinned opencode into .tools/opencode, and makes
// sure nats-server is on PATH (`--deploy-tools`, npm test: also the deploy tests' tools). It builds the
// web dashboard when its sources are newer than its bundle; `--browser` (npm test, npm run
// bench) also makes sure Debian's chromium is there for the dashboard's browser tests. `--checks` (npm test)
// also runs `npm run checks` (typecheck, biome, knip), started as soon as the packages are unpacked: on a
// clean clone it then overlaps better-sqlite3's compile from source (~85 s on one core) and the tool installs.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed with exit code ${r.status}`);
}

/** `run` that goes on in the background: resolves when the command succeeded, rejects otherwise. */
function runInBackground(cmd, args) {
  return new Promise((done, fail) => {
    const child = spawn(cmd, args, { cwd: root, stdio: 'inherit' });
    child.on('error', fail);
    child.on('close', (code) =>
      code === 0 ? done() : fail(new Error(`${cmd} ${args.join(' ')} failed with exit code ${code}`)),
    );
  });
}

/** Why `npm ci` failed, from its stderr: the error lines before npm's usage text, at most 12 of them. */
function npmErrorSummary(stderr) {
  const lines = [];
  for (const line of stderr.split('\n')) {
    if (!line.startsWith('npm error')) continue;
    const text = line.replace(/^npm error ?/, '').trimEnd();
    if (/^(Clean install a project|Usage:)/.test(text)) break;
    if (text !== '') lines.push(text);
  }
  const shown = lines.length > 12 ? [...lines.slice(0, 12), `… ${lines.length - 12} more`] : lines;
  const logLine = stderr.split('\n').find((l) => l.includes('A complete log of this run'));
  if (logLine) shown.push(logLine.replace(/^npm error ?/, ''));
  return shown.length > 0 ? shown : ['(npm printed no error lines)'];
}

/**
 * `npm ci`, else — loudly — `npm install --no-save`, both without running the packages' install scripts;
 * returns those scripts (`npm rebuild`: better-sqlite3's compile from source, esbuild's check) running in the
 * background, so the tool installs and `--checks` go on beside the compile. npm ci refuses a lock that lacks
 * optional platform packages (opencode-darwin-*, …) when the registry in use does not serve them, so they
 * could never be locked. `--no-save` installs from the same lock but never rewrites
 * package-lock.json (npm skips saving the ideal tree), so a green run cannot depend on a lock
 * that differs from the committed one; the check after it is the belt to those braces.
 */
function installDependencies() {
  console.log('setup: installing npm dependencies (npm ci, then their install scripts in the background)');
  const ci = spawnSync('npm', ['ci', '--ignore-scripts', '--no-audit', '--no-fund'], {
    cwd: root,
    stdio: ['ignore', 'inherit', 'pipe'],
    encoding: 'utf8',
  });
  if (ci.error) throw ci.error;
  if (ci.status !== 0) installWithoutLockCheck(ci);
  return runInBackground('npm', ['rebuild', '--no-audit', '--no-fund']).catch((err) => {
    // The packages are unpacked but not built: the next run must install again.
    rmSync(join(root, 'node_modules', '.package-lock.json'), { force: true });
    throw err;
  });
}

/** The fallback when `npm ci` failed (see installDependencies). */
function installWithoutLockCheck(ci) {
  console.error(`setup: npm ci failed (exit code ${ci.status}):`);
  for (const line of npmErrorSummary(ci.stderr ?? '')) console.error(`setup:   ${line}`);
  console.error(
    'setup: falling back to "npm install --no-save": the same lock, minus what this registry cannot serve; package-lock.json is left as it is',
  );
  const lockFile = join(root, 'package-lock.json');
  const lockBefore = readFileSync(lockFile, 'utf8');
  run('npm', ['install', '--no-save', '--ignore-scripts', '--no-audit', '--no-fund']);
  if (readFileSync(lockFile, 'utf8') !== lockBefore) {
    const message =
      'npm install changed package-lock.json; a run must not depend on a lock that differs from the committed one (see git diff package-lock.json)';
    if (process.env.CI) throw new Error(message);
    console.error(`setup: WARNING: ${message}; continuing because this is not CI (CI is unset)`);
  }
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

/**
 * opencode lives outside the workspace lock: its package lists a dozen platform binaries as optional
 * dependencies, and a lock written on one platform cannot list the others, so `npm ci` refused every
 * fresh clone. The pinned version (package.json `halTools`) goes into .tools/opencode instead, where
 * the testkit, `npm start` and a managed agent run from the checkout look for it.
 */
function ensureOpencode() {
  const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).halTools?.['opencode-ai'];
  if (typeof version !== 'string') throw new Error('package.json has no halTools["opencode-ai"] version');
  const dir = join(root, '.tools', 'opencode');
  const pkgDir = join(dir, 'node_modules', 'opencode-ai');
  const installed = () => {
    try {
      const v = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')).version;
      return v === version && existsSync(join(pkgDir, 'bin', 'opencode.exe'));
    } catch {
      return false;
    }
  };
  if (installed()) return;
  console.log(`setup: installing opencode-ai@${version} into .tools/opencode`);
  mkdirSync(dir, { recursive: true });
  const manifest = {
    name: 'hal-tools-opencode',
    private: true,
    description: 'Written by scripts/setup.mjs: the pinned opencode for the demo and the tests.',
    dependencies: { 'opencode-ai': version },
    allowScripts: { 'opencode-ai': true },
  };
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  const r = spawnSync(
    'npm',
    ['install', '--prefix', dir, '--no-package-lock', '--no-audit', '--no-fund', '--loglevel=error'],
    { cwd: dir, stdio: 'inherit' },
  );
  if (r.error) throw r.error;
  if (r.status !== 0 || !installed()) {
    throw new Error(
      `could not install opencode-ai@${version} into ${dir} (npm exit code ${r.status}); retry with: npm install --prefix .tools/opencode --no-package-lock`,
    );
  }
}

function ensureNatsServer() {
  if (onPath('nats-server')) return;
  if (asRootWithApt()) {
    console.log('setup: installing nats-server (apt-get install -y nats-server)');
    aptInstall('nats-server');
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

/** The dashboard bundle is build output, never committed: built here when missing or stale. */
function ensureDashboardBuilt() {
  run(process.execPath, [join(root, 'services', 'dashboard', 'build.mjs'), '--if-stale']);
}

const CHROMIUM = '/usr/bin/chromium';

/** Debian's chromium for the dashboard's browser tests and bench (playwright-core drives it). */
function ensureChromium() {
  if (existsSync(CHROMIUM)) return;
  if (process.platform === 'linux' && process.getuid?.() === 0 && onPath('apt-get')) {
    console.log('setup: installing chromium for the dashboard browser tests (apt-get install -y chromium)');
    run('apt-get', ['update']);
    run('apt-get', ['install', '-y', '--no-install-recommends', 'chromium']);
    if (existsSync(CHROMIUM)) return;
  }
  console.error(
    `setup: ${CHROMIUM} is missing and this script cannot install it (it needs root and apt-get); the dashboard browser tests will fail until "sudo apt-get install -y chromium" is run`,
  );
}

const asRootWithApt = () => process.platform === 'linux' && process.getuid?.() === 0 && onPath('apt-get');
let aptUpdated = false;
function aptInstall(pkg) {
  if (!aptUpdated) run('apt-get', ['update']);
  aptUpdated = true;
  run('apt-get', ['install', '-y', pkg]);
}

/**
 * The deploy tests' tools, from Debian packages: shellcheck (every script), systemd-analyze
 * (`verify` on the rendered units). Installed when this runs as root with apt-get (CI); otherwise
 * the tests that need them say what is missing (and fail under CI).
 */
function ensureDeployTools() {
  if (!asRootWithApt()) return;
  const found = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
  if (!found('shellcheck')) {
    console.log('setup: installing shellcheck (apt-get install -y shellcheck)');
    aptInstall('shellcheck');
  }
  if (!found('systemd-analyze')) {
    console.log('setup: installing systemd for systemd-analyze (apt-get install -y systemd)');
    aptInstall('systemd');
  }
}

/**
 * kubectl from Debian's kubernetes-client (1.20, whose kustomize is v2.0.3): the oldest kustomize
 * k8s/ must render with. Unpacked into .tools/kubernetes-client rather than installed: another
 * package (a cloud SDK's kubectl) may own /usr/bin/kubectl, and a newer kustomize would hide
 * what 2.0.3 refuses. Needs apt-get's package lists (root runs `apt-get update` first).
 */
function ensureKubectl() {
  const dir = join(root, '.tools', 'kubernetes-client');
  if (existsSync(join(dir, 'usr', 'bin', 'kubectl')) || !onPath('apt-get')) return;
  if (process.getuid?.() === 0 && !aptUpdated) {
    run('apt-get', ['update']);
    aptUpdated = true;
  }
  console.log('setup: unpacking Debian kubernetes-client into .tools/kubernetes-client');
  const download = join(root, '.tools', 'download');
  mkdirSync(download, { recursive: true });
  const got = spawnSync('apt-get', ['download', 'kubernetes-client'], { cwd: download, stdio: 'inherit' });
  const deb = readdirSync(download).find((f) => f.startsWith('kubernetes-client_') && f.endsWith('.deb'));
  if (got.status !== 0 || deb === undefined) {
    console.error('setup: could not download kubernetes-client; the k8s tests will say so');
    return;
  }
  run('dpkg-deb', ['-x', join(download, deb), dir]);
  rmSync(download, { recursive: true, force: true });
}

try {
  // Started first, awaited last: the install scripts (compiling) and the checks (CPU) overlap the
  // downloads and unpacking below. The dashboard bundle waits for the install scripts (esbuild's check).
  const installScripts = dependenciesStale() ? installDependencies() : Promise.resolve();
  const checks = process.argv.includes('--checks')
    ? runInBackground('npm', ['run', '--silent', 'checks'])
    : Promise.resolve();
  // Both are awaited below; until then a rejection must not end the process as unhandled.
  for (const p of [installScripts, checks]) p.catch(() => {});
  ensureOpencode();
  ensureNatsServer();
  if (process.argv.includes('--browser')) ensureChromium();
  // npm test only (`--deploy-tools`): what the deploy and k8s tests run.
  if (process.argv.includes('--deploy-tools')) {
    ensureDeployTools();
    ensureKubectl();
  }
  await installScripts;
  ensureDashboardBuilt();
  await checks;
} catch (err) {
  console.error(`setup: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
}
