import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { createEnvModule } from '@hal/agent';
import { createLogger } from '@hal/observability';
import {
  type EnvResult,
  EventType,
  envManifestDocumentSchema,
  HalError,
  type ProjectEnvSpec,
  resolveProjectEnv,
} from '@hal/protocol';

const log = createLogger({ service: 'env-test', level: process.env.HAL_TEST_LOG ?? 'silent' });
const roots: string[] = [];
after(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  roots.push(d);
  return d;
}

/** A PATH directory with `name --version` printing `output`. */
function shim(dir: string, name: string, output: string): void {
  const file = join(dir, name);
  writeFileSync(file, `#!/bin/sh\necho '${output}'\n`);
  chmodSync(file, 0o755);
}

function gitRepo(dir: string): void {
  const git = (...args: string[]) => execFileSync('git', args, { cwd: dir, stdio: 'pipe' });
  git('init', '-q', '-b', 'main');
  git('-c', 'user.email=t@example.com', '-c', 'user.name=t', 'commit', '-q', '--allow-empty', '-m', 'init');
}

const document = envManifestDocumentSchema.parse({
  projects: {
    api: {
      runtime: { node: '>=20' },
      tools: { protoc: { install: ['sh', '-c', 'echo installing'] } },
      env_vars: { API_MODE: 'strict' },
      agent_config: { template: 'main', required_docs: ['docs/interface.md'] },
      git: { branch: 'main', hooks: ['pre-commit'] },
      docs: { recommended: ['docs/style.md'] },
    },
  },
  templates: { main: '# {{project_name}}\nStay out of: {{excluded_projects}}\n' },
  hooks: { 'pre-commit': '#!/bin/sh\nexit 0\n' },
  files: { 'docs/interface.md': '# Interface\n' },
});

function setup() {
  const project = tempDir('hal-env-proj-');
  gitRepo(project);
  const bin = tempDir('hal-env-bin-');
  shim(bin, 'node', 'v18.19.0');
  const envFile = join(tempDir('hal-env-etc-'), 'opencode.env');
  const emitted: Array<{ project: string; type: string; data: Record<string, unknown> }> = [];
  const env = createEnvModule({
    node: 'n1',
    projects: [{ name: 'api', directory: project }],
    dataDir: tempDir('hal-env-data-'),
    settings: {
      probe_timeout_ms: 5_000,
      install_timeout_ms: 5_000,
      progress_poll_ms: 0,
      opencode_env_file: envFile,
    },
    log,
    emit: (events) => emitted.push(...events),
    env: { PATH: `${bin}:/usr/bin:/bin` },
  });
  const spec = resolveProjectEnv({ revision: 3, document }, 'api') as ProjectEnvSpec;
  return { project, bin, envFile, emitted, env, spec };
}

const byId = (r: EnvResult) => new Map(r.items.map((i) => [i.id, i]));

