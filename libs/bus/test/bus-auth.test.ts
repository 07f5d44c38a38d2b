import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { type BusAuth, connectBus } from '@hal/bus';
import { startNats } from '@hal/testkit';
import { nkeys } from '@nats-io/nats-core';
import pino from 'pino';

const log = pino({ level: 'silent' });

async function roundTrip(url: string, auth: BusAuth | undefined): Promise<void> {
  const nc = await connectBus({ url, name: 'bus-auth-test', log, auth });
  try {
    const sub = nc.subscribe('auth.echo', { max: 1 });
    nc.publish('auth.echo', 'hi');
    for await (const m of sub) assert.equal(m.string(), 'hi');
  } finally {
    await nc.close();
  }
}

test('bus auth - user/password and token against a nats-server that requires them; anonymous and wrong ones are refused', async (t) => {
  const withUsers = await startNats({
    jetstream: false,
    auth: { users: [{ user: 'tracker', password: 'pw-1234' }] },
  });
  t.after(() => withUsers.stop());
  await roundTrip(withUsers.url, { user: 'tracker', password: 'pw-1234' });
  await assert.rejects(roundTrip(withUsers.url, undefined), /Authorization Violation/);
  await assert.rejects(
    roundTrip(withUsers.url, { user: 'tracker', password: 'nope' }),
    /Authorization Violation/,
  );

  const withToken = await startNats({ jetstream: false, auth: { token: 'tok-5678' } });
  t.after(() => withToken.stop());
  await roundTrip(withToken.url, { token: 'tok-5678' });
  await assert.rejects(roundTrip(withToken.url, { token: 'tok-other' }), /Authorization Violation/);
});

test('bus auth - an nkey seed signs the server nonce; another seed is refused', async (t) => {
  const user = nkeys.createUser();
  const seed = new TextDecoder().decode(user.getSeed());
  const dir = mkdtempSync(join(tmpdir(), 'hal-bus-nkey-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const conf = join(dir, 'nkey.conf');
  writeFileSync(conf, `authorization: ${JSON.stringify({ users: [{ nkey: user.getPublicKey() }] })}\n`);
  const nats = await startNats({ jetstream: false, args: ['-c', conf] });
  t.after(() => nats.stop());
  // As it comes from nkey_seed_file: with a trailing newline.
  await roundTrip(nats.url, { nkeySeed: `${seed}\n` });
  const other = new TextDecoder().decode(nkeys.createUser().getSeed());
  await assert.rejects(roundTrip(nats.url, { nkeySeed: other }), /Authorization Violation/);
});
