// What a fake Discord REST route gets and answers, and the refusals every route shares
// (Discord's own status, code and message).
import { invalidFormBody, messageProblems } from './fake-discord-limits.ts';
import type { FakeDiscordChannel, FakeDiscordState } from './fake-discord-state.ts';

export interface RestAnswer {
  status: number;
  body?: unknown;
}

export interface RestContext {
  state: FakeDiscordState;
  method: string;
  /** Path after `/api/v10`, like `/channels/123/messages`. */
  path: string;
  query: URLSearchParams;
  body: unknown;
  /** The Authorization header was `Bot <the bot token>`. */
  authorized: boolean;
  gatewayUrl: string;
  /** How long an interaction may go unanswered before its token stops working. */
  interactionDeadlineMs: number;
  /** How long Discord remembers a nonce for `enforce_nonce`. */
  nonceWindowMs: number;
  /** Sends a gateway dispatch (MESSAGE_CREATE, THREAD_CREATE, …) to the connected bot. */
  dispatch(t: string, d: unknown, intent?: number): void;
}

export type Obj = Record<string, unknown>;
export const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

export const err = (status: number, message: string, code: number): RestAnswer => ({
  status,
  body: { message, code },
});
export const UNKNOWN = {
  channel: () => err(404, 'Unknown Channel', 10003),
  message: () => err(404, 'Unknown Message', 10008),
  interaction: () => err(404, 'Unknown interaction', 10062),
  webhook: () => err(404, 'Unknown Webhook', 10015),
};
export const UNAUTHORIZED = (): RestAnswer => err(401, '401: Unauthorized', 0);

export function channelOf(ctx: RestContext, id: string): FakeDiscordChannel | undefined {
  return ctx.state.channels.get(id);
}

export function formCheck(body: unknown): RestAnswer | undefined {
  const problems = messageProblems(body);
  return problems.length === 0 ? undefined : { status: 400, body: invalidFormBody(problems) };
}
