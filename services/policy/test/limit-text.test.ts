import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isLimitError } from '../src/facts.ts';

test('policy facts - limit errors are recognised on bounded text, in linear time whatever the message', () => {
  assert.equal(isLimitError('APIError', 'Usage limit reached; resets at 5pm'), true);
  assert.equal(isLimitError('APIError', 'the limit will reset tomorrow'), true);
  assert.equal(isLimitError(undefined, 'Rate-limited by provider'), true);
  assert.equal(isLimitError('APIError', 'overloaded_error'), true);
  assert.equal(isLimitError('APIError', 'invalid request'), false);
  assert.equal(
    isLimitError('APIError', 'reset the limit', 500),
    false,
    '"reset" before "limit" is not a reset notice',
  );
  assert.equal(isLimitError('APIError', 'anything', 429), true);
  // The input that made `limit.*reset` backtrack quadratically: ~1 MB of "limit" and no "reset".
  const hostile = 'limit '.repeat(200_000);
  const started = performance.now();
  for (let i = 0; i < 20; i++) assert.equal(isLimitError('APIError', hostile), false);
  const ms = performance.now() - started;
  // The quadratic pattern needed minutes for one such message; bounded text takes microseconds.
  assert.ok(ms < 5_000, `20 checks of a 1.2 MB message took ${Math.round(ms)} ms`);
  // Past the clip a "reset" is not seen: the match looks at the first LIMITS.matchTextChars only.
  assert.equal(isLimitError('APIError', `${'x'.repeat(5_000)} limit reset`), false);
});
