import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { promisify } from 'node:util';
import { readConfig } from '@hal/config';
import { createLogger, createRegistry, Readiness } from '@hal/observability';
import { createHealthServer } from '@hal/runtime';
import { tempDir } from '@hal/testkit';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { Ingress, NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Namespace, Secret, Service } from 'kubernetes-models/v1';
import { parseAllDocuments } from 'yaml';
import { REPO } from './install-harness.ts';

const exec = promisify(execFile);
/** Debian's kubernetes-client 1.20 (kustomize v2.0.3), unpacked by scripts/setup.mjs. */
const KUBECTL = join(REPO, '.tools/kubernetes-client/usr/bin/kubectl');

// biome-ignore lint/suspicious/noExplicitAny: rendered manifests are checked field by field below
type Obj = any;

const MODELS: Record<string, new (data: Obj) => { validate(): void }> = {
  'v1/Namespace': Namespace,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'networking.k8s.io/v1/Ingress': Ingress,
};

function haveKubectl(t: TestContext): boolean {
  if (existsSync(KUBECTL)) return true;
  const message = `${KUBECTL} is missing: node scripts/setup.mjs unpacks Debian's kubernetes-client there (apt-get download kubernetes-client)`;
  if (process.env.CI) assert.fail(message);
  t.skip(message);
  return false;
}

async function render(dir: string): Promise<Obj[]> {
  const { stdout } = await exec(KUBECTL, ['kustomize', join(REPO, 'k8s', dir)], {
    maxBuffer: 16 * 1024 * 1024,
  });
  return parseAllDocuments(stdout).map((d) => d.toJS());
}

const find = (objs: Obj[], kind: string, name: string) =>
  objs.find((o) => o.kind === kind && o.metadata.name === name) ?? assert.fail(`no ${kind} ${name}`);
const workloads = (objs: Obj[]) => objs.filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet');
const HAL_PROBE_PATHS = new Set(['/healthz', '/readyz']);

