import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger, createRateLimitedLog } from '@hal/observability';

test('rate-limited log - a flood logs a burst per key and window, then says how many were left out', () => {
  const lines: Array<Record<string, unknown>> = [];
  const log = createLogger({
    service: 'test',
    destination: { write: (line: string) => void lines.push(JSON.parse(line)) },
  });
  let now = 0;
  const limited = createRateLimitedLog(log, { burst: 3, windowMs: 1_000, now: () => now });
  for (let i = 0; i < 1_000; i++) limited.warn('invalid_token', { i }, 'refused');
  limited.warn('origin', { i: -1 }, 'refused');
  assert.deepEqual(
    lines.map((l) => l.i),
    [0, 1, 2, -1],
    'three lines of the flooding key, and the other key is not silenced by it',
  );
  now = 1_000;
  limited.warn('invalid_token', { i: 1_000 }, 'refused');
  assert.equal(lines.at(-1)?.suppressed_before, 997);
  assert.equal(lines.at(-1)?.msg, 'refused');
});
