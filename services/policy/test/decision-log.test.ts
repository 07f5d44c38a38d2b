import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createHalMetrics, createRegistry } from '@hal/observability';
import type { PolicyActionRecord } from '@hal/protocol';
import { createDecisionLog } from '../src/decision-log.ts';
import { KeyPrefix, keyOf, openStateStore } from '../src/state-store.ts';
import { log, policyActions, startBus } from './policy-harness.ts';

test('decision log - one decision recorded twice under its id (a stalled leader and its successor) is one policy.action event and one entry in the recent actions', async (t) => {
  const bus = await startBus(t);
  const store = await openStateStore(bus.nc);
  const decisions = createDecisionLog({
    js: bus.js,
    store,
    log,
    metrics: createHalMetrics(createRegistry({ defaultMetrics: false })),
    now: () => Date.parse('2026-12-01T03:00:00Z'),
  });
  const target = { node: 'node-a', project: 'proj', session: 's1' };
  const data = { policy: 'resume_on_idle', decision: 'acted' as const, reason: 'idle for 20 s' };
  await decisions.record(target, data, 'intent-1');
  await decisions.record(target, data, 'intent-1');
  await decisions.record(target, { ...data, reason: 'idle again' });

  assert.deepEqual(
    (await policyActions(bus, 'resume_on_idle')).map((a) => a.reason),
    ['idle for 20 s', 'idle again'],
  );
  const recent = (await store.get<PolicyActionRecord[]>(keyOf(KeyPrefix.ACTIONS, 'resume_on_idle')))?.value;
  assert.deepEqual(
    recent?.map((a) => a.reason),
    ['idle again', 'idle for 20 s'],
  );
});
