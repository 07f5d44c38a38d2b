/**
 * The one catalogue of error codes. A code is a promise to callers: it is never renamed or
 * reused. HTTP status and the wording in halctl/Discord derive from it; callers branch on
 * `code`, never on message text. docs/ERRORS.md lists the same codes (a test checks both agree).
 */
export const ErrorCode = {
  // request shape and access
  VALIDATION_FAILED: 'VALIDATION_FAILED',
  BAD_FRAME: 'BAD_FRAME',
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  UNSUPPORTED_VERSION: 'UNSUPPORTED_VERSION',
  UNKNOWN_COMMAND: 'UNKNOWN_COMMAND',
  UNAUTHORIZED: 'UNAUTHORIZED',
  FORBIDDEN: 'FORBIDDEN',
  ORIGIN_NOT_ALLOWED: 'ORIGIN_NOT_ALLOWED',
  NODE_REVOKED: 'NODE_REVOKED',
  LIMIT_EXCEEDED: 'LIMIT_EXCEEDED',
  // authority of agents (what a host may say)
  EVENT_TYPE_FORBIDDEN: 'EVENT_TYPE_FORBIDDEN',
  NODE_NAME_RESERVED: 'NODE_NAME_RESERVED',
  SESSION_OWNED_BY_OTHER_NODE: 'SESSION_OWNED_BY_OTHER_NODE',
  // lookups
  NOT_FOUND: 'NOT_FOUND',
  NODE_NOT_FOUND: 'NODE_NOT_FOUND',
  SESSION_NOT_FOUND: 'SESSION_NOT_FOUND',
  PROJECT_NOT_FOUND: 'PROJECT_NOT_FOUND',
  PERMISSION_NOT_FOUND: 'PERMISSION_NOT_FOUND',
  CONFLICT: 'CONFLICT',
  TARGET_AMBIGUOUS: 'TARGET_AMBIGUOUS',
  // reaching things
  NODE_OFFLINE: 'NODE_OFFLINE',
  NODE_ID_IN_USE: 'NODE_ID_IN_USE',
  COMMAND_OUTCOME_UNKNOWN: 'COMMAND_OUTCOME_UNKNOWN',
  TIMEOUT: 'TIMEOUT',
  NO_RESPONDERS: 'NO_RESPONDERS',
  UNAVAILABLE: 'UNAVAILABLE',
  RATE_LIMITED: 'RATE_LIMITED',
  OPENCODE_UNREACHABLE: 'OPENCODE_UNREACHABLE',
  OPENCODE_ERROR: 'OPENCODE_ERROR',
  PROVIDER_AUTH_FAILED: 'PROVIDER_AUTH_FAILED',
  PROVIDER_BAD_RESPONSE: 'PROVIDER_BAD_RESPONSE',
  // configuration and internals
  CONFIG_INVALID: 'CONFIG_INVALID',
  INTERNAL: 'INTERNAL',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** HTTP status for each code: the API derives its status from the code, never the reverse. */
export const httpStatusOf: Readonly<Record<ErrorCode, number>> = {
  VALIDATION_FAILED: 400,
  BAD_FRAME: 400,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_VERSION: 400,
  UNKNOWN_COMMAND: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  ORIGIN_NOT_ALLOWED: 403,
  NODE_REVOKED: 403,
  LIMIT_EXCEEDED: 400,
  EVENT_TYPE_FORBIDDEN: 403,
  NODE_NAME_RESERVED: 403,
  SESSION_OWNED_BY_OTHER_NODE: 409,
  NOT_FOUND: 404,
  NODE_NOT_FOUND: 404,
  SESSION_NOT_FOUND: 404,
  PROJECT_NOT_FOUND: 404,
  PERMISSION_NOT_FOUND: 404,
  CONFLICT: 409,
  TARGET_AMBIGUOUS: 409,
  NODE_OFFLINE: 503,
  NODE_ID_IN_USE: 409,
  COMMAND_OUTCOME_UNKNOWN: 503,
  TIMEOUT: 504,
  NO_RESPONDERS: 503,
  UNAVAILABLE: 503,
  RATE_LIMITED: 429,
  OPENCODE_UNREACHABLE: 502,
  OPENCODE_ERROR: 502,
  PROVIDER_AUTH_FAILED: 502,
  PROVIDER_BAD_RESPONSE: 502,
  CONFIG_INVALID: 500,
  INTERNAL: 500,
};

export interface ErrorBody {
  code: ErrorCode;
  message: string;
  details?: unknown;
}

/** The error every HAL component throws when the failure has a meaning for the caller. */
export class HalError extends Error {
  readonly code: ErrorCode;
  readonly details: unknown;

  constructor(code: ErrorCode, message: string, options: { details?: unknown; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'HalError';
    this.code = code;
    this.details = options.details;
  }

  toBody(): ErrorBody {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }

  static fromBody(body: ErrorBody): HalError {
    return new HalError(body.code, body.message, { details: body.details });
  }
}

/** Anything thrown, as a HalError: known ones pass through, the rest become INTERNAL with the cause kept. */
export function toHalError(err: unknown): HalError {
  if (err instanceof HalError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new HalError(ErrorCode.INTERNAL, message, { cause: err });
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ErrorCode, value);
}
