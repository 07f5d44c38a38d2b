import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  commandSchema,
  envManifestDocumentSchema,
  issuesOf,
  parseVersion,
  resolveProjectEnv,
  satisfies,
  sha256,
} from '@hal/protocol';

test('env manifest - version ranges: at least, below, caret, tilde, exact major, any', () => {
  const cases: Array<[string, string, boolean]> = [
    ['17.0.2', '>=17', true],
    ['11.0.20', '>=17', false],
    ['20.11.1', '^20.11', true],
    ['21.0.0', '^20.11', false],
    ['0.3.9', '^0.3', true],
    ['0.4.0', '^0.3', false],
    ['1.2.9', '~1.2.3', true],
    ['1.3.0', '~1.2.3', false],
    ['3.12.4', '=3.12', true],
    ['3.11.0', '3.12', false],
    ['5.0', '>=4 <6', true],
    ['6.0', '>=4 <6', false],
    ['9.9.9', '*', true],
  ];
  for (const [v, range, expected] of cases) assert.equal(satisfies(v, range), expected, `${v} ${range}`);
  assert.equal(satisfies('17', 'lots'), false);
});

test('env manifest - a version is read from --version output', () => {
  assert.equal(parseVersion('openjdk 17.0.2 2022-01-18\nOpenJDK Runtime'), '17.0.2');
  assert.equal(parseVersion('v20.11.1'), '20.11.1');
  assert.equal(parseVersion('cmake version 3.28.3\n\nCMake suite'), '3.28.3');
  assert.equal(parseVersion('libprotoc 25.1'), '25.1');
  assert.equal(parseVersion('no digits here'), undefined);
});

const doc = {
  defaults: { agent_config: { template: 'base', context_dir: '.context/' }, tools: ['git'] },
  projects: {
    api: {
      runtime: {
        node: '>=20',
        java: { version: '>=17', install: ['apt-get', 'install', '-y', 'openjdk-17-jdk'] },
      },
      tools: ['protoc'],
      env_vars: { JAVA_HOME: '/usr/lib/jvm/java-17', API_KEY: 'required' },
      agent_config: { required_docs: ['docs/interface.md'] },
      git: { remote: 'git@example.com:api.git', branch: 'main', hooks: ['pre-commit'] },
      docs: { recommended: ['docs/style.md'] },
      variables: { team: 'core' },
    },
    web: { variables: { team: 'front' } },
  },
  templates: {
    base: '# {{project_name}} ({{team}})\nDo not touch: {{excluded_projects}}\n{{interface_docs}}\n',
  },
  hooks: { 'pre-commit': '#!/bin/sh\nexit 0\n' },
  files: { 'docs/interface.md': '# Interface\n' },
};

test('env manifest - a project resolves with defaults, rendered AGENT.md and hashes', () => {
  const parsed = envManifestDocumentSchema.parse(doc);
  const spec = resolveProjectEnv({ revision: 4, document: parsed }, 'api');
  assert.ok(spec);
  assert.equal(spec.revision, 4);
  assert.deepEqual(
    spec.tools.map((t) => t.name),
    ['git', 'protoc'],
  );
  assert.deepEqual(spec.runtime[1], {
    name: 'java',
    binary: 'java',
    version: '>=17',
    install: ['apt-get', 'install', '-y', 'openjdk-17-jdk'],
  });
  assert.deepEqual(spec.env_vars, [
    { name: 'JAVA_HOME', value: '/usr/lib/jvm/java-17' },
    { name: 'API_KEY' },
  ]);
  assert.equal(spec.agent_md?.path, 'AGENT.md');
  assert.equal(spec.agent_md?.content, '# api (core)\nDo not touch: web\n- docs/interface.md\n');
  assert.equal(spec.agent_md?.sha256, sha256(spec.agent_md?.content ?? ''));
  assert.equal(spec.context_dir, '.context/');
  assert.deepEqual(spec.docs, [
    { path: 'docs/interface.md', required: true, content: '# Interface\n' },
    { path: 'docs/style.md', required: false },
  ]);
  assert.equal(spec.hooks[0]?.name, 'pre-commit');
  assert.equal(resolveProjectEnv({ revision: 4, document: parsed }, 'nope'), undefined);
});

test('env manifest - bad documents name each problem by key path', () => {
  const bad = {
    projects: {
      api: {
        runtime: { java: 'seventeen' },
        agent_config: { template: 'missing', file: '../outside.md' },
        docs: { required: ['/etc/passwd', '.git/config'] },
        git: { hooks: ['pre-push'] },
      },
      web: { agent_config: { template: 'base' } },
    },
    templates: { base: 'Hello {{who}}' },
  };
  const result = envManifestDocumentSchema.safeParse(bad);
  assert.equal(result.success, false);
  const issues = issuesOf(result.error!).map((i) => `${i.path}: ${i.message}`);
  const has = (re: RegExp) =>
    assert.ok(
      issues.some((i) => re.test(i)),
      `${re} in\n${issues.join('\n')}`,
    );
  has(/^projects\.api\.runtime\.java/);
  has(/^projects\.api\.agent_config\.file: .*must not contain "\.\."/);
  has(/^projects\.api\.docs\.required\[0\]: .*must be relative/);
  has(/^projects\.api\.docs\.required\[1\]: .*\.git/);
  has(/^projects\.api\.agent_config\.template: unknown template "missing"/);
  has(/^projects\.api\.git\.hooks\[0\]: hook "pre-push" has no script/);
  has(/^templates\.base: template uses \{\{who\}\}, which project "web" does not define/);
});

test('env manifest - env commands are part of the command vocabulary', () => {
  const parsed = envManifestDocumentSchema.parse(doc);
  const spec = resolveProjectEnv({ revision: 1, document: parsed }, 'web');
  const cmd = commandSchema.parse({ type: 'env_provision', specs: [spec] });
  assert.equal(cmd.type, 'env_provision');
  assert.equal(cmd.type === 'env_provision' && cmd.dry_run, false);
  assert.throws(() => commandSchema.parse({ type: 'env_approve', item: 'runtime:java' }));
});
