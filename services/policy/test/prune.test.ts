import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openKv, request, serve } from '@hal/bus';
import {
  ErrorCode,
  HalError,
  POLICY_KV_BUCKET,
  POLICY_OVERRIDES_KV_BUCKET,
  PolicyQuery,
  policyQuerySchemas,
  type SessionView,
  subjects,
  TrackerQuery,
  trackerQuerySchemas,
} from '@hal/protocol';
import { jetstreamManager } from '@nats-io/jetstream';
import { type Bus, config, emit, FakeClock, log, settled, startBus, startPolicy } from './policy-harness.ts';

const GRACE_MS = 60_000;
const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64url');

/** The tracker's answer to sessions_get: a state for the sessions it knows, SESSION_NOT_FOUND otherwise. */
function trackerKnowing(bus: Bus, known: Record<string, string>) {
  return serve(bus.nc, {
    subject: subjects.trackerQuery(TrackerQuery.SESSIONS_GET),
    schema: trackerQuerySchemas.sessions_get.request,
    log,
    handler: async ({ session }) => {
      const state = known[session];
      if (state === undefined)
        throw new HalError(ErrorCode.SESSION_NOT_FOUND, `session "${session}" not found`);
      const view: SessionView = {
        session,
        node: 'node-a',
        project: 'proj',
        state: state as SessionView['state'],
        title: null,
        model: null,
        provider: null,
        current_task: null,
        tokens: { input: 0, output: 0, reasoning: 0, cache_read: 0, cache_write: 0 },
        cost_usd: 0,
        compactions: 0,
        errors: 0,
        last_error: null,
        pending_permissions: [],
        started_at: null,
        last_activity_at: null,
        state_since: null,
        previous_session: null,
        next_session: null,
      };
      return view;
    },
  });
}

/** Every key the policy bucket's stream holds a message for, delete markers included. */
async function storedKeys(bus: Bus): Promise<string[]> {
  const jsm = await jetstreamManager(bus.nc);
  const info = await jsm.streams.info(`KV_${POLICY_KV_BUCKET}`, { subjects_filter: '>' });
  return Object.keys(info.state.subjects ?? {}).map((s) => s.slice(`$KV.${POLICY_KV_BUCKET}.`.length));
}

const keysOfSession = (keys: string[], session: string) =>
  keys.filter((k) => k.split('.').includes(b64(session)) || k.split('.').includes(b64(`session:${session}`)));

test('policy prune - a gone session loses every key once its grace has passed; live ones, recent ones and overrides stay', async (t) => {
  const bus = await startBus(t);
  // An override written before overrides had their own bucket: moved there at start.
  const old = await openKv(bus.nc, POLICY_KV_BUCKET, { history: 1 });
  await old.put(
    `ovr.${b64('error_loop')}`,
    JSON.stringify({ enabled: false, by: 'admin', at: '2029-12-31T00:00:00.000Z' }),
  );
  const tracker = trackerKnowing(bus, { alive: 'idle', 'ended-in-tracker': 'killed', recent: 'completed' });
  t.after(() => tracker.stop());
  const clock = new FakeClock();
  const svc = await startPolicy(
    t,
    bus,
    config({ routes: [{ match: 'session.error', target: 'discord#alerts' }] }),
    clock,
    { prune: { intervalMs: 0, graceMs: GRACE_MS }, notify: { maxEventAgeMs: 10 * 365 * 86400_000 } },
  );
  await request(
    bus.nc,
    subjects.policyQuery(PolicyQuery.DISABLE),
    { name: 'resume_on_idle', by: 'ops' },
    policyQuerySchemas.disable.response,
  );

  const sessions = ['done', 'alive', 'absent', 'ended-in-tracker'];
  for (const session of sessions) {
    await emit(bus, { session, type: 'session.created', time: clock.iso(), data: { title: session } });
    await emit(bus, { session, type: 'session.error', time: clock.iso(), data: { kind: 'APIError' } });
    await emit(bus, { session, type: 'session.idle', time: clock.iso() });
  }
  await emit(bus, { session: 'done', type: 'session.deleted', time: clock.iso() });
  // Rule state of a gone session goes with it (written here as a rule would).
  await old.put(`ps.${b64('resume_on_idle')}.${b64('done')}`, JSON.stringify({ fired_for: 1 }));
  await settled(bus);
  const before = await storedKeys(bus);
  for (const s of sessions)
    assert.ok(keysOfSession(before, s).length >= 2, `${s} has facts and a collapse key`);

  // Within the grace nothing goes, even for an ended session.
  clock.advance(GRACE_MS / 2);
  await emit(bus, { session: 'recent', type: 'session.created', time: clock.iso() });
  await emit(bus, { session: 'recent', type: 'session.deleted', time: clock.iso() });
  await settled(bus);
  await svc.tick();
  const within = await storedKeys(bus);
  for (const s of sessions) assert.deepEqual(keysOfSession(within, s), keysOfSession(before, s), s);

  // The first sessions are now past the grace; `recent` ended only half a grace ago.
  clock.advance(GRACE_MS / 2 + 1);
  await svc.tick();
  const after = await storedKeys(bus);
  for (const gone of ['done', 'absent', 'ended-in-tracker']) {
    assert.deepEqual(keysOfSession(after, gone), [], `${gone}: no key and no delete marker left`);
  }
  assert.deepEqual(keysOfSession(after, 'alive'), [`sess.${b64('alive')}`], 'a live session keeps its facts');
  assert.ok(keysOfSession(after, 'recent').includes(`sess.${b64('recent')}`), 'ended within the grace: kept');
  assert.equal(
    after.filter((k) => k.startsWith('nt.')).length,
    0,
    'collapse windows that passed with nothing collapsed are gone',
  );
  assert.equal(
    after.filter((k) => k.startsWith('ovr.')).length,
    0,
    'no override is left in the state bucket',
  );

  // Overrides live in their own bucket, the migrated one included, and still rule.
  const overrides = await openKv(bus.nc, POLICY_OVERRIDES_KV_BUCKET, { history: 1 });
  const names: string[] = [];
  for await (const k of await overrides.keys()) names.push(Buffer.from(k, 'base64url').toString('utf8'));
  assert.deepEqual(names.sort(), ['error_loop', 'resume_on_idle']);
  const listed = await request(
    bus.nc,
    subjects.policyQuery(PolicyQuery.LIST),
    {},
    policyQuerySchemas.list.response,
  );
  const state = (name: string) => listed.policies.find((p) => p.name === name);
  assert.deepEqual([state('error_loop')?.enabled, state('error_loop')?.enabled_source], [false, 'override']);
  assert.deepEqual(
    [state('resume_on_idle')?.enabled, state('resume_on_idle')?.enabled_source],
    [false, 'override'],
  );

  // A pruned session that speaks again simply starts over.
  await emit(bus, { session: 'absent', type: 'session.busy', time: clock.iso() });
  await settled(bus);
  assert.deepEqual(keysOfSession(await storedKeys(bus), 'absent'), [`sess.${b64('absent')}`]);
});
