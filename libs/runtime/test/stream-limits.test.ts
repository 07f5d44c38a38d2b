import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '@hal/config';
import { streamLimitsFor } from '@hal/runtime';

const TOKEN = 'stream-limits-token-0123456789abcdef';

test('runtime - stream limits follow the configured retention, events never shorter than the index', () => {
  const nats = { replicas: 1, duplicate_window_sec: 120 };
  assert.deepEqual(streamLimitsFor({ security: { audit: { retention_days: 90 } }, nats } as never), {
    eventsMaxAgeDays: 90,
    auditMaxAgeDays: 90,
    replicas: 1,
    duplicateWindowSec: 120,
  });
  assert.deepEqual(streamLimitsFor({ security: { audit: { retention_days: 7 } }, nats } as never), {
    eventsMaxAgeDays: 30,
    auditMaxAgeDays: 7,
    replicas: 1,
    duplicateWindowSec: 120,
  });
});

test('runtime - stream limits carry nats.replicas (3 on a 3-node cluster)', () => {
  const limits = streamLimitsFor({
    security: { audit: { retention_days: 90 } },
    nats: { replicas: 3 },
  } as never);
  assert.equal(limits.replicas, 3);
});

test('runtime - stream limits carry nats.duplicate_window_sec, 2 minutes by default', () => {
  const config = parseConfig('supervisor', { server: { auth_token: TOKEN } }, { env: {} });
  assert.equal(streamLimitsFor(config).duplicateWindowSec, 120);
  const longer = parseConfig(
    'supervisor',
    { server: { auth_token: TOKEN }, nats: { duplicate_window_sec: 900 } },
    { env: {} },
  );
  assert.equal(streamLimitsFor(longer).duplicateWindowSec, 900);
});
