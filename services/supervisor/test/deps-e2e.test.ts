// Acceptance of dependency-aware scheduling: a real agent watches a real PROGRESS.md; the
// milestone it sees starts the dependent project once, through the whole supervisor (policy,
// tracker, gateway) on a real nats-server. Sessions are started on the fake opencode: the
// scheduling, not the model, is under test here.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { jetstreamClient } from '@hal/bus';
import { POLICY_CONSUMER } from '@hal/policy';
import { type SessionView, StreamName } from '@hal/protocol';
import { type FakeOpencode, startFakeOpencode, waitFor } from '@hal/testkit';
import { type Fleet, startAgent, startFleet, type TestAgent } from './fleet-harness.ts';

let fleet: Fleet;
let opencode: FakeOpencode;
let agent: TestAgent;
const root = mkdtempSync(join(tmpdir(), 'hal-deps-e2e-'));
const api = join(root, 'api');
const web = join(root, 'web');

before(async () => {
  for (const d of [api, web]) mkdirSync(join(d, '.context'), { recursive: true });
  writeFileSync(join(api, '.context/PROGRESS.md'), '# Progress\n- [ ] milestone: schema ready\n');
  opencode = await startFakeOpencode({ autoReply: false });
  fleet = await startFleet({
    policies: { start_dependents: { enabled: true } },
    dependencies: { api: { depends_on: [] }, web: { depends_on: ['api'] } },
  });
  await fleet.startSupervisor();
  agent = await startAgent({
    node: 'n1',
    supervisorUrl: fleet.wsUrl,
    opencodeUrl: opencode.url,
    projects: [
      { name: 'api', directory: api },
      { name: 'web', directory: web },
    ],
    env: { progress_poll_ms: 100 },
  });
});

after(async () => {
  await agent?.stop();
  await fleet?.close();
  await opencode?.stop();
  rmSync(root, { recursive: true, force: true });
});

test('dependencies e2e - a milestone in PROGRESS.md starts the dependent project once', async () => {
  const webSessions = async () =>
    (await fleet.api<{ data: SessionView[] }>('/api/v1/sessions?project=web')).body.data;
  assert.deepEqual(await webSessions(), []);

  writeFileSync(join(api, '.context/PROGRESS.md'), '# Progress\n- [x] milestone: schema ready\n');
  await waitFor(async () => (await webSessions()).length === 1, {
    timeoutMs: 30_000,
    message: 'a web session was started after the api milestone',
  });
  const started = fleet.events.of((e) => e.type === 'policy.action' && e.data.policy === 'start_dependents');
  assert.equal(started.length, 1);
  assert.equal(started[0]?.data.decision, 'acted');
  const prompt = opencode.requests.find((r) => r.method === 'POST' && /\/prompt_async$/.test(r.path));
  assert.match(
    String(JSON.stringify(prompt?.body)),
    /Project api reached the milestone \\"schema ready\\", which web depends on/,
  );

  // The agent restarts on a fresh data dir, forgets what it reported and reports the milestone
  // again: the control plane's claim keeps it to one start.
  await agent.stop();
  agent = await startAgent({
    node: 'n1',
    supervisorUrl: fleet.wsUrl,
    opencodeUrl: opencode.url,
    projects: [
      { name: 'api', directory: api },
      { name: 'web', directory: web },
    ],
    env: { progress_poll_ms: 100 },
  });
  await waitFor(() => fleet.events.of((e) => e.type === 'env.milestone').length === 2, {
    message: 'the new agent reported the milestone again',
  });
  await policyCaughtUp();
  assert.equal((await webSessions()).length, 1, 'still one web session');
  assert.equal(
    fleet.events.of((e) => e.type === 'policy.action' && e.data.policy === 'start_dependents').length,
    1,
  );
  const audit = await fleet.api<{ data: Array<{ action: string; actor: { id: string } }> }>(
    '/api/v1/audit?limit=200',
  );
  assert.ok(
    audit.body.data.some((r) => r.actor.id === 'start_dependents' && r.action === 'policy.acted'),
    'audited',
  );
});

/** Resolves once the policy service's consumer has acked everything in HAL_EVENTS. */
async function policyCaughtUp(): Promise<void> {
  const jsm = await jetstreamClient(fleet.nc).jetstreamManager();
  await waitFor(
    async () => {
      const stream = await jsm.streams.info(StreamName.EVENTS);
      const c = await jsm.consumers.info(StreamName.EVENTS, POLICY_CONSUMER);
      return c.ack_floor.stream_seq >= stream.state.last_seq && c.num_ack_pending === 0;
    },
    { message: 'the policy service handled every event' },
  );
}
