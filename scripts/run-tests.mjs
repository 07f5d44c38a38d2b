#!/usr/bin/env node
// Runs every node:test file of every workspace (tsx, `hal-source`), in two phases:
//   1. files that start neither a real opencode nor a browser, several at a time;
//   2. the heavy ones (a real opencode is ~800 MB and CPU-hungry, chromium likewise), one at a time,
//      because two of them at once on a 2-core CI machine turn timing margins into flakes.
// Optional arguments narrow the run to files under those paths: `node scripts/run-tests.mjs libs/config`.
// HAL_TEST_CONCURRENCY sets phase 1's concurrency (default 2).
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
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

const HEAVY = /\bstartOpencode\b|\bopencodeBinary\(|playwright-core|chromium/;
const RELATIVE_IMPORT = /from '(\.{1,2}\/[^']+)'/g;

/** Whether a test file, or a test helper it imports by relative path, starts opencode or a browser. */
function isHeavy(file, seen = new Set()) {
  if (seen.has(file) || !existsSync(join(root, file))) return false;
  seen.add(file);
  const text = readFileSync(join(root, file), 'utf8');
  if (HEAVY.test(text)) return true;
  for (const [, spec] of text.matchAll(RELATIVE_IMPORT)) {
    if (isHeavy(relative(root, resolve(root, dirname(file), spec)), seen)) return true;
  }
  return false;
}

/** One `node --test` run; its output passes through, and its summary counts are returned. */
function runPhase(files, concurrency) {
  return new Promise((done) => {
    const child = spawn(
      process.execPath,
      [
        '--conditions=hal-source',
        '--import',
        'tsx',
        '--test',
        `--test-concurrency=${concurrency}`,
        '--test-timeout=180000',
        ...files,
      ],
      { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    current = child;
    const counts = { tests: 0, pass: 0, fail: 0, skipped: 0 };
    let tail = '';
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk);
      const text = tail + chunk.toString('utf8');
      const lines = text.split('\n');
      tail = lines.pop() ?? '';
      for (const line of lines) {
        const m = /^# (tests|pass|fail|skipped) (\d+)$/.exec(line);
        if (m) counts[m[1]] = Number(m[2]);
      }
    });
    child.on('exit', (code, signal) => done({ ok: code === 0 && !signal, counts }));
  });
}

let current;
let stopping = false;
// Forward Ctrl-C/SIGTERM so the test runner (and the servers its tests started) stop too.
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    stopping = true;
    current?.kill(sig);
  });
}

const filters = process.argv.slice(2).map((p) => relative(root, resolve(p)));
const files = testFiles().filter((f) => filters.length === 0 || filters.some((p) => f.startsWith(p)));
if (files.length === 0) {
  console.error('run-tests: no test files found');
  process.exit(1);
}
const heavy = files.filter((f) => isHeavy(f));
const light = files.filter((f) => !heavy.includes(f));
const phases = [
  {
    name: 'without opencode or a browser',
    files: light,
    concurrency: process.env.HAL_TEST_CONCURRENCY ?? '2',
  },
  { name: 'with a real opencode or a browser, one at a time', files: heavy, concurrency: '1' },
].filter((p) => p.files.length > 0);

const started = Date.now();
const results = [];
for (const phase of phases) {
  if (stopping) break;
  console.error(`run-tests: ${phase.files.length} files ${phase.name}`);
  results.push({ phase, ...(await runPhase(phase.files, phase.concurrency)) });
}
const sum = (k) => results.reduce((n, r) => n + r.counts[k], 0);
console.error(
  `run-tests: ${sum('tests')} tests, ${sum('pass')} passed, ${sum('fail')} failed, ${sum('skipped')} skipped ` +
    `in ${files.length} files, ${Math.round((Date.now() - started) / 1000)} s`,
);
process.exitCode = !stopping && results.length === phases.length && results.every((r) => r.ok) ? 0 : 1;
