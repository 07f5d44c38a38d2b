import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { waitFor } from '@hal/testkit';
import { descendants, pressCtrlC, startNpmStart, status } from './npm-start-harness.ts';

test('npm start - /healthz and /readyz answer 200 within 30 s, the demo sessions get tokens priced by the demo rates, one waits for an approval, nothing failed in the audit log, and Ctrl-C leaves no process behind', {
  timeout: 360_000,
}, async (t) => {
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
    // The demo starts a scripted LLM, a real opencode and an agent first, and a cold opencode's first
    // turn installs its provider package: on a loaded 2-core machine this has taken 150 s.
    { timeoutMs: 180_000, intervalMs: 250, message: `no priced demo session; output:\n${run.output()}` },
  );
  assert.ok(demo.tokens.output > 0);

  // The second demo session asks to run a command: it waits for an approval, which lets it finish.
  const asking = await waitFor(
    async () =>
      (await sessions()).find(
        (s) => s.current_task?.startsWith('List the files') && s.state === 'waiting_input',
      ),
    {
      timeoutMs: 90_000,
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
