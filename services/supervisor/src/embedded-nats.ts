import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { join } from 'node:path';
import type { Logger } from '@hal/observability';
import { ErrorCode, HalError } from '@hal/protocol';

export interface EmbeddedNatsOptions {
  /** The supervisor's data_dir; the JetStream store goes to `<dataDir>/nats`. */
  dataDir: string;
  /** Preferred port; when taken (or 0) a free loopback port is used instead. */
  port: number;
  token?: string | undefined;
  log: Logger;
  binary?: string;
  startTimeoutMs?: number;
}

export interface EmbeddedNats {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** `nats://127.0.0.1:<port>`, known after start(). */
  readonly url: string;
  /** pid of the running nats-server, undefined while it is down. */
  pid(): number | undefined;
}

export const NATS_INSTALL_HINT =
  'nats-server not found on PATH: install it with "apt-get install -y nats-server" (Debian/Ubuntu), or set nats.url to an existing NATS server';

const HOST = '127.0.0.1';
const BACKOFF_MIN_MS = 250;
const BACKOFF_MAX_MS = 10_000;
/** Up this long → the next crash starts the backoff from the bottom again. */
const STABLE_MS = 30_000;
const STOP_GRACE_MS = 5_000;

/**
 * Runs `nats-server -js` as a child bound to 127.0.0.1, restarts it with backoff when it dies,
 * and stops it on stop(). It runs in its own process group so a Ctrl-C in the terminal reaches
 * only the supervisor, which then stops it in order (after the services have drained).
 */
export function createEmbeddedNats(opts: EmbeddedNatsOptions): EmbeddedNats {
  const log = opts.log.child({ component: 'embedded-nats' });
  const binary = opts.binary ?? 'nats-server';
  const storeDir = join(opts.dataDir, 'nats');
  let port = 0;
  let child: ChildProcess | undefined;
  let stopping = false;
  let backoffMs = BACKOFF_MIN_MS;
  let restartTimer: NodeJS.Timeout | undefined;
  let startedAt = 0;

  // A supervisor dying on an uncaught error must not leave the server behind.
  const killOnExit = () => child?.kill('SIGKILL');

  // The token goes in a 0600 config file, never on the command line, where `ps` would show it
  // to every local user.
  const authFile = join(opts.dataDir, 'nats-auth.conf');
  function args(): string[] {
    const list = ['-js', '-sd', storeDir, '-a', HOST, '-p', String(port)];
    if (opts.token) {
      writeFileSync(authFile, `authorization { token: ${JSON.stringify(opts.token)} }\n`, { mode: 0o600 });
      chmodSync(authFile, 0o600);
      list.push('-c', authFile);
    }
    return list;
  }

  async function launch(): Promise<void> {
    const proc = spawn(binary, args(), { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    await new Promise<void>((resolve, reject) => {
      proc.once('spawn', resolve);
      proc.once('error', (err: NodeJS.ErrnoException) => {
        reject(
          err.code === 'ENOENT'
            ? new HalError(ErrorCode.UNAVAILABLE, NATS_INSTALL_HINT, { cause: err })
            : new HalError(ErrorCode.UNAVAILABLE, `cannot start nats-server: ${err.message}`, { cause: err }),
        );
      });
    });
    child = proc;
    const tail: string[] = [];
    let partial = '';
    proc.stderr?.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        if (line === '') continue;
        log.debug({ line }, 'nats-server output');
        tail.push(line);
        if (tail.length > 20) tail.shift();
      }
    });
    proc.once('exit', (code, signal) => onExit(proc, code, signal, tail));
    await waitAccepting(proc, tail);
    startedAt = Date.now();
    log.info({ pid: proc.pid, url: embedded.url, store: storeDir }, 'embedded nats-server started');
  }

  async function waitAccepting(proc: ChildProcess, tail: string[]): Promise<void> {
    const deadline = Date.now() + (opts.startTimeoutMs ?? 10_000);
    for (;;) {
      if (proc.exitCode !== null || proc.signalCode !== null) {
        throw new HalError(
          ErrorCode.UNAVAILABLE,
          `nats-server exited before accepting connections: ${tail.join(' | ')}`,
        );
      }
      if (await canConnect(port)) return;
      if (Date.now() > deadline) {
        proc.kill('SIGKILL');
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
    code: number | null,
    signal: NodeJS.Signals | null,
    tail: string[],
  ): void {
    if (child === proc) child = undefined;
    if (stopping) return;
    if (Date.now() - startedAt > STABLE_MS) backoffMs = BACKOFF_MIN_MS;
    log.error(
      { code, signal, delay_ms: backoffMs, output: tail.slice(-5) },
      'embedded nats-server died; restarting',
    );
    scheduleRestart();
  }

  function scheduleRestart(): void {
    const delay = backoffMs;
    backoffMs = Math.min(backoffMs * 2, BACKOFF_MAX_MS);
    restartTimer = setTimeout(() => {
      restartTimer = undefined;
      if (stopping) return;
      launch().catch((err: unknown) => {
        log.error({ err }, 'embedded nats-server restart failed');
        if (!stopping) scheduleRestart();
      });
    }, delay);
  }

  const embedded: EmbeddedNats = {
    get url() {
      return `nats://${HOST}:${port}`;
    },
    pid: () => child?.pid,
    async start() {
      await mkdir(storeDir, { recursive: true });
      port = await choosePort(opts.port, log);
      process.once('exit', killOnExit);
      await launch();
    },
    async stop() {
      stopping = true;
      clearTimeout(restartTimer);
      const proc = child;
      if (proc && proc.exitCode === null && proc.signalCode === null) {
        await new Promise<void>((resolve) => {
          const hard = setTimeout(() => proc.kill('SIGKILL'), STOP_GRACE_MS);
          proc.once('exit', () => {
            clearTimeout(hard);
            resolve();
          });
          proc.kill('SIGTERM');
        });
      }
      process.removeListener('exit', killOnExit);
      log.info('embedded nats-server stopped');
    },
  };
  return embedded;
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
