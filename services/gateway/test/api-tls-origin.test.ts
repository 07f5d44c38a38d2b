import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { connectBus, type NatsConnection } from '@hal/bus';
import { createRegistry, Readiness } from '@hal/observability';
import { HalError } from '@hal/protocol';
import { type NatsServer, startNats } from '@hal/testkit';
import { createHttpApi, type HttpApi, type HttpApiConfig } from '../src/http-server.ts';
import { apiConfig, bearer, log, TOKENS } from './api-stand-ins.ts';

const DASH = 'https://dash.example';
const EVIL = 'https://evil.example';

let nats: NatsServer;
let nc: NatsConnection;
let dir: string;
let cert: string;
let key: string;

before(async () => {
  nats = await startNats({ jetstream: false });
  nc = await connectBus({ url: nats.url, name: 'api-tls-origin-test', log });
  dir = await mkdtemp(join(tmpdir(), 'hal-api-tls-'));
  cert = join(dir, 'cert.pem');
  key = join(dir, 'key.pem');
  execFileSync(
    'openssl',
    [
      ...['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1'],
      ...['-keyout', key, '-out', cert],
    ],
    { stdio: 'ignore' },
  );
});
after(async () => {
  await nc.close();
  await nats.stop();
  await rm(dir, { recursive: true, force: true });
});

function withSecurity(security: Partial<HttpApiConfig['security']>): HttpApiConfig {
  const base = apiConfig();
  return { ...base, security: { ...base.security, ...security } };
}

function makeApi(config: HttpApiConfig): HttpApi {
  return createHttpApi({
    config,
    nc,
    log,
    registry: createRegistry({ defaultMetrics: false }),
    readiness: new Readiness(),
  });
}

