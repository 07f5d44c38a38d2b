import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stopChild, track } from './children.ts';
import { freePort } from './net.ts';

export interface StartOpencodeOptions {
  /** The scripted LLM (or any OpenAI-compatible base URL ending in /v1). */
  llm: { url: string };
  /** Projects to configure; default one project named "demo". A given directory is used as is. */
  projects?: Array<{ name: string; directory?: string }>;
  /** 'ask' makes bash and edit ask for permission; default 'allow'. */
  permission?: 'ask' | 'allow';
  /**
   * USD per million tokens of the fake model, so opencode itself prices each message (its
   * `cost` in message.completed); default none, and opencode reports $0 like for a subscription.
   */
  modelCost?: { input: number; output: number };
  env?: Record<string, string>;
  port?: number;
  /** Default 30 s. */
  startTimeoutMs?: number;
}

export interface OpencodeProject {
  name: string;
  directory: string;
}

export interface OpencodeServer {
  /** http://127.0.0.1:<port> */
  url: string;
  port: number;
  projects: OpencodeProject[];
  /** The temporary HOME of this instance. */
  home: string;
  /** pid of the current process (changes on restart). */
  pid: number;
  /** SIGTERM, wait (SIGKILL after 3 s), remove the temp HOME and temp projects. */
  stop(): Promise<void>;
  /** Send a signal without waiting (crash tests). Default SIGKILL. */
  kill(signal?: NodeJS.Signals): void;
  /** Stop if running, then start again on the same port with the same HOME and projects. */
  restart(): Promise<void>;
}

// opencode keeps downloaded packages under XDG_CACHE_HOME; sharing it between instances means only
// the first start of a machine pays for any download, while HOME/config/data stay per instance.
const SHARED_CACHE = join(tmpdir(), 'hal-opencode-cache');

/**
 * The pinned opencode that `node scripts/setup.mjs` installs into <checkout>/.tools/opencode (it is
 * kept out of the workspace lock: see setup.mjs). Never a different opencode found on PATH: tests
 * pin the version whose behaviour libs/testkit/OPENCODE-NOTES.md describes.
 */
export function opencodeBinary(): string {
  const pkgDir = resolve(
    dirname(fileURLToPath(import.meta.url)),
    '../../../.tools/opencode/node_modules/opencode-ai',
  );
  for (const name of ['opencode.exe', 'opencode']) {
    const bin = join(pkgDir, 'bin', name);
    if (existsSync(bin)) return bin;
  }
  throw new Error(
    `opencode binary not found in ${pkgDir} — run "node scripts/setup.mjs" at the repository root (it installs the pinned opencode-ai there)`,
  );
}

/** The opencode.json the testkit writes into each project. */
export function opencodeProjectConfig(
  llmUrl: string,
  permission: 'ask' | 'allow',
  modelCost?: { input: number; output: number },
): Record<string, unknown> {
  return {
    $schema: 'https://opencode.ai/config.json',
    provider: {
      fake: {
        npm: '@ai-sdk/openai-compatible',
        name: 'Fake LLM',
        options: { baseURL: llmUrl, apiKey: 'x' },
        models: {
          'fake-model': { name: 'Fake model', ...(modelCost === undefined ? {} : { cost: modelCost }) },
        },
      },
    },
    model: 'fake/fake-model',
    small_model: 'fake/fake-model',
    autoupdate: false,
    share: 'disabled',
    permission: permission === 'ask' ? { bash: 'ask', edit: 'ask' } : { bash: 'allow', edit: 'allow' },
  };
}

async function healthy(url: string): Promise<boolean> {
  try {
    // A health call made while opencode boots can hang forever (observed), so each try has its own timeout.
    const res = await fetch(`${url}/global/health`, { signal: AbortSignal.timeout(1000) });
    return res.ok;
  } catch {
    return false;
  }
}

/** Starts a real `opencode serve` on loopback with a temp HOME and projects pointed at `opts.llm`. */
export async function startOpencode(opts: StartOpencodeOptions): Promise<OpencodeServer> {
  const binary = opencodeBinary();
  const root = await mkdtemp(join(tmpdir(), 'hal-opencode-'));
  const home = join(root, 'home');
  const permission = opts.permission ?? 'allow';
  const projects: OpencodeProject[] = [];
  for (const p of opts.projects ?? [{ name: 'demo' }]) {
    const directory = p.directory ?? join(root, 'projects', p.name);
    await mkdir(directory, { recursive: true });
    await writeFile(
      join(directory, 'opencode.json'),
      `${JSON.stringify(opencodeProjectConfig(opts.llm.url, permission, opts.modelCost), null, 2)}\n`,
    );
    if (!existsSync(join(directory, '.git')))
      spawnSync('git', ['init', '-q', directory], { stdio: 'ignore' });
    projects.push({ name: p.name, directory });
  }
  const dirs = {
    XDG_CONFIG_HOME: join(home, '.config'),
    XDG_DATA_HOME: join(home, '.local', 'share'),
    XDG_STATE_HOME: join(home, '.local', 'state'),
    XDG_CACHE_HOME: SHARED_CACHE,
  };
  for (const d of [home, ...Object.values(dirs)]) await mkdir(d, { recursive: true });
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: home,
    ...dirs,
    npm_config_cache: join(SHARED_CACHE, 'npm'),
    OPENCODE_DISABLE_AUTOUPDATE: '1',
    OPENCODE_DISABLE_MODELS_FETCH: '1',
    OPENCODE_DISABLE_LSP_DOWNLOAD: '1',
    ...opts.env,
  };
  const port = opts.port ?? (await freePort());
  const url = `http://127.0.0.1:${port}`;
  // 90 s: a first start on a fresh HOME took 65 s on a saturated 2-core runner; on an idle one it is a few seconds.
  const timeoutMs = opts.startTimeoutMs ?? 90_000;
  const cwd = projects[0]?.directory ?? root;
  let output: string[] = [];

  async function launch(): Promise<ChildProcess> {
    output = [];
    const child = spawn(binary, ['serve', '--port', String(port), '--hostname', '127.0.0.1'], {
      cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const collect = (chunk: Buffer): void => {
      output.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      if (output.length > 100) output.splice(0, output.length - 100);
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    await new Promise<void>((res, rej) => {
      child.once('spawn', res);
      child.once('error', rej);
    });
    track(child);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(
          `opencode serve exited (${child.exitCode ?? child.signalCode}) before answering /global/health:\n${output.slice(-20).join('\n')}`,
        );
      }
      if (await healthy(url)) return child;
      if (Date.now() >= deadline) {
        await stopChild(child, 'SIGKILL');
        throw new Error(
          `opencode serve on port ${port} did not answer /global/health within ${timeoutMs} ms; last output:\n${output.slice(-20).join('\n')}`,
        );
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  let child: ChildProcess;
  try {
    child = await launch();
  } catch (err) {
    await rm(root, { recursive: true, force: true });
    throw err;
  }
  let stopped = false;
  const server: OpencodeServer = {
    url,
    port,
    projects,
    home,
    pid: child.pid ?? -1,
    async stop() {
      await stopChild(child);
      if (!stopped) await rm(root, { recursive: true, force: true });
      stopped = true;
    },
    kill(signal = 'SIGKILL') {
      child.kill(signal);
    },
    async restart() {
      if (stopped) throw new Error('startOpencode: restart() after stop()');
      await stopChild(child);
      child = await launch();
      server.pid = child.pid ?? -1;
    },
  };
  return server;
}