test('env module - a check reports every item with expected and actual, and the drift', async () => {
  const { env, spec, emitted } = setup();
  const { results } = await env.check([spec]);
  const r = results[0]!;
  assert.equal(r.status, 'missing');
  assert.equal(r.revision, 3);
  const items = byId(r);
  assert.deepEqual(
    { ...items.get('runtime:node'), fix: undefined },
    {
      id: 'runtime:node',
      category: 'runtime',
      name: 'node',
      expected: '>=20',
      actual: '18.19.0',
      status: 'fail',
      fix: undefined,
    },
  );
  assert.equal(items.get('runtime:node')?.fix?.kind, 'manual');
  assert.equal(items.get('tool:protoc')?.status, 'fail');
  assert.match(items.get('tool:protoc')?.actual ?? '', /protoc not found on PATH/);
  assert.deepEqual(items.get('tool:protoc')?.fix, {
    kind: 'risky',
    action: "install protoc (installed) with the manifest's command",
    command: ['sh', '-c', 'echo installing'],
  });
  assert.equal(items.get('env:API_MODE')?.actual, 'unset');
  assert.equal(items.get('agent_md:AGENT.md')?.fix?.kind, 'safe');
  assert.equal(items.get('context:PROGRESS.md')?.status, 'fail');
  assert.equal(items.get('git:branch')?.status, 'pass');
  assert.equal(items.get('git:hooks/pre-commit')?.actual, 'missing');
  assert.equal(items.get('doc:docs/interface.md')?.status, 'fail');
  assert.equal(items.get('doc:docs/style.md')?.status, 'warn');
  assert.deepEqual(r.drift.map((d) => `${d.type} ${d.file}`).sort(), [
    'missing .context/CURRENT_TASK.md',
    'missing .context/DECISIONS.md',
    'missing .context/PROGRESS.md',
    'missing .git/hooks/pre-commit',
    'missing AGENT.md',
    'missing docs/interface.md',
    'missing docs/style.md',
  ]);
  assert.deepEqual(
    emitted.map((e) => e.type),
    [EventType.ENV_CHECK_FAIL, EventType.ENV_DRIFT_DETECTED],
  );
});

test('env module - provision does the safe fixes only, a second run changes nothing, a dry run nothing at all', async () => {
  const { env, spec, project, envFile, emitted } = setup();
  const dry = await env.provision([spec], { dryRun: true });
  assert.equal(dry.results[0]?.applied.length, 7);
  assert.ok(dry.results[0]?.applied.every((a) => a.action.startsWith('would ')));
  assert.throws(() => statSync(join(project, 'AGENT.md')));
  assert.equal(emitted.length, 0, 'a dry run reports nothing');

  const first = (await env.provision([spec], { dryRun: false })).results[0]!;
  assert.deepEqual(first.applied.map((a) => a.id).sort(), [
    'agent_md:AGENT.md',
    'context:CURRENT_TASK.md',
    'context:DECISIONS.md',
    'context:PROGRESS.md',
    'doc:docs/interface.md',
    'env:API_MODE',
    'git:hooks/pre-commit',
  ]);
  assert.deepEqual(first.pending.map((p) => `${p.kind} ${p.id}`).sort(), [
    'manual doc:docs/style.md',
    'manual runtime:node',
    'risky tool:protoc',
  ]);
  assert.equal(readFileSync(join(project, 'AGENT.md'), 'utf8'), '# api\nStay out of: \n');
  assert.equal(readFileSync(envFile, 'utf8'), 'API_MODE=strict\n');
  assert.equal(statSync(join(project, '.git/hooks/pre-commit')).mode & 0o777, 0o755);
  assert.equal(first.result.status, 'missing');
  const types = emitted.map((e) => e.type);
  assert.deepEqual(types, [
    EventType.AGENTMD_UPDATED,
    EventType.ENV_CHECK_FAIL,
    // docs/style.md is recommended and the manifest has no copy: it stays missing.
    EventType.ENV_DRIFT_DETECTED,
    EventType.ENV_PROVISION_COMPLETE,
    EventType.ENV_PROVISION_MANUAL_REQUIRED,
  ]);

  emitted.length = 0;
  const second = (await env.provision([spec], { dryRun: false })).results[0]!;
  assert.deepEqual(second.applied, []);
  assert.deepEqual(
    emitted.map((e) => e.type),
    [EventType.ENV_CHECK_FAIL, EventType.ENV_DRIFT_DETECTED, EventType.ENV_PROVISION_COMPLETE],
    'the same waiting fixes are not alerted twice',
  );
});

