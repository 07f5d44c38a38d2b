import { envDriftSchema, envProvisionResultSchema } from '@hal/protocol';
import type { Argv, CommandModule } from 'yargs';
import { z } from 'zod';
import { envelope } from '../api-answer.ts';
import type { ApiClient } from '../client.ts';
import type { CommandContext, GlobalArgs } from '../command-context.ts';
import { type Output, writeJson } from '../output.ts';

const enc = encodeURIComponent;

const showAnswer = envelope(
  z.object({
    project: z.string(),
    revision: z.number(),
    file: z.string(),
    sha256: z.string(),
    content: z.string(),
  }),
);
const errorSchema = z.object({ code: z.string(), message: z.string() });
const diffAnswer = envelope(
  z.object({
    project: z.string(),
    revision: z.number(),
    sha256: z.string(),
    nodes: z.array(
      z.object({
        node: z.string(),
        state: z.enum(['current', 'missing', 'outdated', 'modified', 'unreachable']),
        drift: envDriftSchema.optional(),
        error: errorSchema.optional(),
      }),
    ),
  }),
);
const syncAnswer = envelope(
  z.array(
    z.object({
      node: z.string(),
      ok: z.boolean(),
      results: z.array(envProvisionResultSchema).optional(),
      error: errorSchema.optional(),
    }),
  ),
);

export async function agentMdShow(client: ApiClient, out: Output, project: string): Promise<void> {
  const { data } = await client.get(`/api/v1/agent-md/${enc(project)}`, showAnswer);
  if (out.json) return writeJson(out, data);
  out.write(data.content.endsWith('\n') ? data.content : `${data.content}\n`);
}

export async function agentMdDiff(client: ApiClient, out: Output, project: string): Promise<void> {
  const { data } = await client.get(`/api/v1/agent-md/${enc(project)}/diff`, diffAnswer);
  if (out.json) return writeJson(out, data);
  out.write(`${data.project}: template revision ${data.revision}, sha256:${data.sha256.slice(0, 12)}\n`);
  if (data.nodes.length === 0) out.write('(no online node has this project)\n');
  for (const n of data.nodes) {
    const why = n.error ? ` (${n.error.code}: ${n.error.message})` : n.drift ? ` (${n.drift.detail})` : '';
    out.write(`${n.node}: ${n.state}${why}\n`);
    if (n.drift?.diff) out.write(n.drift.diff.replace(/^(?=.)/gm, '  '));
  }
}

export async function agentMdSync(
  client: ApiClient,
  out: Output,
  opts: { project?: string | undefined; node?: string | undefined; dryRun: boolean },
): Promise<void> {
  const body = {
    dry_run: opts.dryRun,
    ...(opts.project ? { project: opts.project } : {}),
    ...(opts.node ? { node: opts.node } : {}),
  };
  const { data } = await client.post('/api/v1/agent-md/sync', syncAnswer, body);
  if (out.json) return writeJson(out, data);
  if (data.length === 0) out.write('(no online node has a project with an AGENT.md template)\n');
  for (const n of data) {
    if (!n.ok) {
      out.write(`${n.node}: failed (${n.error?.code}: ${n.error?.message})\n`);
      continue;
    }
    for (const r of n.results ?? []) {
      const done =
        r.applied.map((a) => a.action).join('; ') ||
        (r.kept.length > 0 ? 'kept (changed locally)' : 'up to date');
      out.write(`${n.node}/${r.project}: ${opts.dryRun ? 'would: ' : ''}${done}\n`);
      for (const k of r.kept) if (k.diff) out.write(k.diff.replace(/^(?=.)/gm, '  '));
    }
  }
}

export function agentMdCommand(ctx: CommandContext): CommandModule<GlobalArgs, GlobalArgs> {
  return {
    command: 'agent-md',
    describe: 'AGENT.md rendered from the central templates',
    builder: (y: Argv<GlobalArgs>) =>
      y
        .command(
          'show <project>',
          "Print the project's rendered AGENT.md",
          (b) => b.positional('project', { type: 'string', demandOption: true }),
          async (argv) => agentMdShow(await ctx.client(argv), ctx.output(argv), argv.project),
        )
        .command(
          'diff <project>',
          "Compare each online node's AGENT.md with the rendered template",
          (b) => b.positional('project', { type: 'string', demandOption: true }),
          async (argv) => agentMdDiff(await ctx.client(argv), ctx.output(argv), argv.project),
        )
        .command(
          'sync',
          'Render AGENT.md on the nodes (files people changed are kept and shown)',
          (b) =>
            b
              .option('project', { type: 'string', describe: 'Only this project' })
              .option('node', { type: 'string', describe: 'Only this node' })
              .option('dry-run', {
                type: 'boolean',
                default: false,
                describe: 'Say what would change; change nothing',
              }),
          async (argv) =>
            agentMdSync(await ctx.client(argv), ctx.output(argv), {
              project: argv.project,
              node: argv.node,
              dryRun: argv['dry-run'],
            }),
        )
        .demandCommand(1, 'name a verb: show, diff or sync') as unknown as Argv<GlobalArgs>,
    handler: () => undefined,
  };
}
