// Acceptance of environment manifests: two real agents on real project directories (temp dirs,
// real git), the whole supervisor on a real nats-server, halctl as its real bin. opencode plays
// no part in environment checks, so the agents watch the fake opencode.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, test } from 'node:test';
import type { EnvProvisionResult, EnvResult, EnvStatusView, Notification } from '@hal/protocol';
import { type FakeOpencode, startFakeOpencode, waitFor } from '@hal/testkit';
import { type Fleet, jsonOf, startAgent, startFleet, type TestAgent, TOKEN } from './fleet-harness.ts';

let fleet: Fleet;
let opencode: FakeOpencode;
const agents: TestAgent[] = [];
const root = mkdtempSync(join(tmpdir(), 'hal-env-e2e-'));

function dir(...parts: string[]): string {
  const d = join(root, ...parts);
  mkdirSync(d, { recursive: true });
  return d;
}

function shim(binDir: string, name: string, versionLine: string): void {
  writeFileSync(join(binDir, name), `#!/bin/sh\necho '${versionLine}'\n`);
  chmodSync(join(binDir, name), 0o755);
}

function gitRepo(d: string): void {
  const git = (...args: string[]) => execFileSync('git', args, { cwd: d, stdio: 'pipe' });
  git('init', '-q', '-b', 'main');
  git('-c', 'user.email=t@example.com', '-c', 'user.name=t', 'commit', '-q', '--allow-empty', '-m', 'init');
}

/** Every file under a directory (.git included) with its content hash and mode: "nothing changed" is exact. */
function snapshot(d: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (p: string) => {
    for (const e of readdirSync(p, { withFileTypes: true })) {
      const full = join(p, e.name);
      if (e.isDirectory()) walk(full);
      else {
        const st = statSync(full);
        out[relative(d, full)] =
          `${createHash('sha256').update(readFileSync(full)).digest('hex')} ${st.mode.toString(8)}`;
      }
    }
  };
  walk(d);
  return out;
}

const TEMPLATE =
  '# {{project_name}}\n\nYou work on {{project_name}} only; never touch: {{excluded_projects}}.\nRead first:\n{{interface_docs}}\n';

const n1 = { project: dir('n1', 'api'), bin: dir('n1', 'bin'), helperLog: join(root, 'n1', 'helper.log') };
const n2 = { project: dir('n2', 'api'), bin: dir('n2', 'bin'), web: dir('n2', 'web') };

before(async () => {
  for (const d of [n1.project, n2.project, n2.web]) gitRepo(d);
  // n1: an old node (faked by a PATH shim) and no protoc; n2: a good node and protoc.
  shim(n1.bin, 'node', 'v18.19.0');
  shim(n2.bin, 'node', 'v20.11.1');
  shim(n2.bin, 'protoc', 'libprotoc 25.1');
  // The privileged helper of n1: logs and runs what it is given (sudo -n would, with a sudoers rule).
  const helper = join(root, 'n1', 'helper');
  writeFileSync(helper, `#!/bin/sh\necho "$*" >> ${n1.helperLog}\nexec "$@"\n`);
  chmodSync(helper, 0o755);
  // A person already wrote n2's AGENT.md by hand.
  writeFileSync(join(n2.project, 'AGENT.md'), '# api\n\nHand-written rules: always run make lint.\n');

  opencode = await startFakeOpencode();
  fleet = await startFleet({
    // This test drives provisioning by hand; the on-connect run is tested on its own.
    policies: { provision_on_connect: { enabled: false } },
  });
  await fleet.startSupervisor();
  const path = (bin: string) => `${bin}:/usr/bin:/bin`;
  agents.push(
    await startAgent({
      node: 'n1',
      supervisorUrl: fleet.wsUrl,
      opencodeUrl: opencode.url,
      projects: [{ name: 'api', directory: n1.project }],
      env: { privileged_helper: [helper], progress_poll_ms: 0 },
      hostEnv: { PATH: path(n1.bin), HOME: root },
    }),
    await startAgent({
      node: 'n2',
      supervisorUrl: fleet.wsUrl,
      opencodeUrl: opencode.url,
      projects: [
        { name: 'api', directory: n2.project },
        { name: 'web', directory: n2.web },
      ],
      env: { progress_poll_ms: 0 },
      hostEnv: { PATH: path(n2.bin), HOME: root },
    }),
  );
});

