// Acceptance of issue 10 (the parts that are not about enrollment or NATS users): a node with its
// own credential plays each attack of a compromised host through a real WebSocket against the
// whole supervisor, and the fleet is unharmed — the gateway stays up, the other node's session
// keeps its host and its commands, no session is killed by a forged event, the shared NATS
// connection stays connected, the stuck-stream and long-regex cases recover in bounded time,
// and each refusal carries its code.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { jetstreamClient } from '@hal/bus';
import { type EventRecord, LIMITS, makeEnvelope, SYSTEM_NODE, WS_LIMITS } from '@hal/protocol';
import { refusedUpgrade, waitFor } from '@hal/testkit';
import {
  connectPeer,
  event,
  type HostileFleet,
  NODE_TOKENS,
  startHostileFleet,
  type WirePeer,
} from './hostile-harness.ts';

const VICTIM_SESSION = 'ses_victim_1';
const errorOf = (body: unknown) => (body as { error?: { code: string; message: string } }).error;

let fleet: HostileFleet;
let victim: WirePeer;
let mallory: WirePeer;
/** Mallory's next seq: its stream goes on across the tests, as a real agent's would. */
let seq = 0;
const next = () => ++seq;

/** Waits until the policy service has handled everything published so far (it handles in stream order). */
async function policyCaughtUp(label: string): Promise<number> {
  const started = performance.now();
  const session = `ses_sentinel_${label}`;
  const s = next();
  mallory.send('events', {
    events: [
      event('mallory', s, { session, type: 'session.error', data: { kind: 'APIError', message: label } }),
    ],
  });
  await fleet.notifications.wait(
    (n) => n.session === session && n.kind === 'session.error',
    30_000,
    `policy notified the sentinel ${label}`,
  );
  return performance.now() - started;
}

before(async () => {
  fleet = await startHostileFleet();
  victim = await connectPeer(fleet.wsUrl, {
    node: 'victim',
    token: NODE_TOKENS.victim,
    answer: (c) => ({ handled_by: 'victim', command: c.command.type }),
  });
  await victim.hello();
  victim.send('events', {
    events: [
      event('victim', 1, { session: VICTIM_SESSION, type: 'session.created', data: { title: 'real work' } }),
      event('victim', 2, { session: VICTIM_SESSION, type: 'session.busy' }),
    ],
  });
  await victim.waitAck(2);
  mallory = await connectPeer(fleet.wsUrl, {
    node: 'mallory',
    token: NODE_TOKENS.mallory,
    // A compromised host answers commands with what hurts most: a project far too long for a subject.
    answer: (c) => ({ project: 'p'.repeat(100_000), session: `ses_mallory`, command: c.command.type }),
  });
  await mallory.hello();
  mallory.send('events', { events: [event('mallory', next(), { type: 'session.created' })] });
  await mallory.waitAck(seq);
  await waitFor(
    async () => (await fleet.api('viewer', 'GET', `/api/v1/sessions/${VICTIM_SESSION}`)).status === 200,
    { message: 'the victim session is tracked' },
  );
});

after(async () => {
  await victim?.close();
  await mallory?.close();
  await fleet?.close();
});

test('hostile agent - data nested 6,000 levels deep is refused with LIMIT_EXCEEDED and its path; the gateway stays up', async () => {
  // Written as text: JSON.stringify itself overflows the stack on this value, as the gateway did.
  const deep = `${'{"a":'.repeat(6_000)}{"end":true}${'}'.repeat(6_000)}`;
  const s = next();
  const record = JSON.stringify(event('mallory', s, { type: 'message.part', data: { placeholder: true } }));
  const frame = JSON.stringify(makeEnvelope('events', { events: [{}] })).replace(
    '"events":[{}]',
    `"events":[${record.replace('{"placeholder":true}', deep)}]`,
  );
  mallory.sendRaw(frame);
  const refused = await mallory.waitError((e) => e.code === 'LIMIT_EXCEEDED');
  assert.equal(refused.path, `payload.events[0].data${'.a'.repeat(LIMITS.dataDepth)}`);
  assert.deepEqual(refused.rejected_seqs, [s]);
  await mallory.waitAck(s);
  // The same connection still works, and so does everyone else's.
  const good = next();
  mallory.send('events', { events: [event('mallory', good)] });
  await mallory.waitAck(good);
  assert.equal(mallory.ws.readyState, mallory.ws.OPEN);
  assert.equal((await fleet.api('viewer', 'GET', '/api/v1/nodes')).status, 200);
});

