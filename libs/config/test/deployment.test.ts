import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig, runValidate } from '@hal/config';
import { escapeToken, subjects, unescapeToken } from '@hal/protocol';
import { memorySink, TOKEN, tempDir } from './fixtures.ts';

const problemsOf = (role: 'supervisor' | 'agent', raw: object) => {
  const result = readResult(role, raw);
  return result.ok ? [] : (result.problems ?? []);
};

function readResult(role: 'supervisor' | 'agent', raw: object) {
  try {
    parseConfig(role, raw);
    return { ok: true };
  } catch (err) {
    return { ok: false, problems: (err as { problems: { path: string; message: string }[] }).problems };
  }
}

test('config deployment - heartbeat keys are accepted inside server, as the product README writes them', () => {
  const c = parseConfig('supervisor', {
    server: { auth_token: TOKEN, heartbeat_interval_sec: 15, heartbeat_timeout_count: 4 },
  });
  assert.equal(c.heartbeat_interval_sec, 15);
  assert.equal(c.heartbeat_timeout_count, 4);
  // Both places with the same value: fine.
  const same = parseConfig('supervisor', {
    heartbeat_interval_sec: 15,
    server: { auth_token: TOKEN, heartbeat_interval_sec: 15 },
  });
  assert.equal(same.heartbeat_interval_sec, 15);
});

test('config deployment - heartbeat keys in server and at the top level with different values: --validate says so', (t) => {
  const { dir, write } = tempDir(t);
  const file = write(
    's.json',
    JSON.stringify({
      heartbeat_interval_sec: 30,
      server: { auth_token: TOKEN, heartbeat_interval_sec: 10 },
    }),
  );
  const err = memorySink();
  assert.equal(runValidate('supervisor', file, memorySink(), err, { env: {}, cwd: dir }), 1);
  assert.equal(
    err.text(),
    'server.heartbeat_interval_sec: is 10 here but 30 at the top level (heartbeat_interval_sec): the two disagree, keep only one; the supervisor will not start until this is fixed\n' +
      '1 problem(s) found in the supervisor config\n',
  );
});

test('config deployment - project names: any Unicode text safe as a subject token once escaped (Korean names)', () => {
  const names = ['한국어-프로젝트', '프로젝트 1', 'café.api', 'data/2024', '🚀 launch', 'a.b*c>d'];
  const c = parseConfig('agent', {
    auth_token: TOKEN,
    projects: names.map((name, i) => ({ name, directory: `/srv/p${i}` })),
  });
  assert.deepEqual(
    c.projects.map((p) => p.name),
    names,
  );
  for (const name of names) {
    const subject = subjects.event('node-1', name, 'session.idle');
    const token = subject.split('.')[3] ?? '';
    assert.match(token, /^[A-Za-z0-9_%-]+$/, `one literal token for ${name}`);
    assert.equal(unescapeToken(escapeToken(name)), name);
  }
});

test('config deployment - project names that could not be shown or escaped back are refused, naming the project', () => {
  const cases: Array<[string, RegExp]> = [
    ['', /at least 1/],
    ['line\nbreak', /control characters/],
    ['tab\there', /control characters/],
    [' padded', /white space/],
    ['broken\uD800', /surrogate/],
    ['x'.repeat(129), /at most 128/],
  ];
  for (const [name, message] of cases) {
    const problems = problemsOf('agent', { auth_token: TOKEN, projects: [{ name, directory: '/srv/p' }] });
    assert.equal(problems.length, 1, JSON.stringify({ name, problems }));
    assert.equal(problems[0]?.path, 'projects[0].name');
    assert.match(problems[0]?.message ?? '', message);
  }
});

test('config deployment - a placeholder or short token is refused everywhere a secret goes', () => {
  for (const token of [
    '<secret>',
    '<put a long random token here>',
    'changeme-changeme-1',
    ['$', '{HAL_TOKEN_VALUE}'].join(''), // a shell variable someone forgot to expand
  ]) {
    const problems = problemsOf('supervisor', { server: { auth_token: token } });
    assert.deepEqual(
      problems.map((p) => p.path),
      ['server.auth_token'],
      token,
    );
    assert.match(problems[0]?.message ?? '', /placeholder|at least 16/);
    assert.ok(!(problems[0]?.message ?? '').includes(token), 'the value itself is never echoed');
  }
  const agent = problemsOf('agent', { auth_token: '<secret>', projects: [{ name: 'p', directory: '/p' }] });
  assert.deepEqual(
    agent.map((p) => p.path),
    ['auth_token'],
  );
  const others = problemsOf('supervisor', {
    server: { auth_token: TOKEN },
    nats: { token: 'CHANGEME' },
    cost: { providers: { anthropic: { admin_api_key: '<key>' } } },
    channels: { discord: { bot_token: '<bot token>', guild_id: '123456789012345678' } },
    security: { api_tokens: [{ name: 'ci', token: '<ci token, 32 chars or more>', role: 'viewer' }] },
  });
  assert.deepEqual(others.map((p) => p.path).sort(), [
    'channels.discord.bot_token',
    'cost.providers.anthropic.admin_api_key',
    'nats.token',
    'security.api_tokens[0].token',
  ]);
  for (const p of others) assert.match(p.message, /looks like a placeholder/);
});

test('config deployment - nats.replicas defaults to 1 and takes 1 to 5', () => {
  assert.equal(parseConfig('supervisor', { server: { auth_token: TOKEN } }).nats.replicas, 1);
  assert.equal(
    parseConfig('supervisor', { server: { auth_token: TOKEN }, nats: { replicas: 3 } }).nats.replicas,
    3,
  );
  const problems = problemsOf('supervisor', { server: { auth_token: TOKEN }, nats: { replicas: 0 } });
  assert.deepEqual(
    problems.map((p) => p.path),
    ['nats.replicas'],
  );
});

test('config deployment - supervisor_url is one gateway URL or a list tried in turn; a bad list is refused', () => {
  const base = { auth_token: TOKEN, projects: [{ name: 'p', directory: '/srv/p' }] };
  assert.equal(
    parseConfig('agent', { ...base, supervisor_url: 'wss://a.example' }).supervisor_url,
    'wss://a.example',
  );
  assert.deepEqual(
    parseConfig('agent', { ...base, supervisor_url: ['wss://a.example', 'wss://b.example:8420'] })
      .supervisor_url,
    ['wss://a.example', 'wss://b.example:8420'],
  );
  const cases: Array<[unknown, RegExp]> = [
    [[], /lists no gateway URL/],
    [['wss://a.example', 'wss://a.example'], /lists a gateway URL twice/],
    [['wss://a.example', 'http://b.example'], /must be a ws:\/\/ or wss:\/\/ URL/],
    [Array.from({ length: 17 }, (_, i) => `wss://g${i}.example`), /more than 16 gateway URLs/],
  ];
  for (const [supervisor_url, message] of cases) {
    const problems = problemsOf('agent', { ...base, supervisor_url });
    assert.ok(
      problems.some((p) => p.path.startsWith('supervisor_url') && message.test(p.message)),
      `${JSON.stringify(supervisor_url)}: ${JSON.stringify(problems)}`,
    );
  }
});
