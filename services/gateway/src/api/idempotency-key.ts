import { ErrorCode, HalError, IDEMPOTENCY_KEY_MAX, idempotencyKeySchema } from '@hal/protocol';
import type { FastifyRequest } from 'fastify';

export const IDEMPOTENCY_HEADER = 'idempotency-key';

/** The header as OpenAPI documents it on every route that takes it. */
export const idempotencyHeaderParameter = {
  name: 'Idempotency-Key',
  in: 'header',
  required: false,
  description: `Runs the command at most once (the agent remembers its outcome for 24 h): send a retry with the same key. 1–${IDEMPOTENCY_KEY_MAX} characters of A–Z a–z 0–9 . _ : -; absent, the API makes one and returns it in meta.idempotency_key.`,
  schema: { type: 'string', maxLength: IDEMPOTENCY_KEY_MAX },
} as const;

/**
 * The request's `Idempotency-Key` (a structured-field string in quotes is accepted as well), or a
 * fresh one: every command carries a key, and the answer names it so a caller who lost the
 * answer can retry.
 */
export function idempotencyKeyOf(req: FastifyRequest): string {
  const raw = req.headers[IDEMPOTENCY_HEADER];
  if (raw === undefined) return crypto.randomUUID();
  const value = Array.isArray(raw) ? undefined : raw.trim().replace(/^"(.*)"$/, '$1');
  const parsed = idempotencyKeySchema.safeParse(value);
  if (!parsed.success) {
    const message = Array.isArray(raw)
      ? 'is given more than once'
      : (parsed.error.issues[0]?.message ?? 'is invalid');
    throw new HalError(ErrorCode.VALIDATION_FAILED, `header Idempotency-Key ${message}`, {
      details: { issues: [{ path: 'headers.idempotency-key', message }] },
    });
  }
  return parsed.data;
}
