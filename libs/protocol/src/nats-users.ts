import { ENV_KV_BUCKET } from './env-manifest.ts';
import { NODES_KV_BUCKET } from './node-enrollment.ts';
import {
  COMMAND_KEYS_KV_BUCKET,
  COST_ALERTS_KV_BUCKET,
  COST_BILLING_KV_BUCKET,
  DISCORD_KV_BUCKET,
  DISCORD_UI_KV_BUCKET,
  LEASES_KV_BUCKET,
  LeaseName,
  POLICY_KV_BUCKET,
  POLICY_OVERRIDES_KV_BUCKET,
  SESSION_OWNERS_KV_BUCKET,
  StreamName,
} from './subjects.ts';

/**
 * The NATS users of HAL-O-SWARM and what each may publish and subscribe. The embedded
 * nats-server of hal-supervisor is configured from this table (one generated password per
 * user); an external NATS should grant the same (docs/NATS.md).
 *
 * Rules of the table:
 * - `hal.*` subjects are exact per service: who may command hosts (`hal.cmd.>`), write events,
 *   audit records and notifications, answer which queries.
 * - JetStream plumbing (`$JS.API`, acks, flow control) is granted alike to every service: the
 *   API's consumer and stream-info calls, and creating a stream or bucket when it is missing.
 *   Nothing but the supervisor may update, purge or delete a stream; a bucket's owner may raise
 *   its replicas.
 * - KV buckets are written through `$KV.<bucket>.>`: each bucket by its owner only.
 * - Request/reply: replies come back on `_INBOX.>`; a responder may answer only the requests
 *   it received (`allow_responses`), never publish to an inbox at will.
 *
 * A service that adds a subject, a stream or a bucket adds it here, or the embedded server
 * refuses it (logged as `nats permission violation`).
 */
export const NatsUser = {
  /** The supervisor's (or a standalone service's) own connection: streams and their limits. */
  SUPERVISOR: 'supervisor',
  GATEWAY: 'gateway',
  TRACKER: 'tracker',
  POLICY: 'policy',
  COST_POLLER: 'cost-poller',
  DISCORD_BRIDGE: 'discord-bridge',
  /** Read-only: live events for people with the NATS CLI (`nats sub 'hal.evt.>'`). */
  TAP: 'tap',
  /** Operators only (stream and consumer administration with the NATS CLI); no service uses it. */
  ADMIN: 'admin',
} as const;
export type NatsUser = (typeof NatsUser)[keyof typeof NatsUser];

export interface NatsSubjectRule {
  allow: readonly string[];
  deny?: readonly string[];
}

export interface NatsPermissions {
  publish: NatsSubjectRule;
  subscribe: NatsSubjectRule;
  /** May answer requests it received, once each, within this many seconds. */
  allowResponsesSec?: number;
}

/** Long enough for the longest command (timeout_ms ≤ 10 min) to be answered. */
const RESPONSE_WINDOW_SEC = 15 * 60;

const INBOX = '_INBOX.>';
const HAL_STREAMS = Object.values(StreamName);

/** What every service needs to use JetStream: stream info, consumers, acks, create when missing. */
const JETSTREAM_CLIENT = [
  '$JS.API.INFO',
  '$JS.API.STREAM.NAMES',
  '$JS.API.STREAM.INFO.*',
  '$JS.API.STREAM.CREATE.*',
  '$JS.API.STREAM.MSG.GET.*',
  '$JS.API.DIRECT.GET.>',
  '$JS.API.CONSUMER.>',
  '$JS.ACK.>',
  '$JS.FC.>',
] as const;

/**
 * Writing a KV bucket (put, create, delete, purge of its keys) and raising its replicas to
 * `nats.replicas` (its owner opens it; it is never lowered); reads go through the JetStream API.
 */
const kvBucket = (bucket: string) => [`$KV.${bucket}.>`, `$JS.API.STREAM.UPDATE.KV_${bucket}`];

/**
 * Holding one leader lease (LEASES_KV_BUCKET, shared by the services that elect a leader): only its
 * own key, so no service can take or release another's lease; raising the bucket's replicas too.
 */
const lease = (name: LeaseName) => [
  `$KV.${LEASES_KV_BUCKET}.${name}`,
  `$JS.API.STREAM.UPDATE.KV_${LEASES_KV_BUCKET}`,
];

/**
 * Claiming its own instance id (`instance.<role>.<id>` in LEASES_KV_BUCKET) before consuming with the
 * durable consumer named from it; only keys of its own role.
 */
const instanceClaim = (role: 'tracker' | 'cost-poller') => [
  `$KV.${LEASES_KV_BUCKET}.instance.${role}.>`,
  `$JS.API.STREAM.UPDATE.KV_${LEASES_KV_BUCKET}`,
];

/** No service ever publishes here but the gateway, which relays commands to the host holding the node. */
const COMMANDS = 'hal.cmd.>';

/** A service user: its own `hal.*` rights plus the JetStream plumbing every service needs. */
function service(opts: {
  publish: readonly string[];
  subscribe: readonly string[];
  /** Documents (and enforces, should an allow be widened) what it must never do. */
  deny?: readonly string[];
  responder: boolean;
}): NatsPermissions {
  return {
    publish: { allow: [...opts.publish, ...JETSTREAM_CLIENT], ...(opts.deny ? { deny: opts.deny } : {}) },
    subscribe: { allow: [INBOX, ...opts.subscribe] },
    ...(opts.responder ? { allowResponsesSec: RESPONSE_WINDOW_SEC } : {}),
  };
}

