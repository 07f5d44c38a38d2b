import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { jetstreamClient } from '@hal/bus';
import { type LogEntry, type NodeView, type SessionView, StreamName } from '@hal/protocol';
import {
  type LlmUsage,
  type OpencodeServer,
  type ScriptedLlm,
  startOpencode,
  startScriptedLlm,
  waitFor,
} from '@hal/testkit';
import { type Fleet, jsonOf, startAgent, startFleet, type TestAgent } from './fleet-harness.ts';

// Issue 5 acceptance on the real stack: one supervisor process (tracker, cost-poller, policy,
// gateway, HTTP API) on a nats-server the test controls, two real agents sharing ONE real opencode
// (opencode scopes sessions by directory, so alpha watches web+api and beta watches docs), one
// scripted LLM, and every check made through the halctl bin the way an operator would.
const TITLE = 'Fleet title';
let llm: ScriptedLlm;
let opencode: OpencodeServer;
let fleet: Fleet;
const agents: TestAgent[] = [];

interface Planned {
  node: string;
  project: string;
  prompt: string;
  reply: string;
  usage: LlmUsage;
  /** The tokens the tracker must show: opencode's input excludes the cached part. */
  tokens: { input: number; output: number; reasoning: number; cache_read: number; cache_write: number };
  session?: string;
}

const plan: Planned[] = [
  {
    node: 'alpha',
    project: 'web',
    prompt: 'build the landing page',
    reply: 'Landing page built by alpha.',
    usage: { prompt_tokens: 1200, completion_tokens: 34, prompt_tokens_details: { cached_tokens: 200 } },
    tokens: { input: 1000, output: 34, reasoning: 0, cache_read: 200, cache_write: 0 },
  },
  {
    node: 'alpha',
    project: 'api',
    prompt: 'add the health endpoint',
    reply: 'Health endpoint added on alpha.',
    usage: { prompt_tokens: 700, completion_tokens: 21 },
    tokens: { input: 700, output: 21, reasoning: 0, cache_read: 0, cache_write: 0 },
  },
  {
    node: 'beta',
    project: 'docs',
    prompt: 'write the install guide',
    reply: 'Install guide written on beta.',
    usage: { prompt_tokens: 450, completion_tokens: 12 },
    tokens: { input: 450, output: 12, reasoning: 0, cache_read: 0, cache_write: 0 },
  },
];

const project = (name: string) => {
  const p = opencode.projects.find((x) => x.name === name);
  if (p === undefined) throw new Error(`no project ${name}`);
  return p;
};

const sessionOf = (i: number): string => {
  const id = plan[i]?.session;
  if (id === undefined) throw new Error(`session ${i} was not started`);
  return id;
};

async function sessionView(id: string): Promise<SessionView> {
  const r = await fleet.api<{ data: SessionView }>(`/api/v1/sessions/${encodeURIComponent(id)}`);
  if (r.status !== 200) throw new Error(`GET session ${id}: ${r.status}`);
  return r.body.data;
}

before(async () => {
  llm = await startScriptedLlm({ titleText: TITLE });
  fleet = await startFleet();
  // opencode and the supervisor start side by side: neither needs the other before the agents connect.
  await Promise.all([
    startOpencode({ llm, projects: [{ name: 'web' }, { name: 'api' }, { name: 'docs' }] }).then((o) => {
      opencode = o;
    }),
    fleet.startSupervisor(),
  ]);
  const agent = async (node: string, projects: string[]) =>
    agents.push(
      await startAgent({
        node,
        supervisorUrl: fleet.wsUrl,
        opencodeUrl: opencode.url,
        projects: projects.map(project),
      }),
    );
  await Promise.all([agent('alpha', ['web', 'api']), agent('beta', ['docs'])]);
});

after(async () => {
  for (const a of agents) await a.stop();
  await fleet?.close();
  await opencode?.stop();
  await llm?.stop();
});

