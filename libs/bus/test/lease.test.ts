import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  connectBus,
  createLeaderRole,
  createLease,
  INSTANCE_ID_FILE,
  type LeaseBucket,
  type NatsConnection,
  openLeaseBucket,
  resolveInstanceId,
} from '@hal/bus';
import { LEASES_KV_BUCKET } from '@hal/protocol';
import { compiledEntry, type NatsServer, startNats, waitFor } from '@hal/testkit';
import pino from 'pino';

const log = pino({ level: 'silent' });
const TTL_MS = 1_500;

async function setup(t: TestContext): Promise<{ nats: NatsServer; connect(): Promise<NatsConnection> }> {
  const nats = await startNats();
  const conns: NatsConnection[] = [];
  t.after(async () => {
    for (const nc of conns) await nc.close().catch(() => undefined);
    await nats.stop();
  });
  return {
    nats,
    async connect() {
      const nc = await connectBus({ url: nats.url, name: 'lease-test', log });
      conns.push(nc);
      return nc;
    },
  };
}

function holder(bucket: LeaseBucket, name: string) {
  const events: Array<{ what: 'acquired' | 'lost'; at: number }> = [];
  const lease = createLease({
    bucket,
    key: 'role',
    holder: name,
    log,
    onAcquired: () => events.push({ what: 'acquired', at: performance.now() }),
    onLost: () => events.push({ what: 'lost', at: performance.now() }),
  });
  return { lease, events };
}

test('lease - of two holders one leads, the other stands by; a release hands the lease over at once', async (t) => {
  const { connect } = await setup(t);
  const a = holder(await openLeaseBucket(await connect(), { ttlMs: TTL_MS }), 'a');
  const b = holder(await openLeaseBucket(await connect(), { ttlMs: TTL_MS }), 'b');
  await a.lease.start();
  await b.lease.start();
  t.after(() => Promise.all([a.lease.stop(), b.lease.stop()]).then(() => undefined));
  assert.equal(a.lease.isHeld(), true);
  assert.equal(b.lease.isHeld(), false);
  assert.equal(await b.lease.holder(), 'a');
  // Renewals keep it with a well past the TTL.
  const firstRevision = a.lease.revision();
  await waitFor(() => (a.lease.revision() ?? 0) > (firstRevision ?? 0) + 2, { timeoutMs: 3 * TTL_MS });
  assert.equal(b.lease.isHeld(), false);
  const released = performance.now();
  await a.lease.stop();
  assert.equal(a.lease.isHeld(), false);
  await waitFor(() => b.lease.isHeld(), { timeoutMs: TTL_MS });
  // A release frees the key: b took over at its next attempt, without waiting for the TTL.
  assert.ok(performance.now() - released < TTL_MS, 'taken over before the TTL');
  assert.equal(await a.lease.holder(), 'b');
  assert.deepEqual(
    a.events.map((e) => e.what),
    ['acquired'],
    'a stop is not a loss',
  );
});

test('lease - a holder that dies without releasing is replaced after the TTL, measured by the server', async (t) => {
  const { connect } = await setup(t);
  const ncA = await connect();
  const a = holder(await openLeaseBucket(ncA, { ttlMs: TTL_MS }), 'a');
  const b = holder(await openLeaseBucket(await connect(), { ttlMs: TTL_MS }), 'b');
  await a.lease.start();
  await b.lease.start();
  t.after(() => Promise.all([a.lease.stop(), b.lease.stop()]).then(() => undefined));
  // The leader's connection drops as a process kill would drop it: no release.
  const killed = performance.now();
  await ncA.close();
  await waitFor(() => b.lease.isHeld(), { timeoutMs: 4 * TTL_MS });
  const took = performance.now() - killed;
  t.diagnostic(`taken over ${Math.round(took)} ms after the leader died (TTL ${TTL_MS} ms)`);
  // Never before the entry could have expired (its last renewal was at most a third of the TTL
  // before the kill), and within the TTL plus a standby's retry (a quarter TTL) and some slack.
  assert.ok(took >= TTL_MS - TTL_MS / 3 - 50, `taken over after ${took} ms`);
  assert.ok(took <= TTL_MS + TTL_MS / 4 + 1_000, `taken over after ${took} ms`);
  // The dead holder counts itself leader no longer either (its renewals fail; its validity ran out).
  await waitFor(() => a.events.some((e) => e.what === 'lost'), { timeoutMs: TTL_MS });
  assert.equal(a.lease.isHeld(), false);
});