test('hostile agent - control-plane event types and reserved names are refused with their codes and counted', async () => {
  const forged = [
    event('mallory', next(), {
      session: null,
      project: '',
      type: 'cost.budget_exceeded',
      data: { budget: 'fleet' },
    }),
    event('mallory', next(), {
      session: null,
      project: '',
      type: 'node.offline',
      data: { reason: 'socket_closed' },
    }),
    event('mallory', next(), { session: null, project: '', type: 'policy.action', data: {} }),
    event('mallory', next(), { session: null, project: '', type: 'audit.record', data: {} }),
    event('mallory', next(), {
      session: VICTIM_SESSION,
      project: 'victim-proj',
      type: 'command.executed',
      data: {},
    }),
  ];
  const before = await fleet.metric('hal_o_swarm_agent_refusals_total', { code: 'EVENT_TYPE_FORBIDDEN' });
  mallory.send('events', { events: forged });
  const refused = await mallory.waitError(
    (e) => e.code === 'EVENT_TYPE_FORBIDDEN' && (e.rejected_seqs?.length ?? 0) === forged.length,
  );
  assert.match(refused.message, /an agent may not publish "cost\.budget_exceeded"/);
  assert.equal(refused.path, 'payload.events[0].type');
  assert.equal(
    (await fleet.metric('hal_o_swarm_agent_refusals_total', { code: 'EVENT_TYPE_FORBIDDEN' })) - before,
    forged.length,
  );
  // The reserved name of the control plane, with a valid node credential.
  for (const name of [SYSTEM_NODE, 'Control-Plane']) {
    const upgrade = await refusedUpgrade(fleet.wsUrl, {
      authorization: `Bearer ${NODE_TOKENS.mallory}`,
      'x-hal-node': name,
    });
    assert.equal(upgrade.status, 403);
    assert.equal(upgrade.body.error.code, 'NODE_NAME_RESERVED');
  }
  assert.ok(
    (await fleet.metric('hal_o_swarm_auth_failures_total', { surface: 'ws', reason: 'reserved_node' })) >= 2,
  );
});

test('hostile agent - a forged cost.budget_exceeded kills nothing; a real one from the control plane still works', async () => {
  mallory.send('events', {
    events: [
      event('mallory', next(), { session: null, project: '', type: 'cost.budget_exceeded', data: {} }),
    ],
  });
  await mallory.waitError(
    (e) => e.code === 'EVENT_TYPE_FORBIDDEN' && e.rejected_seqs?.includes(seq) === true,
  );
  await policyCaughtUp('forged-cost');
  assert.deepEqual(victim.commands, [], 'no command reached the victim');
  assert.deepEqual(
    fleet.events.all.filter((e) => e.type.startsWith('cost.')),
    [],
    'no cost event from an agent reached HAL_EVENTS',
  );
  // Control: the same event, published by the control plane for mallory's project only, is acted on.
  const real: EventRecord = {
    version: 1,
    id: crypto.randomUUID(),
    seq: 0,
    node: SYSTEM_NODE,
    project: 'mallory-proj',
    session: null,
    type: 'cost.budget_exceeded',
    time: new Date().toISOString(),
    data: { budget: 'mallory-proj monthly' },
  };
  await jetstreamClient(fleet.nc).publish(
    `hal.evt.${SYSTEM_NODE}.mallory-proj.cost.budget_exceeded`,
    JSON.stringify(real),
    { msgID: real.id },
  );
  await waitFor(() => mallory.commands.find((c) => c.command.type === 'kill'), {
    timeoutMs: 20_000,
    message: 'kill_on_cost acts on a real budget event',
  });
  assert.deepEqual(victim.commands, [], 'the victim of another project was never killed');
});