test('fleet e2e - halctl nodes list shows alpha and beta online with their projects', async () => {
  const nodes = await waitFor(
    async () => {
      const list = jsonOf<NodeView[]>(await fleet.halctl(['nodes', 'list', '--json']));
      return list.length === 2 && list.every((n) => n.status === 'online') ? list : undefined;
    },
    { timeoutMs: 20_000, intervalMs: 200, message: 'both nodes online in halctl nodes list' },
  );
  const byNode = new Map(nodes.map((n) => [n.node, n]));
  assert.deepEqual(byNode.get('alpha')?.projects, [project('web'), project('api')]);
  assert.deepEqual(byNode.get('beta')?.projects, [project('docs')]);

  const table = await fleet.halctl(['nodes', 'list']);
  assert.equal(table.code, 0, table.stderr);
  const lines = table.stdout.trimEnd().split('\n');
  assert.match(lines[0] ?? '', /^NODE\s+STATUS\s+SESSIONS\s+PROJECTS\s+AGENT\s+LAST HEARTBEAT\s+CLOCK SKEW$/);
  assert.match(lines.find((l) => l.startsWith('alpha')) ?? '', /^alpha\s+online\s+0\s+web,api\s/);
  assert.match(lines.find((l) => l.startsWith('beta')) ?? '', /^beta\s+online\s+0\s+docs\s/);
});

test('fleet e2e - three sessions started with halctl: list, get and logs show what opencode did', async () => {
  // One turn at a time: the scripted replies are a queue, so each session gets its own reply.
  for (const p of plan) {
    llm.script({ text: p.reply, usage: p.usage });
    const started = jsonOf<{ session: string; project: string; prompted: boolean }>(
      await fleet.halctl([
        'sessions',
        'start',
        '--project',
        p.project,
        '--node',
        p.node,
        '--prompt',
        p.prompt,
        '--json',
      ]),
    );
    assert.equal(started.project, p.project);
    assert.equal(started.prompted, true);
    assert.match(started.session, /^ses_/);
    p.session = started.session;
    await waitFor(
      async () => {
        const s = await sessionView(started.session);
        return s.state === 'idle' && s.title === TITLE && s.tokens.output === p.tokens.output;
      },
      {
        timeoutMs: 30_000,
        intervalMs: 100,
        message: `${p.node}/${p.project} idle with its title and tokens`,
      },
    );
  }
  assert.equal(llm.pending(), 0, 'every scripted reply was used');
  for (const p of plan)
    assert.equal(llm.chatRequests(p.prompt).length, 1, `one model call for "${p.prompt}"`);

  const list = jsonOf<SessionView[]>(await fleet.halctl(['sessions', 'list', '--json']));
  assert.deepEqual(list.map((s) => s.session).sort(), plan.map((p) => p.session).sort());
  for (const p of plan) {
    const s = list.find((x) => x.session === p.session);
    assert.ok(s !== undefined);
    assert.equal(s.node, p.node);
    assert.equal(s.project, p.project);
    assert.equal(s.state, 'idle');
    assert.equal(s.title, TITLE);
    assert.deepEqual(s.tokens, p.tokens);
    assert.equal(s.model, 'fake-model');
    assert.equal(s.current_task, p.prompt);
    assert.equal(s.errors, 0);
  }

  const table = await fleet.halctl(['sessions', 'list']);
  assert.equal(table.code, 0, table.stderr);
  for (const p of plan) {
    const line = table.stdout.split('\n').find((l) => l.startsWith(p.session ?? '?')) ?? '';
    assert.match(
      line,
      new RegExp(
        `^${p.session}\\s+${p.node}\\s+${p.project}\\s+idle\\s+${TITLE}\\s+${p.tokens.input}/${p.tokens.output}\\s`,
      ),
    );
  }

  const onAlpha = jsonOf<SessionView[]>(
    await fleet.halctl(['sessions', 'list', '--node', 'alpha', '--json']),
  );
  assert.deepEqual(onAlpha.map((s) => s.session).sort(), [sessionOf(0), sessionOf(1)].sort());

  const first = plan[0] as Planned;
  const got = jsonOf<SessionView>(await fleet.halctl(['sessions', 'get', sessionOf(0), '--json']));
  assert.deepEqual(
    got,
    list.find((s) => s.session === first.session),
  );
  const fields = await fleet.halctl(['sessions', 'get', sessionOf(0)]);
  assert.equal(fields.code, 0, fields.stderr);
  assert.match(fields.stdout, /^session:\s+ses_/m);
  assert.match(fields.stdout, /^node:\s+alpha$/m);
  assert.match(fields.stdout, /^state:\s+idle$/m);
  assert.match(fields.stdout, new RegExp(`^title:\\s+${TITLE}$`, 'm'));
  assert.match(fields.stdout, /^tokens:\s+in 1000, out 34, reasoning 0, cache r\/w 200\/0$/m);

  for (const p of plan) {
    const logs = await fleet.halctl(['sessions', 'logs', p.session ?? '?']);
    assert.equal(logs.code, 0, logs.stderr);
    const lines = logs.stdout.trimEnd().split('\n');
    assert.ok(lines.includes(`[user] ${p.prompt}`), logs.stdout);
    assert.ok(lines.includes(`[assistant] ${p.reply}`), logs.stdout);
  }
  const jsonLogs = await fleet.halctl(['sessions', 'logs', sessionOf(2), '--json']);
  assert.equal(jsonLogs.code, 0, jsonLogs.stderr);
  const entries = jsonLogs.stdout
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as LogEntry);
  assert.deepEqual(
    entries.filter((e) => e.role === 'assistant' && e.kind === 'text').map((e) => e.text),
    [plan[2]?.reply],
  );
});

