// hal-agent as its own OS process (its main compiled once by testkit's compiledEntry), as a host in another region runs it:
// its config written to a file, its JSON log read from stdout so the test knows when it is
// welcomed and subscribed to opencode (commands are served from the welcome on; a session
// started before the subscription is live would have its first events found only by reconcile).
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { compiledEntry, killWithTestProcess, waitFor } from '@hal/testkit';

const AGENT_MAIN = fileURLToPath(new URL('../../agent/src/main.ts', import.meta.url));

export interface AgentProcess {
  readonly pid: number;
  /** SIGTERM (SIGKILL after 5 s); the opencode sessions keep running, as in production. */
  stop(): Promise<void>;
}

/** Starts `hal-agent --config <dir>/<node>.agent.json`; resolves once it is subscribed to opencode. */
export async function startAgentProcess(opts: {
  node: string;
  supervisorUrl: string | readonly string[];
  token: string;
  opencodeUrl: string;
  projects: ReadonlyArray<{ name: string; directory: string }>;
  dir: string;
}): Promise<AgentProcess> {
  const dataDir = join(opts.dir, `agent-${opts.node}`);
  mkdirSync(dataDir, { recursive: true });
  const file = join(opts.dir, `${opts.node}.agent.json`);
  writeFileSync(
    file,
    JSON.stringify({
      node_id: opts.node,
      supervisor_url: opts.supervisorUrl,
      auth_token: opts.token,
      opencode: { url: opts.opencodeUrl },
      projects: opts.projects,
      data_dir: dataDir,
      log_level: 'info',
      heartbeat_interval_sec: 1,
      reconnect: { initial_ms: 100, max_ms: 1000 },
      command_timeout_ms: 20_000,
    }),
    { mode: 0o600 },
  );
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('HAL_')) env[k] = v;
  const child = spawn(process.execPath, [await compiledEntry(AGENT_MAIN), '--config', file], {
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  killWithTestProcess(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let subscribed = false;
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (line.includes('"opencode events subscribed and reconciled"')) subscribed = true;
    if (process.env.HAL_TEST_LOG !== undefined) process.stderr.write(`${line}\n`);
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const force = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(force);
  };
  try {
    await waitFor(
      () => {
        if (child.exitCode !== null) throw new Error(`hal-agent ${opts.node} exited with ${child.exitCode}`);
        return subscribed;
      },
      { timeoutMs: 60_000, message: `hal-agent ${opts.node} subscribed to opencode` },
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { pid: child.pid ?? -1, stop };
}
