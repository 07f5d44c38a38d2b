#!/usr/bin/env node
// One phase of scripts/run-tests.mjs: node:test's run() over the files in the order given (longest first).
// `node --test a b c` sorts its files by name, so a long file named late starts last and the phase ends with it
// running alone; run() keeps the order. Each test file's process inherits this one's flags (node:test passes its
// own execArgv on): `--enable-source-maps` for compiled files, `--import tsx` for files run from source.
// Usage: test-phase.mjs <concurrency> <compiled-dir or -> <file>...; with a directory, each file runs as its
// bundle there (scripts/run-tests.mjs compiles them) and is reported under its own path. TAP on stdout, one
// line per file on stderr (scripts/file-times-reporter.mjs), exit code 1 when any test or file failed.
import { setMaxListeners } from 'node:events';
import { join, relative, resolve } from 'node:path';
import { run } from 'node:test';
import { tap } from 'node:test/reporters';
import fileTimes from './file-times-reporter.mjs';

const [concurrency, compiled, ...files] = process.argv.slice(2);
/** The file each test process runs, and back from it to the test file it stands for. */
const runs = new Map(
  files.map((f) => [
    compiled === '-'
      ? resolve(f)
      : join(resolve(compiled), relative(process.cwd(), resolve(f))).replace(/\.ts$/, '.mjs'),
    resolve(f),
  ]),
);
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
  files: [...runs.keys()],
  concurrency: Number(concurrency),
  // Node 20 applies it to each file as well as to each test: a budget for a whole file under load
  // (fleet-e2e: 97 s quiet, 180 s at load 9), still a bound on a hung test.
  timeout: 600_000,
});
stream.on('test:fail', (data) => {
  // A failing `todo` test is reported, not counted as a failure (as with `node --test`).
  if (data.todo === undefined || data.todo === false) process.exitCode = 1;
});
/** Reports name the test file, not its bundle (a file's own entry is named after its path). */
async function* underSourceNames(source) {
  for await (const event of source) {
    const file = runs.get(event.data?.file);
    if (file !== undefined) {
      const name = event.data.name === event.data.file ? file : event.data.name;
      yield { ...event, data: { ...event.data, file, name } };
    } else yield event;
  }
}
const reported = stream.compose(underSourceNames);
reported.compose(tap).pipe(process.stdout);
reported.compose(fileTimes).pipe(process.stderr);
