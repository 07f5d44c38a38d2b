import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { jetstreamClient } from '@hal/bus';
import { type AuditRecord, auditRecordSchema, StreamName } from '@hal/protocol';
import { waitFor } from '@hal/testkit';
import { REFUSALS_PER_WINDOW } from '../src/api/refusal-audit.ts';
import { type ApiFixture, apiConfig, bearer, startApiFixture, TOKENS } from './api-stand-ins.ts';

// Every refused attempt at a mutating route is audited with who (or from where) and why.
let fx: ApiFixture;
before(async () => {
  const config = apiConfig();
  config.security.origin_allowlist = ['https://hal.example'];
  fx = await startApiFixture({ config });
});
after(async () => {
  await fx.stop();
});

/** Every audit record so far, oldest first, read from the stream itself. */
async function audit(): Promise<AuditRecord[]> {
  const js = jetstreamClient(fx.nc);
  const jsm = await js.jetstreamManager();
  const last = (await jsm.streams.info(StreamName.AUDIT)).state.last_seq;
  const out: AuditRecord[] = [];
  for (let seq = 1; seq <= last; seq++) {
    const m = await jsm.streams.getMessage(StreamName.AUDIT, { seq }).catch(() => null);
    if (m) out.push(auditRecordSchema.parse(m.json()));
  }
  return out;
}

async function newRecords(before: number, count: number): Promise<AuditRecord[]> {
  return waitFor(
    async () => {
      const all = await audit();
      return all.length >= before + count ? all.slice(before) : undefined;
    },
    { message: `${count} new audit record(s)` },
  );
}

const kill = (headers: Record<string, string>, session = 's1') =>
  fx.api.app.inject({ method: 'POST', url: `/api/v1/sessions/${session}/kill`, headers, payload: {} });

test('api refusal audit - no token and a wrong token on a kill are audited as unauthenticated with the remote and reason', async () => {
  const before = (await audit()).length;
  assert.equal((await kill({})).statusCode, 401);
  assert.equal(
    (await kill({ ...bearer('guessed-token-0123456789'), 'x-forwarded-for': '9.9.9.9' })).statusCode,
    401,
  );
  const [missing, wrong] = await newRecords(before, 2);
  for (const r of [missing!, wrong!]) {
    assert.deepEqual(r.actor, { kind: 'user', id: 'unauthenticated' });
    assert.equal(r.action, 'session.kill');
    assert.deepEqual(r.target, { session: 's1' });
    assert.equal(r.params?.remote, '127.0.0.1');
    assert.equal(r.source, 'http-api');
    assert.equal(r.result.ok, false);
    assert.equal(r.result.code, 'UNAUTHORIZED');
  }
  assert.equal(missing!.params?.reason, 'missing_token');
  assert.equal(wrong!.params?.reason, 'invalid_token');
  // The token itself is never written anywhere in the record.
  assert.doesNotMatch(JSON.stringify(wrong), /guessed-token/);
});

test('api refusal audit - a viewer refused a kill is audited as itself with FORBIDDEN and the message', async () => {
  const before = (await audit()).length;
  const res = await kill(bearer(TOKENS.viewer));
  assert.equal(res.statusCode, 403);
  const [r] = await newRecords(before, 1);
  assert.deepEqual(r!.actor, { kind: 'user', id: 'vera' });
  assert.equal(r!.action, 'session.kill');
  assert.deepEqual(r!.target, { session: 's1' });
  assert.equal(r!.params?.reason, 'role');
  assert.deepEqual(r!.result, {
    ok: false,
    code: 'FORBIDDEN',
    message: 'POST /api/v1/sessions/:id/kill needs the operator role; token "vera" is viewer',
  });
  assert.equal(fx.received.filter((c) => c.command.type === 'kill').length, 0);
});

