import { type EnvManifestStore, type NatsConnection, openEnvManifestStore } from '@hal/bus';
import type { PoliciesConfig } from '@hal/config';
import type { Logger } from '@hal/observability';
import {
  controlPlaneTime,
  type EventRecord,
  envProvisionResultSchema,
  envResultSchema,
  nodeOnlineDataSchema,
  resolveProjectEnv,
} from '@hal/protocol';
import { z } from 'zod';
import { sendCommand } from './command-client.ts';
import type { DecisionLog } from './decision-log.ts';
import type { Overrides } from './overrides.ts';

const POLICY = 'provision_on_connect';
/** An older node.online (a replay, a policy service that was down) is history, not a connect. */
const MAX_EVENT_AGE_MS = 5 * 60_000;

const provisionAnswer = z.object({ results: z.array(envProvisionResultSchema) });
const checkAnswer = z.object({ results: z.array(envResultSchema) });

export interface EnvOnConnect {
  onNodeOnline(event: EventRecord): void;
  /** Waits for runs still in flight (stop). */
  drain(): Promise<void>;
}

/**
 * `provision_on_connect`: when a node comes online, the control plane sends it the manifest of
 * its projects; the agent checks, applies the safe fixes and reports (its events carry the
 * results; `env.provision.manual_required` raises the alert listing what needs approval). It runs
 * beside the event consumer, so a slow host never holds up other events.
 */
export function createEnvOnConnect(deps: {
  nc: NatsConnection;
  /** `nats.replicas` of the HAL_ENV bucket (absent: 1). */
  replicas?: number;
  policies: PoliciesConfig;
  overrides: Overrides;
  decisions: DecisionLog;
  log: Logger;
  now: () => number;
}): EnvOnConnect {
  const cfg = deps.policies.provision_on_connect;
  const inFlight = new Set<Promise<void>>();
  let store: Promise<EnvManifestStore> | undefined;

  async function run(event: EventRecord): Promise<void> {
    const online = nodeOnlineDataSchema.safeParse(event.data);
    if (!online.success) return;
    store ??= openEnvManifestStore(deps.nc, deps.replicas).catch((err: unknown) => {
      store = undefined;
      throw err;
    });
    const manifest = await (await store).get();
    const specs = online.data.projects.flatMap((p) => {
      const spec = resolveProjectEnv(manifest, p.name);
      return spec === undefined ? [] : [spec];
    });
    // A node none of whose projects the manifest names is not news.
    if (specs.length === 0) return;
    const target = { node: event.node, project: '', session: null };
    const names = specs.map((s) => s.project).join(', ');
    const what = `${cfg.action} ${names} on ${event.node} (manifest revision ${manifest.revision})`;
    if (cfg.dry_run) {
      await deps.decisions.record(target, {
        policy: POLICY,
        decision: 'dry_run',
        reason: `would have: ${what}`,
      });
      return;
    }
    // The command is not put in the decision: with every rendered file it would outgrow an event.
    const outcome = await sendCommand(
      deps.nc,
      event.node,
      cfg.action === 'provision'
        ? { type: 'env_provision', specs, dry_run: false }
        : { type: 'env_check', specs },
      POLICY,
      cfg.timeout_seconds * 1000,
    );
    if (!outcome.ok) {
      await deps.decisions.record(target, {
        policy: POLICY,
        decision: 'failed',
        reason: `${what}; the command failed: ${outcome.code}`,
        result: { ok: false, code: outcome.code, message: outcome.message },
      });
      return;
    }
    const summary =
      cfg.action === 'provision'
        ? provisionAnswer.safeParse(outcome.data).data?.results.map((r) => ({
            project: r.project,
            status: r.result.status,
            applied: r.applied.map((a) => a.id),
            waiting: r.pending.map((p) => p.id),
            kept: r.kept.map((k) => k.file),
          }))
        : checkAnswer
            .safeParse(outcome.data)
            .data?.results.map((r) => ({ project: r.project, status: r.status }));
    await deps.decisions.record(target, {
      policy: POLICY,
      decision: 'acted',
      reason: what,
      result: { ok: true, data: summary ?? 'the agent answered something unexpected' },
    });
  }

  return {
    onNodeOnline(event) {
      if (!deps.overrides.isEnabled(POLICY)) return;
      if (deps.now() - (controlPlaneTime(event) ?? deps.now()) > MAX_EVENT_AGE_MS) return;
      const p = run(event)
        .catch((err: unknown) => deps.log.error({ err, node: event.node }, 'provision on connect failed'))
        .finally(() => inFlight.delete(p));
      inFlight.add(p);
    },
    async drain() {
      await Promise.allSettled([...inFlight]);
    },
  };
}
