// A node:test reporter that prints one line per test file when it ends: its wall time (process start to
// exit, as the runner measured it) and its path. scripts/run-tests.mjs reads these lines for its summary
// of the slowest files; the TAP reporter beside it stays the record of each test.
import { relative } from 'node:path';

/** @public node:test loads it by path (`--test-reporter`). */
export default async function* fileTimes(source) {
  for await (const event of source) {
    if (event.type !== 'test:complete') continue;
    const { name, file, details } = event.data;
    // A file's own entry is the one named after the file; its tests carry their own names.
    if (!file || name !== file) continue;
    const seconds = (details.duration_ms / 1000).toFixed(1);
    yield `run-tests: file ${seconds} s ${relative(process.cwd(), file)}${details.passed ? '' : ' (failed)'}\n`;
  }
}
