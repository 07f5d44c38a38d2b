import assert from 'node:assert/strict';
import { test } from 'node:test';
import { streamLimitsFor } from '@hal/runtime';

test('runtime - stream limits follow the configured retention, events never shorter than the index', () => {
  const nats = { replicas: 1 };
  assert.deepEqual(streamLimitsFor({ security: { audit: { retention_days: 90 } }, nats } as never), {
    eventsMaxAgeDays: 90,
    auditMaxAgeDays: 90,
    replicas: 1,
  });
  assert.deepEqual(streamLimitsFor({ security: { audit: { retention_days: 7 } }, nats } as never), {
    eventsMaxAgeDays: 30,
    auditMaxAgeDays: 7,
    replicas: 1,
  });
});

test('runtime - stream limits carry nats.replicas (3 on a 3-node cluster)', () => {
  const limits = streamLimitsFor({
    security: { audit: { retention_days: 90 } },
    nats: { replicas: 3 },
  } as never);
  assert.equal(limits.replicas, 3);
});