test('fleet e2e - halctl inject reaches the LLM through opencode; kill aborts a busy session in opencode', async () => {
  const injected = `fleet-inject-${crypto.randomUUID()}`;
  llm.script({ text: 'Injected prompt answered.', usage: { prompt_tokens: 100, completion_tokens: 5 } });
  const inj = await fleet.halctl(['sessions', 'inject', sessionOf(0), injected]);
  assert.equal(inj.code, 0, inj.stderr);
  assert.equal(
    inj.stdout,
    `ok: inject session ${sessionOf(0)} on node alpha {"session":"${sessionOf(0)}","injected":true}\n`,
  );
  await waitFor(() => llm.chatRequests(injected).length === 1, {
    timeoutMs: 20_000,
    message: 'the injected prompt reached the model',
  });
  const afterInject = await waitFor(
    async () => {
      const s = await sessionView(sessionOf(0));
      return s.state === 'idle' && s.tokens.output === 34 + 5 ? s : undefined;
    },
    { timeoutMs: 20_000, intervalMs: 100, message: 'the injected turn is counted' },
  );
  assert.deepEqual(afterInject.tokens, {
    input: 1100,
    output: 39,
    reasoning: 0,
    cache_read: 200,
    cache_write: 0,
  });
  const logs = await fleet.halctl(['sessions', 'logs', sessionOf(0)]);
  assert.ok(logs.stdout.includes(`[user] ${injected}\n[assistant] Injected prompt answered.\n`), logs.stdout);

  // A slow turn on beta's session, killed while opencode waits on the model.
  const slow = `fleet-slow-${crypto.randomUUID()}`;
  // Long enough that a slow machine still sees the turn busy; the kill ends it long before.
  llm.script({ text: 'never finished', delayMs: 45_000 });
  const busy = await fleet.halctl(['sessions', 'inject', sessionOf(2), slow, '--json']);
  assert.deepEqual(jsonOf(busy), { session: sessionOf(2), injected: true });
  await waitFor(
    async () => llm.chatRequests(slow).length === 1 && (await sessionView(sessionOf(2))).state === 'running',
    { timeoutMs: 60_000, intervalMs: 100, message: 'beta session running and waiting on the model' },
  );
  const kill = await fleet.halctl(['sessions', 'kill', sessionOf(2), '--json']);
  assert.deepEqual(jsonOf(kill), { session: sessionOf(2), aborted: true });
  const killed = await waitFor(
    async () => {
      const s = await sessionView(sessionOf(2));
      return s.state === 'killed' ? s : undefined;
    },
    { timeoutMs: 15_000, intervalMs: 100, message: 'the tracker shows the session killed' },
  );
  assert.equal(killed.node, 'beta');
  const dir = encodeURIComponent(project('docs').directory);
  const messages = (await (
    await fetch(`${opencode.url}/session/${sessionOf(2)}/message?directory=${dir}`)
  ).json()) as Array<{ info: { role: string; error?: { name: string } } }>;
  assert.equal(
    messages.filter((m) => m.info.role === 'assistant').at(-1)?.info.error?.name,
    'MessageAbortedError',
    'opencode recorded the abort',
  );
  const table = await fleet.halctl(['sessions', 'list', '--state', 'killed']);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, new RegExp(`^${sessionOf(2)}\\s+beta\\s+docs\\s+killed\\s`, 'm'));
});

interface Answers {
  sessions: SessionView[];
  nodes: Array<Pick<NodeView, 'node' | 'status' | 'projects' | 'sessions'>>;
}

