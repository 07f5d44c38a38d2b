import {
  ENV_KV_BUCKET,
  ENV_KV_HISTORY,
  ENV_LIMITS,
  ENV_MANIFEST_KEY,
  type EnvManifestDocument,
  type EnvManifestView,
  ErrorCode,
  envManifestDocumentSchema,
  HalError,
  parseOrThrow,
} from '@hal/protocol';
import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import { openKv } from './kv.ts';

/** The manifest when nobody has stored one yet: revision 0, no projects. */
const EMPTY: EnvManifestView = {
  revision: 0,
  updated_at: null,
  document: envManifestDocumentSchema.parse({}),
};

export interface EnvManifestStore {
  /** The current document and its revision (0 and an empty document before the first put). */
  get(): Promise<EnvManifestView>;
  /**
   * Stores a new revision. With `expectedRevision` the write only happens when the stored one
   * is still that revision (CONFLICT otherwise), so two admins cannot silently overwrite each other.
   */
  put(document: unknown, expectedRevision?: number): Promise<EnvManifestView>;
}

/**
 * The environment manifest in the `HAL_ENV` KV bucket: one key, its history the versions. Every
 * reader parses what it reads, so a value written around this API cannot reach an agent unchecked.
 */
export async function openEnvManifestStore(nc: NatsConnection, replicas?: number): Promise<EnvManifestStore> {
  const kv: KV = await openKv(nc, ENV_KV_BUCKET, {
    history: ENV_KV_HISTORY,
    ...(replicas === undefined ? {} : { replicas }),
  });

  async function get(): Promise<EnvManifestView> {
    const entry = await kv.get(ENV_MANIFEST_KEY);
    if (entry === null || entry.operation !== 'PUT' || entry.length === 0) return EMPTY;
    const document = parseOrThrow(
      envManifestDocumentSchema,
      entry.json<unknown>(),
      `stored manifest (revision ${entry.revision})`,
      ErrorCode.INTERNAL,
    );
    return { revision: entry.revision, updated_at: entry.created.toISOString(), document };
  }

  return {
    get,
    async put(raw, expectedRevision) {
      const document: EnvManifestDocument = parseOrThrow(envManifestDocumentSchema, raw, 'manifest');
      const text = JSON.stringify(document);
      if (Buffer.byteLength(text) > ENV_LIMITS.documentBytes) {
        throw new HalError(
          ErrorCode.PAYLOAD_TOO_LARGE,
          `manifest is ${Buffer.byteLength(text)} bytes; at most ${ENV_LIMITS.documentBytes} (it travels inside commands to agents)`,
        );
      }
      try {
        if (expectedRevision === undefined) await kv.put(ENV_MANIFEST_KEY, text);
        else if (expectedRevision === 0) await kv.create(ENV_MANIFEST_KEY, text);
        else await kv.update(ENV_MANIFEST_KEY, text, expectedRevision);
      } catch (err) {
        if (isWrongRevision(err)) {
          const current = await get();
          throw new HalError(
            ErrorCode.CONFLICT,
            `manifest is at revision ${current.revision}, not ${expectedRevision}: read it again and re-apply your change`,
            { details: { revision: current.revision } },
          );
        }
        throw err;
      }
      return get();
    },
  };
}

function isWrongRevision(err: unknown): boolean {
  if (err instanceof JetStreamApiError) {
    return (
      err.code === JetStreamApiCodes.StreamWrongLastSequence ||
      err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown
    );
  }
  return false;
}
