import { readFile } from 'node:fs/promises';
import {
  type EnvItem,
  type EnvProvisionResult,
  type EnvResult,
  ErrorCode,
  envApproveResultSchema,
  envDriftViewSchema,
  envManifestViewSchema,
  envProvisionResultSchema,
  envResultSchema,
  envStatusViewSchema,
} from '@hal/protocol';
import type { Argv, CommandModule } from 'yargs';
import { envelope } from '../api-answer.ts';
import type { ApiClient } from '../client.ts';
import type { CommandContext, GlobalArgs } from '../command-context.ts';
import { CliError } from '../exit-codes.ts';
import { dash, type Output, shortTime, writeFields, writeJson, writeTable } from '../output.ts';

const enc = encodeURIComponent;

const statusAnswer = envelope(envStatusViewSchema.array());
const checkAnswer = envelope(envResultSchema.array());
const provisionAnswer = envelope(envProvisionResultSchema.array());
const driftAnswer = envelope(envDriftViewSchema.array());
const approveAnswer = envelope(envApproveResultSchema);
const manifestAnswer = envelope(envManifestViewSchema);

/** `node/project: status`, then each item that does not pass, with its fix. */
function writeResult(out: Output, r: EnvResult): void {
  out.write(
    `${r.node}/${r.project}: ${r.status} (manifest revision ${r.revision}, checked ${shortTime(r.checked_at)})\n`,
  );
  const open = r.items.filter((i) => i.status !== 'pass');
  if (open.length > 0) writeItems(out, open);
  for (const d of r.drift) out.write(`  drift ${d.type} ${d.file}: ${d.detail}\n`);
}

function fixText(i: EnvItem): string {
  if (i.fix === undefined) return '-';
  const cmd = i.fix.command ? `: ${i.fix.command.join(' ')}` : '';
  return `${i.fix.kind}: ${i.fix.action}${cmd}`;
}

function writeItems(out: Output, items: readonly EnvItem[]): void {
  writeTable(out, items, [
    { header: 'ITEM', value: (i) => i.id },
    { header: 'STATUS', value: (i) => i.status },
    { header: 'EXPECTED', value: (i) => i.expected, shrink: true },
    { header: 'ACTUAL', value: (i) => i.actual, shrink: true },
    { header: 'FIX', value: fixText, shrink: true },
  ]);
}

export async function envStatus(client: ApiClient, out: Output, node?: string): Promise<void> {
  const path = node === undefined ? '/api/v1/env/status' : `/api/v1/env/status/${enc(node)}`;
  const { data } = await client.get(path, statusAnswer);
  if (out.json) return writeJson(out, data);
  writeTable(out, data, [
    { header: 'NODE', value: (r) => r.node, shrink: true },
    { header: 'PROJECT', value: (r) => r.project, shrink: true },
    { header: 'STATUS', value: (r) => r.status },
    {
      header: 'FAILING',
      value: (r) => String(r.items.filter((i) => i.status === 'fail').length),
      align: 'right',
    },
    { header: 'DRIFT', value: (r) => String(r.drift.length), align: 'right' },
    { header: 'NEEDS APPROVAL', value: (r) => r.pending_approval.join(',') || '-', shrink: true },
    { header: 'REV', value: (r) => String(r.revision), align: 'right' },
    { header: 'CHECKED', value: (r) => shortTime(r.checked_at) },
  ]);
}

export async function envCheck(
  client: ApiClient,
  out: Output,
  node: string,
  project?: string,
): Promise<void> {
  const { data } = await client.post(
    `/api/v1/env/check/${enc(node)}`,
    checkAnswer,
    project ? { project } : {},
  );
  if (out.json) return writeJson(out, data);
  if (data.length === 0) out.write('(no project of this node is in the manifest)\n');
  for (const r of data) writeResult(out, r);
}

function writeProvision(out: Output, p: EnvProvisionResult): void {
  const verb = p.dry_run ? 'would apply' : 'applied';
  out.write(`${p.node}/${p.project}: ${p.result.status}${p.dry_run ? ' (dry run: nothing changed)' : ''}\n`);
  if (p.applied.length === 0) out.write(`  ${verb}: nothing\n`);
  for (const a of p.applied) out.write(`  ${verb} ${a.id}: ${a.action}\n`);
  for (const k of p.kept) {
    out.write(`  kept ${k.file} (${k.type}): ${k.detail}\n`);
    if (k.diff) out.write(k.diff.replace(/^(?=.)/gm, '    '));
  }
  for (const w of p.pending) {
    const cmd = w.command ? `\n      command: ${w.command.join(' ')}` : '';
    const how =
      w.kind === 'risky'
        ? `halctl env approve ${p.node} ${w.id} --project ${p.project}`
        : 'a person must do it';
    out.write(`  waiting ${w.id} (${w.kind}): ${w.action}${cmd}\n      next: ${how}\n`);
  }
}

export async function envProvision(
  client: ApiClient,
  out: Output,
  node: string,
  opts: { project?: string | undefined; dryRun: boolean },
): Promise<void> {
  const body = { dry_run: opts.dryRun, ...(opts.project ? { project: opts.project } : {}) };
  const { data } = await client.post(`/api/v1/env/provision/${enc(node)}`, provisionAnswer, body);
  if (out.json) return writeJson(out, data);
  for (const p of data) writeProvision(out, p);
}