test('hostile agent - a node reporting another node’s session is refused, counted and alerted; the session keeps its host and its commands', async () => {
  const s = next();
  mallory.send('events', {
    events: [event('mallory', s, { session: VICTIM_SESSION, project: 'victim-proj', type: 'session.idle' })],
  });
  const refused = await mallory.waitError((e) => e.code === 'SESSION_OWNED_BY_OTHER_NODE');
  assert.deepEqual(refused.rejected_seqs, [s]);
  await mallory.waitAck(s);
  // A snapshot cannot take it either.
  mallory.send('snapshot', {
    sessions: [
      { session: VICTIM_SESSION, project: 'victim-proj', state: 'idle' },
      { session: 'ses_mallory', project: 'mallory-proj', state: 'running' },
    ],
  });
  const snapRefused = await mallory.waitError(
    (e) => e.code === 'SESSION_OWNED_BY_OTHER_NODE' && /snapshot/.test(e.message),
  );
  assert.equal(snapRefused.path, 'payload.sessions[0].session');
  const snapshot = await fleet.events.wait(
    (e) => e.type === 'node.snapshot' && e.node === 'mallory',
    15_000,
    'mallory’s snapshot, filtered',
  );
  assert.deepEqual(
    (snapshot.data.sessions as Array<{ session: string }>).map((x) => x.session),
    ['ses_mallory'],
  );
  // The alert the policy router routes (default route security.* → alerts).
  const alert = await fleet.events.wait((e) => e.type === 'security.session_conflict');
  assert.equal(alert.node, 'mallory');
  assert.equal(alert.session, null);
  assert.equal(alert.data.session_id, VICTIM_SESSION);
  assert.equal(alert.data.owner, 'victim');
  const notice = await fleet.notifications.wait((n) => n.kind === 'security.session_conflict');
  assert.equal(notice.route, 'alerts');
  assert.equal(notice.severity, 'critical');
  assert.ok(
    (await fleet.metric('hal_o_swarm_agent_refusals_total', { code: 'SESSION_OWNED_BY_OTHER_NODE' })) >= 2,
  );
  // The session is still the victim's, in the API and for commands.
  const view = await fleet.api('viewer', 'GET', `/api/v1/sessions/${VICTIM_SESSION}`);
  assert.equal(view.status, 200);
  assert.equal((view.body as { data: { node: string } }).data.node, 'victim');
  const before = mallory.commands.length;
  const inject = await fleet.api('operator', 'POST', `/api/v1/sessions/${VICTIM_SESSION}/inject`, {
    prompt: 'the operator’s prompt',
  });
  assert.equal(inject.status, 200, JSON.stringify(inject.body));
  assert.deepEqual((inject.body as { data: unknown }).data, { handled_by: 'victim', command: 'inject' });
  assert.equal(victim.commands.at(-1)?.command.type, 'inject');
  assert.equal(mallory.commands.length, before, 'the operator’s prompt never went to mallory');
});

test('hostile agent - long SSE filters and a long command-reply project never drop the shared NATS connection', async () => {
  const reconnects = await fleet.metric('hal_o_swarm_nats_reconnects_total');
  // 256 characters that escape to 1,536 bytes each: past the token limit, refused before NATS.
  const wide = encodeURIComponent('é'.repeat(LIMITS.filterChars));
  const cases: Array<[string, number, string]> = [
    [`node=${wide}`, 400, 'LIMIT_EXCEEDED'],
    [`project=${wide}`, 400, 'LIMIT_EXCEEDED'],
    [`node=${'n'.repeat(10_000)}`, 400, 'VALIDATION_FAILED'],
    // Past Node's 16 KiB for the request line and headers: refused by the HTTP parser, still an envelope.
    [`node=${'n'.repeat(100_000)}`, 413, 'PAYLOAD_TOO_LARGE'],
  ];
  for (const [filter, status, code] of cases) {
    const r = await fleet.api('viewer', 'GET', `/api/v1/events/stream?${filter}`);
    assert.equal(r.status, status, filter.slice(0, 40));
    assert.equal(errorOf(r.body)?.code, code, filter.slice(0, 40));
  }
  // The agent's reply names a 100,000-character project: the command succeeds, and its trace is
  // filed under no project (an over-long subject would have made nats-server drop the connection).
  const restart = await fleet.api('operator', 'POST', '/api/v1/sessions/ses_mallory/restart', {});
  assert.equal(restart.status, 200, JSON.stringify(restart.body).slice(0, 200));
  const trace = await fleet.events.wait(
    (e) => e.type === 'command.executed' && e.node === 'mallory' && e.data.command_type === 'restart',
  );
  assert.equal(trace.project, '');
  // Still the same connection: no reconnect, and it still answers.
  assert.equal(await fleet.metric('hal_o_swarm_nats_reconnects_total'), reconnects);
  assert.equal((await fleet.api('viewer', 'GET', '/api/v1/sessions')).status, 200);
  const ok = await fleet.api('viewer', 'GET', `/api/v1/sessions/${VICTIM_SESSION}`);
  assert.equal(ok.status, 200);
});

test('hostile agent - one event larger than a frame is refused by seq: the stream is never stuck', async () => {
  const started = performance.now();
  const big = next();
  mallory.send('events', {
    events: [
      event('mallory', big, {
        type: 'message.part',
        data: { part_type: 'tool', tool_input: { content: 'x'.repeat(2 * WS_LIMITS.maxFrameBytes) } },
      }),
    ],
  });
  const refused = await mallory.waitError((e) => e.code === 'PAYLOAD_TOO_LARGE');
  assert.deepEqual(refused.rejected_seqs, [big]);
  const after = next();
  mallory.send('events', { events: [event('mallory', after)] });
  await mallory.waitAck(after);
  const ms = performance.now() - started;
  assert.ok(ms < 10_000, `recovered in ${Math.round(ms)} ms`);
  assert.equal(mallory.ws.readyState, mallory.ws.OPEN, 'no 1009 close, so no resend loop');
});