after(async () => {
  for (const a of agents) await a.stop();
  await fleet?.close();
  await opencode?.stop();
  rmSync(root, { recursive: true, force: true });
});

async function putManifest(doc: unknown, ifRevision: number): Promise<{ status: number }> {
  const res = await fetch(`${fleet.apiUrl}/api/v1/env/manifest?if_revision=${ifRevision}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(doc),
  });
  await res.body?.cancel();
  return { status: res.status };
}

const items = (r: EnvResult | undefined) => new Map((r?.items ?? []).map((i) => [i.id, i]));

test('env e2e - drift item by item, exact safe fixes, approval of the risky one, idempotent, dry run changes nothing', async () => {
  const manifestFile = join(root, 'manifest.json');
  writeFileSync(
    manifestFile,
    JSON.stringify({
      projects: {
        api: {
          runtime: { node: '>=20' },
          tools: {
            protoc: {
              install: [
                'sh',
                '-c',
                `printf '#!/bin/sh\\necho libprotoc 25.1\\n' > ${n1.bin}/protoc && chmod 755 ${n1.bin}/protoc`,
              ],
            },
          },
          agent_config: { template: 'main', required_docs: ['docs/interface.md'] },
          git: { branch: 'main', hooks: ['pre-commit'] },
        },
        web: { agent_config: { template: 'main' } },
      },
      templates: { main: TEMPLATE },
      hooks: { 'pre-commit': '#!/bin/sh\nnpm run lint\n' },
      files: { 'docs/interface.md': '# API interface\n' },
    }),
  );
  const put = await fleet.halctl(['env', 'manifest', 'put', manifestFile]);
  assert.equal(put.code, 0, put.stderr);
  assert.match(put.stdout, /^manifest stored: revision \d+, projects api, web\n$/);

  // ---- drift, item by item ------------------------------------------------------------------
  const c1 = jsonOf<EnvResult[]>(await fleet.halctl(['env', 'check', 'n1', '--json']));
  assert.deepEqual(
    c1.map((r) => [r.node, r.project, r.status]),
    [['n1', 'api', 'missing']],
  );
  const i1 = items(c1[0]);
  assert.equal(i1.get('runtime:node')?.actual, '18.19.0', 'old runtime found through the PATH shim');
  assert.equal(i1.get('runtime:node')?.status, 'fail');
  assert.equal(i1.get('tool:protoc')?.actual, 'protoc not found on PATH');
  assert.equal(i1.get('tool:protoc')?.fix?.kind, 'risky');
  assert.equal(i1.get('git:hooks/pre-commit')?.actual, 'missing');
  assert.equal(i1.get('agent_md:AGENT.md')?.actual, 'missing');
  assert.equal(i1.get('git:branch')?.status, 'pass');

  const c2 = (await fleet.api<{ data: EnvResult[] }>('/api/v1/env/check/n2', {})).body.data;
  assert.deepEqual(
    c2.map((r) => r.project),
    ['api', 'web'],
  );
  const i2 = items(c2[0]);
  assert.equal(i2.get('runtime:node')?.status, 'pass');
  assert.equal(i2.get('tool:protoc')?.status, 'pass');
  assert.equal(i2.get('agent_md:AGENT.md')?.status, 'warn');
  const modified = c2[0]?.drift.find((d) => d.file === 'AGENT.md');
  assert.equal(modified?.type, 'modified');
  assert.match(modified?.diff ?? '', /^\+Hand-written rules: always run make lint\.$/m);

  // ---- a dry run changes nothing --------------------------------------------------------------
  const before1 = snapshot(n1.project);
  const before2 = snapshot(n2.project);
  const dry = await fleet.halctl(['env', 'provision', 'n1', '--dry-run']);
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /n1\/api: missing \(dry run: nothing changed\)/);
  assert.match(dry.stdout, /would apply agent_md:AGENT\.md: would write AGENT\.md/);
  assert.deepEqual(snapshot(n1.project), before1);
  const dryApi = (
    await fleet.api<{ data: EnvProvisionResult[] }>('/api/v1/env/provision/n2', { dry_run: true })
  ).body.data;
  assert.ok(dryApi.every((p) => p.dry_run));
  assert.deepEqual(snapshot(n2.project), before2);

  // ---- provision: exactly the safe items ------------------------------------------------------
  const p1 = jsonOf<EnvProvisionResult[]>(await fleet.halctl(['env', 'provision', 'n1', '--json']))[0]!;
  assert.deepEqual(p1.applied.map((a) => a.id).sort(), [
    'agent_md:AGENT.md',
    'context:CURRENT_TASK.md',
    'context:DECISIONS.md',
    'context:PROGRESS.md',
    'doc:docs/interface.md',
    'git:hooks/pre-commit',
  ]);
  assert.deepEqual(p1.pending.map((p) => [p.id, p.kind]).sort(), [
    ['runtime:node', 'manual'],
    ['tool:protoc', 'risky'],
  ]);
  assert.equal(
    readFileSync(join(n1.project, 'AGENT.md'), 'utf8'),
    '# api\n\nYou work on api only; never touch: web.\nRead first:\n- docs/interface.md\n',
  );
  assert.equal(statSync(join(n1.project, '.git/hooks/pre-commit')).mode & 0o777, 0o755);
  assert.equal(readFileSync(join(n1.project, 'docs/interface.md'), 'utf8'), '# API interface\n');
  assert.equal(existsSync(n1.helperLog), false, 'the risky fix did not run');

  const p2all = (await fleet.api<{ data: EnvProvisionResult[] }>('/api/v1/env/provision/n2', {})).body.data;
  assert.deepEqual(
    p2all.map((p) => p.project),
    ['api', 'web'],
  );
  const p2 = p2all[0]!;
  assert.deepEqual(
    p2.kept.map((k) => [k.file, k.type]),
    [['AGENT.md', 'modified']],
  );
  assert.equal(
    readFileSync(join(n2.project, 'AGENT.md'), 'utf8'),
    '# api\n\nHand-written rules: always run make lint.\n',
    'a file a person changed is left as it is',
  );
  assert.ok(!p2.applied.some((a) => a.id === 'agent_md:AGENT.md'));

  // ---- what waits for approval: tracker status, drift, the alert with its button ---------------
  await waitFor(
    async () => {
      const s = await fleet.api<{ data: EnvStatusView[] }>('/api/v1/env/status/n1');
      return s.body.data[0]?.pending_approval.includes('tool:protoc');
    },
    { message: 'n1/api waits for the approval of tool:protoc' },
  );
  const status = await fleet.halctl(['env', 'status']);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, /n1\s+api\s+missing\s+2\s+0\s+tool:protoc/);
  const drift = await fleet.halctl(['env', 'drift', '--node', 'n2']);
  assert.match(drift.stdout, /n2\s+api\s+AGENT\.md\s+modified/);
  await waitFor(
    () =>
      fleet.notifications.of(
        (n: Notification) => n.kind === 'env.provision.manual_required' && n.node === 'n1',
      ).length > 0,
    { message: 'an alert lists what needs approval' },
  );
  const alert = fleet.notifications.of(
    (n: Notification) => n.kind === 'env.provision.manual_required' && n.node === 'n1',
  )[0]!;
  assert.equal(alert.route, 'alerts');
  assert.match(alert.body, /tool:protoc \(needs approval\)/);
  assert.match(alert.body, /runtime:node \(needs a person\)/);
  assert.deepEqual(alert.actions, [
    {
      label: 'Approve tool:protoc',
      command: {
        method: 'POST',
        path: '/api/v1/env/approve/n1',
        body: { project: 'api', item: 'tool:protoc' },
      },
    },
  ]);

  // ---- approve: the risky command runs through the privileged helper --------------------------
  const approved = await fleet.halctl(['env', 'approve', 'n1', 'tool:protoc', '--project', 'api']);
  assert.equal(approved.code, 0, approved.stderr);
  assert.match(approved.stdout, /ran:\s+yes, exit code 0/);
  assert.match(approved.stdout, /now:\s+pass/);
  assert.match(readFileSync(n1.helperLog, 'utf8'), /^sh -c printf/);
  await waitFor(
    async () => {
      const s = await fleet.api<{ data: EnvStatusView[] }>('/api/v1/env/status/n1');
      return s.body.data[0]?.pending_approval.length === 0;
    },
    { message: 'nothing waits for approval on n1 any more' },
  );

  // ---- a second provision changes nothing -----------------------------------------------------
  const after1 = snapshot(n1.project);
  const after2 = snapshot(n2.project);
  const again = [
    ...(await fleet.api<{ data: EnvProvisionResult[] }>('/api/v1/env/provision/n1', {})).body.data,
    ...(await fleet.api<{ data: EnvProvisionResult[] }>('/api/v1/env/provision/n2', {})).body.data,
  ];
  assert.deepEqual(
    again.map((p) => [p.node, p.project, p.applied.length]),
    [
      ['n1', 'api', 0],
      ['n2', 'api', 0],
      ['n2', 'web', 0],
    ],
  );
  assert.deepEqual(snapshot(n1.project), after1);
  assert.deepEqual(snapshot(n2.project), after2);

  // ---- the audit trail names who did what ------------------------------------------------------
  const audit = await fleet.api<{ data: Array<{ action: string; target: Record<string, string> }> }>(
    '/api/v1/audit?limit=100',
  );
  const actions = audit.body.data.map((r) => `${r.action} ${r.target.node ?? ''}`);
  for (const a of ['env.manifest.put ', 'env.check n1', 'env.provision n1', 'env.approve n1']) {
    assert.ok(actions.includes(a), `${a} audited`);
  }
});

test('env e2e - agent-md show, diff and sync after a template change', async () => {
  const show = await fleet.halctl(['agent-md', 'show', 'web']);
  assert.equal(show.code, 0, show.stderr);
  assert.equal(show.stdout, '# web\n\nYou work on web only; never touch: api.\nRead first:\n(none)\n');

  // A new revision of the template: files the agents wrote are outdated, the person's stays modified.
  const current = await fleet.api<{ data: { revision: number; document: Record<string, unknown> } }>(
    '/api/v1/env/manifest',
  );
  const doc = current.body.data.document as { templates: Record<string, string> };
  doc.templates.main = `${TEMPLATE}\nCommit often.\n`;
  const file = join(root, 'manifest-2.json');
  writeFileSync(file, JSON.stringify(doc));
  const put = await putManifest(doc, current.body.data.revision);
  assert.equal(put.status, 200);
  const stale = await fleet.halctl([
    'env',
    'manifest',
    'put',
    file,
    '--if-revision',
    String(current.body.data.revision),
  ]);
  assert.equal(stale.code, 1);
  assert.match(stale.stderr, /^halctl: CONFLICT: manifest is at revision \d+, not \d+/);

  const diff = await fleet.halctl(['agent-md', 'diff', 'api']);
  assert.equal(diff.code, 0, diff.stderr);
  assert.match(diff.stdout, /^n1: outdated \(the template changed since the agent wrote this file\)$/m);
  assert.match(diff.stdout, /^n2: modified \(changed locally; left as it is\)$/m);
  assert.match(diff.stdout, /^ {2}\+Hand-written rules/m);

  const dry = await fleet.api<{ data: Array<{ node: string; results: EnvProvisionResult[] }> }>(
    '/api/v1/agent-md/sync',
    {
      dry_run: true,
    },
  );
  assert.deepEqual(dry.body.data.find((n) => n.node === 'n1')?.results[0]?.applied, [
    { id: 'agent_md:AGENT.md', action: 'would re-render AGENT.md from the current template' },
  ]);
  assert.doesNotMatch(readFileSync(join(n1.project, 'AGENT.md'), 'utf8'), /Commit often/);

  const sync = await fleet.halctl(['agent-md', 'sync']);
  assert.equal(sync.code, 0, sync.stderr);
  assert.match(sync.stdout, /^n1\/api: wrote AGENT\.md \(sha256:[0-9a-f]{12}\)$/m);
  assert.match(sync.stdout, /^n2\/api: kept \(changed locally\)$/m);
  assert.match(sync.stdout, /^n2\/web: wrote AGENT\.md \(sha256:[0-9a-f]{12}\)$/m);
  assert.match(readFileSync(join(n1.project, 'AGENT.md'), 'utf8'), /Commit often\.\n$/);
  assert.equal(
    readFileSync(join(n2.project, 'AGENT.md'), 'utf8'),
    '# api\n\nHand-written rules: always run make lint.\n',
  );
  await waitFor(() => fleet.events.of((e) => e.type === 'agentmd.updated' && e.node === 'n1').length === 2, {
    message: 'agentmd.updated for n1 twice: first render and the sync',
  });
  const again = await fleet.halctl(['agent-md', 'diff', 'api']);
  assert.match(again.stdout, /^n1: current$/m);
});