export const natsPermissions: Readonly<Record<NatsUser, NatsPermissions>> = {
  supervisor: {
    publish: {
      allow: [
        '$JS.API.INFO',
        ...HAL_STREAMS.flatMap((s) => [
          `$JS.API.STREAM.INFO.${s}`,
          `$JS.API.STREAM.CREATE.${s}`,
          `$JS.API.STREAM.UPDATE.${s}`,
        ]),
      ],
    },
    subscribe: { allow: [INBOX] },
  },
  gateway: service({
    publish: [
      // Agents' events and its own (node.*, command.executed), heartbeats, node claims.
      'hal.evt.>',
      'hal.hb.>',
      'hal.gw.claim.>',
      'hal.gw.holder.>',
      // The HTTP API: commands to hosts, queries to the tracker/cost/policy, audit records.
      COMMANDS,
      'hal.q.>',
      'hal.audit.>',
      // Node enrollments (halctl nodes enroll/revoke), the environment manifest (PUT), where a
      // `start` with an idempotency key went (@hal/commands).
      ...kvBucket(NODES_KV_BUCKET),
      ...kvBucket(ENV_KV_BUCKET),
      ...kvBucket(COMMAND_KEYS_KV_BUCKET),
      // Which node first reported each session (a host never takes over another's session).
      ...kvBucket(SESSION_OWNERS_KV_BUCKET),
    ],
    // Commands for the nodes it holds (it answers them), other gateways' claims, which
    // agent instance holds a node (asked by a gateway refusing a second instance).
    subscribe: ['hal.cmd.>', 'hal.gw.claim.>', 'hal.gw.holder.>'],
    responder: true,
  }),
  tracker: service({
    publish: [...instanceClaim('tracker')],
    subscribe: ['hal.hb.*', 'hal.q.tracker.>'],
    deny: [COMMANDS, 'hal.evt.>', 'hal.audit.>', 'hal.notify.>'],
    responder: true,
  }),
  policy: service({
    publish: [
      COMMANDS,
      'hal.q.tracker.>',
      'hal.evt.*.*.policy.>',
      'hal.notify.>',
      'hal.audit.>',
      // Its state and the enable/disable overrides; the environment manifest (HAL_ENV) it only reads.
      ...kvBucket(POLICY_KV_BUCKET),
      ...kvBucket(POLICY_OVERRIDES_KV_BUCKET),
      // One active instance at a time (the others stand by).
      ...lease(LeaseName.POLICY),
    ],
    subscribe: ['hal.q.policy.>'],
    responder: true,
  }),
  'cost-poller': service({
    // Budget events and the claims of those published; the leader's lease and the billing it
    // read, which every instance projects.
    publish: [
      'hal.evt.*.*.cost.>',
      ...lease(LeaseName.COST_POLLER),
      ...lease(LeaseName.COST_BUDGETS),
      ...instanceClaim('cost-poller'),
      ...kvBucket(COST_BILLING_KV_BUCKET),
      ...kvBucket(COST_ALERTS_KV_BUCKET),
    ],
    subscribe: ['hal.q.cost.>'],
    deny: [COMMANDS, 'hal.audit.>'],
    responder: true,
  }),
  // Reads hal.notify.discord.* and events through its durable consumers (HAL_NOTIFY,
  // HAL_EVENTS); its buttons and slash commands act as the API does: commands, queries, audit.
  'discord-bridge': service({
    publish: [
      COMMANDS,
      'hal.q.>',
      'hal.audit.>',
      ...kvBucket(DISCORD_KV_BUCKET),
      ...kvBucket(DISCORD_UI_KV_BUCKET),
      ...kvBucket(COMMAND_KEYS_KV_BUCKET),
      // One instance posts (the others stand by).
      ...lease(LeaseName.DISCORD_BRIDGE),
    ],
    subscribe: [],
    deny: ['hal.evt.>', 'hal.notify.>'],
    responder: false,
  }),
  tap: {
    publish: { allow: [], deny: ['>'] },
    subscribe: { allow: ['hal.evt.>'] },
  },
  admin: {
    publish: { allow: ['>'] },
    subscribe: { allow: ['>'] },
  },
};

/** One user of a nats-server's `authorization` block. */
export interface NatsServerUser {
  user: string;
  password: string;
  /** Absent: may publish and subscribe anything. */
  permissions?: NatsPermissions;
}

/**
 * The `authorization` block of a nats-server config file for these users. nats-server's config
 * format accepts JSON, so the block is JSON: no quoting rules of our own to get wrong.
 */
export function natsAuthorizationConfig(users: readonly NatsServerUser[]): string {
  const rule = (r: NatsSubjectRule) => ({ allow: [...r.allow], ...(r.deny ? { deny: [...r.deny] } : {}) });
  const block = {
    users: users.map((u) => ({
      user: u.user,
      password: u.password,
      ...(u.permissions === undefined
        ? {}
        : {
            permissions: {
              publish: rule(u.permissions.publish),
              subscribe: rule(u.permissions.subscribe),
              ...(u.permissions.allowResponsesSec === undefined
                ? {}
                : { allow_responses: { max: 1, expires: `${u.permissions.allowResponsesSec}s` } }),
            },
          }),
    })),
  };
  return `authorization: ${JSON.stringify(block, null, 2)}\n`;
}
