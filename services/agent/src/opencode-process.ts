import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { type Backoff, backoffDelay, type Logger } from '@hal/observability';
import { opencodeEnvironment } from './opencode-environment.ts';

export interface OpencodeProcessDeps {
  binary: string;
  port: number;
  /** Working directory of the server (its default project). */
  cwd: string;
  /** Where the server's stdout/stderr go (it outlives the agent, so not to our pipes). */
  logFile: string;
  password?: string;
  log: Logger;
  /** Reports the server going down (false) or serving again (true). */
  onState(up: boolean): void;
  health(): Promise<boolean>;
  backoff?: Backoff;
  checkIntervalMs?: number;
  env?: NodeJS.ProcessEnv;
  /** Values no variable of opencode's environment may hold (the agent's token). */
  secrets?: ReadonlyArray<string | undefined>;
  /** Tests only: also stop the server on `stop()`. Production never does (see below). */
  stopServerOnStop?: boolean;
}

export interface OpencodeProcess {
  start(): Promise<void>;
  stop(): Promise<void>;
  pid(): number | undefined;
}

/**
 * `opencode.manage: true`: the agent makes sure an `opencode serve` answers on loopback. It adopts a
 * server that already answers, starts one (detached) when none does, and restarts it with capped
 * backoff when it dies. Stopping the agent leaves the server running: restarting hal-agent must
 * never stop an opencode session.
 */
export function createOpencodeProcess(deps: OpencodeProcessDeps): OpencodeProcess {
  const backoff = deps.backoff ?? { initialMs: 500, maxMs: 30_000 };
  let child: ChildProcess | undefined;
  let stopping = false;
  let failures = 0;
  let up: boolean | undefined;
  let nextLaunchAt = 0;
  let launching = false;
  let timer: NodeJS.Timeout | undefined;

  function launch(): void {
    launching = true;
    mkdirSync(dirname(deps.logFile), { recursive: true });
    const out = openSync(deps.logFile, 'a');
    const env: NodeJS.ProcessEnv = {
      ...opencodeEnvironment(deps.env ?? process.env, deps.secrets ?? []),
      OPENCODE_DISABLE_AUTOUPDATE: '1',
    };
    if (deps.password !== undefined) env.OPENCODE_SERVER_PASSWORD = deps.password;
    const proc = spawn(deps.binary, ['serve', '--port', String(deps.port), '--hostname', '127.0.0.1'], {
      cwd: deps.cwd,
      env,
      detached: true,
      stdio: ['ignore', out, out],
    });
    closeSync(out);
    proc.unref();
    child = proc;
    deps.log.info({ pid: proc.pid, port: deps.port }, 'opencode started');
    proc.on('error', (err) => deps.log.error({ err, binary: deps.binary }, 'opencode could not be started'));
    proc.on('exit', (code, signal) => {
      if (child === proc) child = undefined;
      if (!stopping) deps.log.error({ code, signal, log_file: deps.logFile }, 'opencode exited');
    });
  }

  async function check(): Promise<void> {
    const ok = await deps.health();
    if (stopping) return;
    if (ok) {
      launching = false;
      failures = 0;
    }
    if (ok !== up) {
      up = ok;
      deps.onState(ok);
    }
    if (ok || Date.now() < nextLaunchAt) return;
    if (launching && child !== undefined && child.exitCode === null) return;
    // Not answering and no live child of ours: (re)start with backoff between attempts.
    const delay = backoffDelay(failures, backoff);
    failures += 1;
    nextLaunchAt = Date.now() + delay;
    launch();
  }

  function schedule(): void {
    timer = setTimeout(() => {
      void check()
        .catch((err: unknown) => deps.log.error({ err }, 'opencode check failed'))
        .finally(() => {
          if (!stopping) schedule();
        });
    }, deps.checkIntervalMs ?? 1000);
  }

  return {
    async start() {
      stopping = false;
      await check();
      schedule();
    },
    async stop() {
      stopping = true;
      clearTimeout(timer);
      const proc = child;
      if (deps.stopServerOnStop !== true || proc === undefined || proc.exitCode !== null) return;
      await new Promise<void>((resolve) => {
        const kill = setTimeout(() => proc.kill('SIGKILL'), 5000);
        proc.once('exit', () => {
          clearTimeout(kill);
          resolve();
        });
        proc.kill('SIGTERM');
      });
    },
    pid: () => child?.pid,
  };
}
