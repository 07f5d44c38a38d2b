import type { ChildProcess } from 'node:child_process';
import { chmodSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { join } from 'node:path';
import type { BusAuth } from '@hal/bus';
import { backoffDelay, type Logger } from '@hal/observability';
import { ErrorCode, HalError, NatsUser, natsAuthorizationConfig, natsPermissions } from '@hal/protocol';
import { loadNatsPasswords, type NatsPasswords } from './nats-credentials.ts';
import { createNatsLogWatch } from './nats-log-watch.ts';
import { spawnWatchdog, WatchdogExit } from './nats-watchdog.ts';
import { clearLeftovers } from './store-leftovers.ts';

export interface EmbeddedNatsOptions {
  /** The supervisor's data_dir; the JetStream store goes to `<dataDir>/nats`. */
  dataDir: string;
  /** Preferred port; when taken (or 0) a free loopback port is used instead. */
  port: number;
  log: Logger;
  binary?: string;
  startTimeoutMs?: number;
  /** GOMEMLIMIT of the server, in MiB (`nats.embedded_memory_limit_mib`); unset: Go's default, none. */
  memoryLimitMib?: number;
}

export interface EmbeddedNats {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** `nats://127.0.0.1:<port>`, known after start(). */
  readonly url: string;
  /** pid of the running nats-server, undefined while it is down. */
  pid(): number | undefined;
  /** How `user` connects; known after start(). */
  credentials(user: NatsUser): BusAuth;
}

export const NATS_INSTALL_HINT =
  'nats-server not found on PATH: install it with "apt-get install -y nats-server" (Debian/Ubuntu), or set nats.url to an existing NATS server';

const HOST = '127.0.0.1';
const RESTART_BACKOFF = { initialMs: 250, maxMs: 10_000 };
/** Up this long → the next crash starts the backoff from the bottom again. */
const STABLE_MS = 30_000;
const STOP_GRACE_MS = 5_000;
/** A store still locked after stopping what was left on it this many times is someone else's. */
const LOCK_ATTEMPTS = 3;

/** Names of the files the embedded server keeps in its store directory. */
export const StoreFile = {
  LOCK: 'hal-nats.lock',
  PID: 'nats.pid',
} as const;

/** Thrown by launch() when another process holds the store lock. */
class StoreLockedError extends HalError {}

/**
 * Runs `nats-server -js` bound to 127.0.0.1 through a watchdog (`nats-watchdog.ts`) that holds
 * a lock on the store and ends the server when this process goes away, however it goes. At
 * start a server left on the store by a supervisor that is gone is stopped first, so the new
 * one gets the old port and the store to itself. It restarts the server with backoff when it
 * dies, and stops it on stop() by closing the watchdog's lifeline.
 */
export function createEmbeddedNats(opts: EmbeddedNatsOptions): EmbeddedNats {
  const log = opts.log.child({ component: 'embedded-nats' });
  const binary = opts.binary ?? 'nats-server';
  const storeDir = join(opts.dataDir, 'nats');
  const lockFile = join(storeDir, StoreFile.LOCK);
  const pidFile = join(storeDir, StoreFile.PID);
  let port = 0;
  let watchdog: ChildProcess | undefined;
  let natsPid: number | undefined;
  let stopping = false;
  /** Restarts since the server last ran stably: the backoff's attempt. */
  let restarts = 0;
  let restartTimer: NodeJS.Timeout | undefined;
  let startedAt = 0;
  let passwords: NatsPasswords | undefined;
  const watchLog = createNatsLogWatch(log);

  // Users and passwords go in a 0600 config file, never on the command line, where `ps` would
  // show them to every local user. Rewritten at every start: permissions follow the release.
  const confFile = join(opts.dataDir, 'nats-server.conf');
  function writeConf(): void {
    passwords = loadNatsPasswords(opts.dataDir, log);
    const known = passwords;
    const users = Object.values(NatsUser).map((user) => ({
      user,
      password: known[user],
      permissions: natsPermissions[user],
    }));
    writeFileSync(confFile, natsAuthorizationConfig(users), { mode: 0o600 });
    chmodSync(confFile, 0o600);
    // Earlier releases kept a token file here; the server no longer reads it.
    rmSync(join(opts.dataDir, 'nats-auth.conf'), { force: true });
  }
  const args = () => ['-js', '-sd', storeDir, '-a', HOST, '-p', String(port), '-c', confFile];

  /**
   * Launches; when the store is locked, stops what a gone supervisor left on it and tries
   * again (a watchdog killed on its own leaves its server running, holding the lock).
   */
  async function launchFree(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      if (attempt > 1) await clearLeftovers({ storeDir, pidFile, log, graceMs: STOP_GRACE_MS });
      try {
        await launch();
        return;
      } catch (err) {
        if (!(err instanceof StoreLockedError) || attempt >= LOCK_ATTEMPTS) throw err;
        log.warn({ store: storeDir, attempt }, 'nats store is locked; looking for what holds it');
      }
    }
  }

  async function launch(): Promise<void> {
    const proc = spawnWatchdog({
      lockFile,
      pidFile,
      binary,
      args: args(),
      ...(opts.memoryLimitMib === undefined ? {} : { env: { GOMEMLIMIT: `${opts.memoryLimitMib}MiB` } }),
    });
    await new Promise<void>((resolve, reject) => {
      proc.once('spawn', resolve);
      proc.once('error', (err) =>
        reject(
          new HalError(ErrorCode.UNAVAILABLE, `cannot start nats-server: ${err.message}`, { cause: err }),
        ),
      );
    });
    watchdog = proc;
    // The lifeline: nothing is ever written to it. An error on it means the watchdog is gone,
    // which its exit reports.
    proc.stdin?.on('error', () => undefined);
    const tail: string[] = [];
    let partial = '';
    proc.stderr?.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        if (line === '') continue;
        watchLog(line);
        tail.push(line);
        if (tail.length > 20) tail.shift();
      }
    });
    const pid = new Promise<number | undefined>((resolve) => {
      let out = '';
      proc.stdout?.on('data', (chunk: Buffer) => {
        out += chunk.toString('utf8');
        if (out.includes('\n')) resolve(Number(out.split('\n')[0]) || undefined);
      });
      proc.once('exit', () => resolve(undefined));
    });
    const launched = { ready: false };
    proc.once('exit', (code, signal) => onExit(proc, launched.ready, code, signal, tail));
    natsPid = await pid;
    await waitAccepting(proc, tail);
    launched.ready = true;
    startedAt = Date.now();
    log.info({ pid: natsPid, url: embedded.url, store: storeDir }, 'embedded nats-server started');
  }

  function exitError(proc: ChildProcess, tail: string[]): HalError {
    switch (proc.exitCode) {
      case WatchdogExit.STORE_LOCKED:
        return new StoreLockedError(
          ErrorCode.UNAVAILABLE,
          `the nats store ${storeDir} is locked by another process (${lockFile})`,
        );
      case WatchdogExit.NO_BINARY:
        return new HalError(ErrorCode.UNAVAILABLE, NATS_INSTALL_HINT);
      case WatchdogExit.NO_FLOCK:
        return new HalError(
          ErrorCode.UNAVAILABLE,
          'flock not found on PATH: install util-linux (it locks the nats store against a second server)',
        );
      case WatchdogExit.LOCK_FILE:
        return new HalError(ErrorCode.UNAVAILABLE, `cannot open the nats store lock ${lockFile}`);
      default:
        return new HalError(
          ErrorCode.UNAVAILABLE,
          `nats-server exited before accepting connections: ${tail.join(' | ')}`,
        );
    }
  }

  async function waitAccepting(proc: ChildProcess, tail: string[]): Promise<void> {
    const deadline = Date.now() + (opts.startTimeoutMs ?? 10_000);
    for (;;) {
      if (proc.exitCode !== null || proc.signalCode !== null) throw exitError(proc, tail);
      if (await canConnect(port)) return;
      if (Date.now() > deadline) {
        killGroup(proc);
        throw new HalError(
          ErrorCode.UNAVAILABLE,
          `nats-server did not accept connections on port ${port} in time`,
        );
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  function onExit(
    proc: ChildProcess,
    wasReady: boolean,
    code: number | null,
    signal: NodeJS.Signals | null,
    tail: string[],
  ): void {
    if (watchdog !== proc) return;
    watchdog = undefined;
    natsPid = undefined;
    // A launch that never became ready reports its own failure; only a running server restarts.
    if (stopping || !wasReady) return;
    if (Date.now() - startedAt > STABLE_MS) restarts = 0;
    log.error(
      { code, signal, delay_ms: backoffDelay(restarts, RESTART_BACKOFF), output: tail.slice(-5) },
      'embedded nats-server died; restarting',
    );
    scheduleRestart();
  }

  function scheduleRestart(): void {
    const delay = backoffDelay(restarts, RESTART_BACKOFF);
    restarts += 1;
    restartTimer = setTimeout(() => {
      restartTimer = undefined;
      if (stopping) return;
      launchFree().catch((err: unknown) => {
        log.error({ err }, 'embedded nats-server restart failed');
        if (!stopping) scheduleRestart();
      });
    }, delay);
  }

  const embedded: EmbeddedNats = {
    get url() {
      return `nats://${HOST}:${port}`;
    },
    pid: () => natsPid,
    credentials(user) {
      const password = passwords?.[user];
      if (password === undefined) throw new Error('embedded nats: credentials() before start()');
      return { user, password };
    },
    async start() {
      await mkdir(storeDir, { recursive: true });
      writeConf();
      // Leftovers first: a server left on the store still holds the port it had.
      await clearLeftovers({ storeDir, pidFile, log, graceMs: STOP_GRACE_MS });
      port = await choosePort(opts.port, log);
      await launchFree();
    },
    async stop() {
      stopping = true;
      clearTimeout(restartTimer);
      const proc = watchdog;
      if (proc && proc.exitCode === null && proc.signalCode === null) {
        await new Promise<void>((resolve) => {
          const hard = setTimeout(() => killGroup(proc), STOP_GRACE_MS);
          proc.once('exit', () => {
            clearTimeout(hard);
            resolve();
          });
          // EOF on the lifeline: the watchdog sends nats-server SIGTERM and exits with it.
          proc.stdin?.end();
        });
      }
      log.info('embedded nats-server stopped');
    },
  };
  return embedded;
}

/** The watchdog leads its own process group: SIGKILL to the group takes nats-server with it. */
function killGroup(proc: ChildProcess): void {
  if (proc.pid === undefined) return;
  try {
    process.kill(-proc.pid, 'SIGKILL');
  } catch {
    proc.kill('SIGKILL');
  }
}

async function choosePort(preferred: number, log: Logger): Promise<number> {
  if (preferred > 0 && (await isFree(preferred))) return preferred;
  const port = await isFree(0);
  if (preferred > 0) log.warn({ preferred, port }, 'nats port in use; embedded nats-server uses a free port');
  return port;
}

/** Binds 127.0.0.1:port to test it; with port 0 returns the free port the OS picked (0 when taken). */
function isFree(port: number): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(0));
    srv.listen(port, HOST, () => {
      const addr = srv.address();
      const got = addr !== null && typeof addr === 'object' ? addr.port : 0;
      srv.close(() => resolve(got));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ port, host: HOST });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => {
      sock.destroy();
      resolve(false);
    });
  });
}
