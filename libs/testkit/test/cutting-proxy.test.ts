import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { startCuttingProxy, waitFor } from '@hal/testkit';

test('cutting proxy - delay(ms) holds each request that long before it reaches the server; event streams pass at once; 0 turns it off', async (t) => {
  // The server behind the proxy records when each request reached it, with its body.
  const arrived: Array<{ path: string; at: number; body: string }> = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString('utf8');
    });
    req.on('end', () => {
      arrived.push({ path: req.url ?? '', at: Date.now(), body });
      if (req.url?.startsWith('/event')) {
        // As opencode does: a first event at once (the proxy's answer starts with it).
        res.writeHead(200, { 'content-type': 'text/event-stream' }).write('data: {}\n\n');
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain' }).end(`got ${body}`);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  const proxy = await startCuttingProxy(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  t.after(() => proxy.stop());

  proxy.delay(300);
  const sentAt = Date.now();
  const answer = await fetch(`${proxy.url}/a`, { method: 'POST', body: 'hello' });
  assert.equal(await answer.text(), 'got hello', 'the body reaches the server whole, the answer comes back');
  const a = arrived.find((r) => r.path === '/a');
  assert.ok(a && a.at - sentAt >= 290, `reached the server ${a && a.at - sentAt} ms after it was sent`);

  // A request held for a minute: an event stream and, once the delay is off, a new request overtake it.
  proxy.delay(60_000);
  const gaveUp = new AbortController();
  const slow = fetch(`${proxy.url}/slow`, { method: 'POST', body: 'late', signal: gaveUp.signal }).catch(
    () => 'aborted',
  );
  await waitFor(() => proxy.requests.includes('POST /slow'), {
    message: 'the slow request reached the proxy',
  });
  const stream = await fetch(`${proxy.url}/event?directory=x`, { signal: gaveUp.signal });
  assert.equal(stream.status, 200);
  proxy.delay(0);
  assert.equal(await (await fetch(`${proxy.url}/fast`)).text(), 'got ');
  assert.deepEqual(
    arrived.map((r) => r.path),
    ['/a', '/event?directory=x', '/fast'],
    'the held request has not reached the server',
  );
  gaveUp.abort();
  assert.equal(await slow, 'aborted');
  assert.deepEqual(proxy.requests, ['POST /a', 'POST /slow', 'GET /event', 'GET /fast']);
});
