import type { ApiClient } from './client.ts';
import type { Output } from './output.ts';

/** The global options every command sees. */
export interface GlobalArgs {
  'supervisor-url'?: string | undefined;
  'auth-token'?: string | undefined;
  config?: string | undefined;
  json?: boolean | undefined;
  /** Seconds one request may take (streams excepted). */
  timeout?: number | undefined;
  'idempotency-key'?: string | undefined;
}

/** What a command module gets from the CLI: how to reach the API and where to write. */
export interface CommandContext {
  client(argv: GlobalArgs): Promise<ApiClient>;
  output(argv: GlobalArgs): Output;
  /** `--idempotency-key`, checked, or one made for this invocation (the same for every call of it). */
  idempotencyKey(argv: GlobalArgs): string;
  /** Aborted on Ctrl-C, so `--follow` streams end cleanly. */
  signal?: AbortSignal | undefined;
}
