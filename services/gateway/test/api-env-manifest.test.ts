import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bearer, startApiFixture, TOKENS } from './api-stand-ins.ts';

const manifest = {
  projects: {
    api: {
      runtime: { node: '>=20' },
      agent_config: { template: 'main', required_docs: ['docs/interface.md'] },
      variables: { team: 'core' },
    },
    web: { agent_config: { template: 'main' }, variables: { team: 'front' } },
  },
  templates: {
    main: '# {{project_name}} — team {{team}}\nNot yours: {{excluded_projects}}\n{{interface_docs}}\n',
  },
};

test('api env - the manifest is admin-only, validated with key paths, versioned, audited; AGENT.md renders from it', async (t) => {
  const fx = await startApiFixture();
  t.after(() => fx.stop());
  const app = fx.api.app;
  const json = (body: unknown) => ({
    'content-type': 'application/json',
    ...bearer(TOKENS.admin),
    body: JSON.stringify(body),
  });

  const empty = await app.inject({
    method: 'GET',
    url: '/api/v1/env/manifest',
    headers: bearer(TOKENS.admin),
  });
  assert.equal(empty.statusCode, 200);
  assert.deepEqual(empty.json().data, {
    revision: 0,
    updated_at: null,
    document: { projects: {}, templates: {}, hooks: {}, files: {} },
  });
  const asOperator = await app.inject({
    method: 'GET',
    url: '/api/v1/env/manifest',
    headers: bearer(TOKENS.operator),
  });
  assert.equal(asOperator.statusCode, 403);
  const putAsOperator = await app.inject({
    method: 'PUT',
    url: '/api/v1/env/manifest',
    headers: { 'content-type': 'application/json', ...bearer(TOKENS.operator) },
    body: JSON.stringify(manifest),
  });
  assert.equal(putAsOperator.statusCode, 403);

  const bad = await app.inject({
    method: 'PUT',
    url: '/api/v1/env/manifest',
    headers: { 'content-type': 'application/json', ...bearer(TOKENS.admin) },
    body: JSON.stringify({
      projects: { api: { agent_config: { template: 'main', file: '../../etc/motd' } } },
      templates: { main: 'hi {{team}}' },
    }),
  });
  assert.equal(bad.statusCode, 400);
  assert.equal(bad.json().error.code, 'VALIDATION_FAILED');
  const paths = (bad.json().error.details.issues as Array<{ path: string }>).map((i) => i.path).sort();
  assert.deepEqual(paths, ['projects.api.agent_config.file', 'templates.main']);

  const { body: _b, ...headers } = json(manifest);
  const put = await app.inject({
    method: 'PUT',
    url: '/api/v1/env/manifest',
    headers,
    body: JSON.stringify(manifest),
  });
  assert.equal(put.statusCode, 200, put.body);
  const rev = put.json().data.revision as number;
  assert.ok(rev > 0);

  const stale = await app.inject({
    method: 'PUT',
    url: '/api/v1/env/manifest?if_revision=0',
    headers,
    body: JSON.stringify(manifest),
  });
  assert.equal(stale.statusCode, 409);
  assert.match(stale.json().error.message, new RegExp(`manifest is at revision ${rev}, not 0`));
  const next = await app.inject({
    method: 'PUT',
    url: `/api/v1/env/manifest?if_revision=${rev}`,
    headers,
    body: JSON.stringify(manifest),
  });
  assert.equal(next.statusCode, 200);
  assert.ok(next.json().data.revision > rev);

  const md = await app.inject({ method: 'GET', url: '/api/v1/agent-md/api', headers: bearer(TOKENS.viewer) });
  assert.equal(md.statusCode, 200);
  assert.equal(md.json().data.file, 'AGENT.md');
  assert.equal(md.json().data.content, '# api — team core\nNot yours: web\n- docs/interface.md\n');
  assert.match(md.json().data.sha256, /^[0-9a-f]{64}$/);
  const none = await app.inject({
    method: 'GET',
    url: '/api/v1/agent-md/nope',
    headers: bearer(TOKENS.viewer),
  });
  assert.equal(none.statusCode, 404);
  assert.equal(none.json().error.message, 'the environment manifest has no project "nope"');

  const audit = await app.inject({ method: 'GET', url: '/api/v1/audit', headers: bearer(TOKENS.admin) });
  const puts = (
    audit.json().data as Array<{ action: string; params: Record<string, unknown>; result: { ok: boolean } }>
  ).filter((r) => r.action === 'env.manifest.put');
  assert.deepEqual(
    puts.map((r) => r.result.ok).sort(),
    [false, false, false, true, true],
    "every put is audited, the refused ones too (the operator's among them)",
  );
  assert.ok(
    puts.some(
      (r) =>
        JSON.stringify(r.params) ===
        JSON.stringify({ revision: rev, projects: ['api', 'web'], templates: ['main'] }),
    ),
  );

  const doc = await app.inject({ method: 'GET', url: '/api/openapi.json', headers: bearer(TOKENS.viewer) });
  const paths2 = doc.json().paths as Record<string, Record<string, unknown>>;
  for (const [path, method] of [
    ['/api/v1/env/manifest', 'put'],
    ['/api/v1/env/status/{node}', 'get'],
    ['/api/v1/env/check/{node}', 'post'],
    ['/api/v1/env/provision/{node}', 'post'],
    ['/api/v1/env/approve/{node}', 'post'],
    ['/api/v1/env/drift', 'get'],
    ['/api/v1/agent-md/{project}/diff', 'get'],
    ['/api/v1/agent-md/sync', 'post'],
    ['/api/v1/routes/test', 'post'],
  ] as const) {
    assert.ok(paths2[path]?.[method], `${method} ${path} in the OpenAPI document`);
  }
});
