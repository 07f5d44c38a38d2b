import { nodeViewSchema, trackerQuerySchemas } from '@hal/protocol';
import type { Argv, CommandModule } from 'yargs';
import { envelope } from '../api-answer.ts';
import type { ApiClient } from '../client.ts';
import type { CommandContext, GlobalArgs } from '../command-context.ts';
import { dash, type Output, writeFields, writeJson, writeTable } from '../output.ts';
import { enrollNode, listEnrollments, revokeNode } from './node-enrollment.ts';

const enc = encodeURIComponent;

const nodesListAnswer = envelope(trackerQuerySchemas.nodes_list.response);
const nodeAnswer = envelope(nodeViewSchema);

export async function listNodes(
  client: ApiClient,
  out: Output,
  opts: { status?: string | undefined },
): Promise<void> {
  const { data } = await client.get('/api/v1/nodes', nodesListAnswer, { status: opts.status });
  if (out.json) return writeJson(out, data.nodes);
  writeTable(out, data.nodes, [
    { header: 'NODE', value: (n) => n.node },
    { header: 'STATUS', value: (n) => n.status },
    { header: 'SESSIONS', value: (n) => String(n.sessions), align: 'right' },
    { header: 'PROJECTS', value: (n) => n.projects.map((p) => p.name).join(',') || '-', shrink: true },
    { header: 'AGENT', value: (n) => dash(n.agent_version) },
    { header: 'LAST HEARTBEAT', value: (n) => dash(n.last_heartbeat_at) },
    { header: 'CLOCK SKEW', value: (n) => formatSkew(n.clock_skew_ms), align: 'right' },
  ]);
}

/** `+10m0s`, `-1.2s`: the host's clock against the control plane's ('-' before a heartbeat measured it). */
function formatSkew(ms: number | null): string {
  if (ms === null) return '-';
  const sign = ms < 0 ? '-' : '+';
  const abs = Math.abs(ms);
  if (abs < 60_000) return `${sign}${(abs / 1000).toFixed(1)}s`;
  return `${sign}${Math.floor(abs / 60_000)}m${Math.floor((abs % 60_000) / 1000)}s`;
}

export async function getNode(client: ApiClient, out: Output, node: string): Promise<void> {
  const { data: n } = await client.get(`/api/v1/nodes/${enc(node)}`, nodeAnswer);
  if (out.json) return writeJson(out, n);
  writeFields(out, [
    ['node', n.node],
    ['status', n.status],
    ['gateway', dash(n.gateway)],
    ['agent version', dash(n.agent_version)],
    ['online since', dash(n.online_since)],
    ['last heartbeat', dash(n.last_heartbeat_at)],
    ['clock skew', formatSkew(n.clock_skew_ms)],
    ['sessions', String(n.sessions)],
    ['projects', n.projects.map((p) => `${p.name} (${p.directory})`).join(', ') || '-'],
    [
      'resources',
      n.resources === null
        ? '-'
        : `load ${n.resources.load.join(' ')}, mem free ${Math.round(n.resources.mem_free_bytes / 2 ** 20)} MiB, opencode ${n.resources.opencode_ok ? 'ok' : 'DOWN'}, spool ${n.resources.spool_depth}`,
    ],
  ]);
}

export function nodesCommand(ctx: CommandContext): CommandModule<GlobalArgs, GlobalArgs> {
  return {
    command: 'nodes',
    describe: 'Nodes (hosts running hal-agent)',
    builder: (y: Argv<GlobalArgs>) =>
      y
        .command(
          'list',
          'List nodes',
          (b) =>
            b.option('status', {
              choices: ['online', 'offline'] as const,
              describe: 'Only nodes with this status',
            }),
          async (argv) => listNodes(await ctx.client(argv), ctx.output(argv), { status: argv.status }),
        )
        .command(
          'get <node>',
          'Show one node',
          (b) => b.positional('node', { type: 'string', demandOption: true }),
          async (argv) => getNode(await ctx.client(argv), ctx.output(argv), argv.node),
        )
        .command(
          'enroll <node>',
          'Give a node its own agent token (admin; shown once) and set the projects it serves',
          (b) =>
            b
              .positional('node', { type: 'string', demandOption: true })
              .option('project', {
                type: 'string',
                array: true,
                default: [] as string[],
                describe: 'name=directory of a project the node serves (repeat for more)',
              })
              .option('rotate', {
                type: 'boolean',
                default: false,
                describe: 'Replace the token of an enrolled node (the current one stops working)',
              }),
          async (argv) =>
            enrollNode(await ctx.client(argv), ctx.output(argv), {
              node: argv.node,
              projects: argv.project,
              rotate: argv.rotate,
            }),
        )
        .command(
          'revoke <node>',
          "Revoke a node's token (admin): its agent is disconnected at once on every gateway",
          (b) => b.positional('node', { type: 'string', demandOption: true }),
          async (argv) => revokeNode(await ctx.client(argv), ctx.output(argv), argv.node),
        )
        .command(
          'enrollments',
          'List enrolled and revoked nodes',
          (b) => b,
          async (argv) => listEnrollments(await ctx.client(argv), ctx.output(argv)),
        )
        .example('$0 nodes list --status online', 'online nodes')
        .example('$0 nodes enroll build-1 --project web=/srv/web', 'a token for build-1, serving web')
        .demandCommand(
          1,
          'name a verb: list, get, enroll, revoke or enrollments',
        ) as unknown as Argv<GlobalArgs>,
    handler: () => undefined,
  };
}
