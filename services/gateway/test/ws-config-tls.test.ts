import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { connectBus, ensureStreams } from '@hal/bus';
import { supervisorConfigSchema } from '@hal/config';
import { createRegistry } from '@hal/observability';
import { formatProtocolVersion, HalError, makeEnvelope, WIRE_PROTOCOL } from '@hal/protocol';
import { startNats } from '@hal/testkit';
import WebSocket from 'ws';
import { createGateway, type GatewayConfig } from '../src/index.ts';
import { SHARED_TOKEN, silentLog } from './ws-harness.ts';

test('ws config - the parsed supervisor config drives the gateway, TLS on: wss works, plain ws does not', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hal-gw-tls-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync(
    'openssl',
    [
      ...['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1'],
      ...['-keyout', key, '-out', cert],
    ],
    { stdio: 'ignore' },
  );
  // The real schema's output type must fit GatewayConfig as is: the supervisor passes it straight in.
  const config: GatewayConfig = supervisorConfigSchema.parse({
    server: { port: 0, auth_token: SHARED_TOKEN },
    security: { tls: { enabled: true, cert_path: cert, key_path: key } },
  });
  const nats = await startNats();
  t.after(() => nats.stop());
  const nc = await connectBus({ url: nats.url, name: 'tls-test', log: silentLog });
  t.after(() => nc.close());
  await ensureStreams(nc);
  const gw = createGateway({
    config,
    nc,
    log: silentLog,
    registry: createRegistry({ defaultMetrics: false }),
  });
  await gw.start();
  t.after(() => gw.stop());
  const port = gw.address().port;

  const welcome = await new Promise<{ type: string }>((resolve, reject) => {
    const ws = new WebSocket(`wss://127.0.0.1:${port}/agent`, {
      rejectUnauthorized: false,
      headers: { authorization: `Bearer ${SHARED_TOKEN}`, 'x-hal-node': 'node-tls' },
    });
    ws.on('open', () =>
      ws.send(
        JSON.stringify(
          makeEnvelope('hello', {
            node: 'node-tls',
            agent_version: 't',
            protocol: formatProtocolVersion(WIRE_PROTOCOL),
            projects: [],
            last_acked_seq: 0,
          }),
        ),
      ),
    );
    ws.on('message', (d) => {
      resolve(JSON.parse(d.toString()));
      ws.close();
    });
    ws.on('error', reject);
  });
  assert.equal(welcome.type, 'welcome');

  const plain = new WebSocket(`ws://127.0.0.1:${port}/agent`, {
    headers: { authorization: `Bearer ${SHARED_TOKEN}`, 'x-hal-node': 'node-plain' },
  });
  const outcome = await new Promise<string>((resolve) => {
    plain.on('open', () => resolve('open'));
    plain.on('error', () => resolve('error'));
    plain.on('unexpected-response', () => resolve('refused'));
  });
  plain.terminate();
  assert.notEqual(outcome, 'open');
});

test('ws config - an unreadable cert or an unset key fails the agent listener with CONFIG_INVALID naming the key', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hal-gw-tls-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  // The key is there, so the cert is the one unreadable file: with both missing, either read could
  // fail first (they run side by side) and the message would name either key.
  await writeFile(join(dir, 'key.pem'), 'not a key, never parsed: the cert fails first\n');
  const nats = await startNats();
  t.after(() => nats.stop());
  const nc = await connectBus({ url: nats.url, name: 'tls-test', log: silentLog });
  t.after(() => nc.close());
  await ensureStreams(nc);
  const base: GatewayConfig = supervisorConfigSchema.parse({ server: { port: 0, auth_token: SHARED_TOKEN } });
  const cases: Array<[GatewayConfig['security']['tls'], RegExp]> = [
    [
      { enabled: true, cert_path: join(dir, 'missing.pem'), key_path: join(dir, 'key.pem') },
      /^security\.tls\.cert_path: cannot read .*missing\.pem \(ENOENT\)$/,
    ],
    [
      { enabled: true, cert_path: join(dir, 'cert.pem') },
      /^security\.tls\.enabled is true but security\.tls\.key_path is not set$/,
    ],
  ];
  for (const [tls, message] of cases) {
    const gw = createGateway({
      // Past the schema (which refuses an unset key too): start() must not trust its caller.
      config: { ...base, security: { ...base.security, tls } },
      nc,
      log: silentLog,
      registry: createRegistry({ defaultMetrics: false }),
    });
    await assert.rejects(gw.start(), (err) => {
      assert.ok(err instanceof HalError);
      assert.equal(err.code, 'CONFIG_INVALID');
      assert.match(err.message, message);
      return true;
    });
    await gw.stop();
  }
});
