// One HAL service as its own OS process, as a systemd unit or a k8s Deployment runs it:
// `hal-<service> --config FILE` built from source (services/<service>/src/main.ts, compiled once
// by testkit's compiledEntry: no tsx transform per start), so a test can
// SIGKILL it (no drain, no lease release, sockets dropped) and start it again on the same
// config and data_dir. Its health server (server.http_port) says when it is ready.
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compiledEntry, freePort, killWithTestProcess, waitFor } from '@hal/testkit';

export type SplitService = 'gateway' | 'tracker' | 'policy' | 'cost-poller' | 'discord-bridge';

const verbose = process.env.HAL_TEST_LOG !== undefined;

export interface ServiceProcess {
  readonly name: string;
  /** server.http_port: the API for a gateway, the health server (/readyz) for the others. */
  readonly httpUrl: string;
  readonly pid: number;
  /** SIGKILL: no close frames, no drain, no lease released. */
  kill(): void;
  readonly exited: Promise<void>;
  /** SIGTERM, then SIGKILL after 5 s. */
  stop(): Promise<void>;
}

/**
 * Writes `<dir>/<name>.config.json` (`config` with server.http_port filled in, and
 * server.port for a gateway) and starts the service on it; resolves once /readyz answers 200.
 */
export async function startServiceProcess(opts: {
  service: SplitService;
  name: string;
  dir: string;
  config: Record<string, unknown>;
}): Promise<ServiceProcess & { config: Record<string, unknown> }> {
  const server = (opts.config.server ?? {}) as Record<string, unknown>;
  const httpPort = (server.http_port as number | undefined) ?? (await freePort());
  const config = {
    data_dir: join(opts.dir, opts.name),
    log_level: verbose ? 'info' : 'warn',
    ...opts.config,
    server: { host: '127.0.0.1', ...server, http_port: httpPort },
  };
  const file = join(opts.dir, `${opts.name}.config.json`);
  writeFileSync(file, JSON.stringify(config), { mode: 0o600 });
  const main = await compiledEntry(
    fileURLToPath(new URL(`../../${opts.service}/src/main.ts`, import.meta.url)),
  );
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('HAL_')) env[k] = v;
  const child: ChildProcess = spawn(process.execPath, [main, '--config', file], {
    env,
    stdio: ['ignore', verbose ? 'inherit' : 'pipe', verbose ? 'inherit' : 'pipe'],
  });
  // Its last log lines (warn and above unless HAL_TEST_LOG), put in the error when it fails to start.
  const tail: string[] = [];
  const keep = (chunk: Buffer) => {
    tail.push(
      ...chunk
        .toString('utf8')
        .split('\n')
        .filter((l) => l !== ''),
    );
    tail.splice(0, Math.max(0, tail.length - 20));
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  // A test process that ends early (timeout, Ctrl-C) takes it along, through one process hook for all.
  killWithTestProcess(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const httpUrl = `http://127.0.0.1:${httpPort}`;
  const gone = () => child.exitCode !== null || child.signalCode !== null;
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  try {
    await waitFor(
      async () => {
        if (gone()) return true; // reported just below, with its output
        const res = await fetch(`${httpUrl}/readyz`, { signal: AbortSignal.timeout(1_000) });
        return res.status === 200;
      },
      // Generous: five of these starting at once (then through tsx) on 2 busy cores took over 60 s.
      { timeoutMs: 120_000, intervalMs: 100, message: `${opts.name} ready` },
    );
    if (gone()) {
      await closed; // its last output read
      throw new Error(
        `${opts.name} exited while starting (code ${child.exitCode}, signal ${child.signalCode})`,
      );
    }
  } catch (err) {
    // What its /readyz says (the check that holds it back), then its last output.
    const readyz = await fetch(`${httpUrl}/readyz`, { signal: AbortSignal.timeout(1_000) })
      .then(async (res) => `${res.status} ${await res.text()}`)
      .catch((e: unknown) => `no answer (${(e as Error).message})`);
    child.kill('SIGKILL');
    const lines = tail.length === 0 ? '(no output)' : tail.join('\n');
    throw new Error(`${(err as Error).message}; /readyz: ${readyz}; its last output:\n${lines}`, {
      cause: err,
    });
  }
  return {
    name: opts.name,
    config,
    httpUrl,
    pid: child.pid ?? -1,
    kill: () => child.kill('SIGKILL'),
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const force = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(force);
    },
  };
}
