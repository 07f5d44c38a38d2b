// Seeded, reproducible fuzzing of the HTTP API: random bodies, path parameters and query strings
// at every route of the route table (read from the API's own OpenAPI document), once per role,
// against the whole supervisor (real gateway, tracker, policy, cost on a real nats-server).
// Never a 5xx, never a hang, every non-2xx in the error envelope with a catalogue code. Routes
// that change things are fuzzed only with tokens whose role refuses them.
// Replay a run with HAL_FUZZ_SEED=<the printed seed>.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCode } from '@hal/protocol';
import { createRng, fuzzSeed, type Rng } from '@hal/testkit';
import { API_TOKENS, type ApiRole, startHostileFleet } from './hostile-harness.ts';

const CASES_PER_ROUTE_AND_ROLE = 20;
const REQUEST_TIMEOUT_MS = 15_000;
const RANK: Record<ApiRole, number> = { viewer: 0, operator: 1, admin: 2 };
const CODES = new Set<string>(Object.values(ErrorCode));

interface Route {
  method: 'GET' | 'POST';
  path: string;
  role: ApiRole;
  params: Array<{ name: string; in: 'path' | 'query' }>;
}

function routesOf(openapi: { paths: Record<string, Record<string, Record<string, unknown>>> }): Route[] {
  const out: Route[] = [];
  for (const [path, ops] of Object.entries(openapi.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      out.push({
        method: method.toUpperCase() as Route['method'],
        path,
        role: op['x-hal-role'] as ApiRole,
        params: (op.parameters as Route['params']) ?? [],
      });
    }
  }
  return out;
}

/** URL-encodes, writing a lone surrogate as the (invalid UTF-8) bytes of its code unit. */
function enc(text: string): string {
  try {
    return encodeURIComponent(text);
  } catch {
    return [...text]
      .map((ch) => {
        try {
          return encodeURIComponent(ch);
        } catch {
          return '%ED%A0%80';
        }
      })
      .join('');
  }
}

/** A hostile value for a path segment or query value (already URL-encoded, sometimes badly). */
function value(rng: Rng): string {
  switch (rng.int(10)) {
    case 0:
      return enc(rng.string(40));
    case 1:
      return 'x'.repeat(rng.pick([1, 255, 256, 257, 5_000]));
    case 2:
      return enc('é'.repeat(rng.pick([10, 256, 300])));
    case 3:
      return rng.pick(['%', '%zz', '%00', '..', '.%2e', '%2F', '*', '>', '-1', '0', '1e309', 'NaN', 'null']);
    case 4:
      return enc(JSON.stringify(rng.json(2)));
    case 5:
      return rng.pick(['session.*', 'cost.>', '>', 'a..b', 'SESSION.IDLE', `${'a.'.repeat(80)}b`]);
    case 6:
      return rng.pick(['2026-01-01T00:00:00Z', 'yesterday', '2026-13-01', '99999-01-01']);
    case 7:
      return rng.pick(['today', 'week', 'month', 'custom', 'provider,model', 'session,session']);
    case 8:
      return String(rng.int(10) === 0 ? -rng.int(1000) : rng.int(100_000));
    default:
      return enc(rng.string(8));
  }
}

function pathOf(rng: Rng, route: Route): string {
  return route.path.replace(/\{(\w+)\}/g, () => (rng.chance(0.1) ? '' : value(rng)));
}

function queryOf(rng: Rng, route: Route): string {
  const names = route.params.filter((p) => p.in === 'query').map((p) => p.name);
  const pairs: string[] = [];
  const n = rng.int(5);
  for (let i = 0; i < n; i++) {
    const name = names.length > 0 && rng.chance(0.8) ? rng.pick(names) : enc(rng.string(6));
    pairs.push(`${name}=${value(rng)}`);
  }
  if (rng.chance(0.05)) pairs.push(`${'k'.repeat(3_000)}=${'v'.repeat(3_000)}`);
  return pairs.length === 0 ? '' : `?${pairs.join('&')}`;
}

function bodyOf(rng: Rng): { text?: string; type?: string } {
  switch (rng.int(9)) {
    case 0:
      return {};
    case 1:
      return { text: '{not json', type: 'application/json' };
    case 2:
      return { text: JSON.stringify(rng.json(4)), type: 'application/json' };
    case 3:
      return {
        text: JSON.stringify({
          prompt: rng.pick([rng.string(50), '', 7, 'p'.repeat(100_001)]),
          timeout_ms: rng.pick([1, 100, 600_001, 'soon', -5]),
          project: value(rng),
          node: value(rng),
          response: rng.pick(['once', 'always', 'reject', 'maybe']),
        }),
        type: 'application/json',
      };
    case 4:
      return { text: 'x'.repeat(1024 * 1024 + 10), type: 'application/json' };
    case 5:
      return {
        text: rng.string(30),
        type: rng.pick(['text/plain', 'application/x-www-form-urlencoded', '']),
      };
    case 6:
      return { text: `${'{"a":'.repeat(5_000)}1${'}'.repeat(5_000)}`, type: 'application/json' };
    case 7:
      return {
        text: '{"__proto__":{"polluted":true},"constructor":{"prototype":{"x":1}}}',
        type: 'application/json',
      };
    default:
      return { text: JSON.stringify({ [rng.string(5)]: rng.json(2) }), type: 'application/json' };
  }
}

