import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { NatsUser, natsAuthorizationConfig, natsPermissions } from '@hal/protocol';

/** NATS subject matching: `*` one token, `>` the rest. */
function matches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return s.length > i;
    if (i >= s.length || (p[i] !== '*' && p[i] !== s[i])) return false;
  }
  return p.length === s.length;
}

const mayPublish = (user: NatsUser, subject: string) => {
  const rule = natsPermissions[user].publish;
  return rule.allow.some((a) => matches(a, subject)) && !(rule.deny ?? []).some((d) => matches(d, subject));
};
const maySubscribe = (user: NatsUser, subject: string) =>
  natsPermissions[user].subscribe.allow.some((a) => matches(a, subject));

test('nats users - who may command hosts, write events and read what', () => {
  const cmd = 'hal.cmd.node-a';
  assert.deepEqual(
    Object.values(NatsUser).filter((u) => mayPublish(u, cmd)),
    ['gateway', 'policy', 'discord-bridge', 'admin'],
  );
  assert.deepEqual(
    Object.values(NatsUser).filter((u) => mayPublish(u, 'hal.evt.node-a.web.session.idle')),
    ['gateway', 'admin'],
  );
  assert.equal(mayPublish('policy', 'hal.evt.node-a.web.policy.action'), true);
  assert.equal(mayPublish('cost-poller', 'hal.evt.%.%.cost.budget_exceeded'), true);
  assert.equal(mayPublish('cost-poller', 'hal.evt.node-a.web.session.error'), false);
  assert.deepEqual(natsPermissions.tap, {
    publish: { allow: [], deny: ['>'] },
    subscribe: { allow: ['hal.evt.>'] },
  });
  assert.equal(maySubscribe('tap', '_INBOX.x.y'), false);
  for (const user of ['tracker', 'cost-poller', 'policy'] as const) {
    assert.equal(natsPermissions[user].allowResponsesSec, 900, `${user} answers its queries`);
  }
  assert.equal(maySubscribe('tracker', 'hal.q.tracker.sessions_list'), true);
  assert.equal(maySubscribe('tracker', 'hal.cmd.node-a'), false);
  for (const user of Object.values(NatsUser).filter((u) => u !== 'admin' && u !== 'supervisor')) {
    assert.equal(
      mayPublish(user, '$JS.API.STREAM.DELETE.HAL_EVENTS'),
      false,
      `${user} cannot delete a stream`,
    );
    assert.equal(mayPublish(user, '$JS.API.STREAM.PURGE.HAL_AUDIT'), false, `${user} cannot purge the audit`);
  }
});

test('nats users - the server config block is JSON nats-server reads, with allow_responses where a user answers', () => {
  const text = natsAuthorizationConfig([
    { user: 'tracker', password: 'p"w\\1', permissions: natsPermissions.tracker },
    { user: 'admin', password: 'x' },
  ]);
  assert.match(text, /^authorization: \{/);
  const block = JSON.parse(text.slice('authorization: '.length)) as {
    users: Array<{ user: string; password: string; permissions?: Record<string, unknown> }>;
  };
  assert.equal(block.users[0]?.password, 'p"w\\1');
  assert.deepEqual(block.users[0]?.permissions?.allow_responses, { max: 1, expires: '900s' });
  assert.deepEqual((block.users[0]?.permissions?.publish as { deny?: string[] } | undefined)?.deny, [
    'hal.cmd.>',
    'hal.evt.>',
    'hal.audit.>',
    'hal.notify.>',
  ]);
  assert.equal(block.users[1]?.permissions, undefined);
});

test('nats users - docs/NATS.md has a row for every user', () => {
  const doc = readFileSync(fileURLToPath(new URL('../../../docs/NATS.md', import.meta.url)), 'utf8');
  for (const user of Object.values(NatsUser))
    assert.match(doc, new RegExp(`^\\| \`${user}\` +\\|`, 'm'), user);
});

test('nats users - each service writes only its own leader lease, and the bucket its role shares', () => {
  const leases = {
    policy: ['policy'],
    'cost-poller': ['cost-poller', 'cost-budgets'],
    'discord-bridge': ['discord-bridge'],
  } as const;
  for (const user of Object.values(NatsUser).filter((u) => u !== 'admin')) {
    const own: readonly string[] = leases[user as keyof typeof leases] ?? [];
    for (const key of ['policy', 'cost-poller', 'cost-budgets', 'discord-bridge', 'other']) {
      assert.equal(mayPublish(user, `$KV.HAL_LEASES.${key}`), own.includes(key), `${user} → ${key}`);
    }
  }
  assert.equal(mayPublish('cost-poller', '$KV.HAL_COST_BILLING.d.anthropic.2026-11-20'), true);
  assert.equal(mayPublish('cost-poller', '$KV.HAL_COST_ALERTS.abc'), true);
  assert.equal(mayPublish('policy', '$KV.HAL_COST_BILLING.d.anthropic.2026-11-20'), false);
});
