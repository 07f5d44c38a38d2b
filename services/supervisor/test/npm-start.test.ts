import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePort, waitFor } from '@hal/testkit';

// `npm start` minus npm's own wrapper (setup is done before tests run): the script a newcomer
// runs, in a temporary HAL_HOME on free ports so it never touches the developer's ./.hal.
const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const START = join(REPO, 'scripts', 'start.mjs');

interface ProcInfo {
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
function descendants(root: number): ProcInfo[] {
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
function running(p: ProcInfo): boolean {
  const info = processTable().get(p.pid);
  return info !== undefined && info.startTime === p.startTime && info.state !== 'Z';
}

interface Started {
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
async function startNpmStart(t: TestContext, prepare?: (home: string) => void): Promise<Started> {
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
  t.after(() => {
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
    rmSync(home, { recursive: true, force: true });
  });
  return started;
}

async function status(url: string): Promise<number> {
  return (await fetch(url, { signal: AbortSignal.timeout(2000) })).status;
}

/** Ctrl-C in a terminal: SIGINT to the whole foreground process group. */
async function pressCtrlC(run: Started): Promise<void> {
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

test('npm start - /healthz and /readyz answer 200 within 30 s, the demo sessions get tokens priced by the demo rates, one waits for an approval, nothing failed in the audit log, and Ctrl-C leaves no process behind', async (t) => {
  const run = await startNpmStart(t);
  const home = run.home;

  for (const path of ['/healthz', '/readyz']) {
    await waitFor(async () => (await status(`${run.httpBase}${path}`)) === 200, {
      timeoutMs: 30_000,
      intervalMs: 200,
      message: `${path} did not answer 200 within 30 s; output:\n${run.output()}`,
    });
  }

  const config = JSON.parse(readFileSync(join(home, 'supervisor.config.json'), 'utf8')) as {
    server: { auth_token: string };
  };
  const token = config.server.auth_token;
  assert.match(token, /^[0-9a-f]{64}$/);
  const api = async <T>(path: string, init: RequestInit = {}): Promise<{ status: number; body: T }> => {
    const res = await fetch(`${run.httpBase}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      signal: AbortSignal.timeout(5000),
    });
    return { status: res.status, body: (await res.json()) as T };
  };
  interface DemoSession {
    session: string;
    project: string;
    state: string;
    current_task: string | null;
    pending_permissions: string[];
    tokens: { input: number; output: number };
    cost_usd: number;
  }
  const sessions = async () => {
    const { status, body } = await api<{ data: DemoSession[] }>('/api/v1/sessions');
    assert.equal(status, 200);
    return body.data;
  };
  const demo = await waitFor(
    async () =>
      (await sessions()).find(
        (s) => s.project === 'demo' && s.current_task?.startsWith('Say hello') && s.cost_usd > 0,
      ),
    // The demo starts a scripted LLM, a real opencode and an agent first: on a loaded 2-core machine
    // that alone has taken 50 s.
    { timeoutMs: 90_000, intervalMs: 250, message: `no priced demo session; output:\n${run.output()}` },
  );
  assert.ok(demo.tokens.output > 0);

  // The second demo session asks to run a command: it waits for an approval, which lets it finish.
  const asking = await waitFor(
    async () =>
      (await sessions()).find(
        (s) => s.current_task?.startsWith('List the files') && s.state === 'waiting_input',
      ),
    {
      timeoutMs: 45_000,
      intervalMs: 250,
      message: `no demo session waiting for a permission; output:\n${run.output()}`,
    },
  );
  const permission = asking.pending_permissions[0];
  assert.ok(permission !== undefined, 'the waiting session names its pending permission');
  const approved = await api(`/api/v1/sessions/${asking.session}/permissions/${permission}`, {
    method: 'POST',
    body: JSON.stringify({ response: 'once' }),
  });
  assert.equal(approved.status, 200, JSON.stringify(approved.body));
  await waitFor(
    async () =>
      (await sessions()).find(
        (s) => s.session === asking.session && s.state === 'idle' && s.pending_permissions.length === 0,
      ),
    { timeoutMs: 30_000, intervalMs: 250, message: 'the approved session did not finish its turn' },
  );
  // Varied answers: each session got its own text from the scripted model.
  const logText = async (session: string) =>
    JSON.stringify((await api<{ data: unknown }>(`/api/v1/sessions/${session}/logs`)).body.data);
  assert.match(await logText(demo.session), /Hello from the HAL-O-SWARM demo/);
  assert.match(await logText(asking.session), /the command ran after your approval/);

  // The demo model is priced (its opencode.json): the session view, cost and budgets show real numbers.
  const totals = await waitFor(
    async () => {
      const r = await api<{ data: { totals: { observed_usd: number; estimated_usd: number } } }>(
        '/api/v1/cost?period=today',
      );
      return r.status === 200 && r.body.data.totals.observed_usd > 0 ? r.body.data.totals : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 500, message: 'the demo spend stayed at $0' },
  );
  assert.ok(totals.observed_usd > 0.01, `observed ${totals.observed_usd}`);
  const budgets = await api<{ data: { name: string; spent_usd: number }[] }>('/api/v1/cost/budgets');
  assert.equal(budgets.status, 200);
  const daily = budgets.body.data.find((b) => b.name === 'demo-daily');
  assert.ok(daily !== undefined && daily.spent_usd > 0, JSON.stringify(budgets.body.data));

  // The first start waited for the agent: no failed command in the audit log.
  const audit = await api<{ data: { action: string; result: { ok: boolean; code?: string } }[] }>(
    '/api/v1/audit?limit=200',
  );
  assert.equal(audit.status, 200);
  assert.deepEqual(
    audit.body.data.filter((r) => !r.result.ok),
    [],
  );
  assert.equal(audit.body.data.filter((r) => r.action === 'session.start').length, 2);

  // The summary names the temporary home, prints the new token once, and offers Ctrl-C.
  await waitFor(() => run.output().includes('Ctrl-C stops everything.'), { timeoutMs: 10_000 });
  const out = run.output();
  assert.ok(
    out.includes(
      `  auth token    ${token}   (shown once; stored in ${join(home, 'supervisor.config.json')})`,
    ),
    out,
  );
  assert.equal(out.split(token).length - 1, 1, 'the token is printed exactly once');
  assert.ok(out.includes(`  health        ${run.httpBase}/healthz   ${run.httpBase}/readyz`), out);
  // The dashboard is printed and served on the same port (its bundle built by setup).
  assert.ok(out.includes(`  dashboard     ${run.httpBase}/   (sign in with the auth token)`), out);
  const page = await fetch(`${run.httpBase}/`, { signal: AbortSignal.timeout(2000) });
  assert.equal(page.status, 200);
  assert.match(await page.text(), /<script type="module" src="\.\/assets\/app-[A-Z0-9]{8}\.js"><\/script>/);
  // How to tap live events with the NATS CLI as the read-only user; its password is read from
  // the 0600 file by the printed command, never printed.
  const credentials = join(home, 'data', 'nats-credentials.json');
  assert.match(out, /nats context save hal-tap --server nats:\/\/127\.0\.0\.1:\d+ --user tap --password /);
  assert.ok(out.includes("nats --context hal-tap sub 'hal.evt.>'"), out);
  const tapPassword = (JSON.parse(readFileSync(credentials, 'utf8')) as { users: { tap: string } }).users.tap;
  assert.equal(out.includes(tapPassword), false, 'the tap password is not printed');

  // Every kind of child is running, and all of them are below start.mjs.
  const pid = run.child.pid;
  assert.ok(pid !== undefined);
  const tree = descendants(pid);
  for (const p of tree) run.seen.set(p.pid, p);
  for (const [kind, pattern] of [
    ['supervisor', /hal-supervisor\.js/],
    ['nats-server', /(^|\/)nats-server /],
    ['opencode', /opencode(\.exe)? serve/],
    ['hal-agent', /hal-agent\.js/],
    ['scripted LLM', /demo-llm\.mjs/],
  ] as const) {
    assert.ok(
      tree.some((p) => pattern.test(p.cmdline)),
      `${kind} is not running below start.mjs: ${JSON.stringify(tree.map((p) => p.cmdline))}`,
    );
  }

  await pressCtrlC(run);
  await assert.rejects(status(`${run.httpBase}/healthz`), 'nothing answers on the http port any more');
});

test('npm start - a run with an existing config does not print the token again but says where it is', async (t) => {
  const token = 'c'.repeat(64);
  let written = '';
  const run = await startNpmStart(t, (home) => {
    written = `${JSON.stringify({ data_dir: join(home, 'data'), server: { auth_token: token } }, null, 2)}\n`;
    writeFileSync(join(home, 'supervisor.config.json'), written, { mode: 0o600 });
  });
  const configFile = join(run.home, 'supervisor.config.json');
  await waitFor(() => run.output().includes('Ctrl-C stops everything.'), {
    timeoutMs: 120_000,
    intervalMs: 200,
    message: `start.mjs never printed its summary; output:\n${run.output()}`,
  });
  const out = run.output();
  assert.ok(out.includes(`  auth token    in ${configFile} (server.auth_token)`), out);
  assert.ok(!out.includes(token), 'the stored token is not printed');
  assert.ok(!out.includes('shown once'), out);
  assert.equal(readFileSync(configFile, 'utf8'), written, 'the existing config is left as it was');
  assert.equal(await status(`${run.httpBase}/readyz`), 200);

  await pressCtrlC(run);
});