/** One GET over a real socket: status and body, or the transport error's code. */
function fetchOnce(
  send: typeof httpsRequest,
  port: number,
  path: string,
): Promise<{ status: number; body: string } | { error: string }> {
  return new Promise((resolve) => {
    const req = send(
      { host: '127.0.0.1', port, path, method: 'GET', rejectUnauthorized: false, timeout: 5_000 },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => {
          body += c.toString();
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
    req.end();
  });
}

test('api origin - an Origin outside the allowlist is 403 ORIGIN_NOT_ALLOWED before auth, on every path', async (t) => {
  const api = makeApi(withSecurity({ origin_allowlist: [DASH] }));
  t.after(() => api.stop());
  for (const [url, headers] of [
    ['/api/v1/nodes', { origin: EVIL, ...bearer(TOKENS.admin) }],
    ['/api/v1/nodes', { origin: EVIL }],
    ['/healthz', { origin: EVIL }],
  ] as const) {
    const res = await api.app.inject({ method: 'GET', url, headers });
    assert.equal(res.statusCode, 403, url);
    assert.deepEqual(res.json(), {
      error: {
        code: 'ORIGIN_NOT_ALLOWED',
        message: 'origin https://evil.example is not in security.origin_allowlist',
      },
    });
    assert.equal(res.headers['access-control-allow-origin'], undefined);
    assert.equal(typeof res.headers['x-request-id'], 'string');
  }
});

test('api origin - a listed Origin passes with its CORS headers; no Origin (curl, halctl) passes without them', async (t) => {
  const api = makeApi(withSecurity({ origin_allowlist: [DASH] }));
  t.after(() => api.stop());
  const listed = await api.app.inject({ method: 'GET', url: '/healthz', headers: { origin: DASH } });
  assert.equal(listed.statusCode, 200);
  assert.equal(listed.headers['access-control-allow-origin'], DASH);
  assert.equal(listed.headers.vary, 'Origin');
  // Auth still applies to a listed origin, and the browser may read why it failed.
  const noToken = await api.app.inject({ method: 'GET', url: '/api/v1/nodes', headers: { origin: DASH } });
  assert.equal(noToken.statusCode, 401);
  assert.equal(noToken.json().error.code, 'UNAUTHORIZED');
  assert.equal(noToken.headers['access-control-allow-origin'], DASH);

  const curl = await api.app.inject({ method: 'GET', url: '/healthz' });
  assert.equal(curl.statusCode, 200);
  assert.equal(curl.headers['access-control-allow-origin'], undefined);
  assert.equal(curl.headers.vary, 'Origin');
});

test('api origin - a preflight from a listed origin is answered 204 without a token; from another it is 403', async (t) => {
  const api = makeApi(withSecurity({ origin_allowlist: [DASH] }));
  t.after(() => api.stop());
  const preflight = (origin: string) =>
    api.app.inject({
      method: 'OPTIONS',
      url: '/api/v1/sessions/s1/kill',
      headers: {
        origin,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization',
      },
    });
  const ok = await preflight(DASH);
  assert.equal(ok.statusCode, 204);
  assert.equal(ok.body, '');
  assert.equal(ok.headers['access-control-allow-origin'], DASH);
  assert.equal(ok.headers['access-control-allow-methods'], 'GET, POST');
  assert.equal(ok.headers['access-control-allow-headers'], 'authorization, content-type');
  const refused = await preflight(EVIL);
  assert.equal(refused.statusCode, 403);
  assert.equal(refused.json().error.code, 'ORIGIN_NOT_ALLOWED');
});

test('api origin - an empty allowlist refuses no Origin and grants no CORS headers', async (t) => {
  const api = makeApi(withSecurity({ origin_allowlist: [] }));
  t.after(() => api.stop());
  const res = await api.app.inject({ method: 'GET', url: '/healthz', headers: { origin: EVIL } });
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers['access-control-allow-origin'], undefined);
  assert.equal(res.headers.vary, undefined);
});

test('api tls - with security.tls enabled the API serves HTTPS on http_port and refuses plain HTTP', async (t) => {
  const api = makeApi(withSecurity({ tls: { enabled: true, cert_path: cert, key_path: key } }));
  await api.start();
  t.after(() => api.stop());
  const { port } = api.address();
  const secure = await fetchOnce(httpsRequest, port, '/healthz');
  assert.ok('status' in secure, JSON.stringify(secure));
  assert.equal(secure.status, 200);
  const plain = await fetchOnce(httpRequest, port, '/healthz');
  assert.ok('error' in plain, `plain HTTP was answered: ${JSON.stringify(plain)}`);
});

test('api tls - tls off (the default) serves plain HTTP', async (t) => {
  const api = makeApi(apiConfig());
  await api.start();
  t.after(() => api.stop());
  const plain = await fetchOnce(httpRequest, api.address().port, '/healthz');
  assert.ok('status' in plain && plain.status === 200, JSON.stringify(plain));
});

test('api tls - an unreadable cert or an unset key fails start with CONFIG_INVALID naming the key', async () => {
  const cases: Array<[HttpApiConfig['security']['tls'], RegExp]> = [
    [
      { enabled: true, cert_path: join(dir, 'missing.pem'), key_path: key },
      /^security\.tls\.cert_path: cannot read .*missing\.pem \(ENOENT\)$/,
    ],
    [
      { enabled: true, cert_path: cert },
      /^security\.tls\.enabled is true but security\.tls\.key_path is not set$/,
    ],
  ];
  for (const [tls, message] of cases) {
    const api = makeApi(withSecurity({ tls }));
    await assert.rejects(api.start(), (err) => {
      assert.ok(err instanceof HalError);
      assert.equal(err.code, 'CONFIG_INVALID');
      assert.match(err.message, message);
      return true;
    });
    await api.stop();
    assert.throws(() => api.address(), /not listening/);
  }
});

test('api tls - the dashboard over HTTPS behind an allowlist: the page loads without a token, its origin may call the API, another may not', async (t) => {
  const dash = join(dir, 'dashboard');
  await mkdir(join(dash, 'assets'), { recursive: true });
  await writeFile(join(dash, 'index.html'), '<!doctype html><title>HAL-O-SWARM</title>');
  const api = createHttpApi({
    config: withSecurity({
      tls: { enabled: true, cert_path: cert, key_path: key },
      origin_allowlist: [DASH],
    }),
    nc,
    log,
    registry: createRegistry({ defaultMetrics: false }),
    readiness: new Readiness(),
    dashboardDir: dash,
  });
  await api.start();
  t.after(() => api.stop());
  const page = await fetchOnce(httpsRequest, api.address().port, '/');
  assert.ok('status' in page, JSON.stringify(page));
  assert.equal(page.status, 200);
  assert.match(page.body, /HAL-O-SWARM/);
  // The dashboard's POSTs carry its Origin: listed, they reach auth and the route; else refused.
  const own = await api.app.inject({
    method: 'POST',
    url: '/api/v1/sessions/s1/kill',
    headers: { origin: DASH, ...bearer(TOKENS.viewer) },
    payload: {},
  });
  assert.equal(own.statusCode, 403);
  assert.equal(own.json().error.code, 'FORBIDDEN');
  const other = await api.app.inject({
    method: 'POST',
    url: '/api/v1/sessions/s1/kill',
    headers: { origin: EVIL, ...bearer(TOKENS.admin) },
    payload: {},
  });
  assert.equal(other.json().error.code, 'ORIGIN_NOT_ALLOWED');
});
