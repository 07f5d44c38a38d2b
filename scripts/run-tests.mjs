#!/usr/bin/env node
// Runs every node:test file of every workspace in one `node --test` run (tsx, `hal-source`).
// Optional arguments narrow the run to files under those paths: `node scripts/run-tests.mjs libs/config`.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Files matching `<group>/*\/test/**\/*.test.ts` and `deploy/test/**\/*.test.ts` (Node 20 has no fs.glob). */
function testFiles() {
  const found = [];
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.name === 'node_modules' || entry.name.startsWith('.')) continue;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.test.ts')) found.push(relative(root, path));
    }
  };
  const workspaces = ['deploy'];
  for (const group of ['libs', 'services']) {
    for (const ws of readdirSync(join(root, group), { withFileTypes: true })) {
      if (ws.isDirectory()) workspaces.push(join(group, ws.name));
    }
  }
  for (const ws of workspaces) {
    try {
      walk(join(root, ws, 'test'));
    } catch (err) {
      if (err.code !== 'ENOENT') throw err;
    }
  }
  return found.sort();
}

const filters = process.argv.slice(2).map((p) => relative(root, resolve(p)));
const files = testFiles().filter((f) => filters.length === 0 || filters.some((p) => f.startsWith(p)));
if (files.length === 0) {
  console.error('run-tests: no test files found');
  process.exit(1);
}

const child = spawn(
  process.execPath,
  [
    '--conditions=hal-source',
    '--import',
    'tsx',
    '--test',
    // One file at a time by default: many files start a real opencode (~800 MB, CPU-hungry) and
    // two of them at once on a 2-core CI machine turn timing margins into flakes. The whole suite
    // still fits well inside CI's budget. HAL_TEST_CONCURRENCY=2 trades that margin for speed.
    `--test-concurrency=${process.env.HAL_TEST_CONCURRENCY ?? '1'}`,
    '--test-timeout=180000',
    ...files,
  ],
  { cwd: root, stdio: 'inherit' },
);
// Forward Ctrl-C/SIGTERM so the test runner (and the servers its tests started) stop too.
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
child.on('exit', (code, signal) => {
  process.exitCode = code ?? (signal ? 1 : 0);
});
