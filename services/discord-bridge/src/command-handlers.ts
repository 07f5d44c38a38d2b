import { randomUUID } from 'node:crypto';
import type { CommandLayer, Principal } from '@hal/commands';
import { CostQuery, PolicyQuery, type SessionView, TrackerQuery } from '@hal/protocol';
import {
  type APIActionRowComponent,
  type APIButtonComponent,
  type APIEmbed,
  ButtonStyle,
  type ChatInputCommandInteraction,
  ComponentType,
} from 'discord.js';
import type { BridgeStore } from './bridge-store.ts';
import { Key } from './bridge-store.ts';
import { Colour, clip, embed, paginate, since, usd } from './embeds.ts';
import { restartOutcome } from './replies.ts';

/** What a command answers: embeds, maybe buttons. Long lists come back as pages. */
export interface Answer {
  content?: string;
  embeds: APIEmbed[];
  components?: APIActionRowComponent<APIButtonComponent>[];
}

export interface HandlerContext {
  layer: CommandLayer;
  /** The session a target names; the command's own `target` was looked up while Discord was acknowledging. */
  resolve(target: string): Promise<SessionView>;
  store: BridgeStore;
  principal: Principal;
  now: () => number;
}

type Handler = (ctx: HandlerContext, i: ChatInputCommandInteraction) => Promise<Answer>;

export interface PagesState {
  title: string;
  pages: string[];
  colour: number;
}

/** A long list: the first page now, the rest behind ◀ ▶ buttons (`pg:<id>:<n>`), kept a day. */
export async function paged(
  store: BridgeStore,
  title: string,
  lines: string[],
  colour: number = Colour.info,
): Promise<Answer> {
  const pages = paginate(lines.length === 0 ? ['(nothing)'] : lines);
  if (pages.length === 1) return { embeds: [embed({ title, description: pages[0]!, colour })] };
  const id = randomUUID().replaceAll('-', '');
  await store.ui.put(Key.ui(id), { title, pages, colour } satisfies PagesState);
  return pageAnswer(id, { title, pages, colour }, 0);
}

export function pageAnswer(id: string, s: PagesState, n: number): Answer {
  const page = Math.min(Math.max(0, n), s.pages.length - 1);
  const nav = (label: string, to: number, disabled: boolean): APIButtonComponent => ({
    type: ComponentType.Button,
    style: ButtonStyle.Secondary,
    label,
    custom_id: `pg:${id}:${to}:${label === '◀' ? 'p' : 'n'}`,
    disabled,
  });
  return {
    embeds: [
      embed({
        title: s.title,
        description: s.pages[page]!,
        colour: s.colour,
        footer: `page ${page + 1} of ${s.pages.length}`,
      }),
    ],
    components: [
      {
        type: ComponentType.ActionRow,
        components: [nav('◀', page - 1, page === 0), nav('▶', page + 1, page === s.pages.length - 1)],
      },
    ],
  };
}

const sessionLine = (s: SessionView, now: number) =>
  `\`${s.session}\` **${s.project}** on ${s.node} · ${s.state} · ${usd(s.cost_usd)} · active ${since(s.last_activity_at, now)} ago${s.title ? ` · ${clip(s.title, 60)}` : ''}`;

export function sessionEmbed(s: SessionView, now: number): APIEmbed {
  return embed({
    title: `${s.project} · ${s.title ?? s.session}`,
    ...(s.current_task ? { description: clip(s.current_task, 1000) } : {}),
    colour:
      s.state === 'error' ? Colour.critical : s.state === 'waiting_input' ? Colour.warning : Colour.info,
    fields: [
      { name: 'Session', value: `\`${s.session}\`` },
      { name: 'Node', value: s.node },
      { name: 'State', value: s.state },
      { name: 'Model', value: s.model ?? '—' },
      { name: 'Cost', value: usd(s.cost_usd) },
      { name: 'Tokens', value: `${s.tokens.input} in / ${s.tokens.output} out` },
      { name: 'Running for', value: since(s.started_at, now) },
      { name: 'Last activity', value: `${since(s.last_activity_at, now)} ago` },
      ...(s.pending_permissions.length > 0
        ? [{ name: 'Pending permissions', value: s.pending_permissions.join(', ') }]
        : []),
      ...(s.last_error ? [{ name: 'Last error', value: s.last_error, inline: false }] : []),
    ],
    footer: `halctl sessions logs ${s.session}`,
  });
}

