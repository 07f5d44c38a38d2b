import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { type BusAuth, connectBus, type NatsConnection } from '@hal/bus';
import { parseConfig } from '@hal/config';
import { createLogger, createRegistry } from '@hal/observability';
import { NatsUser } from '@hal/protocol';
import { freePort, waitFor } from '@hal/testkit';
import { connect } from '@nats-io/transport-node';
import { CREDENTIALS_FILE } from '../src/nats-credentials.ts';
import { createSupervisor, type Supervisor } from '../src/supervisor.ts';
import { TOKEN, tempDir } from './supervisor-fixtures.ts';

const quiet = createLogger({ service: 'nats-auth-test', level: 'silent' });

interface Started {
  supervisor: Supervisor;
  dataDir: string;
  url: string;
  httpPort: number;
  /** Every supervisor log line (JSON), the embedded server's refusals among them. */
  lines: string[];
  passwords: Record<string, string>;
  as(user: NatsUser | string, password?: string): Promise<NatsConnection>;
}

async function startSupervisor(t: import('node:test').TestContext): Promise<Started> {
  const dir = tempDir();
  const dataDir = join(dir, 'data');
  const httpPort = await freePort();
  const config = parseConfig(
    'supervisor',
    {
      data_dir: dataDir,
      nats: { embedded_port: 0 },
      server: { auth_token: TOKEN, http_port: httpPort, port: 0 },
    },
    { env: {} },
  );
  const lines: string[] = [];
  const log = createLogger({
    service: 'supervisor',
    level: 'info',
    destination: { write: (line: string) => lines.push(line) },
  });
  const supervisor = createSupervisor({
    config,
    log,
    loggerFor: () => log,
    registry: createRegistry({ defaultMetrics: false }),
  });
  t.after(() => supervisor.stop());
  await supervisor.start();
  const url = supervisor.embeddedNats?.url ?? '';
  const passwords = (
    JSON.parse(readFileSync(join(dataDir, CREDENTIALS_FILE), 'utf8')) as { users: Record<string, string> }
  ).users;
  const open: NatsConnection[] = [];
  t.after(async () => {
    for (const nc of open) await nc.close().catch(() => undefined);
  });
  return {
    supervisor,
    dataDir,
    url,
    httpPort,
    lines,
    passwords,
    async as(user, password) {
      const auth: BusAuth = { user, password: password ?? passwords[user] ?? '' };
      const nc = await connectBus({ url, name: `test-${user}`, log: quiet, auth });
      open.push(nc);
      return nc;
    },
  };
}

/** The supervisor's `nats permission violation` warnings so far. */
function violations(lines: string[]): Array<{ user: string; subject: string; kind: string }> {
  return lines
    .map((l) => JSON.parse(l) as { msg: string; user: string; subject: string; kind: string })
    .filter((l) => l.msg === 'nats permission violation')
    .map(({ user, subject, kind }) => ({ user, subject, kind }));
}

test('nats auth - the embedded server refuses anonymous clients and wrong passwords, and says so in the supervisor log', async (t) => {
  const s = await startSupervisor(t);
  await assert.rejects(connect({ servers: s.url, reconnect: false }), /Authorization Violation/);
  await assert.rejects(
    connect({ servers: s.url, user: NatsUser.TAP, pass: 'not-the-password', reconnect: false }),
    /Authorization Violation/,
  );
  await waitFor(() => s.lines.some((l) => l.includes('"msg":"nats client refused: bad credentials"')), {
    message: 'the refusal is logged',
  });
  const report = (await (await fetch(`http://127.0.0.1:${s.httpPort}/readyz`)).json()) as {
    status: string;
    checks: { name: string; ok: boolean; detail?: string }[];
  };
  assert.equal(report.status, 'ready');
  // No channels.discord here: the bridge says so and the supervisor is ready all the same (issue 11).
  assert.deepEqual(
    report.checks.find((c) => c.name === 'discord'),
    { name: 'discord', ok: true, detail: 'not configured (no channels.discord in the config)' },
  );
  // Starting every service (streams, durable consumers, KV buckets, query subscriptions) needed
  // nothing any user was refused.
  assert.deepEqual(violations(s.lines), []);
  // Each in-process service has a connection of its own.
  for (const name of [
    'nats',
    'nats.tracker',
    'nats.gateway',
    'nats.http-api',
    'nats.policy',
    'nats.cost-poller',
  ])
    assert.ok(
      report.checks.some((c) => c.name === name && c.ok),
      `${name} connected`,
    );
});