/** What the operator sees: every session field, and nodes without the moving heartbeat fields. */
async function answers(): Promise<Answers> {
  const sessions = jsonOf<SessionView[]>(await fleet.halctl(['sessions', 'list', '--json']));
  const nodes = jsonOf<NodeView[]>(await fleet.halctl(['nodes', 'list', '--json'])).map((n) => ({
    node: n.node,
    status: n.status,
    projects: n.projects,
    sessions: n.sessions,
  }));
  return {
    sessions: [...sessions].sort((a, b) => a.session.localeCompare(b.session)),
    nodes: [...nodes].sort((a, b) => a.node.localeCompare(b.node)),
  };
}

/** Waits until `view(answers())` equals `expected`; on timeout fails with the last difference. */
async function settlesTo<T>(view: (a: Answers) => T, expected: T, what: string): Promise<Answers> {
  // Agents reconnect after a restart; the answers settle once their snapshots are projected.
  let last: Answers | undefined;
  try {
    return await waitFor(
      async () => {
        last = await answers();
        assert.deepEqual(view(last), expected);
        return last;
      },
      { timeoutMs: 30_000, intervalMs: 500, message: what },
    );
  } catch (err) {
    assert.deepEqual(
      last === undefined ? undefined : view(last),
      expected,
      `${what}: ${(err as Error).message}`,
    );
    throw err;
  }
}

/**
 * After a restart the agents reconnect and send snapshots; returns once the tracker has projected
 * a snapshot of both nodes stored after stream position `mark` (its event index says so).
 */
async function reconnected(mark: number): Promise<void> {
  await waitFor(
    async () => {
      const r = await fleet.api<{ data: Array<{ node: string }> }>(
        `/api/v1/events?type=node.snapshot&after_seq=${mark}`,
      );
      const nodes = new Set(r.status === 200 ? r.body.data.map((e) => e.node) : []);
      return nodes.has('alpha') && nodes.has('beta');
    },
    { timeoutMs: 30_000, intervalMs: 250, message: 'both agents reconnected and their snapshots projected' },
  );
}

/** The stream's last sequence now: everything after it happened after this call. */
async function lastSeq(): Promise<number> {
  const jsm = await jetstreamClient(fleet.nc).jetstreamManager();
  return (await jsm.streams.info(StreamName.EVENTS)).state.last_seq;
}

const identity = (a: Answers): Answers => a;

test('fleet e2e - after a supervisor restart on the same data_dir the API answers the same sessions and nodes', async () => {
  const beforeRestart = await answers();
  assert.equal(beforeRestart.sessions.length, 3);
  assert.deepEqual(beforeRestart.nodes, [
    { node: 'alpha', status: 'online', projects: [project('web'), project('api')], sessions: 2 },
    { node: 'beta', status: 'online', projects: [project('docs')], sessions: 1 },
  ]);
  assert.deepEqual(beforeRestart.sessions.map((s) => s.state).sort(), ['idle', 'idle', 'killed']);

  const mark = await lastSeq();
  await fleet.stopSupervisor();
  await fleet.startSupervisor();
  await reconnected(mark);
  // The agents' reconnect snapshots say "idle" for the killed session and name models their own
  // way; the answers must still be exactly the same (killed stays killed, models keep their form).
  const after = await settlesTo(identity, beforeRestart, 'same sessions and nodes after the restart');
  for (const i of [0, 1]) assert.equal(after.sessions.find((s) => s.session === sessionOf(i))?.state, 'idle');
});

test('fleet e2e - with the tracker database deleted the supervisor rebuilds the same answers from HAL_EVENTS', async () => {
  const before = await answers();
  assert.equal(before.sessions.length, 3);
  // Before the stop: the embedded nats-server stops with the supervisor.
  const mark = await lastSeq();
  await fleet.stopSupervisor();
  const files = (await readdir(fleet.dataDir)).filter((f) => f.startsWith('tracker.sqlite'));
  assert.ok(files.includes('tracker.sqlite'), `tracker database in data_dir: ${files.join(',')}`);
  for (const f of files) rmSync(join(fleet.dataDir, f));
  await fleet.startSupervisor();
  await reconnected(mark);
  await settlesTo(identity, before, 'same sessions and nodes rebuilt from the stream');
  const rebuilt = await readdir(fleet.dataDir);
  assert.ok(rebuilt.includes('tracker.sqlite'), 'a new database was written');
});

test('fleet e2e - every service stayed within its own NATS user: the embedded server refused nothing', () => {
  assert.deepEqual(fleet.violations(), []);
});