test('api refusal audit - a foreign browser origin and a body refused before the handler are audited; reads are not', async () => {
  const before = (await audit()).length;
  const origin = await kill({ ...bearer(TOKENS.operator), origin: 'https://evil.example' });
  assert.equal(origin.statusCode, 403);
  const badJson = await fx.api.app.inject({
    method: 'POST',
    url: '/api/v1/sessions/s1/inject',
    headers: { ...bearer(TOKENS.operator), 'content-type': 'application/json' },
    payload: '{"prompt": ',
  });
  assert.equal(badJson.statusCode, 400);
  const originNoToken = await kill({ authorization: 'Bearer wrong-token', origin: 'https://evil.example' });
  assert.equal(originNoToken.statusCode, 403);
  // A refused read is counted and logged (auth failures), not audited: it changed nothing.
  const read = await fx.api.app.inject({ method: 'GET', url: '/api/v1/sessions/s1' });
  assert.equal(read.statusCode, 401);
  const [o, b, n] = await newRecords(before, 3);
  // The origin is checked before the token; the refusal still names the holder of a valid token.
  assert.deepEqual(o!.actor, { kind: 'user', id: 'otto' });
  assert.equal(o!.params?.reason, 'origin');
  assert.equal(o!.result.code, 'ORIGIN_NOT_ALLOWED');
  assert.equal(b!.action, 'session.inject');
  assert.deepEqual(b!.actor, { kind: 'user', id: 'otto' });
  assert.equal(b!.result.code, 'VALIDATION_FAILED');
  assert.match(b!.result.message ?? '', /invalid JSON body/);
  // Without a valid token, the same refusal is the address's.
  assert.deepEqual(n!.actor, { kind: 'user', id: 'unauthenticated' });
  assert.equal(n!.result.code, 'ORIGIN_NOT_ALLOWED');
  await new Promise((r) => setImmediate(r));
  assert.equal((await audit()).length, before + 3);
});

test('api refusal audit - an allowed action is audited once, by its handler, not again as a refusal', async () => {
  const before = (await audit()).length;
  const failed = await kill(bearer(TOKENS.operator), 'nope');
  assert.equal(failed.statusCode, 404);
  const [r] = await newRecords(before, 1);
  assert.equal(r!.result.code, 'SESSION_NOT_FOUND');
  assert.equal(r!.params?.reason, undefined);
  // Nothing else follows for that request.
  await kill(bearer(TOKENS.viewer));
  const next = await newRecords(before, 2);
  assert.equal(next[1]!.params?.reason, 'role');
});

test('api refusal audit - a token-guessing flood is audited one by one up to the limit, then summed, never pushing the trail out', async () => {
  const earlier = await audit();
  const before = earlier.length;
  // What this remote already spent in this window (earlier tests, same address).
  const spent = earlier.filter((r) => r.actor.id === 'unauthenticated').length;
  const flood = 200;
  for (let i = 0; i < flood; i++) {
    assert.equal((await kill(bearer(`guess-${i}-0123456789abcdef`))).statusCode, 401);
  }
  const records = await waitFor(
    async () => {
      const all = (await audit()).slice(before);
      return all.length >= REFUSALS_PER_WINDOW - spent ? all : undefined;
    },
    { message: 'individual refusal records' },
  );
  assert.equal(records.length, REFUSALS_PER_WINDOW - spent);
  assert.ok(records.every((r) => r.action === 'session.kill' && r.result.code === 'UNAUTHORIZED'));
  // The rest is one summary when the window closes (here: when the API stops).
  await fx.api.stop();
  const summary = await waitFor(
    async () => (await audit()).slice(before).find((r) => r.action === 'api.refusals_suppressed'),
    { message: 'summary record' },
  );
  assert.deepEqual(summary.actor, { kind: 'user', id: 'unauthenticated' });
  assert.equal(summary.params?.remote, '127.0.0.1');
  assert.equal(summary.result.code, 'RATE_LIMITED');
  assert.equal(records.length + Number(summary.params?.count), flood);
});