test("nats auth - the tracker's credentials cannot publish or request hal.cmd.>: the server refuses it and the supervisor logs the violation", async (t) => {
  const s = await startSupervisor(t);
  const tracker = await s.as(NatsUser.TRACKER);
  await assert.rejects(
    tracker.request('hal.cmd.some-node', '{}', { timeout: 5_000 }),
    /Permissions Violation for Publish to "hal.cmd.some-node"/,
  );
  tracker.publish('hal.cmd.other-node', '{}');
  await waitFor(() => violations(s.lines).some((v) => v.subject === 'hal.cmd.other-node'), {
    message: 'the violation is logged',
  });
  assert.deepEqual(
    violations(s.lines).filter((v) => v.user === NatsUser.TRACKER),
    [
      { user: 'tracker', subject: 'hal.cmd.some-node', kind: 'publish' },
      { user: 'tracker', subject: 'hal.cmd.other-node', kind: 'publish' },
    ],
  );
  // The gateway's credentials may (it relays the API's commands): the gateway answers (the empty
  // body is no command), nothing refused.
  const gateway = await s.as(NatsUser.GATEWAY);
  const reply = await gateway.request('hal.cmd.some-node', '{}', { timeout: 5_000 });
  assert.equal((reply.json() as { error: { code: string } }).error.code, 'VALIDATION_FAILED');
  assert.equal(violations(s.lines).filter((v) => v.user === NatsUser.GATEWAY).length, 0);
});

test('nats auth - the tap user reads hal.evt.> live but cannot publish, request hal.cmd.> or read anything else', async (t) => {
  const s = await startSupervisor(t);
  const tap = await s.as(NatsUser.TAP);
  const sub = tap.subscribe('hal.evt.>', { max: 1 });
  await tap.flush();
  const gateway = await s.as(NatsUser.GATEWAY);
  gateway.publish('hal.evt.n1.p1.session.idle', '{"tap":true}');
  for await (const m of sub) {
    assert.equal(m.subject, 'hal.evt.n1.p1.session.idle');
    assert.equal(m.string(), '{"tap":true}');
  }

  tap.publish('hal.evt.n1.p1.session.idle', '{"forged":true}');
  await assert.rejects(tap.request('hal.cmd.n1', '{}', { timeout: 5_000 }), /Permissions Violation/);
  const audit = tap.subscribe('hal.audit.>');
  await tap.flush().catch(() => undefined);
  await waitFor(
    () => {
      const mine = violations(s.lines).filter((v) => v.user === NatsUser.TAP);
      return (
        mine.some((v) => v.kind === 'publish' && v.subject === 'hal.evt.n1.p1.session.idle') &&
        mine.some((v) => v.kind === 'publish' && v.subject === 'hal.cmd.n1') &&
        mine.some((v) => v.kind === 'subscription' && v.subject === 'hal.audit.>')
      );
    },
    { message: 'the forged event, the command and the audit subscription are refused and logged' },
  );
  audit.unsubscribe();
});

test('nats auth - passwords live in 0600 files under data_dir, never in the arguments of nats-server nor in the log, and survive a restart', async (t) => {
  const s = await startSupervisor(t);
  for (const file of [CREDENTIALS_FILE, 'nats-server.conf']) {
    assert.equal(statSync(join(s.dataDir, file)).mode & 0o777, 0o600, `${file} is 0600`);
  }
  const secrets = Object.values(s.passwords);
  assert.deepEqual(Object.keys(s.passwords).sort(), Object.values(NatsUser).sort());
  const pid = s.supervisor.embeddedNats?.pid();
  assert.ok(pid !== undefined);
  const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  // nats.embedded_memory_limit_mib's default, as Go reads it.
  assert.ok(readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes('GOMEMLIMIT=1024MiB'));
  const log = s.lines.join('');
  for (const secret of secrets) {
    assert.equal(argv.includes(secret), false, 'no password on the command line');
    assert.equal(log.includes(secret), false, 'no password in the log');
  }
  const before = readFileSync(join(s.dataDir, CREDENTIALS_FILE), 'utf8');
  await s.supervisor.stop();
  const again = createSupervisor({
    config: parseConfig(
      'supervisor',
      {
        data_dir: s.dataDir,
        nats: { embedded_port: 0 },
        server: { auth_token: TOKEN, http_port: 0, port: 0 },
      },
      { env: {} },
    ),
    log: quiet,
    loggerFor: () => quiet,
    registry: createRegistry({ defaultMetrics: false }),
  });
  t.after(() => again.stop());
  await again.start();
  assert.equal(readFileSync(join(s.dataDir, CREDENTIALS_FILE), 'utf8'), before, 'the same passwords');
  // A NATS CLI context saved with the tap password keeps working.
  const tap = await connect({
    servers: again.embeddedNats?.url ?? '',
    user: NatsUser.TAP,
    pass: s.passwords.tap ?? '',
  });
  await tap.close();
});