test('lease - no split brain: a stalled holder (SIGSTOP) stops acting before the other can start, and knows it on waking', async (t) => {
  const { nats, connect } = await setup(t);
  const script = fileURLToPath(new URL('./fixtures/lease-holder.ts', import.meta.url));
  const child: ChildProcess = spawn(
    process.execPath,
    [await compiledEntry(script), nats.url, String(TTL_MS), 'role'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGCONT');
      child.kill('SIGKILL');
    }
  });
  const lines: Array<{ what: string; at: number }> = [];
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    for (const line of chunk.split('\n').filter(Boolean)) {
      const [what, at] = line.split(' ');
      lines.push({ what: what ?? '', at: Number(at) });
    }
  });
  await waitFor(() => lines.some((l) => l.what === 'act'), { timeoutMs: 20_000 });
  const b = holder(await openLeaseBucket(await connect(), { ttlMs: TTL_MS }), 'b');
  await b.lease.start();
  t.after(() => b.lease.stop());
  assert.equal(b.lease.isHeld(), false, 'the child holds it');
  // The holder freezes: no timer, no renewal, no chance to notice anything.
  child.kill('SIGSTOP');
  await waitFor(() => b.lease.isHeld(), { timeoutMs: 4 * TTL_MS });
  const bLeadsAt = Date.now();
  child.kill('SIGCONT');
  await waitFor(() => lines.some((l) => l.what === 'lost'), { timeoutMs: 5_000 });
  const acts = lines.filter((l) => l.what === 'act');
  const lastAct = acts.at(-1)?.at ?? 0;
  t.diagnostic(`the stalled holder's last act was ${bLeadsAt - lastAct} ms before the other led`);
  assert.ok(lastAct < bLeadsAt, `the stalled holder acted ${lastAct - bLeadsAt} ms after b led`);
  // It woke up knowing: nothing after the wake-up was done as leader.
  const lost = lines.find((l) => l.what === 'lost')?.at ?? 0;
  assert.ok(lost >= bLeadsAt);
  assert.equal(b.lease.isHeld(), true, 'the woken holder did not take the lease back');
  assert.equal(await b.lease.holder(), 'b');
});

test('lease - the bucket keeps the TTL it was created with, and a holder times its lease by it', async (t) => {
  const { connect } = await setup(t);
  const first = await openLeaseBucket(await connect(), { ttlMs: TTL_MS });
  const second = await openLeaseBucket(await connect(), { ttlMs: 30_000 });
  assert.equal(first.ttlMs, TTL_MS);
  assert.equal(second.ttlMs, TTL_MS);
  assert.equal((await second.kv.status()).bucket, LEASES_KV_BUCKET);
  assert.throws(
    () => createLease({ bucket: first, key: 'role', holder: 'x', log, marginMs: TTL_MS }),
    /must be below the TTL/,
  );
});

test('lease - leader role: the work runs on one instance only, and moves when its leader stops', async (t) => {
  const { connect } = await setup(t);
  const running = new Set<string>();
  const role = async (name: string) => {
    const r = createLeaderRole({
      bucket: await openLeaseBucket(await connect(), { ttlMs: TTL_MS }),
      key: 'role',
      holder: name,
      log,
      work: {
        start: async () => {
          running.add(name);
        },
        stop: async () => {
          running.delete(name);
        },
      },
    });
    await r.start();
    return r;
  };
  const a = await role('a');
  const b = await role('b');
  t.after(() => Promise.all([a.stop(), b.stop()]).then(() => undefined));
  assert.deepEqual([...running], ['a']);
  assert.equal(a.isLeader(), true);
  assert.equal(b.isLeader(), false);
  await a.stop();
  assert.deepEqual([...running], []);
  await waitFor(() => running.has('b'), { timeoutMs: TTL_MS });
  assert.equal(b.isWorking(), true);
  assert.deepEqual([...running], ['b']);
});

test('instance id - the configured one wins; else one is made once and kept in data_dir', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hal-instance-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  assert.equal(resolveInstanceId({ configured: 'hal-tracker-0', dataDir: dir }), 'hal-tracker-0');
  assert.throws(() => resolveInstanceId({ configured: 'a.b', dataDir: dir }), /letters, digits/);
  const made = resolveInstanceId({ dataDir: join(dir, 'data') });
  assert.match(made, /^[A-Za-z0-9_-]+-[0-9a-f]{8}$/);
  assert.equal(resolveInstanceId({ dataDir: join(dir, 'data') }), made);
  assert.equal((await readFile(join(dir, 'data', INSTANCE_ID_FILE), 'utf8')).trim(), made);
});
