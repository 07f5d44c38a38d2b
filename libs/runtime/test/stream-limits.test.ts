import assert from 'node:assert/strict';
import { test } from 'node:test';
import { streamLimitsFor } from '@hal/runtime';

test('runtime - stream limits follow the configured retention, events never shorter than the index', () => {
  assert.deepEqual(streamLimitsFor({ security: { audit: { retention_days: 90 } } } as never), {
    eventsMaxAgeDays: 90,
    auditMaxAgeDays: 90,
  });
  assert.deepEqual(streamLimitsFor({ security: { audit: { retention_days: 7 } } } as never), {
    eventsMaxAgeDays: 30,
    auditMaxAgeDays: 7,
  });
});
