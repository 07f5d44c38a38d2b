import { ErrorCode, type ErrorCode as ErrorCodeType, httpStatusOf } from '@hal/protocol';

export const ExitCode = { OK: 0, FAILURE: 1, USAGE: 2, AUTH: 3, NOT_FOUND: 4 } as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** A failure halctl reports as one line: `halctl: <code>: <message>`. */
export class CliError extends Error {
  readonly code: ErrorCodeType | 'USAGE';
  constructor(code: ErrorCodeType | 'USAGE', message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CliError';
    this.code = code;
  }
}

/** Exit codes derive from the error code, like HTTP statuses do: 3 for auth, 4 for not found. */
export function exitCodeOf(err: CliError): ExitCode {
  if (err.code === 'USAGE' || err.code === ErrorCode.VALIDATION_FAILED) {
    return err.code === 'USAGE' ? ExitCode.USAGE : ExitCode.FAILURE;
  }
  const status = httpStatusOf[err.code];
  if (status === 401 || status === 403) return ExitCode.AUTH;
  if (status === 404) return ExitCode.NOT_FOUND;
  return ExitCode.FAILURE;
}
