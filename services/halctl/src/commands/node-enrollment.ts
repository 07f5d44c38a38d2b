import { enrollmentGrantSchema, enrollmentViewSchema } from '@hal/protocol';
import { envelope } from '../api-answer.ts';
import type { ApiClient } from '../client.ts';
import { CliError } from '../exit-codes.ts';
import { dash, type Output, writeFields, writeJson, writeTable } from '../output.ts';

const enc = encodeURIComponent;
const grantAnswer = envelope(enrollmentGrantSchema);
const viewAnswer = envelope(enrollmentViewSchema);
const listAnswer = envelope(enrollmentViewSchema.array());

/** `name=dir` (the directory may itself hold `=`). */
export function parseProjectArg(arg: string): { name: string; directory: string } {
  const at = arg.indexOf('=');
  const name = at < 0 ? '' : arg.slice(0, at).trim();
  const directory = at < 0 ? '' : arg.slice(at + 1).trim();
  if (name === '' || directory === '') {
    throw new CliError('USAGE', `--project "${arg}" must be name=directory, like web=/srv/web`);
  }
  return { name, directory };
}

const projectsText = (projects: ReadonlyArray<{ name: string; directory: string }>): string =>
  projects.map((p) => `${p.name} (${p.directory})`).join(', ') ||
  '- (none: sessions start never picks this node)';

export async function enrollNode(
  client: ApiClient,
  out: Output,
  opts: { node: string; projects: readonly string[]; rotate: boolean },
): Promise<void> {
  const projects = opts.projects.map(parseProjectArg);
  const { data } = await client.post(`/api/v1/nodes/${enc(opts.node)}/enroll`, grantAnswer, {
    projects,
    rotate: opts.rotate,
  });
  if (out.json) return writeJson(out, data);
  writeFields(out, [
    ['node', data.node],
    ['projects', projectsText(data.projects)],
    ['enrolled at', data.enrolled_at],
    ['token', data.token],
  ]);
  out.write(
    '\nThis token is shown once and stored only as a hash. Put it in the agent config now\n' +
      '(auth_token, or a file named by auth_token_file, mode 0600) and restart the agent.\n',
  );
}

export async function revokeNode(client: ApiClient, out: Output, node: string): Promise<void> {
  const { data } = await client.post(`/api/v1/nodes/${enc(node)}/revoke`, viewAnswer);
  if (out.json) return writeJson(out, data);
  out.write(`node ${data.node} revoked at ${dash(data.revoked_at)}: its agent is disconnected and refused\n`);
}

export async function listEnrollments(client: ApiClient, out: Output): Promise<void> {
  const { data } = await client.get('/api/v1/enrollments', listAnswer);
  if (out.json) return writeJson(out, data);
  writeTable(out, data, [
    { header: 'NODE', value: (e) => e.node, shrink: true },
    { header: 'STATUS', value: (e) => e.status },
    { header: 'PROJECTS', value: (e) => e.projects.map((p) => p.name).join(',') || '-', shrink: true },
    {
      header: 'ENROLLED',
      value: (e) => `${e.enrolled_at.replace('T', ' ').slice(0, 16)} by ${e.enrolled_by}`,
      shrink: true,
    },
    {
      header: 'REVOKED',
      value: (e) => (e.revoked_at === null ? '-' : e.revoked_at.replace('T', ' ').slice(0, 16)),
    },
  ]);
}
