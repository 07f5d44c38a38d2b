import { readdirSync, readFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import type { Logger } from '@hal/observability';
import { ErrorCode, HalError } from '@hal/protocol';

/** What the watchdog records in `<store>/nats.pid` when it starts a server. */
export interface StorePidFile {
  nats_pid: number;
  watchdog_pid: number;
  supervisor_pid: number;
}

export function readPidFile(file: string): StorePidFile | undefined {
  try {
    const value = JSON.parse(readFileSync(file, 'utf8')) as Partial<StorePidFile>;
    const ok = [value.nats_pid, value.watchdog_pid, value.supervisor_pid].every(
      (n) => Number.isInteger(n) && (n as number) > 0,
    );
    return ok ? (value as StorePidFile) : undefined;
  } catch {
    return undefined;
  }
}

function cmdline(pid: number): string[] | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return undefined;
  }
}

function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // `pid (comm) state ppid …`: comm may hold spaces and parentheses, so read after the last ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    return Number.isInteger(ppid) ? ppid : undefined;
  } catch {
    return undefined;
  }
}

/** True when `argv` is a nats-server whose JetStream store (`-sd`) is `storeDir`. */
export function isNatsServerOn(argv: readonly string[], storeDir: string): boolean {
  if (argv.length === 0 || !basename(argv[0] ?? '').startsWith('nats-server')) return false;
  for (let i = 1; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if ((arg === '-sd' || arg === '--store_dir') && resolve(argv[i + 1] ?? '') === storeDir) return true;
    if (arg.startsWith('--store_dir=') && resolve(arg.slice('--store_dir='.length)) === storeDir) return true;
  }
  return false;
}

/** Every running nats-server on `storeDir`, found in /proc (the pid file may be missing or stale). */
export function natsServersOn(storeDir: string): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const found: number[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    const argv = cmdline(pid);
    if (argv !== undefined && isNatsServerOn(argv, storeDir)) found.push(pid);
  }
  return found;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The supervisor that still holds `pid` through its watchdog, or undefined when the server is
 * left over: its watchdog is gone, or no longer a child of the supervisor that started it
 * (a watchdog whose supervisor died is re-parented, so its parent changes).
 */
export function liveOwnerOf(pid: number, recorded: StorePidFile | undefined): number | undefined {
  if (recorded === undefined || recorded.nats_pid !== pid) return undefined;
  if (parentOf(pid) !== recorded.watchdog_pid) return undefined;
  if (parentOf(recorded.watchdog_pid) !== recorded.supervisor_pid) return undefined;
  return recorded.supervisor_pid;
}

async function waitGone(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid)) {
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, 25));
  }
  return true;
}

/**
 * Makes the store free for a new server: a nats-server left on it by a supervisor that is gone
 * (killed with SIGKILL while its watchdog was killed too, or an older release without one) is
 * stopped — SIGTERM, so JetStream closes its files, then SIGKILL after `graceMs`. A server that
 * a live supervisor still holds is never touched: that is a second supervisor on one data_dir,
 * refused with a message naming both.
 */
export async function clearLeftovers(opts: {
  storeDir: string;
  pidFile: string;
  log: Logger;
  graceMs: number;
}): Promise<void> {
  const recorded = readPidFile(opts.pidFile);
  for (const pid of natsServersOn(opts.storeDir)) {
    const owner = liveOwnerOf(pid, recorded);
    if (owner !== undefined) {
      throw new HalError(
        ErrorCode.UNAVAILABLE,
        `another hal-supervisor (pid ${owner}) runs nats-server (pid ${pid}) on ${opts.storeDir}: stop it, or give this supervisor its own data_dir`,
      );
    }
    opts.log.warn({ pid, store: opts.storeDir }, 'stopping a nats-server left on the store');
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      continue;
    }
    if (!(await waitGone(pid, opts.graceMs))) {
      opts.log.warn({ pid, grace_ms: opts.graceMs }, 'leftover nats-server ignored SIGTERM; killing it');
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
      await waitGone(pid, opts.graceMs);
    }
  }
}
