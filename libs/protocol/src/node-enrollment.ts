import { z } from 'zod';
import { SCHEMA_VERSION } from './events.ts';

/**
 * Node enrollment: each agent's own credential, minted by `halctl nodes enroll <node>`, stored
 * only as a SHA-256 hash in the `HAL_NODES` KV bucket so that every gateway sees it and a revoke
 * reaches all of them at once (they watch the bucket).
 *
 * Key layout: `enroll.<base64url(node id)>` — KV keys allow only `[-/_=.A-Za-z0-9]`, and node
 * ids come from hosts, so they are written as base64url (one literal token whatever they hold).
 */
export const NODES_KV_BUCKET = 'HAL_NODES';

const ENROLL_PREFIX = 'enroll';

export function enrollmentKey(node: string): string {
  return `${ENROLL_PREFIX}.${Buffer.from(node, 'utf8').toString('base64url')}`;
}

/** The filter every enrollment key matches (for watches and listings). */
export const ENROLLMENT_KEYS = `${ENROLL_PREFIX}.>`;

/** Prefix of minted node tokens, so a leaked one is recognisable (secret scanners, logs). */
export const NODE_TOKEN_PREFIX = 'hal_node_';

export const EnrollmentStatus = { ACTIVE: 'active', REVOKED: 'revoked' } as const;
export type EnrollmentStatus = (typeof EnrollmentStatus)[keyof typeof EnrollmentStatus];

export const enrolledProjectSchema = z.strictObject({
  name: z.string().min(1).max(256),
  directory: z.string().min(1).max(4096),
});

/** What the bucket holds per node. The token itself is never stored, only its SHA-256 (hex). */
export const enrollmentRecordSchema = z.object({
  version: z.literal(SCHEMA_VERSION).default(SCHEMA_VERSION),
  node: z.string().min(1).max(256),
  status: z.enum([EnrollmentStatus.ACTIVE, EnrollmentStatus.REVOKED]),
  /** null once revoked: nothing can match it any more. */
  token_sha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .nullable(),
  /** The projects the control plane routes to this node; `hello.projects` is not consulted. */
  projects: z.array(enrolledProjectSchema).max(1000),
  enrolled_at: z.iso.datetime({ offset: true }),
  enrolled_by: z.string().max(256),
  revoked_at: z.iso.datetime({ offset: true }).nullable().default(null),
  revoked_by: z.string().max(256).nullable().default(null),
});
export type EnrollmentRecord = z.infer<typeof enrollmentRecordSchema>;

/** An enrollment as the API shows it: everything but the hash. */
export const enrollmentViewSchema = enrollmentRecordSchema.omit({ token_sha256: true, version: true });
export type EnrollmentView = z.infer<typeof enrollmentViewSchema>;

/** The answer to an enroll: the only time the token is ever shown. */
export const enrollmentGrantSchema = enrollmentViewSchema.extend({ token: z.string() });
export type EnrollmentGrant = z.infer<typeof enrollmentGrantSchema>;