test('hostile agent - a quarter-megabyte error message built to make the limit regex backtrack costs the policy loop nothing', async (t) => {
  const s = next();
  const message = 'limit '.repeat(Math.floor((LIMITS.eventBytes - 2_000) / 6));
  mallory.send('events', {
    events: [
      event('mallory', s, {
        session: 'ses_regex',
        type: 'session.error',
        data: { kind: 'APIError', message },
      }),
    ],
  });
  await mallory.waitAck(s);
  const ms = await policyCaughtUp('after-regex');
  t.diagnostic(
    `policy handled a ${message.length}-character error message and the next event in ${Math.round(ms)} ms`,
  );
  assert.ok(ms < 10_000, `policy caught up in ${Math.round(ms)} ms`);
});

test('hostile agent - SSE streams are capped per token with a clear 429', async () => {
  const controllers: AbortController[] = [];
  const open = async () => {
    const c = new AbortController();
    controllers.push(c);
    const res = await fetch(`${fleet.apiUrl}/api/v1/events/stream`, {
      headers: { authorization: 'Bearer viewer-api-token-0123456789' },
      signal: c.signal,
    });
    return res;
  };
  try {
    for (let i = 0; i < 3; i++) assert.equal((await open()).status, 200);
    const fourth = await open();
    assert.equal(fourth.status, 429);
    const body = (await fourth.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'RATE_LIMITED');
    assert.match(body.error.message, /security\.max_sse_streams_per_token is 3/);
    // Another token is not affected.
    const admin = await fetch(`${fleet.apiUrl}/api/v1/events/stream`, {
      headers: { authorization: 'Bearer admin-api-token-0123456789' },
      signal: AbortSignal.timeout(5_000),
    });
    assert.equal(admin.status, 200);
    await admin.body?.cancel();
  } finally {
    for (const c of controllers) c.abort();
  }
  // A closed stream gives its slot back.
  await waitFor(
    async () => {
      const c = new AbortController();
      const res = await open().catch(() => undefined);
      c.abort();
      return res?.status === 200;
    },
    { message: 'a slot is free again' },
  );
  for (const c of controllers) c.abort();
});

test('hostile agent - refused credentials are counted by surface and reason', async () => {
  const wsBefore = await fleet.metric('hal_o_swarm_auth_failures_total', {
    surface: 'ws',
    reason: 'invalid_token',
  });
  const ws = await refusedUpgrade(fleet.wsUrl, {
    authorization: 'Bearer not-a-real-token-0123456789',
    'x-hal-node': 'nobody',
  });
  assert.equal(ws.status, 401);
  const stolen = await refusedUpgrade(fleet.wsUrl, {
    authorization: `Bearer ${NODE_TOKENS.mallory}`,
    'x-hal-node': 'victim',
  });
  assert.equal(stolen.status, 403);
  const bad = await fleet.api({ authorization: 'Bearer wrong-token-0123456789' }, 'GET', '/api/v1/nodes');
  assert.equal(bad.status, 401);
  const none = await fleet.api({}, 'GET', '/api/v1/nodes');
  assert.equal(none.status, 401);
  const role = await fleet.api('viewer', 'POST', `/api/v1/sessions/${VICTIM_SESSION}/kill`, {});
  assert.equal(role.status, 403);
  assert.equal(errorOf(role.body)?.code, 'FORBIDDEN');
  await waitFor(
    async () =>
      (await fleet.metric('hal_o_swarm_auth_failures_total', { surface: 'api', reason: 'role' })) >= 1,
  );
  assert.equal(
    (await fleet.metric('hal_o_swarm_auth_failures_total', { surface: 'ws', reason: 'invalid_token' })) -
      wsBefore,
    1,
  );
  assert.ok(
    (await fleet.metric('hal_o_swarm_auth_failures_total', { surface: 'ws', reason: 'wrong_node' })) >= 1,
  );
  assert.ok(
    (await fleet.metric('hal_o_swarm_auth_failures_total', { surface: 'api', reason: 'invalid_token' })) >= 1,
  );
  assert.ok(
    (await fleet.metric('hal_o_swarm_auth_failures_total', { surface: 'api', reason: 'missing_token' })) >= 1,
  );
  assert.deepEqual(
    victim.commands.filter((c) => c.command.type === 'kill'),
    [],
    'the refused kill never ran',
  );
});
