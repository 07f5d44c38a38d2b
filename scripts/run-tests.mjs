#!/usr/bin/env node
// Runs every node:test file of every workspace (tsx, `hal-source`), in phases:
//   1. files that start neither a real opencode nor a browser, several at a time;
//   2. the heavy ones (a real opencode is ~800 MB and CPU-hungry, chromium likewise): first those that
//      start opencode, two at a time (on 2 cores: 417 s, against 682 s one at a time in a shared run; 63/63 green in
//      each of two trial runs of the 20 files), then those that drive a browser, one at a time. The browser files
//      beside the opencode ones were tried: on 2 cores every file took 2–3× as long and fleet-e2e timed out.
// Each phase starts its longest files first (scripts/test-durations.json, each file's time in a full run), so it
// does not end with one long file running alone; scripts/test-phase.mjs runs a phase in that order.
// Optional arguments narrow the run to files under those paths: `node scripts/run-tests.mjs libs/config`.
// HAL_TEST_CONCURRENCY sets phase 1's concurrency (default 2), HAL_TEST_HEAVY_CONCURRENCY that of the
// opencode files (default 2; 1 on a machine too small for two opencodes); browser files always run
// one at a time. HAL_TEST_PHASE=light, opencode or browser runs that phase alone (to time it or try a concurrency);
// a list (`opencode,browser`) runs those.
// The test files run compiled: bundled first (testkit compileTestFiles, one esbuild build, ~3 s) into
// node_modules/.cache/hal-test-files/, each file's process then starts without tsx, whose module hooks alone
// cost ~1 s of CPU per file; `--enable-source-maps` keeps failures pointing at the .ts lines.
// HAL_TEST_FROM_SOURCE=1 runs them through tsx instead, as `node --import tsx --test <file>` does.
// Each file's wall time is printed as it ends (scripts/file-times-reporter.mjs); at the end come the
// slowest files and each phase's time with how busy the machine's CPU was (all of it, every process: a
// phase near 100 % gains nothing from more files at a time), and last the one summary line.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
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

// `scripts', 'start.mjs'`: `npm start` runs the demo, a real opencode among its children.
const HEAVY = /\bstartOpencode\b|\bopencodeBinary\(|'scripts', 'start\.mjs'|playwright-core|chromium/;
const BROWSER = /playwright-core|chromium/;
const RELATIVE_IMPORT = /from '(\.{1,2}\/[^']+)'/g;

/** The texts of a test file and of the test helpers it imports by relative path, transitively. */
function sources(file, seen = new Set()) {
  if (seen.has(file) || !existsSync(join(root, file))) return [];
  seen.add(file);
  const text = readFileSync(join(root, file), 'utf8');
  const texts = [text];
  for (const [, spec] of text.matchAll(RELATIVE_IMPORT)) {
    texts.push(...sources(relative(root, resolve(root, dirname(file), spec)), seen));
  }
  return texts;
}

/** 'browser' when a file (or a helper it imports) drives chromium, 'opencode' when it starts one, else 'light'. */
function weight(file) {
  const texts = sources(file);
  if (texts.some((t) => BROWSER.test(t))) return 'browser';
  if (texts.some((t) => HEAVY.test(t))) return 'opencode';
  return 'light';
}

const FILE_TIME = /^run-tests: file ([\d.]+) s (.+)$/;

/** One phase (scripts/test-phase.mjs); its output passes through, and its summary counts and file times are returned. */
function runPhase(files, concurrency) {
  const started = Date.now();
  const cpu = cpuTimes();
  return new Promise((done) => {
    // Each test file's process inherits these flags (node:test passes its own execArgv on).
    const flags = compiled === undefined ? ['--import', 'tsx'] : ['--enable-source-maps'];
    const child = spawn(
      process.execPath,
      [
        '--conditions=hal-source',
        ...flags,
        join(root, 'scripts', 'test-phase.mjs'),
        String(concurrency),
        compiled ?? '-',
        ...files,
      ],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    running.add(child);
    const counts = { tests: 0, pass: 0, fail: 0, skipped: 0 };
    const fileTimes = [];
    eachLine(child.stdout, (line) => {
      process.stdout.write(`${line}\n`);
      const m = /^# (tests|pass|fail|skipped) (\d+)$/.exec(line);
      if (m) counts[m[1]] = Number(m[2]);
    });
    eachLine(child.stderr, (line) => {
      process.stderr.write(`${line}\n`);
      const m = FILE_TIME.exec(line);
      if (m) fileTimes.push({ seconds: Number(m[1]), file: m[2] });
    });
    child.on('close', (code, signal) => {
      running.delete(child);
      const seconds = (Date.now() - started) / 1000;
      done({ ok: code === 0 && !signal, counts, fileTimes, seconds, busy: cpuBusy(cpu, cpuTimes()) });
    });
  });
}

/** Calls `onLine` with each whole line of a stream (and with a last line without a newline). */
function eachLine(stream, onLine) {
  let tail = '';
  stream.on('data', (chunk) => {
    const lines = (tail + chunk.toString('utf8')).split('\n');
    tail = lines.pop() ?? '';
    for (const line of lines) onLine(line);
  });
  stream.on('end', () => {
    if (tail !== '') onLine(tail);
  });
}

/** The machine's CPU counters (Linux /proc/stat, in ticks): busy and all; undefined elsewhere. */
function cpuTimes() {
  try {
    const [, ...fields] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/);
    const ticks = fields.map(Number);
    const all = ticks.reduce((a, b) => a + b, 0);
    return { busy: all - ticks[3] - (ticks[4] ?? 0), all };
  } catch {
    return undefined;
  }
}

