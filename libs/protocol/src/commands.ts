import { z } from 'zod';
import { envApproveCommandSchema, envCheckCommandSchema, envProvisionCommandSchema } from './env-results.ts';
import { type ErrorBody, ErrorCode, HalError } from './errors.ts';
import { SCHEMA_VERSION } from './events.ts';
import { handOffCommandSchema, handOffSchema, MAX_PROMPT_CHARS } from './hand-off.ts';

export const CommandType = {
  START: 'start',
  INJECT: 'inject',
  RESUME: 'resume',
  RESTART: 'restart',
  /** A graceful restart (§7.2): update .context, wait for idle, abort, continue in a new session. */
  HANDOFF: 'handoff',
  KILL: 'kill',
  STATUS: 'status',
  LOGS: 'logs',
  PERMISSION: 'permission',
  ENV_CHECK: 'env_check',
  ENV_PROVISION: 'env_provision',
  ENV_APPROVE: 'env_approve',
} as const;
export type CommandType = (typeof CommandType)[keyof typeof CommandType];

export const PermissionResponse = { ONCE: 'once', ALWAYS: 'always', REJECT: 'reject' } as const;
export type PermissionResponse = (typeof PermissionResponse)[keyof typeof PermissionResponse];

const sessionId = z.string().min(1).max(256);
const prompt = z.string().min(1).max(MAX_PROMPT_CHARS);

export const commandSchema = z.discriminatedUnion('type', [
  z
    .object({
      type: z.literal('start'),
      project: z.string().min(1),
      prompt: prompt.optional(),
      title: z.string().max(256).optional(),
    })
    .strict(),
  z.object({ type: z.literal('inject'), session: sessionId, prompt }).strict(),
  z.object({ type: z.literal('resume'), session: sessionId, prompt: prompt.optional() }).strict(),
  z
    .object({
      type: z.literal('restart'),
      session: sessionId,
      prompt: prompt.optional(),
      /** A policy's part of the hand-off prompt the agent builds (handOffPrompt). */
      handoff: handOffSchema.optional(),
    })
    .strict(),
  handOffCommandSchema,
  z.object({ type: z.literal('kill'), session: sessionId }).strict(),
  z.object({ type: z.literal('status'), session: sessionId.optional() }).strict(),
  z
    .object({
      type: z.literal('logs'),
      session: sessionId,
      limit: z.number().int().positive().max(10_000).optional(),
    })
    .strict(),
  z
    .object({
      type: z.literal('permission'),
      session: sessionId,
      permission_id: z.string().min(1).max(256),
      response: z.enum(['once', 'always', 'reject']),
    })
    .strict(),
  envCheckCommandSchema,
  envProvisionCommandSchema,
  envApproveCommandSchema,
]);
export type Command = z.infer<typeof commandSchema>;

/** Longest idempotency key; keys are opaque (halctl and the API make UUIDs). */
export const IDEMPOTENCY_KEY_MAX = 128;

/**
 * The key that makes a command run at most once: the agent remembers key → outcome for 24 h and
 * answers a repeat with the recorded outcome (a repeat still running joins it).
 */
export const idempotencyKeySchema = z
  .string()
  .min(1)
  .max(IDEMPOTENCY_KEY_MAX)
  .regex(/^[A-Za-z0-9._:-]+$/, 'must be letters, digits and . _ : - only (a UUID fits)');

export const actorSchema = z.object({
  kind: z.enum(['user', 'policy', 'discord', 'system', 'agent']),
  id: z.string().min(1).max(256),
  /** A name people recognise (a Discord user's name); the id stays the key. */
  name: z.string().max(256).optional(),
});
export type Actor = z.infer<typeof actorSchema>;

/** Body of a `hal.cmd.<node>` request. */
export const commandRequestSchema = z.object({
  version: z.literal(SCHEMA_VERSION).default(SCHEMA_VERSION),
  command: commandSchema,
  actor: actorSchema,
  timeout_ms: z.number().int().positive().max(600_000).default(30_000),
  /** Absent: the gateway makes one, so the agent still runs the command once. */
  idempotency_key: idempotencyKeySchema.optional(),
});
export type CommandRequest = z.infer<typeof commandRequestSchema>;
export type CommandRequestInput = z.input<typeof commandRequestSchema>;

export const errorBodySchema = z.object({
  code: z.enum(Object.values(ErrorCode) as [ErrorCode, ...ErrorCode[]]),
  message: z.string(),
  details: z.unknown().optional(),
});

/** Every reply on the bus: callers branch on `ok`, then on `error.code`. */
export type Reply<T> = { ok: true; data: T } | { ok: false; error: ErrorBody };

export function replySchema<T extends z.ZodType>(data: T) {
  return z.discriminatedUnion('ok', [
    z.object({ ok: z.literal(true), data }),
    z.object({ ok: z.literal(false), error: errorBodySchema }),
  ]);
}

export function okReply<T>(data: T): Reply<T> {
  return { ok: true, data };
}

export function errorReply(err: HalError | ErrorBody): Reply<never> {
  return { ok: false, error: err instanceof HalError ? err.toBody() : err };
}

/** Unwraps a reply, throwing the HalError it carries. */
export function unwrapReply<T>(reply: Reply<T>): T {
  if (reply.ok) return reply.data;
  throw HalError.fromBody(reply.error);
}
