import { randomBytes } from 'node:crypto';
import { type KV, openKv } from '@hal/bus';
import {
  ENROLLMENT_KEYS,
  type EnrollmentGrant,
  type EnrollmentRecord,
  EnrollmentStatus,
  type EnrollmentView,
  ErrorCode,
  enrollmentKey,
  enrollmentRecordSchema,
  HalError,
  NODE_TOKEN_PREFIX,
  NODES_KV_BUCKET,
} from '@hal/protocol';
import { tokenSha256 } from './ws-auth.ts';

export interface EnrollRequest {
  node: string;
  projects: ReadonlyArray<{ name: string; directory: string }>;
  /** Replace the token of an active enrollment (the old one stops working at once). */
  rotate: boolean;
  actor: string;
}

/** Enrollment records in HAL_NODES, as the API writes and lists them. */
export interface EnrollmentStore {
  /** Mints a token (returned once, stored only hashed) and records the node's projects. */
  enroll(req: EnrollRequest): Promise<EnrollmentGrant>;
  /** Marks the node revoked: every gateway watching the bucket closes its socket. */
  revoke(node: string, actor: string): Promise<EnrollmentView>;
  list(): Promise<EnrollmentView[]>;
}

/** 256 random bits: a token nobody guesses, so a fast hash (SHA-256) is enough to store it. */
function mintToken(): string {
  return `${NODE_TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
}

export function viewOf(record: EnrollmentRecord): EnrollmentView {
  const { token_sha256: _hash, version: _version, ...view } = record;
  return view;
}

/** The stored record of a KV entry, or undefined for a deleted or unreadable one. */
export function recordOf(
  entry: { operation: string; length: number; json<T>(): T } | null,
): EnrollmentRecord | undefined {
  if (entry === null || entry.operation !== 'PUT' || entry.length === 0) return undefined;
  try {
    const parsed = enrollmentRecordSchema.safeParse(entry.json());
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/**
 * HAL_NODES, opened (created when missing) on first use; a failed open is retried on the next
 * call instead of being remembered. History 1: the audit stream keeps who enrolled and revoked
 * what, the bucket only the present.
 */
export function nodesBucket(nc: Parameters<typeof openKv>[0], replicas?: number): () => Promise<KV> {
  let opening: Promise<KV> | undefined;
  return () => {
    opening ??= openKv(nc, NODES_KV_BUCKET, {
      history: 1,
      ...(replicas === undefined ? {} : { replicas }),
    }).catch((err: unknown) => {
      opening = undefined;
      throw new HalError(
        ErrorCode.UNAVAILABLE,
        `the ${NODES_KV_BUCKET} KV bucket cannot be opened: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    });
    return opening;
  };
}

export function createEnrollmentStore(deps: { kv: () => Promise<KV>; now: () => Date }): EnrollmentStore {
  return {
    async enroll({ node, projects, rotate, actor }) {
      const kv = await deps.kv();
      const key = enrollmentKey(node);
      const current = await kv.get(key);
      const existing = recordOf(current);
      if (existing?.status === EnrollmentStatus.ACTIVE && !rotate) {
        throw new HalError(
          ErrorCode.CONFLICT,
          `node "${node}" is already enrolled (since ${existing.enrolled_at}); pass rotate to mint a new token (the current one stops working)`,
        );
      }
      const token = mintToken();
      const record: EnrollmentRecord = {
        version: 1,
        node,
        status: EnrollmentStatus.ACTIVE,
        token_sha256: tokenSha256(token),
        projects: projects.map((p) => ({ name: p.name, directory: p.directory })),
        enrolled_at: deps.now().toISOString(),
        enrolled_by: actor,
        revoked_at: null,
        revoked_by: null,
      };
      // Compare-and-set on the revision we read: two admins enrolling at once get one winner.
      try {
        if (current === null) await kv.create(key, JSON.stringify(record));
        else await kv.update(key, JSON.stringify(record), current.revision);
      } catch (err) {
        throw new HalError(
          ErrorCode.CONFLICT,
          `node "${node}" was enrolled or revoked meanwhile; try again`,
          {
            cause: err,
          },
        );
      }
      return { ...viewOf(record), token };
    },

    async revoke(node, actor) {
      const kv = await deps.kv();
      const key = enrollmentKey(node);
      const current = await kv.get(key);
      const existing = recordOf(current);
      if (existing === undefined || current === null) {
        throw new HalError(ErrorCode.NODE_NOT_FOUND, `node "${node}" is not enrolled`);
      }
      if (existing.status === EnrollmentStatus.REVOKED) {
        throw new HalError(
          ErrorCode.CONFLICT,
          `node "${node}" was already revoked at ${existing.revoked_at}`,
        );
      }
      const record: EnrollmentRecord = {
        ...existing,
        status: EnrollmentStatus.REVOKED,
        token_sha256: null,
        revoked_at: deps.now().toISOString(),
        revoked_by: actor,
      };
      try {
        await kv.update(key, JSON.stringify(record), current.revision);
      } catch (err) {
        throw new HalError(
          ErrorCode.CONFLICT,
          `node "${node}" was enrolled or revoked meanwhile; try again`,
          {
            cause: err,
          },
        );
      }
      return viewOf(record);
    },

    async list() {
      const kv = await deps.kv();
      const out: EnrollmentView[] = [];
      for await (const key of await kv.keys(ENROLLMENT_KEYS)) {
        const record = recordOf(await kv.get(key));
        if (record !== undefined) out.push(viewOf(record));
      }
      return out.sort((a, b) => a.node.localeCompare(b.node));
    },
  };
}
