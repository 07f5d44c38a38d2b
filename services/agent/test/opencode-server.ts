import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, opencodeBinary, waitFor } from '@hal/testkit';

/**
 * A real `opencode serve` for this workspace's tests, per libs/testkit/OPENCODE-NOTES.md: a temp
 * project per name whose opencode.json points at the scripted LLM, bash/edit permissions on "ask".
 * (Stand-in until the testkit's `startOpencode` lands; same contract.)
 */
export interface RealOpencode {
  url: string;
  port: number;
  projects: Array<{ name: string; directory: string }>;
  stop(): Promise<void>;
}

export async function startRealOpencode(opts: { llmUrl: string; projects: string[] }): Promise<RealOpencode> {
  const root = mkdtempSync(join(tmpdir(), 'hal-agent-oc-'));
  // The provider package opencode installs on first use is cached across runs in this HOME.
  const home = join(tmpdir(), 'hal-agent-test-opencode-home');
  mkdirSync(home, { recursive: true });
  const projects = opts.projects.map((name) => {
    const directory = join(root, name);
    mkdirSync(directory, { recursive: true });
    writeFileSync(
      join(directory, 'opencode.json'),
      JSON.stringify({
        $schema: 'https://opencode.ai/config.json',
        autoupdate: false,
        share: 'disabled',
        model: 'fake/fake-model',
        permission: { bash: 'ask', edit: 'ask' },
        provider: {
          fake: {
            npm: '@ai-sdk/openai-compatible',
            options: { baseURL: opts.llmUrl, apiKey: 'x' },
            models: { 'fake-model': {} },
          },
        },
      }),
    );
    return { name, directory };
  });
  const port = await freePort();
  const child: ChildProcess = spawn(
    opencodeBinary(),
    ['serve', '--port', String(port), '--hostname', '127.0.0.1'],
    {
      cwd: projects[0]?.directory ?? root,
      env: {
        ...process.env,
        HOME: home,
        XDG_CONFIG_HOME: join(home, '.config'),
        XDG_DATA_HOME: join(root, 'data'),
        XDG_STATE_HOME: join(root, 'state'),
        OPENCODE_DISABLE_AUTOUPDATE: '1',
        OPENCODE_DISABLE_MODELS_FETCH: '1',
      },
      stdio: ['ignore', 'ignore', 'ignore'],
    },
  );
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      await new Promise<void>((resolve) => {
        const hard = setTimeout(() => child.kill('SIGKILL'), 3000);
        child.once('exit', () => {
          clearTimeout(hard);
          resolve();
        });
        child.kill('SIGTERM');
      });
    }
    rmSync(root, { recursive: true, force: true });
  };
  process.once('exit', () => child.kill('SIGKILL'));
  try {
    await waitFor(
      async () => {
        // A request during start-up can be accepted and never answered: give each probe a deadline.
        const res = await fetch(`${url}/global/health`, { signal: AbortSignal.timeout(2000) });
        return res.ok;
      },
      { timeoutMs: 20_000, intervalMs: 100, message: 'opencode answers /global/health' },
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, port, projects, stop };
}
