import { z } from 'zod';
import { actorSchema } from './commands.ts';
import { heartbeatPayloadSchema } from './envelope.ts';
import { SCHEMA_VERSION } from './events.ts';

/** `hal.hb.<node>`: the agent's heartbeat as the gateway republishes it. */
export const heartbeatMessageSchema = heartbeatPayloadSchema.extend({
  version: z.literal(SCHEMA_VERSION).default(SCHEMA_VERSION),
  node: z.string().min(1),
  gateway: z.string(),
  time: z.iso.datetime({ offset: true }),
  agent_version: z.string().optional(),
  projects: z.array(z.object({ name: z.string(), directory: z.string() })).optional(),
  /** The node's clock minus the control plane's (ms), as the relaying gateway measures it. */
  clock_skew_ms: z.number().int().optional(),
});
export type HeartbeatMessage = z.infer<typeof heartbeatMessageSchema>;

/** `hal.gw.claim.<node>`: a gateway took over a node's socket. */
export const nodeClaimSchema = z.object({
  node: z.string(),
  gateway: z.string(),
  connection: z.string(),
  time: z.iso.datetime({ offset: true }),
});
export type NodeClaim = z.infer<typeof nodeClaimSchema>;

/** `hal.audit.<actor-kind>`: who did what, to what, and how it went. */
export const auditRecordSchema = z.object({
  version: z.literal(SCHEMA_VERSION).default(SCHEMA_VERSION),
  id: z.uuid(),
  time: z.iso.datetime({ offset: true }),
  actor: actorSchema,
  action: z.string().min(1).max(128),
  target: z.record(z.string(), z.string()).default({}),
  params: z.record(z.string(), z.unknown()).optional(),
  result: z.object({ ok: z.boolean(), code: z.string().optional(), message: z.string().optional() }),
  source: z.string().optional(),
});
export type AuditRecord = z.infer<typeof auditRecordSchema>;
export type AuditRecordInput = z.input<typeof auditRecordSchema>;

export const Severity = { INFO: 'info', WARNING: 'warning', CRITICAL: 'critical' } as const;
export type Severity = (typeof Severity)[keyof typeof Severity];

/** `hal.notify.<channel>.<route>`: what delivery services render; they decide nothing. */
export const notificationSchema = z.object({
  version: z.literal(SCHEMA_VERSION).default(SCHEMA_VERSION),
  id: z.uuid(),
  time: z.iso.datetime({ offset: true }),
  channel: z.string(),
  route: z.string(),
  severity: z.enum(['info', 'warning', 'critical']),
  kind: z.string(),
  title: z.string().max(256),
  body: z.string().max(4000),
  fields: z.array(z.object({ name: z.string(), value: z.string() })).default([]),
  actions: z
    .array(
      z.object({
        label: z.string(),
        /** The command to run, as the HTTP API takes it. */
        command: z.object({
          method: z.enum(['POST']),
          path: z.string(),
          body: z.record(z.string(), z.unknown()).optional(),
        }),
      }),
    )
    .default([]),
  node: z.string().optional(),
  project: z.string().optional(),
  session: z.string().optional(),
  /** Number of alerts collapsed into this one (digest). */
  count: z.number().int().positive().default(1),
});
export type Notification = z.infer<typeof notificationSchema>;
