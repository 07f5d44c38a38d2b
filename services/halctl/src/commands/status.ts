import { type SessionView, sessionViewSchema, trackerQuerySchemas } from '@hal/protocol';
import type { CommandModule } from 'yargs';
import { z } from 'zod';
import { envelope } from '../api-answer.ts';
import type { ApiClient } from '../client.ts';
import type { CommandContext, GlobalArgs } from '../command-context.ts';
import { dash, type Output, shortTime, writeJson, writeTable } from '../output.ts';

const summaryAnswer = envelope(
  z.object({
    nodes: z.object({ total: z.number(), online: z.number(), offline: z.number() }),
    sessions: trackerQuerySchemas.sessions_summary.response,
  }),
);
const nodesAnswer = envelope(trackerQuerySchemas.nodes_list.response);
const sessionsAnswer = envelope(sessionViewSchema.array());

/** Sessions worth a line in the overview: the ones someone may have to look at. */
const ACTIVE = new Set(['starting', 'running', 'waiting_input', 'idle', 'compacted', 'error', 'unreachable']);
const MAX_ACTIVE = 500;

/** How long a session has been in its state: `45s`, `12m`, `3h`, `2d`. */
function age(since: string | null, now: number): string {
  if (since === null) return '-';
  const s = Math.max(0, Math.round((now - Date.parse(since)) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86_400)}d`;
}

/**
 * `halctl status`: the fleet at a glance — nodes, sessions by state, and each active session
 * with how long it has been in its state (the ones waiting for a person first). `--json` gives
 * `{nodes, sessions, active}` for scripts.
 */
export async function fleetStatus(client: ApiClient, out: Output, now = Date.now()): Promise<void> {
  const [summary, nodes, sessions] = await Promise.all([
    client.get('/api/v1/fleet/summary', summaryAnswer),
    client.get('/api/v1/nodes', nodesAnswer),
    client.get('/api/v1/sessions', sessionsAnswer, { limit: MAX_ACTIVE }),
  ]);
  const order = (s: SessionView) => (s.state === 'waiting_input' ? 0 : s.state === 'error' ? 1 : 2);
  const active = sessions.data
    .filter((s) => ACTIVE.has(s.state))
    .sort(
      (a, b) => order(a) - order(b) || (b.last_activity_at ?? '').localeCompare(a.last_activity_at ?? ''),
    );
  if (out.json) {
    return writeJson(out, {
      nodes: nodes.data.nodes,
      sessions: summary.data.sessions,
      active,
    });
  }
  const n = summary.data.nodes;
  const byState = Object.entries(summary.data.sessions.by_state)
    .filter(([, count]) => count > 0)
    .map(([state, count]) => `${state} ${count}`)
    .join(', ');
  out.write(`nodes: ${n.online} online, ${n.offline} offline (${n.total})\n`);
  out.write(`sessions: ${summary.data.sessions.total}${byState === '' ? '' : ` (${byState})`}\n\n`);
  writeTable(out, nodes.data.nodes, [
    { header: 'NODE', value: (x) => x.node },
    { header: 'STATUS', value: (x) => x.status },
    { header: 'SESSIONS', value: (x) => String(x.sessions), align: 'right' },
    { header: 'PROJECTS', value: (x) => x.projects.map((p) => p.name).join(',') || '-', shrink: true },
    { header: 'LAST HEARTBEAT', value: (x) => shortTime(x.last_heartbeat_at) },
  ]);
  out.write('\n');
  writeTable(out, active, [
    { header: 'SESSION', value: (s) => s.session },
    { header: 'NODE', value: (s) => s.node, shrink: true },
    { header: 'PROJECT', value: (s) => s.project, shrink: true },
    { header: 'STATE', value: (s) => s.state },
    { header: 'FOR', value: (s) => age(s.state_since, now), align: 'right' },
    { header: 'TASK', value: (s) => dash(s.title ?? s.current_task), shrink: true },
  ]);
}

export function statusCommand(ctx: CommandContext): CommandModule<GlobalArgs, GlobalArgs> {
  return {
    command: 'status',
    describe: 'The fleet at a glance: nodes, sessions by state, active sessions',
    handler: async (argv) => fleetStatus(await ctx.client(argv), ctx.output(argv)),
  };
}
