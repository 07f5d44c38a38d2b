import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bearer, startApiFixture, TOKENS } from './api-stand-ins.ts';

test('api tracker - no tracker running is 503 UNAVAILABLE on reads and on commands', async (t) => {
  const fx = await startApiFixture({ tracker: false });
  t.after(() => fx.stop());
  const list = await fx.api.app.inject({
    method: 'GET',
    url: '/api/v1/sessions',
    headers: bearer(TOKENS.viewer),
  });
  assert.equal(list.statusCode, 503);
  assert.deepEqual(list.json(), {
    error: { code: 'UNAVAILABLE', message: 'the tracker is not running (no answer on hal.q.tracker)' },
  });
  const kill = await fx.api.app.inject({
    method: 'POST',
    url: '/api/v1/sessions/s1/kill',
    headers: bearer(TOKENS.operator),
    payload: {},
  });
  assert.equal(kill.statusCode, 503);
  assert.equal(kill.json().error.code, 'UNAVAILABLE');
  assert.equal(fx.received.length, 0);
});
