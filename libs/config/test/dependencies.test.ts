import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig, runValidate } from '../src/index.ts';
import { memorySink, TOKEN, tempDir } from './fixtures.ts';

function validate(t: Parameters<typeof tempDir>[0], dependencies: unknown) {
  const { dir, write } = tempDir(t);
  const file = write('s.json', JSON.stringify({ server: { auth_token: TOKEN }, dependencies }));
  const err = memorySink();
  const code = runValidate('supervisor', file, memorySink(), err, { env: {}, cwd: dir });
  return { code, text: err.text() };
}

test('dependencies config - a cycle is a --validate error naming the cycle', (t) => {
  const { code, text } = validate(t, {
    api: { depends_on: ['schema'] },
    schema: { depends_on: ['web'] },
    web: { depends_on: ['api'] },
    docs: { depends_on: ['docs'] },
  });
  assert.equal(code, 1);
  assert.match(
    text,
    /^dependencies\.api\.depends_on: dependency cycle api → schema → web → api: none of these projects could ever start after the others/m,
  );
  assert.match(text, /^dependencies\.docs\.depends_on: dependency cycle docs → docs/m);
  assert.equal(text.match(/dependency cycle/g)?.length, 2, 'each cycle once');
});

test('dependencies config - an unknown project and a bad name are errors with their key paths', (t) => {
  const { code, text } = validate(t, { web: { depends_on: ['apu'] }, 'b a d': { depends_on: [] } });
  assert.equal(code, 1);
  assert.match(
    text,
    /^dependencies\.web\.depends_on\[0\]: unknown project "apu": add "dependencies\.apu": \{"depends_on": \[\]\}/m,
  );
  assert.match(text, /^dependencies\.b a d: /m);
});

test('dependencies config - a valid graph passes; absent means none', () => {
  const c = parseConfig('supervisor', {
    server: { auth_token: TOKEN },
    dependencies: { api: {}, web: { depends_on: ['api'] }, e2e: { depends_on: ['api', 'web'] } },
  });
  assert.deepEqual(c.dependencies, {
    api: { depends_on: [] },
    web: { depends_on: ['api'] },
    e2e: { depends_on: ['api', 'web'] },
  });
  assert.deepEqual(parseConfig('supervisor', { server: { auth_token: TOKEN } }).dependencies, {});
  assert.equal(
    parseConfig('supervisor', { server: { auth_token: TOKEN } }).policies.start_dependents.enabled,
    false,
  );
});
