import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dirs = new Set<string>();
let hooked = false;

/**
 * A fresh directory under the OS temp dir, removed when the test file's process exits.
 *
 * Not with `t.after`: node:test runs a test's after-hooks in the order they were registered, so a
 * removal registered before the processes that write into the directory would run while they still
 * write (a nats-server closing its JetStream store) — and a failing hook skips the ones after it,
 * which stop those processes. At exit every child has been stopped.
 */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.add(dir);
  if (!hooked) {
    hooked = true;
    process.once('exit', () => {
      for (const d of dirs) {
        try {
          rmSync(d, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
        } catch {
          // A leftover temp dir is not worth failing a finished run for.
        }
      }
    });
  }
  return dir;
}
