#!/usr/bin/env node
// One phase of scripts/run-tests.mjs: node:test's run() over the files in the order given (longest first).
// `node --test a b c` sorts its files by name, so a long file named late starts last and the phase ends with it
// running alone; run() keeps the order. Started as `node --conditions=hal-source --import tsx test-phase.mjs`,
// each test file's process inherits those flags (node:test passes its own execArgv on).
// Usage: test-phase.mjs <concurrency> <file>...; TAP on stdout, one line per file on stderr
// (scripts/file-times-reporter.mjs), exit code 1 when any test or file failed.
import { setMaxListeners } from 'node:events';
import { resolve } from 'node:path';
import { run } from 'node:test';
import { tap } from 'node:test/reporters';
import fileTimes from './file-times-reporter.mjs';

const [concurrency, ...files] = process.argv.slice(2);
// Ctrl-C/SIGTERM (forwarded by run-tests.mjs) stops every test file's process, which stops its servers.
const stop = new AbortController();
// node:test hangs one abort listener per test file (and per test) on it: as many as there are files, no leak.
setMaxListeners(0, stop.signal);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    process.exitCode = 1;
    stop.abort();
  });
}
const stream = run({
  signal: stop.signal,
  files: files.map((f) => resolve(f)),
  concurrency: Number(concurrency),
  // Node 20 applies it to each file as well as to each test: a budget for a whole file under load
  // (fleet-e2e: 97 s quiet, 180 s at load 9), still a bound on a hung test.
  timeout: 600_000,
});
stream.on('test:fail', (data) => {
  // A failing `todo` test is reported, not counted as a failure (as with `node --test`).
  if (data.todo === undefined || data.todo === false) process.exitCode = 1;
});
stream.compose(tap).pipe(process.stdout);
stream.compose(fileTimes).pipe(process.stderr);
