import { type NatsConnection, request } from '@hal/bus';
import type { DependenciesConfig, PoliciesConfig } from '@hal/config';
import type { Logger } from '@hal/observability';
import {
  type Command,
  type EventRecord,
  envMilestoneDataSchema,
  subjects,
  TrackerQuery,
  trackerQuerySchemas,
} from '@hal/protocol';
import type { DecisionLog } from './decision-log.ts';
import { createIntents, intentKey } from './intents.ts';
import type { Overrides } from './overrides.ts';
import { KeyPrefix, keyOf, type StateStore } from './state-store.ts';

const POLICY = 'start_dependents';
const TRACKER_TIMEOUT_MS = 3_000;

/** KV value of a claim: one per (dependent, dependency, milestone); its existence is the "once". */
interface MilestoneClaim {
  at: number;
  event: string;
}

export interface StartDependents {
  onMilestone(event: EventRecord): Promise<void>;
}

/** Projects whose `depends_on` names `project`, in config order. */
export function dependentsOf(dependencies: DependenciesConfig, project: string): string[] {
  return Object.entries(dependencies)
    .filter(([, d]) => d.depends_on.includes(project))
    .map(([p]) => p);
}

/**
 * `start_dependents`: a milestone of project P starts (or prompts) each project that depends on
 * P, once per milestone. The claim is a KV create: a redelivered event, a second policy instance
 * or the agent reporting the same milestone again all find it taken. A dry run records what it
 * would do and claims nothing, so turning the policy on later still acts.
 */
export function createStartDependents(deps: {
  nc: NatsConnection;
  store: StateStore;
  decisions: DecisionLog;
  policies: PoliciesConfig;
  dependencies: DependenciesConfig;
  overrides: Overrides;
  log: Logger;
  now: () => number;
  commandTimeoutMs: number;
}): StartDependents {
  const cfg = deps.policies.start_dependents;
  // Carried like every policy command; one left by a dead leader is settled by the engine's recovery.
  const intents = createIntents(deps);

  async function tracker<Q extends 'nodes_list' | 'sessions_list'>(q: Q, body: unknown) {
    return request(deps.nc, subjects.trackerQuery(q), body, trackerQuerySchemas[q].response, {
      timeoutMs: TRACKER_TIMEOUT_MS,
    });
  }

  /** What to do for one dependent: prompt an idle session, or start one on the least busy online node. */
  async function plan(project: string, prompt: string): Promise<{ node: string; command: Command } | string> {
    if (cfg.action !== 'start') {
      const { sessions } = (await tracker(TrackerQuery.SESSIONS_LIST, {
        project,
        state: 'idle',
        limit: 1,
      })) as {
        sessions: Array<{ session: string; node: string }>;
      };
      const idle = sessions[0];
      if (idle !== undefined)
        return { node: idle.node, command: { type: 'resume', session: idle.session, prompt } };
      if (cfg.action === 'prompt') return `no idle session of ${project} to prompt`;
    }
    const { nodes } = (await tracker(TrackerQuery.NODES_LIST, { status: 'online' })) as {
      nodes: Array<{ node: string; sessions: number; projects: Array<{ name: string }> }>;
    };
    const candidates = nodes
      .filter((n) => n.projects.some((p) => p.name === project))
      .sort((a, b) => a.sessions - b.sessions);
    const node = candidates[0];
    if (node === undefined) return `no online node serves ${project}`;
    return {
      node: node.node,
      command: { type: 'start', project, prompt, title: `${project}: after a milestone` },
    };
  }

  return {
    async onMilestone(event) {
      if (!deps.overrides.isEnabled(POLICY)) return;
      const parsed = envMilestoneDataSchema.safeParse(event.data);
      if (!parsed.success || event.project === '') return;
      const milestone = parsed.data.milestone;
      for (const dependent of dependentsOf(deps.dependencies, event.project)) {
        const prompt = cfg.prompt
          .replaceAll('{project}', dependent)
          .replaceAll('{dependency}', event.project)
          .replaceAll('{milestone}', milestone);
        const target = { node: null, project: dependent, session: null };
        const why = `${event.project} reached milestone "${milestone}" (reported by ${event.node})`;
        if (cfg.dry_run) {
          const p = await plan(dependent, prompt).catch(
            (err: unknown) => `the tracker did not answer (${String(err)})`,
          );
          await deps.decisions.record(target, {
            policy: POLICY,
            decision: 'dry_run',
            reason: `would have: ${typeof p === 'string' ? `skipped, ${p}` : `${p.command.type} ${dependent} on ${p.node}`}: ${why}`,
          });
          continue;
        }
        // Planned before the claim (it only reads the tracker): between the claim and the intent
        // there is one KV write, not the tracker's round trips, for a crash to fall into.
        let p: Awaited<ReturnType<typeof plan>>;
        try {
          p = await plan(dependent, prompt);
        } catch (err) {
          p = `the tracker did not answer (${(err as Error).message})`;
        }
        const ids = [dependent, event.project, milestone];
        const claimed = await deps.store.mutate<MilestoneClaim, boolean>(
          keyOf(KeyPrefix.POLICY_STATE, POLICY, ...ids),
          (cur) =>
            cur === undefined
              ? { value: { at: deps.now(), event: event.id }, result: true }
              : { result: false },
        );
        if (!claimed) {
          deps.log.debug({ dependent, milestone }, 'milestone already handled');
          continue;
        }
        if (typeof p === 'string') {
          await deps.decisions.record(target, {
            policy: POLICY,
            decision: 'skipped',
            reason: `${why}; ${p}`,
          });
          continue;
        }
        await intents.carry(intentKey(POLICY, ...ids), {
          policy: POLICY,
          target: {
            ...target,
            node: p.node,
            session: p.command.type === 'resume' ? p.command.session : null,
          },
          command: p.command,
          reason: `${p.command.type} ${dependent}: ${why}`,
          fail_reason: why,
          alert: null,
        });
      }
    },
  };
}