test('env module - a changed AGENT.md is kept with its diff; an untouched one follows the template', async () => {
  const { env, spec, project } = setup();
  await env.provision([spec], { dryRun: false });
  writeFileSync(join(project, 'AGENT.md'), '# api\nStay out of: \nMy own rule.\n');
  const r = (await env.provision([spec], { dryRun: false })).results[0]!;
  assert.deepEqual(r.applied, []);
  assert.equal(r.kept.length, 1);
  assert.equal(r.kept[0]?.type, 'modified');
  assert.match(r.kept[0]?.diff ?? '', /\+My own rule\./);
  assert.equal(readFileSync(join(project, 'AGENT.md'), 'utf8'), '# api\nStay out of: \nMy own rule.\n');
  assert.equal(byId(r.result).get('agent_md:AGENT.md')?.status, 'warn');

  // The person's file goes away: rendered again; then a new template revision replaces it.
  rmSync(join(project, 'AGENT.md'));
  await env.provision([spec], { dryRun: false });
  const newer = envManifestDocumentSchema.parse({
    ...document,
    templates: { main: '# {{project_name}} v2\n' },
  });
  const spec2 = resolveProjectEnv({ revision: 4, document: newer }, 'api') as ProjectEnvSpec;
  const check = (await env.check([spec2])).results[0]!;
  const drift = check.drift.find((d) => d.file === 'AGENT.md');
  assert.equal(drift?.type, 'outdated');
  const p = (await env.provision([spec2], { dryRun: false, only: ['agent_md'] })).results[0]!;
  assert.deepEqual(
    p.applied.map((a) => a.id),
    ['agent_md:AGENT.md'],
  );
  assert.equal(readFileSync(join(project, 'AGENT.md'), 'utf8'), '# api v2\n');
});

test('env module - approve runs the risky command only through the privileged helper', async () => {
  const { env, spec, bin } = setup();
  await assert.rejects(
    env.approve(spec, 'runtime:nope'),
    (e: unknown) => e instanceof HalError && e.code === 'NOT_FOUND',
  );
  await assert.rejects(
    env.approve(spec, 'git:branch'),
    (e: unknown) => e instanceof HalError && e.code === 'CONFLICT',
  );
  // No helper configured: the command is shown, not run.
  const shown = await env.approve(spec, 'tool:protoc');
  assert.equal(shown.ran, false);
  assert.deepEqual(shown.command, ['sh', '-c', 'echo installing']);
  assert.equal(shown.after.status, 'fail');

  const helperDir = tempDir('hal-env-helper-');
  const helper = join(helperDir, 'helper');
  writeFileSync(helper, `#!/bin/sh\necho "helper ran: $*" >> ${helperDir}/log\nexec "$@"\n`);
  chmodSync(helper, 0o755);
  const installing = createEnvModule({
    node: 'n1',
    projects: [{ name: 'api', directory: setupProjectFor(spec) }],
    dataDir: tempDir('hal-env-data-'),
    settings: {
      probe_timeout_ms: 5_000,
      install_timeout_ms: 5_000,
      progress_poll_ms: 0,
      privileged_helper: [helper],
    },
    log,
    emit: () => undefined,
    env: { PATH: `${bin}:/usr/bin:/bin` },
  });
  const installSpec: ProjectEnvSpec = {
    ...spec,
    tools: [
      {
        name: 'protoc',
        binary: 'protoc',
        install: [
          'sh',
          '-c',
          `printf '#!/bin/sh\\necho libprotoc 25.1\\n' > ${bin}/protoc && chmod +x ${bin}/protoc`,
        ],
      },
    ],
  };
  const ran = await installing.approve(installSpec, 'tool:protoc');
  assert.equal(ran.ran, true);
  assert.equal(ran.exit_code, 0);
  assert.equal(ran.after.status, 'pass');
  assert.match(readFileSync(join(helperDir, 'log'), 'utf8'), /^helper ran: sh -c printf/);
});

function setupProjectFor(_spec: ProjectEnvSpec): string {
  const d = tempDir('hal-env-proj-');
  gitRepo(d);
  return d;
}