test('api fuzz - random bodies, params and queries at every route, once per role: never a 5xx, never a hang, always the error envelope', async (t) => {
  const seed = fuzzSeed();
  const rng = createRng(seed);
  t.diagnostic(`seed ${seed} (replay: HAL_FUZZ_SEED=${seed})`);
  const fleet = await startHostileFleet({ security: { max_sse_streams_per_token: 16 } });
  t.after(() => fleet.close());
  const doc = await fleet.api('viewer', 'GET', '/api/openapi.json');
  const routes = routesOf(doc.body as never);
  assert.ok(routes.length >= 10, `the route table has ${routes.length} routes`);
  // A token for every role, plus none and a wrong one: the refused ones must be refused cleanly.
  const callers: Array<{ name: string; authorization?: string; rank: number }> = [
    ...Object.entries(API_TOKENS).map(([role, token]) => ({
      name: role,
      authorization: `Bearer ${token}`,
      rank: RANK[role as ApiRole],
    })),
    { name: 'no-token', rank: -1 },
    { name: 'wrong-token', authorization: 'Bearer not-a-token-0123456789', rank: -1 },
  ];
  const byStatus = new Map<number, number>();
  const failures: string[] = [];
  let requests = 0;
  let slowest = 0;
  const started = performance.now();
  for (const route of routes) {
    for (const caller of callers) {
      // Routes that change things (every POST) only with callers their role refuses.
      if (route.method === 'POST' && caller.rank >= RANK[route.role]) continue;
      for (let i = 0; i < CASES_PER_ROUTE_AND_ROLE; i++) {
        const url = `${pathOf(rng, route)}${queryOf(rng, route)}`;
        const body = route.method === 'POST' || rng.chance(0.1) ? bodyOf(rng) : {};
        const headers: Record<string, string> = {};
        if (caller.authorization !== undefined) headers.authorization = caller.authorization;
        if (body.type) headers['content-type'] = body.type;
        if (rng.chance(0.05)) headers['last-event-id'] = value(rng);
        const controller = new AbortController();
        const timer = setTimeout(() => controller.abort(), REQUEST_TIMEOUT_MS);
        const t0 = performance.now();
        const label = `${route.method} ${url.slice(0, 120)} as ${caller.name} (seed ${seed})`;
        try {
          const res = await fetch(`${fleet.apiUrl}${url}`, {
            method: route.method,
            headers,
            ...(body.text === undefined || route.method === 'GET' ? {} : { body: body.text }),
            signal: controller.signal,
          });
          requests++;
          byStatus.set(res.status, (byStatus.get(res.status) ?? 0) + 1);
          if (res.status >= 500)
            failures.push(`${res.status} for ${label}: ${(await res.text()).slice(0, 200)}`);
          else if (res.headers.get('content-type')?.startsWith('text/event-stream')) {
            // A stream that opened: it answered; close it rather than wait for its end.
            controller.abort();
          } else {
            const text = await res.text();
            if (res.status >= 300) {
              let code: unknown;
              try {
                code = (JSON.parse(text) as { error?: { code?: unknown; message?: unknown } }).error?.code;
              } catch {
                code = undefined;
              }
              if (typeof code !== 'string' || !CODES.has(code)) {
                failures.push(`${res.status} without the error envelope for ${label}: ${text.slice(0, 200)}`);
              }
            }
          }
        } catch (err) {
          if (!controller.signal.aborted || performance.now() - t0 >= REQUEST_TIMEOUT_MS) {
            failures.push(`no answer (${(err as Error).message}) for ${label}`);
          }
        } finally {
          clearTimeout(timer);
        }
        slowest = Math.max(slowest, performance.now() - t0);
      }
    }
  }
  const ms = performance.now() - started;
  const statuses = [...byStatus]
    .sort(([a], [b]) => a - b)
    .map(([s, n]) => `${s}×${n}`)
    .join(' ');
  t.diagnostic(
    `${requests} requests over ${routes.length} routes × ${callers.length} callers in ${Math.round(ms)} ms; slowest ${Math.round(slowest)} ms`,
  );
  t.diagnostic(`statuses: ${statuses}`);
  assert.deepEqual(failures.slice(0, 20), [], `${failures.length} failures`);
  // The API is still whole afterwards.
  assert.equal((await fleet.api('viewer', 'GET', '/api/v1/nodes')).status, 200);
});