/** The share of the machine's CPU time (all cores, every process) that was busy between two readings. */
function cpuBusy(before, after) {
  if (!before || !after || after.all === before.all) return undefined;
  return (after.busy - before.busy) / (after.all - before.all);
}

/** Bundles `list` (scripts/compile-tests.mjs) into a fresh directory of this run's own; returns it. */
function compileTests(list) {
  const t0 = Date.now();
  const cache = join(root, 'node_modules', '.cache', 'hal-test-files');
  mkdirSync(cache, { recursive: true });
  // A run removes its own at the end; one killed outright leaves it: gone a day later.
  for (const old of readdirSync(cache)) {
    const dir = join(cache, old);
    if (Date.now() - statSync(dir).mtimeMs > 86_400_000) rmSync(dir, { recursive: true, force: true });
  }
  const outdir = mkdtempSync(join(cache, 'run-'));
  const r = spawnSync(
    process.execPath,
    [
      '--conditions=hal-source',
      '--import',
      'tsx',
      join(root, 'scripts', 'compile-tests.mjs'),
      outdir,
      ...list,
    ],
    { cwd: root, stdio: 'inherit' },
  );
  if (r.status !== 0) {
    rmSync(outdir, { recursive: true, force: true });
    console.error(`run-tests: compiling the test files failed (exit code ${r.status ?? r.signal})`);
    process.exit(1);
  }
  console.error(
    `run-tests: ${list.length} test files compiled in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
  );
  return outdir;
}

const running = new Set();
let stopping = false;
// Forward Ctrl-C/SIGTERM so the test runner (and the servers its tests started) stop too.
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    stopping = true;
    for (const child of running) child.kill(sig);
  });
}

const filters = process.argv.slice(2).map((p) => relative(root, resolve(p)));
const files = testFiles().filter((f) => filters.length === 0 || filters.some((p) => f.startsWith(p)));
if (files.length === 0) {
  console.error('run-tests: no test files found');
  process.exit(1);
}

// Each file's wall time in a full run (scripts/test-durations.json, from the `run-tests: file <s> s <path>` lines
// of a full run's log; a file not in it counts as UNKNOWN_SECONDS). Each phase starts its longest files first,
// so it does not end with one long file running alone. Only the order depends on it: a stale table costs time, never a test.
const UNKNOWN_SECONDS = 10;
const durations = JSON.parse(readFileSync(join(root, 'scripts', 'test-durations.json'), 'utf8'));
const expected = (f) => durations[f] ?? UNKNOWN_SECONDS;
const weights = new Map(files.map((f) => [f, weight(f)]));
const of = (w) => files.filter((f) => weights.get(f) === w).sort((a, b) => expected(b) - expected(a));
const heavyConcurrency = process.env.HAL_TEST_HEAVY_CONCURRENCY ?? '2';
const phases = [
  {
    name: 'without opencode or a browser',
    weight: 'light',
    files: of('light'),
    concurrency: process.env.HAL_TEST_CONCURRENCY ?? '2',
  },
  {
    name: `with a real opencode, ${heavyConcurrency === '1' ? 'one' : heavyConcurrency} at a time`,
    weight: 'opencode',
    files: of('opencode'),
    concurrency: heavyConcurrency,
  },
  { name: 'with a browser, one at a time', weight: 'browser', files: of('browser'), concurrency: '1' },
].filter(
  (p) => p.files.length > 0 && (process.env.HAL_TEST_PHASE?.split(',') ?? [p.weight]).includes(p.weight),
);

if (phases.length === 0) {
  console.error(`run-tests: no ${process.env.HAL_TEST_PHASE} test files found`);
  process.exit(1);
}

const started = Date.now();
/** Where the compiled test files are (undefined: they run from source through tsx). */
const compiled =
  process.env.HAL_TEST_FROM_SOURCE === '1' ? undefined : compileTests(phases.flatMap((p) => p.files));
const results = [];
for (const phase of phases) {
  if (stopping) break;
  console.error(`run-tests: ${phase.files.length} files ${phase.name}`);
  results.push({ phase, ...(await runPhase(phase.files, phase.concurrency)) });
}
if (compiled !== undefined) rmSync(compiled, { recursive: true, force: true });
const sum = (k) => results.reduce((n, r) => n + r.counts[k], 0);
const slowest = results
  .flatMap((r) => r.fileTimes)
  .sort((a, b) => b.seconds - a.seconds)
  .slice(0, 10);
if (slowest.length > 1) {
  console.error('run-tests: slowest files');
  for (const { seconds, file } of slowest) console.error(`  ${seconds.toFixed(1).padStart(6)} s  ${file}`);
}
for (const r of results) {
  const busy = r.busy === undefined ? '' : ` (CPU ${Math.round(r.busy * 100)} % busy)`;
  console.error(
    `run-tests: ${Math.round(r.seconds)} s for ${r.phase.files.length} files ${r.phase.name}${busy}`,
  );
}
console.error(
  `run-tests: ${sum('tests')} tests, ${sum('pass')} passed, ${sum('fail')} failed, ${sum('skipped')} skipped ` +
    `in ${phases.reduce((n, p) => n + p.files.length, 0)} files, ${Math.round((Date.now() - started) / 1000)} s`,
);
process.exitCode = !stopping && results.length === phases.length && results.every((r) => r.ok) ? 0 : 1;
