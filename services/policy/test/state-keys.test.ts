import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openStateStore } from '../src/state-store.ts';
import { startBus } from './policy-harness.ts';

const sorted = (keys: string[]) => [...keys].sort();

test('policy state - the leading instance lists a prefix once, then keeps its keys from its own writes; a standby lists the bucket each time', async (t) => {
  const bus = await startBus(t);
  const leader = await openStateStore(bus.nc);
  const other = await openStateStore(bus.nc);
  await leader.mutate('sess.a', () => ({ value: { n: 1 }, result: undefined }));
  leader.remember(true);
  assert.deepEqual(await leader.keys('sess'), ['sess.a'], 'listed once from the bucket');

  // What the leader writes or removes is known without a listing.
  await leader.mutate('sess.b', () => ({ value: { n: 2 }, result: undefined }));
  await leader.mutate('node.x', () => ({ value: { online: true }, result: undefined }));
  assert.deepEqual(sorted(await leader.keys('sess')), ['sess.a', 'sess.b']);
  await leader.delete('sess.a');
  await leader.forget(['sess.b']);
  assert.deepEqual(await leader.keys('sess'), []);
  // Not listed again: a key another writer made stays unknown to the leader until it leads anew
  // (the one writer while it leads is itself), while a standby's listing sees it.
  await other.mutate('sess.c', () => ({ value: { n: 3 }, result: undefined }));
  assert.deepEqual(await leader.keys('sess'), [], 'not listed again while leading');
  assert.deepEqual(await other.keys('sess'), ['sess.c'], 'a standby lists the bucket');

  // Leading anew starts from a fresh listing.
  leader.remember(false);
  leader.remember(true);
  assert.deepEqual(await leader.keys('sess'), ['sess.c']);
  assert.deepEqual(await leader.keys('node'), ['node.x']);
  // A compare-and-set lost to another writer: the key exists, whatever it holds now.
  assert.equal(await leader.get('sess.d'), undefined, 'remembered as absent');
  await other.mutate('sess.d', () => ({ value: { n: 4 }, result: undefined }));
  let calls = 0;
  await leader.mutate('sess.d', (cur) => {
    calls += 1;
    return cur === undefined ? { value: { n: 5 }, result: undefined } : { result: undefined };
  });
  assert.equal(calls, 2, 'the create lost, then re-decided on the stored value');
  assert.deepEqual(sorted(await leader.keys('sess')), ['sess.c', 'sess.d']);
});
