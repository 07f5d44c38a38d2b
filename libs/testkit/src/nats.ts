import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type NatsServerUser, natsAuthorizationConfig } from '@hal/protocol';
import { stopChild, track } from './children.ts';
import { canConnect, freePort } from './net.ts';

export interface StartNatsOptions {
  /** Enable JetStream (`-js`). Default true. */
  jetstream?: boolean;
  /** Store directory; when given it is kept on stop. Default: a fresh temp dir, removed on stop. */
  storeDir?: string;
  /** Port; default a free loopback port. */
  port?: number;
  /** Extra command-line arguments. */
  args?: string[];
  /** Binary name or path. Default `nats-server` from PATH. */
  binary?: string;
  /** How long to wait for the server to accept connections. Default 10 s. */
  startTimeoutMs?: number;
  /**
   * Clients must authenticate: users with passwords and permissions (as the embedded server of
   * hal-supervisor has them, `natsPermissions` of @hal/protocol), or one token. Anonymous
   * clients are refused. Written to a 0600 config file next to the store, never on argv.
   */
  auth?: { users: readonly NatsServerUser[] } | { token: string };
}

export interface NatsServer {
  url: string;
  port: number;
  storeDir: string;
  /** pid of the current process (changes on restart). */
  pid: number;
  /** SIGTERM, wait for exit (SIGKILL after 3 s), remove the temp store unless it was given. */
  stop(): Promise<void>;
  /** Send a signal without waiting (crash tests). Default SIGKILL. */
  kill(signal?: NodeJS.Signals): void;
  /** Stop if running, then start again on the same port and store. */
  restart(): Promise<void>;
}

export const NATS_NOT_FOUND_MESSAGE =
  'nats-server not found on PATH — install it with "apt-get install -y nats-server" (Debian) or run "npm test"/"npm start", which installs it';

const READY_LINE = 'Server is ready';

interface Running {
  child: ChildProcess;
  output: string[];
}

function launch(binary: string, args: string[]): Promise<Running> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const output: string[] = [];
    const collect = (chunk: Buffer): void => {
      output.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      if (output.length > 200) output.splice(0, output.length - 200);
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    child.once('error', (err: NodeJS.ErrnoException) => {
      reject(err.code === 'ENOENT' ? new Error(NATS_NOT_FOUND_MESSAGE, { cause: err }) : err);
    });
    child.once('spawn', () => {
      track(child);
      resolve({ child, output });
    });
  });
}

async function waitReady(run: Running, port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (run.child.exitCode !== null || run.child.signalCode !== null) {
      throw new Error(
        `nats-server exited (${run.child.exitCode ?? run.child.signalCode}) before it was ready:\n${run.output.slice(-20).join('\n')}`,
      );
    }
    if (run.output.some((l) => l.includes(READY_LINE)) && (await canConnect(port))) return;
    if (Date.now() >= deadline) {
      await stopChild(run.child, 'SIGKILL');
      throw new Error(
        `nats-server on port ${port} was not ready within ${timeoutMs} ms; last output:\n${run.output.slice(-20).join('\n')}`,
      );
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Starts a real `nats-server` (JetStream by default) on a free loopback port with a temp store. */
export async function startNats(opts: StartNatsOptions = {}): Promise<NatsServer> {
  const jetstream = opts.jetstream ?? true;
  const binary = opts.binary ?? 'nats-server';
  const timeoutMs = opts.startTimeoutMs ?? 10_000;
  const ownStore = opts.storeDir === undefined;
  const storeDir = opts.storeDir ?? (await mkdtemp(join(tmpdir(), 'hal-nats-')));
  const port = opts.port ?? (await freePort());
  const authArgs: string[] = [];
  let authDir: string | undefined;
  if (opts.auth !== undefined) {
    authDir = await mkdtemp(join(tmpdir(), 'hal-nats-auth-'));
    const file = join(authDir, 'auth.conf');
    const text =
      'users' in opts.auth
        ? natsAuthorizationConfig(opts.auth.users)
        : `authorization: ${JSON.stringify({ token: opts.auth.token })}\n`;
    await writeFile(file, text, { mode: 0o600 });
    authArgs.push('-c', file);
  }
  const removeAuth = async () => {
    if (authDir !== undefined) await rm(authDir, { recursive: true, force: true });
  };
  const args = [
    '-a',
    '127.0.0.1',
    '-p',
    String(port),
    ...(jetstream ? ['-js', '-sd', storeDir] : []),
    ...authArgs,
    ...(opts.args ?? []),
  ];

  let run: Running;
  try {
    run = await launch(binary, args);
    await waitReady(run, port, timeoutMs);
  } catch (err) {
    if (ownStore) await rm(storeDir, { recursive: true, force: true });
    await removeAuth();
    throw err;
  }

  let stopped = false;
  const server: NatsServer = {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    pid: run.child.pid ?? -1,
    async stop() {
      await stopChild(run.child);
      if (!stopped && ownStore) await rm(storeDir, { recursive: true, force: true });
      if (!stopped) await removeAuth();
      stopped = true;
    },
    kill(signal = 'SIGKILL') {
      run.child.kill(signal);
    },
    async restart() {
      if (stopped) throw new Error('startNats: restart() after stop()');
      await stopChild(run.child);
      run = await launch(binary, args);
      await waitReady(run, port, timeoutMs);
      server.pid = run.child.pid ?? -1;
    },
  };
  return server;
}
