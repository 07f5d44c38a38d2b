import assert from 'node:assert/strict';
import { test } from 'node:test';
import { freePort } from '@hal/testkit';

test('testkit freePort - never hands one process the same port twice (a cluster asks for its ports together; the OS offers a just-closed port again)', async () => {
  const ports: number[] = [];
  for (let i = 0; i < 500; i++) ports.push(await freePort());
  ports.push(...(await Promise.all(Array.from({ length: 20 }, () => freePort()))));
  assert.equal(new Set(ports).size, ports.length);
});