for (const overlay of ['base', 'overlays/example', 'overlays/example-tls']) {
  test(`k8s ${overlay} - kubectl 1.20 kustomize renders; every object validates against the Kubernetes schemas`, async (t) => {
    if (!haveKubectl(t)) return;
    const objs = await render(overlay);
    assert.ok(objs.length >= 20, `${objs.length} objects`);
    for (const o of objs) {
      const Model = MODELS[`${o.apiVersion}/${o.kind}`];
      assert.ok(Model, `no schema check for ${o.apiVersion} ${o.kind}`);
      try {
        new Model(o).validate();
      } catch (err) {
        assert.fail(`${o.kind} ${o.metadata?.name}: ${(err as Error).message}`);
      }
      if (o.kind !== 'Namespace')
        assert.equal(o.metadata.namespace, 'hal-o-swarm', `${o.kind} ${o.metadata.name}`);
    }

    for (const w of workloads(objs)) {
      const pod = w.spec.template.spec;
      const where = `${w.kind} ${w.metadata.name}`;
      // Pod Security "restricted".
      assert.equal(pod.securityContext?.seccompProfile?.type, 'RuntimeDefault', `${where}: seccomp`);
      assert.equal(pod.securityContext?.runAsNonRoot, true, `${where}: runAsNonRoot`);
      for (const c of pod.containers) {
        assert.equal(c.securityContext?.allowPrivilegeEscalation, false, `${where}/${c.name}`);
        assert.deepEqual(c.securityContext?.capabilities?.drop, ['ALL'], `${where}/${c.name}`);
        assert.ok(c.resources?.requests?.cpu && c.resources?.limits?.memory, `${where}/${c.name}: resources`);
        const ports = new Set((c.ports ?? []).map((p: Obj) => p.name));
        for (const probe of ['readinessProbe', 'livenessProbe', 'startupProbe']) {
          const http = c[probe]?.httpGet;
          if (!http) continue;
          assert.ok(
            ports.has(http.port),
            `${where}/${c.name} ${probe} names port ${http.port}, not one of the container's`,
          );
          if (c.name === 'nats') assert.match(http.path, /^\/healthz(\?js-enabled-only=true)?$/);
          else assert.ok(HAL_PROBE_PATHS.has(http.path), `${where} ${probe} path ${http.path}`);
        }
        assert.ok(
          c.readinessProbe && c.livenessProbe,
          `${where}/${c.name} has readiness and liveness probes`,
        );
      }
    }
    // Trackers and cost pollers keep state: StatefulSets with a volume (cost history survives).
    for (const name of ['hal-tracker', 'hal-cost-poller', 'nats']) {
      const s = find(objs, 'StatefulSet', name);
      assert.equal(s.spec.volumeClaimTemplates?.[0]?.metadata.name, 'data', `${name} has a data volume`);
    }
    for (const name of ['hal-gateway', 'hal-policy', 'hal-discord-bridge']) find(objs, 'Deployment', name);
    // The Discord bot: two replicas, its own entry point, health reachable inside the namespace.
    const bridge = find(objs, 'Deployment', 'hal-discord-bridge');
    assert.equal(bridge.spec.replicas, 2);
    assert.deepEqual(bridge.spec.template.spec.containers[0].command.slice(0, 2), [
      'node',
      'services/discord-bridge/dist/main.js',
    ]);
    assert.ok(
      find(objs, 'NetworkPolicy', 'hal-internal').spec.podSelector.matchExpressions[0].values.includes(
        'hal-discord-bridge',
      ),
    );
    // PDBs select real pods.
    for (const [name, selectorOf] of [
      ['hal-gateway', 'Deployment'],
      ['hal-policy', 'Deployment'],
      ['hal-discord-bridge', 'Deployment'],
      ['nats', 'StatefulSet'],
    ] as const) {
      const pdb = find(objs, 'PodDisruptionBudget', name);
      const labels = find(objs, selectorOf, name).spec.template.metadata.labels;
      for (const [k, v] of Object.entries(pdb.spec.selector.matchLabels))
        assert.equal(labels[k], v, `${name} PDB`);
    }
    assert.equal(find(objs, 'PodDisruptionBudget', 'nats').spec.minAvailable, 2);
    // NATS: three servers on three nodes, with auth and resources.
    const nats = find(objs, 'StatefulSet', 'nats');
    assert.equal(nats.spec.replicas, 3);
    assert.equal(
      nats.spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0]
        .topologyKey,
      'kubernetes.io/hostname',
    );
    const natsConf = find(objs, 'ConfigMap', 'nats-config').data['nats.conf'] as string;
    assert.match(natsConf, /authorization \{\n\s+token: \$NATS_TOKEN/);
    assert.match(natsConf, /jetstream \{/);
    if (overlay.endsWith('-tls'))
      assert.match(natsConf, /^tls \{\n\s+cert_file: \/etc\/nats\/tls\/tls\.crt/m);
    // Default deny, then one door per service.
    const deny = find(objs, 'NetworkPolicy', 'default-deny-ingress');
    assert.deepEqual(deny.spec.podSelector, {});
    for (const np of ['nats', 'hal-gateway', 'hal-internal']) find(objs, 'NetworkPolicy', np);
    // The Ingress: agents' WebSockets to 8420, the API to 8421, long timeouts for idle sockets.
    const ingress = find(objs, 'Ingress', 'hal-gateway');
    const svc = find(objs, 'Service', 'hal-gateway');
    const portOf = (name: string) => svc.spec.ports.find((p: Obj) => p.name === name).port;
    const backends = ingress.spec.rules.map((r: Obj) => portOf(r.http.paths[0].backend.service.port.name));
    assert.deepEqual(backends.sort(), [8420, 8421]);
    assert.equal(ingress.metadata.annotations['nginx.ingress.kubernetes.io/proxy-read-timeout'], '3600');
    assert.equal(ingress.metadata.annotations['nginx.org/websocket-services'], 'hal-gateway');
    // Streams and KV buckets replicated 3 times, in the config every service reads.
    const config = JSON.parse(find(objs, 'ConfigMap', 'hal-config').data['supervisor.config.json']);
    assert.equal(config.nats.replicas, 3);
    if (overlay !== 'base') {
      for (const w of workloads(objs).filter((o) => o.metadata.name.startsWith('hal-'))) {
        assert.equal(w.spec.template.spec.containers[0].image, 'registry.example.com/hal-o-swarm:0.1.0');
      }
    }
  });
}

test('k8s - the rendered config is refused with the example placeholder tokens and loads with real ones', async (t) => {
  if (!haveKubectl(t)) return;
  const objs = await render('overlays/example');
  const secret = objs.find((o) => o.kind === 'Secret' && o.metadata.name.startsWith('hal-secrets-'));
  assert.ok(secret, 'the overlay generates hal-secrets-<hash>');
  const decoded = Object.fromEntries(
    Object.entries(secret.data as Record<string, string>).map(([k, v]) => [
      k,
      Buffer.from(v, 'base64').toString(),
    ]),
  );
  assert.deepEqual(Object.keys(decoded).sort(), ['auth_token', 'nats_token']);
  const dir = tempDir('hal-k8s-');
  const config = JSON.parse(find(objs, 'ConfigMap', 'hal-config').data['supervisor.config.json']);
  // The pod mounts the Secret at /etc/hal/secrets: point the *_file keys at copies here.
  config.server.auth_token_file = join(dir, 'auth_token');
  config.nats.token_file = join(dir, 'nats_token');
  const file = join(dir, 'supervisor.config.json');
  writeFileSync(file, JSON.stringify(config));
  for (const [k, v] of Object.entries(decoded)) writeFileSync(join(dir, k), v);
  const refused = readConfig('supervisor', { file, env: {} });
  assert.equal(refused.ok, false);
  assert.deepEqual(
    (refused.ok ? [] : refused.problems).map((p) => `${p.path}: ${p.message.split(':')[0]}`).sort(),
    [
      'nats.token: looks like a placeholder from an example (<…>, changeme, …)',
      'server.auth_token: looks like a placeholder from an example (<…>, changeme, …)',
    ],
  );
  writeFileSync(join(dir, 'auth_token'), 'e'.repeat(64));
  writeFileSync(join(dir, 'nats_token'), 'f'.repeat(64));
  const loaded = readConfig('supervisor', { file, env: {} });
  assert.ok(loaded.ok, JSON.stringify(loaded));
  assert.equal(loaded.ok && loaded.config.nats.replicas, 3);
  // Discord as discord-bridge.yaml says to turn it on: the bot token as a file from the Secret.
  writeFileSync(join(dir, 'discord_bot_token'), `MTA${'x'.repeat(56)}`);
  config.channels = {
    discord: {
      bot_token_file: join(dir, 'discord_bot_token'),
      guild_id: '123456789012345678',
      channels: { alerts: '223456789012345678', 'dev-log': '323456789012345678' },
      roles: {
        viewer: ['423456789012345678'],
        operator: ['523456789012345678'],
        admin: ['623456789012345678'],
      },
    },
  };
  writeFileSync(file, JSON.stringify(config));
  const withDiscord = readConfig('supervisor', { file, env: {} });
  assert.ok(withDiscord.ok, JSON.stringify(withDiscord));
  assert.equal(withDiscord.ok && withDiscord.config.channels.discord?.bot_token, `MTA${'x'.repeat(56)}`);
});

test('k8s - probe paths are served: a standalone service`s health server answers them (not 404)', async (t) => {
  if (!haveKubectl(t)) return;
  const objs = await render('base');
  const paths = new Set<string>();
  for (const w of workloads(objs).filter((o) => o.metadata.name.startsWith('hal-'))) {
    for (const probe of ['readinessProbe', 'livenessProbe'])
      paths.add(w.spec.template.spec.containers[0][probe].httpGet.path);
  }
  assert.deepEqual([...paths].sort(), ['/healthz', '/readyz']);
  const readiness = new Readiness();
  readiness.register('service', () => ({ ok: true }));
  const server = createHealthServer({
    host: '127.0.0.1',
    port: 0,
    readiness,
    registry: createRegistry(),
    metricsPublic: false,
    authToken: 'x'.repeat(32),
    log: createLogger({ service: 'k8s-test', level: 'silent' }),
  });
  await server.start();
  t.after(() => server.stop());
  for (const path of paths) {
    const res = await fetch(`http://127.0.0.1:${server.port()}${path}`);
    assert.equal(res.status, 200, `${path} answers`);
  }
});

test('container image - multi-stage Dockerfile, non-root USER, one CMD for every service; .dockerignore keeps secrets and state out', async () => {
  const dockerfile = readFileSync(join(REPO, 'deploy/Dockerfile'), 'utf8');
  const lines = dockerfile.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'));
  const froms = lines.filter((l) => l.startsWith('FROM '));
  assert.deepEqual(
    froms.map((l) => l.split(/\s+/).slice(-1)[0]),
    ['build', 'runtime'],
    'two named stages: build, runtime',
  );
  assert.ok(
    froms.every((l) => /^FROM node:20[\w.-]*-slim AS /.test(l)),
    froms.join('\n'),
  );
  assert.match(dockerfile, /COPY --from=build --chown=0:0 \/app \/app/);
  assert.match(dockerfile, /npm ci[\s\S]*npm run build[\s\S]*npm prune --omit=dev/);
  const runtime = lines.slice(lines.indexOf(froms[1] ?? ''));
  const user = runtime.filter((l) => l.startsWith('USER ')).pop();
  assert.match(user ?? '', /^USER [1-9]\d*(:[1-9]\d*)?$/, 'a numeric non-root user');
  const cmd = JSON.parse((runtime.find((l) => l.startsWith('CMD ')) ?? 'CMD null').slice(4)) as string[];
  assert.equal(cmd[0], 'node');
  assert.ok(existsSync(join(REPO, cmd[1] ?? '')), `CMD runs ${cmd[1]}, which exists`);
  assert.match(
    runtime.join('\n'),
    /apt-get install -y --no-install-recommends nats-server/,
    'the default command has its NATS',
  );
  // Every service the k8s manifests run is in the same image.
  const objs = existsSync(KUBECTL) ? await render('base') : [];
  for (const w of workloads(objs).filter((o) => o.metadata.name.startsWith('hal-'))) {
    const entry = w.spec.template.spec.containers[0].command[1];
    assert.ok(
      existsSync(join(REPO, entry.replace('/dist/main.js', '/src/main.ts'))),
      `${entry} is built from a real entry`,
    );
  }
  const ignore = readFileSync(join(REPO, '.dockerignore'), 'utf8').split('\n');
  for (const must of ['.git', '.hal', '**/*.db', '**/node_modules', '.tools'])
    assert.ok(ignore.includes(must), must);
});