export async function envDrift(
  client: ApiClient,
  out: Output,
  opts: { node?: string | undefined; project?: string | undefined },
): Promise<void> {
  const { data } = await client.get('/api/v1/env/drift', driftAnswer, { ...opts });
  if (out.json) return writeJson(out, data);
  writeTable(out, data, [
    { header: 'NODE', value: (d) => d.node, shrink: true },
    { header: 'PROJECT', value: (d) => d.project, shrink: true },
    { header: 'FILE', value: (d) => d.file, shrink: true },
    { header: 'TYPE', value: (d) => d.type },
    { header: 'DETAIL', value: (d) => d.detail, shrink: true },
    { header: 'CHECKED', value: (d) => shortTime(d.checked_at) },
  ]);
}

export async function envApprove(
  client: ApiClient,
  out: Output,
  node: string,
  item: string,
  project: string,
): Promise<void> {
  const { data } = await client.post(`/api/v1/env/approve/${enc(node)}`, approveAnswer, { project, item });
  if (out.json) return writeJson(out, data);
  writeFields(out, [
    ['item', `${data.node}/${data.project} ${data.item}`],
    ['command', data.command.join(' ')],
    [
      'ran',
      data.ran
        ? `yes, exit code ${dash(data.exit_code)}`
        : 'no: this node has no privileged helper; run the command on the host',
    ],
    ['now', `${data.after.status} (expected ${data.after.expected}, actual ${data.after.actual})`],
  ]);
  if (data.output.trim() !== '') out.write(`output:\n${data.output.replace(/^(?=.)/gm, '  ')}\n`);
}

export async function manifestGet(client: ApiClient, out: Output): Promise<void> {
  const { data } = await client.get('/api/v1/env/manifest', manifestAnswer);
  if (out.json) return writeJson(out, data);
  out.write(`# revision ${data.revision}${data.updated_at ? `, ${data.updated_at}` : ''}\n`);
  writeJson(out, data.document);
}

export async function manifestPut(
  client: ApiClient,
  out: Output,
  file: string,
  ifRevision?: number,
): Promise<void> {
  let doc: unknown;
  try {
    doc = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new CliError(ErrorCode.VALIDATION_FAILED, `cannot read ${file} as JSON: ${(err as Error).message}`);
  }
  const path =
    ifRevision === undefined ? '/api/v1/env/manifest' : `/api/v1/env/manifest?if_revision=${ifRevision}`;
  const { data } = await client.put(path, manifestAnswer, doc);
  if (out.json) return writeJson(out, data);
  out.write(
    `manifest stored: revision ${data.revision}, projects ${Object.keys(data.document.projects).join(', ') || '(none)'}\n`,
  );
}

export function envCommand(ctx: CommandContext): CommandModule<GlobalArgs, GlobalArgs> {
  return {
    command: 'env',
    describe: 'Host environments: readiness per node × project, fixes, approvals, the manifest',
    builder: (y: Argv<GlobalArgs>) =>
      y
        .command(
          'status [node]',
          'Latest check of every node × project (or one node), with approvals waiting',
          (b) => b.positional('node', { type: 'string' }),
          async (argv) => envStatus(await ctx.client(argv), ctx.output(argv), argv.node),
        )
        .command(
          'check <node>',
          "Check a node's projects against the manifest now",
          (b) =>
            b
              .positional('node', { type: 'string', demandOption: true })
              .option('project', { type: 'string', describe: 'Only this project' }),
          async (argv) => envCheck(await ctx.client(argv), ctx.output(argv), argv.node, argv.project),
        )
        .command(
          'provision <node>',
          'Apply the safe fixes; list what needs an approval or a person',
          (b) =>
            b
              .positional('node', { type: 'string', demandOption: true })
              .option('project', { type: 'string', describe: 'Only this project' })
              .option('dry-run', {
                type: 'boolean',
                default: false,
                describe: 'Say what would change; change nothing',
              }),
          async (argv) =>
            envProvision(await ctx.client(argv), ctx.output(argv), argv.node, {
              project: argv.project,
              dryRun: argv['dry-run'],
            }),
        )
        .command(
          'drift',
          'Files that differ from the manifest',
          (b) => b.option('node', { type: 'string' }).option('project', { type: 'string' }),
          async (argv) =>
            envDrift(await ctx.client(argv), ctx.output(argv), { node: argv.node, project: argv.project }),
        )
        .command(
          'approve <node> <item>',
          "Approve a risky fix (runs through the node's privileged helper, or shows the command)",
          (b) =>
            b
              .positional('node', { type: 'string', demandOption: true })
              .positional('item', {
                type: 'string',
                demandOption: true,
                describe: 'Item id, like runtime:java',
              })
              .option('project', { type: 'string', demandOption: true }),
          async (argv) =>
            envApprove(await ctx.client(argv), ctx.output(argv), argv.node, argv.item, argv.project),
        )
        .command(
          'manifest <verb> [file]',
          'Show (get) or replace (put FILE) the environment manifest',
          (b) =>
            b
              .positional('verb', { choices: ['get', 'put'] as const, demandOption: true })
              .positional('file', { type: 'string', describe: 'JSON document for put' })
              .option('if-revision', {
                type: 'number',
                describe: 'Refuse the put unless the manifest is at this revision',
              }),
          async (argv) => {
            if (argv.verb === 'get') return manifestGet(await ctx.client(argv), ctx.output(argv));
            if (argv.file === undefined) throw new CliError('USAGE', 'env manifest put needs a FILE');
            return manifestPut(await ctx.client(argv), ctx.output(argv), argv.file, argv['if-revision']);
          },
        )
        .example('$0 env provision n1 --dry-run', 'what provisioning would change on n1')
        .example('$0 env approve n1 runtime:java --project api', 'run the approved install')
        .demandCommand(
          1,
          'name a verb: status, check, provision, drift, approve or manifest',
        ) as unknown as Argv<GlobalArgs>,
    handler: () => undefined,
  };
}
