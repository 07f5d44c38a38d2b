import { type DestinationStream, type Logger, pino } from 'pino';

/**
 * Key names whose values never reach a log line. pino's redaction matches exact paths, so
 * each secret name is listed at the top level, one level down (`config.auth_token`) and in
 * request headers, which is where tokens actually travel.
 */
const SECRET_KEYS = [
  'token',
  'auth_token',
  'authorization',
  'password',
  'secret',
  'admin_api_key',
  'bot_token',
  'api_key',
  'access_token',
  'refresh_token',
] as const;

const REDACT_PATHS: string[] = [
  ...SECRET_KEYS,
  ...SECRET_KEYS.map((key) => `*.${key}`),
  ...SECRET_KEYS.map((key) => `*.*.${key}`),
  'headers.authorization',
  'headers.cookie',
  'req.headers.authorization',
  'req.headers.cookie',
  'request.headers.authorization',
  'request.headers.cookie',
];

export const REDACT_CENSOR = '***';

export interface LoggerOptions {
  service: string;
  node?: string;
  /** pino level name (`info` when absent). */
  level?: string;
  /** Where the JSON lines go; stdout when absent (tests pass a stream to assert on). */
  destination?: DestinationStream;
}

/** A pino logger whose lines always carry `service` (and `node`), with secrets censored. */
export function createLogger(opts: LoggerOptions): Logger {
  const base: Record<string, string> = { service: opts.service };
  if (opts.node !== undefined) base.node = opts.node;
  const options = {
    level: opts.level ?? 'info',
    base,
    redact: { paths: REDACT_PATHS, censor: REDACT_CENSOR },
  };
  return opts.destination === undefined ? pino(options) : pino(options, opts.destination);
}

export type { Logger };
