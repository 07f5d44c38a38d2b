import type { StoredEvent } from '@hal/protocol';
import type { Argv, CommandModule } from 'yargs';
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

function eventLine(seq: number | string, e: Omit<StoredEvent, 'stream_seq'>): string {
  const where = e.project === '' ? e.node : `${e.node}/${e.project}`;
  return `${seq}  ${e.time}  ${where}  ${dash(e.session)}  ${e.type}\n`;
}

/** Recent events, then (with follow) live ones from the next stream sequence: no gap between the two. */
export async function tailEvents(client: ApiClient, out: Output, opts: EventFilterOptions): Promise<void> {
  const filters = { type: opts.type, node: opts.node, project: opts.project, session: opts.session };
  const { data } = await client.get<StoredEvent[]>('/api/v1/events', {
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
    '/api/v1/events/stream',
    { ...filters, ...resume },
    opts.signal === undefined ? {} : { signal: opts.signal },
  )) {
    out.write(out.json ? `${m.data}\n` : eventLine(m.id ?? '-', JSON.parse(m.data) as StoredEvent));
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
