import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePort, waitFor } from '@hal/testkit';

// Shared by the npm-start tests, one test per file: each full demo start (supervisor, scripted LLM,
// real opencode, agent) then gets the test runner's whole per-file budget. `npm start` minus npm's
// own wrapper (setup is done before tests run): the script a newcomer runs, in a temporary
// HAL_HOME on free ports so it never touches the developer's ./.hal.
const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const START = join(REPO, 'scripts', 'start.mjs');

export interface ProcInfo {
  pid: number;
  /** Field 22 of /proc/<pid>/stat: tells a reused pid from the original process. */
  startTime: string;
  cmdline: string;
}

/** pid, ppid, state and start time of every process, from /proc/<pid>/stat. */
function processTable(): Map<number, { ppid: number; state: string; startTime: string }> {
  const table = new Map<number, { ppid: number; state: string; startTime: string }>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // exited while we looked
    }
    // The command name (field 2) may hold spaces and parentheses: the fields start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    table.set(Number(name), { state: fields[0] ?? '', ppid: Number(fields[1]), startTime: fields[19] ?? '' });
  }
  return table;
}

/** Every process below `root` (children, grandchildren, …), whatever process group it moved to. */
export function descendants(root: number): ProcInfo[] {
  const table = processTable();
  const found: ProcInfo[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const parent = queue.shift();
    for (const [pid, info] of table) {
      if (info.ppid !== parent) continue;
      queue.push(pid);
      let cmdline = '';
      try {
        cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
      } catch {
        // exited while we looked
      }
      found.push({ pid, startTime: info.startTime, cmdline });
    }
  }
  return found;
}

/** Still running: the same process (pid and start time) and not a zombie waiting to be reaped. */
export function running(p: ProcInfo): boolean {
  const info = processTable().get(p.pid);
  return info !== undefined && info.startTime === p.startTime && info.state !== 'Z';
}

export interface Started {
  child: ChildProcess;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  httpBase: string;
  home: string;
  /** Descendants seen so far (the fallback kill list). */
  seen: Map<number, ProcInfo>;
}

/**
 * `node scripts/start.mjs` as the leader of its own process group, like a shell runs it, with a
 * fresh HAL_HOME (`prepare` may write into it first) and free ports.
 */
export async function startNpmStart(t: TestContext, prepare?: (home: string) => void): Promise<Started> {
  const home = mkdtempSync(join(tmpdir(), 'hal-npm-start-'));
  prepare?.(home);
  const [httpPort, wsPort, natsPort, opencodePort] = await Promise.all([
    freePort(),
    freePort(),
    freePort(),
    freePort(),
  ]);
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('HAL_')) env[k] = v;
  Object.assign(env, {
    HAL_HOME: home,
    HAL_FROM_SOURCE: '1',
    HAL_SERVER__HTTP_PORT: String(httpPort),
    HAL_SERVER__PORT: String(wsPort),
    HAL_NATS__EMBEDDED_PORT: String(natsPort),
    HAL_OPENCODE_PORT: String(opencodePort),
  });
  const child = spawn(process.execPath, [START], {
    cwd: REPO,
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const append = (chunk: Buffer) => {
    output += chunk.toString('utf8');
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  const started: Started = {
    child,
    output: () => output,
    exited,
    httpBase: `http://127.0.0.1:${httpPort}`,
    home,
    seen: new Map(),
  };
  const killAll = () => {
    // Fallback only: a passing test has stopped everything already.
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      for (const p of descendants(child.pid)) started.seen.set(p.pid, p);
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // group already gone
      }
    }
    // nats-server runs in its own process group, so the group kill does not reach it.
    for (const p of started.seen.values()) if (running(p)) process.kill(p.pid, 'SIGKILL');
  };
  // The test runner ends a file that outlives its timeout with SIGTERM, and after() hooks do not
  // run then: the detached demo (its own process group) would be left behind on a shared machine.
  const onTerm = () => {
    killAll();
    process.exit(1);
  };
  process.once('SIGTERM', onTerm);
  t.after(() => {
    process.off('SIGTERM', onTerm);
    killAll();
    rmSync(home, { recursive: true, force: true });
  });
  return started;
}

export async function status(url: string): Promise<number> {
  return (await fetch(url, { signal: AbortSignal.timeout(2000) })).status;
}

/** Ctrl-C in a terminal: SIGINT to the whole foreground process group. */
export async function pressCtrlC(run: Started): Promise<void> {
  const pid = run.child.pid;
  assert.ok(pid !== undefined);
  for (const p of descendants(pid)) run.seen.set(p.pid, p);
  const sentAt = Date.now();
  process.kill(-pid, 'SIGINT');
  const { code, signal } = await run.exited;
  assert.equal(signal, null, `start.mjs exited by itself, output:\n${run.output()}`);
  assert.equal(code, 0, `start.mjs exit code, output:\n${run.output()}`);
  const alive = () => [...run.seen.values()].filter(running);
  try {
    await waitFor(() => alive().length === 0, {
      timeoutMs: Math.max(0, sentAt + 10_000 - Date.now()),
      intervalMs: 100,
    });
  } catch {
    assert.fail(`still running 10 s after Ctrl-C: ${JSON.stringify(alive().map((p) => p.cmdline))}`);
  }
}
