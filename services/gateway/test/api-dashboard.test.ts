import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { DASHBOARD_CSP } from '../src/dashboard-files.ts';
import { type ApiFixture, apiConfig, bearer, startApiFixture, TOKENS } from './api-stand-ins.ts';

// The dashboard's static files as the gateway serves them, on a fixture build (the real bundle
// is tested by the dashboard's own browser tests).
const JS = 'app-ABCDEF12.js';
const CSS = 'app-ZYXW9876.css';
const HTML = `<!doctype html><link rel="stylesheet" href="./assets/${CSS}"><script type="module" src="./assets/${JS}"></script>`;

let dir: string;
let fx: ApiFixture;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hal-dashboard-files-'));
  await mkdir(join(dir, 'assets'));
  await writeFile(join(dir, 'index.html'), HTML);
  await writeFile(join(dir, 'assets', JS), 'console.log("dashboard");');
  await writeFile(join(dir, 'assets', CSS), 'body{margin:0}');
  await writeFile(join(dir, 'secret.txt'), 'not for the web');
  fx = await startApiFixture({ dashboardDir: dir });
});
after(async () => {
  await fx.stop();
  await rm(dir, { recursive: true, force: true });
});

const get = (url: string, headers: Record<string, string> = {}) =>
  fx.api.app.inject({ method: 'GET', url, headers });

test('dashboard files - / is the page, without a token, never cached, under a strict CSP', async () => {
  const res = await get('/');
  assert.equal(res.statusCode, 200);
  assert.equal(res.body, HTML);
  assert.equal(res.headers['content-type'], 'text/html; charset=utf-8');
  assert.equal(res.headers['cache-control'], 'no-cache');
  assert.equal(res.headers['content-security-policy'], DASHBOARD_CSP);
  assert.doesNotMatch(DASHBOARD_CSP, /unsafe-inline|unsafe-eval|\*/);
  assert.match(DASHBOARD_CSP, /frame-ancestors 'none'/);
  assert.match(DASHBOARD_CSP, /script-src 'self'/);
  assert.equal(res.headers['x-content-type-options'], 'nosniff');
  assert.equal(res.headers['x-frame-options'], 'DENY');
  assert.equal(res.headers['referrer-policy'], 'no-referrer');
  assert.equal((await get('/index.html')).body, HTML);
});

test('dashboard files - hashed assets get their type and a year of immutable caching; gzip when asked', async () => {
  const js = await get(`/assets/${JS}`);
  assert.equal(js.statusCode, 200);
  assert.equal(js.headers['content-type'], 'text/javascript; charset=utf-8');
  assert.equal(js.headers['cache-control'], 'public, max-age=31536000, immutable');
  assert.equal(js.headers['content-security-policy'], DASHBOARD_CSP);
  assert.equal(js.body, 'console.log("dashboard");');
  const css = await get(`/assets/${CSS}`, { 'accept-encoding': 'gzip, deflate, br' });
  assert.equal(css.headers['content-type'], 'text/css; charset=utf-8');
  assert.equal(css.headers['content-encoding'], 'gzip');
  assert.equal(css.headers.vary, 'accept-encoding');
  assert.equal(gunzipSync(css.rawPayload).toString(), 'body{margin:0}');
});

test('dashboard files - anything but a built asset name is refused (no traversal, no other file)', async () => {
  for (const url of [
    '/assets/app-NOTBUILT.js',
    '/assets/..%2Fsecret.txt',
    '/assets/../secret.txt',
    '/secret.txt',
    '/assets/app.js',
    '/assets/%2e%2e%2findex.html',
  ]) {
    const res = await get(url);
    // Outside assets/ the path is an API path like any other: no token, no answer.
    assert.ok(res.statusCode === 404 || res.statusCode === 401, `${url}: ${res.statusCode}`);
    assert.doesNotMatch(res.body, /not for the web/, url);
  }
  const res = await get('/assets/app-NOTBUILT.js');
  assert.deepEqual(res.json(), {
    error: { code: 'NOT_FOUND', message: 'no dashboard file app-NOTBUILT.js' },
  });
});

test('dashboard files - the page is open but every API call behind it still needs the token', async () => {
  assert.equal((await get('/api/v1/me')).statusCode, 401);
  const me = await get('/api/v1/me', bearer(TOKENS.viewer));
  assert.equal(me.statusCode, 200);
  assert.deepEqual(me.json().data, { name: 'vera', role: 'viewer' });
  const admin = await get('/api/v1/me', bearer(TOKENS.admin));
  assert.deepEqual(admin.json().data, { name: 'server.auth_token', role: 'admin' });
  assert.equal((await get('/api/v1/me', bearer(TOKENS.viewer))).headers['x-content-type-options'], 'nosniff');
  const post = await fx.api.app.inject({ method: 'POST', url: '/', headers: {} });
  assert.equal(post.statusCode, 401);
});

test('dashboard files - fleet summary counts nodes and sessions by state', async () => {
  const res = await get('/api/v1/fleet/summary', bearer(TOKENS.viewer));
  assert.equal(res.statusCode, 200);
  assert.deepEqual(res.json().data.nodes, { total: 3, online: 2, offline: 1 });
  assert.equal(res.json().data.sessions.total, 3);
  assert.equal(res.json().data.sessions.by_state.idle, 3);
  assert.equal(res.json().data.sessions.by_state.waiting_input, 0);
});

test('dashboard files - not built is 503 UNAVAILABLE saying how to build; switched off is 401/404 like any path', async () => {
  const missing = await startApiFixture({ dashboardDir: join(dir, 'nope') });
  const off = await startApiFixture({ config: apiConfig({ dashboard: false }), dashboardDir: dir });
  try {
    const res = await missing.api.app.inject({ method: 'GET', url: '/' });
    assert.equal(res.statusCode, 503);
    assert.equal(res.json().error.code, 'UNAVAILABLE');
    assert.match(res.json().error.message, /the dashboard is not built .*npm run build -w @hal\/dashboard/);
    assert.equal((await off.api.app.inject({ method: 'GET', url: '/' })).statusCode, 401);
    const authed = await off.api.app.inject({ method: 'GET', url: '/', headers: bearer(TOKENS.viewer) });
    assert.equal(authed.statusCode, 404);
    assert.equal(authed.json().error.code, 'NOT_FOUND');
  } finally {
    await missing.stop();
    await off.stop();
  }
});
