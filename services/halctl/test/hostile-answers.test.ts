import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { halctl } from './halctl-run.ts';
import { SESSIONS, type Stub, startStub, VIEWER } from './halctl-stub-server.ts';

// The supervisor relays what LLMs on the hosts wrote (titles, errors), and halctl may be pointed
// at a wrong or hostile URL: neither may take over the terminal, hang halctl or fill its memory.

let stub: Stub;
let raw: Server;
let rawUrl: string;
before(async () => {
  stub = await startStub();
  raw = createServer((req, res) => {
    if (req.url?.startsWith('/api/v1/nodes')) return; // never answers
    // An endless 200: only a size cap ends it.
    res.writeHead(200, { 'content-type': 'application/json' });
    const chunk = Buffer.alloc(1024 * 1024, 0x20);
    const pump = () => {
      while (!res.destroyed && res.write(chunk));
      if (!res.destroyed) res.once('drain', pump);
    };
    res.write('{"data":');
    pump();
  });
  await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
  rawUrl = `http://127.0.0.1:${(raw.address() as AddressInfo).port}`;
});
after(async () => {
  raw.closeAllConnections();
  await new Promise<void>((resolve) => raw.close(() => resolve()));
  await stub.close();
});

/** ESC, BEL, C1 CSI, right-to-left override: any of them in output means the terminal was reachable. */
const drivesTerminal = (text: string) => [...text].some((c) => '\u001b\u0007\u009b\u202e'.includes(c));

const s1 = SESSIONS[0] as (typeof SESSIONS)[number];
// Retitles the window (OSC 0), clears the screen (CSI 2J), a C1 CSI, and a right-to-left override.
const HOSTILE = 'fix \u001b]0;pwned\u0007bug\u001b[2J \u009b31m red \u202eevil';

test('halctl hostile - escape sequences in a session title never reach the terminal; --json keeps them escaped', async () => {
  stub.answerOnce('/api/v1/sessions', { body: { data: [{ ...s1, title: HOSTILE }], meta: {} } });
  const r = await halctl(['--supervisor-url', stub.url, '--auth-token', VIEWER, 'sessions', 'list'], {
    columns: 200,
  });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(drivesTerminal(r.stdout), false);
  assert.match(r.stdout, /fix �bug� � red �evil/);

  stub.answerOnce('/api/v1/sessions', { body: { data: [{ ...s1, title: HOSTILE }], meta: {} } });
  const json = await halctl([
    '--supervisor-url',
    stub.url,
    '--auth-token',
    VIEWER,
    '--json',
    'sessions',
    'list',
  ]);
  assert.equal(json.code, 0, json.stderr);
  assert.equal(drivesTerminal(json.stdout), false);
  assert.equal(JSON.parse(json.stdout)[0].title, HOSTILE, 'scripts get the title exactly');
});

test('halctl hostile - an error message with escape sequences is printed defanged on stderr', async () => {
  stub.answerOnce('/api/v1/sessions/s1', {
    status: 404,
    body: {
      error: { code: 'SESSION_NOT_FOUND', message: 'no session \u001b[2J\u001b]52;c;ZWNobyBoaQ==\u0007s1' },
    },
  });
  const r = await halctl(['--supervisor-url', stub.url, '--auth-token', VIEWER, 'sessions', 'get', 's1']);
  assert.deepEqual(r, { code: 4, stdout: '', stderr: 'halctl: SESSION_NOT_FOUND: no session ��s1\n' });
});

test('halctl hostile - an API that never answers ends in TIMEOUT after --timeout seconds', async () => {
  const r = await halctl([
    '--supervisor-url',
    rawUrl,
    '--auth-token',
    VIEWER,
    '--timeout',
    '0.3',
    'nodes',
    'list',
  ]);
  assert.deepEqual(r, {
    code: 1,
    stdout: '',
    stderr: `halctl: TIMEOUT: no answer from ${rawUrl} within 0.3 s (--timeout)\n`,
  });
  const bad = await halctl(['--supervisor-url', rawUrl, '--timeout', '-1', 'nodes', 'list']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^halctl: USAGE: --timeout must be a number of seconds/);
});

test('halctl hostile - an answer that never ends is cut at 64 MiB, not buffered', async () => {
  const before = process.memoryUsage().rss;
  const r = await halctl(['--supervisor-url', rawUrl, '--auth-token', VIEWER, 'sessions', 'list']);
  assert.deepEqual(r, {
    code: 1,
    stdout: '',
    stderr: 'halctl: INTERNAL: unexpected answer from the API: /api/v1/sessions: answer larger than 64 MiB\n',
  });
  // Decoded text is at most the cap (twice for UTF-16), never the endless stream.
  assert.ok(process.memoryUsage().rss - before < 512 * 1024 * 1024);
});