test('env module - a symlink planted in the project is never written through', async () => {
  const { env, spec, project } = setup();
  const outside = tempDir('hal-env-outside-');
  writeFileSync(join(outside, 'target.md'), 'precious\n');
  symlinkSync(join(outside, 'target.md'), join(project, 'AGENT.md'));
  mkdirSync(join(outside, 'ctx'));
  symlinkSync(join(outside, 'ctx'), join(project, '.context'));
  const r = (await env.provision([spec], { dryRun: false })).results[0]!;
  const items = byId(r.result);
  assert.match(items.get('agent_md:AGENT.md')?.actual ?? '', /is a symbolic link/);
  assert.match(items.get('context:PROGRESS.md')?.actual ?? '', /leads outside the project directory/);
  assert.equal(readFileSync(join(outside, 'target.md'), 'utf8'), 'precious\n');
  assert.throws(() => statSync(join(outside, 'ctx', 'PROGRESS.md')));
});

test('env module - unified diff: hunks with context, deletions before insertions, clipped', async () => {
  const { unifiedDiff } = await import('@hal/agent');
  const a = 'one\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\nten\n';
  const b = 'one\ntwo\nTHREE\nfour\nfive\nsix\nseven\neight\nnine\nten\neleven\n';
  assert.equal(
    unifiedDiff(a, b, 'a', 'b', 10_000),
    '--- a\n+++ b\n@@ -1,6 +1,6 @@\n one\n two\n-three\n+THREE\n four\n five\n six\n@@ -8,3 +8,4 @@\n eight\n nine\n ten\n+eleven\n',
  );
  assert.equal(unifiedDiff(a, a, 'a', 'b', 10_000), '');
  assert.match(unifiedDiff(a, b, 'a', 'b', 20), /… diff clipped at 20 characters\n$/);
});

test('env module - milestones in .context/PROGRESS.md are reported once each, also across restarts', async () => {
  const project = tempDir('hal-env-proj-');
  const dataDir = tempDir('hal-env-data-');
  const emitted: Array<{ project: string; type: string; data: Record<string, unknown> }> = [];
  const make = () =>
    createEnvModule({
      node: 'n1',
      projects: [{ name: 'api', directory: project }],
      dataDir,
      settings: { probe_timeout_ms: 5_000, install_timeout_ms: 5_000, progress_poll_ms: 20 },
      log,
      emit: (events) => emitted.push(...events),
    });
  const milestones = () =>
    emitted.filter((e) => e.type === EventType.ENV_MILESTONE).map((e) => e.data.milestone);
  const env = make();
  env.start();
  mkdirSync(join(project, '.context'));
  writeFileSync(
    join(project, '.context/PROGRESS.md'),
    '# Progress\n- [ ] milestone: schema ready\n- [x] done a thing\n',
  );
  // Nothing to await for "not reported": several polls (20 ms) pass instead.
  await new Promise((r) => setTimeout(r, 150));
  assert.deepEqual(milestones(), [], 'an open milestone is not reported');
  writeFileSync(
    join(project, '.context/PROGRESS.md'),
    '# Progress\n- [x] milestone: schema ready\n- [x] done a thing\n',
  );
  const { waitFor } = await import('@hal/testkit');
  await waitFor(() => milestones().length === 1, { message: 'milestone reported' });
  assert.deepEqual(
    emitted.find((e) => e.type === EventType.ENV_MILESTONE),
    {
      project: 'api',
      session: null,
      type: EventType.ENV_MILESTONE,
      data: { milestone: 'schema ready', file: '.context/PROGRESS.md' },
      refs: {},
    },
  );
  writeFileSync(
    join(project, '.context/PROGRESS.md'),
    '# Progress\n- [x] milestone: schema ready\n* [X] milestone: API v1 \n',
  );
  await waitFor(() => milestones().length === 2, { message: 'second milestone reported' });
  env.stop();
  // A new agent process on the same data dir remembers what it reported.
  const again = make();
  again.start(); // start() reads the file once, synchronously

  again.stop();
  assert.deepEqual(milestones(), ['schema ready', 'API v1']);
});