const done = (title: string, text: string, ok = true): Answer => ({
  embeds: [embed({ title, description: text, colour: ok ? Colour.ok : Colour.critical })],
});

export const HANDLERS: Record<string, Handler> = {
  async status(ctx, i) {
    const t = i.options.getString('target');
    if (t) return { embeds: [sessionEmbed(await ctx.resolve(t), ctx.now())] };
    const [{ nodes }, page] = await Promise.all([
      ctx.layer.tracker.query(TrackerQuery.NODES_LIST, {}),
      ctx.layer.tracker.query(TrackerQuery.SESSIONS_LIST, { limit: 500 }),
    ]);
    const byState = new Map<string, number>();
    for (const s of page.sessions) byState.set(s.state, (byState.get(s.state) ?? 0) + 1);
    const online = nodes.filter((n) => n.status === 'online').length;
    return {
      embeds: [
        embed({
          title: 'HAL fleet',
          colour: Colour.info,
          fields: [
            { name: 'Nodes online', value: `${online} of ${nodes.length}` },
            { name: 'Sessions', value: String(page.total) },
            ...[...byState.entries()].map(([state, n]) => ({ name: state, value: String(n) })),
          ],
        }),
      ],
    };
  },
  async sessions(ctx, i) {
    const filter = {
      ...(i.options.getString('project') ? { project: i.options.getString('project')! } : {}),
      ...(i.options.getString('node') ? { node: i.options.getString('node')! } : {}),
      ...(i.options.getString('state')
        ? { state: i.options.getString('state') as SessionView['state'] }
        : {}),
    };
    const page = await ctx.layer.tracker.query(TrackerQuery.SESSIONS_LIST, { ...filter, limit: 500 });
    return paged(
      ctx.store,
      `Sessions (${page.total})`,
      page.sessions.map((s) => sessionLine(s, ctx.now())),
    );
  },
  async nodes(ctx) {
    const { nodes } = await ctx.layer.tracker.query(TrackerQuery.NODES_LIST, {});
    const lines = nodes.map(
      (n) =>
        `${n.status === 'online' ? '🟢' : '🔴'} **${n.node}** · ${n.sessions} sessions · ${n.projects.map((p) => p.name).join(', ') || 'no projects'}${n.resources ? ` · load ${n.resources.load[0]?.toFixed(2) ?? '—'}` : ''}`,
    );
    return paged(ctx.store, `Nodes (${nodes.length})`, lines);
  },
  async session(ctx, i) {
    return {
      embeds: [sessionEmbed(await ctx.resolve(i.options.getString('target', true)), ctx.now())],
    };
  },
  async logs(ctx, i) {
    const s = await ctx.resolve(i.options.getString('target', true));
    const limit = i.options.getInteger('limit') ?? 20;
    const { entries } = await ctx.layer.tracker.query(TrackerQuery.SESSIONS_LOGS, {
      session: s.session,
      limit: 5000,
    });
    const lines = entries
      .slice(-limit)
      .map((e) =>
        e.kind === 'tool'
          ? `🔧 ${e.tool ?? 'tool'} ${e.tool_status ?? ''}`
          : `**${e.role}**: ${clip(e.text ?? '', 600)}`,
      );
    return paged(ctx.store, `Log of ${s.project} · ${s.session}`, lines);
  },
  async start(ctx, i) {
    const r = await ctx.layer.start(ctx.principal, {
      project: i.options.getString('project', true),
      ...(i.options.getString('prompt') ? { prompt: i.options.getString('prompt')! } : {}),
      ...(i.options.getString('node') ? { node: i.options.getString('node')! } : {}),
    });
    return done(
      'Session started',
      `\`${r.session}\` of **${r.project}** on ${r.node} — by ${ctx.principal.name}`,
    );
  },
  async inject(ctx, i) {
    const target = i.options.getString('target', true);
    const r = await ctx.layer.act(ctx.principal, 'inject', target, {
      prompt: i.options.getString('message', true),
      resolved: ctx.resolve(target),
    });
    return done('Prompt sent', `to \`${r.session}\` (${r.project} on ${r.node}) — by ${ctx.principal.name}`);
  },
  async resume(ctx, i) {
    const target = i.options.getString('target', true);
    const r = await ctx.layer.act(ctx.principal, 'resume', target, { resolved: ctx.resolve(target) });
    return done('Resumed', `\`${r.session}\` (${r.project} on ${r.node}) — by ${ctx.principal.name}`);
  },
  async restart(ctx, i) {
    const target = i.options.getString('target', true);
    const r = await ctx.layer.act(ctx.principal, 'restart', target, { resolved: ctx.resolve(target) });
    return done(
      'Restarting',
      `${restartOutcome(r.session, r.data)} (${r.project} on ${r.node}) — by ${ctx.principal.name}`,
    );
  },
  async kill(ctx, i) {
    // Killing takes a second click: resolve now, so the confirmation names the exact session.
    const s = await ctx.resolve(i.options.getString('target', true));
    const id = randomUUID().replaceAll('-', '');
    await ctx.store.ui.put(Key.ui(id), { session: s.session, by: ctx.principal.id });
    return {
      embeds: [
        {
          ...sessionEmbed(s, ctx.now()),
          title: `Kill ${s.project} · ${s.title ?? s.session}?`,
          color: Colour.warning,
        },
      ],
      components: [
        {
          type: ComponentType.ActionRow,
          components: [
            { type: ComponentType.Button, style: ButtonStyle.Danger, label: 'Kill', custom_id: `kc:${id}` },
            {
              type: ComponentType.Button,
              style: ButtonStyle.Secondary,
              label: 'Cancel',
              custom_id: `kn:${id}`,
            },
          ],
        },
      ],
    };
  },
  async approve(ctx, i) {
    const target = i.options.getString('target', true);
    const r = await ctx.layer.answerPermission(ctx.principal, target, 'once', undefined, ctx.resolve(target));
    return done('Permission approved', `\`${r.permission}\` of \`${r.session}\` — by ${ctx.principal.name}`);
  },
  async deny(ctx, i) {
    const target = i.options.getString('target', true);
    const r = await ctx.layer.answerPermission(
      ctx.principal,
      target,
      'reject',
      undefined,
      ctx.resolve(target),
    );
    return done('Permission rejected', `\`${r.permission}\` of \`${r.session}\` — by ${ctx.principal.name}`);
  },
  async cost(ctx, i) {
    const period = (i.options.getString('period') ?? 'today') as 'today' | 'week' | 'month';
    const by = (i.options.getString('by') ?? 'project') as 'project';
    const r = await ctx.layer.cost.query(CostQuery.REPORT, { period, group_by: [by] });
    const lines = r.rows
      .sort((a, b) => b.observed_usd - a.observed_usd)
      .map(
        (row) =>
          `**${Object.values(row.key).join(' · ') || '—'}** observed ${usd(row.observed_usd)} · billed ${usd(row.billed_usd)}`,
      );
    lines.unshift(
      `Total: observed ${usd(r.totals.observed_usd)} · billed ${usd(r.totals.billed_usd)} (${r.from} → ${r.to})`,
    );
    return paged(ctx.store, `Cost ${period} by ${by}`, lines);
  },
  async budgets(ctx) {
    const { budgets } = await ctx.layer.cost.query(CostQuery.BUDGETS, {});
    const lines = budgets.map(
      (b) =>
        `${b.state === 'exceeded' ? '🔴' : b.state === 'warning' ? '🟡' : '🟢'} **${b.name}** (${b.scope}${b.project ? ` ${b.project}` : ''}, ${b.period}) ${usd(b.spent_usd)} of ${usd(b.limit_usd)} · forecast ${usd(b.forecast_usd)}`,
    );
    return paged(ctx.store, `Budgets (${budgets.length})`, lines);
  },
  async policies(ctx) {
    const { policies } = await ctx.layer.policy.query(PolicyQuery.LIST, {});
    const lines = policies.map(
      (p) => `${p.enabled ? '✅' : '⏸️'} **${p.name}**${p.dry_run ? ' (dry run)' : ''}`,
    );
    return paged(ctx.store, 'Policies', lines);
  },
  async policy(ctx, i) {
    const name = i.options.getString('name', true);
    const enable = i.options.getString('action', true) === 'enable';
    const v = await ctx.layer.setPolicy(ctx.principal, name, enable);
    return done(`Policy ${v.name} ${v.enabled ? 'enabled' : 'disabled'}`, `by ${ctx.principal.name}`);
  },
};
