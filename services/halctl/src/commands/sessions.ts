import {
  ErrorCode,
  logEntrySchema,
  messagePartDataSchema,
  type SessionView,
  sessionViewSchema,
} from '@hal/protocol';
import { z } from 'zod';
import { envelope } from '../api-answer.ts';
import type { ApiClient } from '../client.ts';
import { CliError } from '../exit-codes.ts';
import { dash, type Output, shortTime, writeFields, writeJson, writeTable } from '../output.ts';
import { EVENTS_STREAM_PATH, streamedEventSchema } from './events.ts';

const enc = encodeURIComponent;

const sessionsListAnswer = envelope(
  sessionViewSchema.array(),
  z.object({ next_cursor: z.string().nullable().optional() }),
);
const sessionAnswer = envelope(sessionViewSchema);
const logsAnswer = envelope(
  logEntrySchema.array(),
  z.object({ last_seq: z.number().int().nonnegative().nullable().optional() }),
);
/** `logs --follow` streams message.part events only, so their data must be a message part. */
const streamedPartSchema = streamedEventSchema.extend({ data: messagePartDataSchema });
/**
 * A command's answer is whatever the agent replied (shown as JSON); the gateway adds the node
 * that acted. `data` may be absent when the agent replied with nothing.
 */
const actionAnswer = envelope(z.unknown().optional(), z.object({ node: z.string() }));

export interface SessionListOptions {
  node?: string | undefined;
  project?: string | undefined;
  state?: string | undefined;
  limit?: number | undefined;
  cursor?: string | undefined;
}

const tokens = (s: SessionView): string => `${s.tokens.input}/${s.tokens.output}`;

export async function listSessions(client: ApiClient, out: Output, opts: SessionListOptions): Promise<void> {
  const { data, meta } = await client.get('/api/v1/sessions', sessionsListAnswer, { ...opts });
  if (out.json) return writeJson(out, data);
  writeTable(out, data, [
    { header: 'SESSION', value: (s) => s.session },
    { header: 'NODE', value: (s) => s.node, shrink: true },
    { header: 'PROJECT', value: (s) => s.project, shrink: true },
    { header: 'STATE', value: (s) => s.state },
    { header: 'TITLE', value: (s) => dash(s.title), shrink: true },
    { header: 'IN/OUT', value: tokens, align: 'right' },
    { header: 'COST $', value: (s) => s.cost_usd.toFixed(4), align: 'right' },
    { header: 'LAST ACTIVITY', value: (s) => shortTime(s.last_activity_at) },
  ]);
  if (typeof meta.next_cursor === 'string') out.write(`(more: --cursor ${meta.next_cursor})\n`);
}

export async function getSession(client: ApiClient, out: Output, session: string): Promise<void> {
  const { data: s } = await client.get(`/api/v1/sessions/${enc(session)}`, sessionAnswer);
  if (out.json) return writeJson(out, s);
  writeFields(out, [
    ['session', s.session],
    ['node', s.node],
    ['project', s.project],
    ['state', s.state],
    ['title', dash(s.title)],
    ['model', s.model === null ? '-' : `${dash(s.provider)}/${s.model}`],
    ['task', dash(s.current_task)],
    [
      'tokens',
      `in ${s.tokens.input}, out ${s.tokens.output}, reasoning ${s.tokens.reasoning}, cache r/w ${s.tokens.cache_read}/${s.tokens.cache_write}`,
    ],
    ['cost', `$${s.cost_usd.toFixed(4)}`],
    ['compactions', String(s.compactions)],
    ['errors', s.errors === 0 ? '0' : `${s.errors} (last: ${dash(s.last_error)})`],
    ['pending permissions', s.pending_permissions.join(', ') || '-'],
    ['started', dash(s.started_at)],
    ['last activity', dash(s.last_activity_at)],
  ]);
}

function logLine(e: {
  role: string;
  kind: string;
  text: string | null;
  tool: string | null;
  tool_status: string | null;
}) {
  if (e.tool !== null) return `[${e.role}] tool ${e.tool} ${dash(e.tool_status)}\n`;
  return `[${e.role}] ${e.text ?? `(${e.kind})`}\n`;
}

export async function sessionLogs(
  client: ApiClient,
  out: Output,
  session: string,
  opts: { limit?: number | undefined; follow?: boolean | undefined; signal?: AbortSignal | undefined },
): Promise<void> {
  const { data, meta } = await client.get(`/api/v1/sessions/${enc(session)}/logs`, logsAnswer, {
    limit: opts.limit,
  });
  for (const e of data) out.write(out.json ? `${JSON.stringify(e)}\n` : logLine(e));
  if (!opts.follow) return;
  // Follow from the last logged stream sequence: the SSE replay closes the gap exactly.
  const after = meta.last_seq ?? undefined;
  const stream = client.stream(
    EVENTS_STREAM_PATH,
    streamedPartSchema,
    { session, type: 'message.part', after_seq: after },
    opts.signal === undefined ? {} : { signal: opts.signal },
  );
  for await (const m of stream) {
    const d = m.data.data;
    out.write(
      out.json
        ? `${JSON.stringify({ ...m.data, stream_seq: m.id })}\n`
        : logLine({
            role: d.role,
            kind: d.part_type,
            text: d.text ?? null,
            tool: d.tool ?? null,
            tool_status: d.tool_status ?? null,
          }),
    );
  }
}

export type SessionAction =
  | {
      verb: 'start';
      project: string;
      node?: string | undefined;
      prompt?: string | undefined;
      title?: string | undefined;
    }
  | { verb: 'inject'; session: string; prompt: string }
  | { verb: 'resume'; session: string; prompt?: string | undefined }
  | { verb: 'kill'; session: string }
  | { verb: 'permission'; session: string; permissionId: string; response: 'once' | 'always' | 'reject' };

function strip(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

/**
 * One session command. `idempotencyKey` (one per halctl invocation unless --idempotency-key names
 * it) makes it run at most once; when its answer is lost, the error says how to retry with it.
 */
export async function sessionAction(
  client: ApiClient,
  out: Output,
  action: SessionAction,
  idempotencyKey: string,
): Promise<void> {
  const keyed = { idempotencyKey };
  let res: z.output<typeof actionAnswer>;
  let what: string;
  try {
    switch (action.verb) {
      case 'start':
        res = await client.post(
          '/api/v1/sessions',
          actionAnswer,
          strip({ ...action, verb: undefined }),
          keyed,
        );
        what = `start ${action.project}`;
        break;
      case 'permission':
        res = await client.post(
          `/api/v1/sessions/${enc(action.session)}/permissions/${enc(action.permissionId)}`,
          actionAnswer,
          { response: action.response },
          keyed,
        );
        what = `permission ${action.permissionId} ${action.response} on session ${action.session}`;
        break;
      default:
        res = await client.post(
          `/api/v1/sessions/${enc(action.session)}/${action.verb}`,
          actionAnswer,
          strip({ prompt: 'prompt' in action ? action.prompt : undefined }),
          keyed,
        );
        what = `${action.verb} session ${action.session}`;
    }
  } catch (err) {
    if (err instanceof CliError && err.code === ErrorCode.COMMAND_OUTCOME_UNKNOWN) {
      throw new CliError(
        err.code,
        `${err.message} (retry: the same command with --idempotency-key ${idempotencyKey})`,
        {
          cause: err,
        },
      );
    }
    throw err;
  }
  if (out.json) return writeJson(out, res.data);
  const detail = res.data === undefined || res.data === null ? '' : ` ${JSON.stringify(res.data)}`;
  out.write(`ok: ${what} on node ${res.meta.node}${detail}\n`);
}
