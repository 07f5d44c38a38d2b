import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OwnerCache } from '../src/owner-cache.ts';

test('owner cache - answers every owner it was told, across table growth, and nothing else', () => {
  const cache = new OwnerCache(100_000);
  const owners = ['node-a', 'node-b', 'node-c'];
  for (let i = 0; i < 20_000; i++) cache.set(`ses_${i.toString(36)}`, owners[i % 3]!);
  for (let i = 0; i < 20_000; i++) assert.equal(cache.get(`ses_${i.toString(36)}`), owners[i % 3]);
  assert.equal(cache.get('ses_never-seen'), undefined);
  assert.equal(cache.get(''), undefined);
  assert.equal(cache.size, 20_000);
  // A key a hostile host might send: same length, one code unit apart, non-ASCII.
  cache.set('ses_é', 'node-x');
  assert.equal(cache.get('ses_ê'), undefined);
  assert.equal(cache.get('ses_é'), 'node-x');
});

test('owner cache - stays within its limit and keeps the sessions still in use', () => {
  const cache = new OwnerCache(1_000);
  cache.set('ses_busy', 'node-a');
  for (let i = 0; i < 10_000; i++) {
    cache.set(`ses_${i}`, 'node-b');
    // A session whose events keep coming is looked up all the time: it is never evicted.
    if (i % 100 === 0) assert.equal(cache.get('ses_busy'), 'node-a');
    assert.ok(cache.size <= 1_000, `size ${cache.size} after ${i + 1} sets`);
  }
  assert.equal(cache.get('ses_9999'), 'node-b');
  assert.equal(
    cache.get('ses_0'),
    undefined,
    'the oldest idle sessions are forgotten (a KV read brings them back)',
  );
});
