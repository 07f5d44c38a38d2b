import { type StoredEvent, storedEventSchema } from '@hal/protocol';
import type { Argv, CommandModule } from 'yargs';
import { envelope } from '../api-answer.ts';
import type { ApiClient } from '../client.ts';
import type { CommandContext, GlobalArgs } from '../command-context.ts';
import { dash, type Output } from '../output.ts';

export interface EventFilterOptions {
  type?: string | undefined;
  node?: string | undefined;
  project?: string | undefined;
  session?: string | undefined;
  since?: string | undefined;
  limit?: number | undefined;
  follow?: boolean | undefined;
  signal?: AbortSignal | undefined;
}

export const EVENTS_PATH = '/api/v1/events';
export const EVENTS_STREAM_PATH = '/api/v1/events/stream';
const eventsAnswer = envelope(storedEventSchema.array());
/** An SSE event's `data` is the stored record; its stream sequence is the SSE `id`. */
export const streamedEventSchema = storedEventSchema.omit({ stream_seq: true });

function eventLine(seq: number | string, e: Omit<StoredEvent, 'stream_seq'>): string {
  const where = e.project === '' ? e.node : `${e.node}/${e.project}`;
  return `${seq}  ${e.time}  ${where}  ${dash(e.session)}  ${e.type}\n`;
}

/** Recent events, then (with follow) live ones from the next stream sequence: no gap between the two. */
export async function tailEvents(client: ApiClient, out: Output, opts: EventFilterOptions): Promise<void> {
  const filters = { type: opts.type, node: opts.node, project: opts.project, session: opts.session };
  const { data } = await client.get(EVENTS_PATH, eventsAnswer, {
    ...filters,
    since: opts.since,
    limit: opts.limit,
  });
  let last: number | undefined;
  for (const e of data) {
    out.write(out.json ? `${JSON.stringify(e)}\n` : eventLine(e.stream_seq, e));
    last = Math.max(last ?? 0, e.stream_seq);
  }
  if (!opts.follow) return;
  const resume = last === undefined ? { since: opts.since } : { after_seq: last };
  for await (const m of client.stream(
    EVENTS_STREAM_PATH,
    streamedEventSchema,
    { ...filters, ...resume },
    opts.signal === undefined ? {} : { signal: opts.signal },
  )) {
    // --json prints one stored event per line, live ones with their stream_seq like the listed ones.
    out.write(out.json ? `${JSON.stringify({ ...m.data, stream_seq: m.id })}\n` : eventLine(m.id, m.data));
  }
}

export function eventsCommand(ctx: CommandContext): CommandModule<GlobalArgs, GlobalArgs> {
  return {
    command: 'events',
    describe: 'The event log (HAL_EVENTS)',
    builder: (y: Argv<GlobalArgs>) =>
      y
        .command(
          'tail',
          'Show recent events; --follow keeps streaming new ones',
          (b) =>
            b
              .option('follow', {
                alias: 'f',
                type: 'boolean',
                describe: 'Stream new events (Server-Sent Events)',
              })
              .option('type', { type: 'string', describe: 'Event type or glob (session.*, cost.>)' })
              .option('node', { type: 'string', describe: 'Only this node' })
              .option('project', { type: 'string', describe: 'Only this project' })
              .option('session', { type: 'string', describe: 'Only this session' })
              .option('since', { type: 'string', describe: 'ISO time to start from' })
              .option('limit', { type: 'number', describe: 'How many recent events to show' }),
          async (argv) =>
            tailEvents(await ctx.client(argv), ctx.output(argv), {
              type: argv.type,
              node: argv.node,
              project: argv.project,
              session: argv.session,
              since: argv.since,
              limit: argv.limit,
              follow: argv.follow,
              signal: ctx.signal,
            }),
        )
        .example('$0 events tail -f --type "session.*"', 'follow session state changes')
        .demandCommand(1, 'name a verb: tail') as unknown as Argv<GlobalArgs>,
    handler: () => undefined,
  };
}
