import type { ChildProcess } from 'node:child_process';

// Servers spawned by the testkit; killed hard if the test process exits without stopping them,
// so an aborted test run never leaves a nats-server or opencode behind.
const live = new Set<ChildProcess>();
let hooked = false;

function killAll(): void {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  live.clear();
}

/** Kills `child` with SIGKILL if the test process exits (or gets SIGINT/SIGTERM) while it runs; one process hook for all. */
export function track(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (!hooked) {
    hooked = true;
    process.once('exit', killAll);
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      process.once(sig, () => {
        killAll();
        process.exit(128 + (sig === 'SIGINT' ? 2 : 15));
      });
    }
  }
}

/** Resolves when the child has exited; sends SIGKILL if it is still alive after `graceMs`. */
export function stopChild(
  child: ChildProcess,
  signal: NodeJS.Signals = 'SIGTERM',
  graceMs = 3000,
): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      try {
        child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }, graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill(signal);
  });
}
