import { randomUUID } from 'node:crypto';
import { type CommandLayer, type Principal, roleAtLeast, type TargetCandidate } from '@hal/commands';
import type { DiscordConfig } from '@hal/config';
import type { Logger } from '@hal/observability';
import { ErrorCode, HalError, PolicyQuery, TrackerQuery, toHalError } from '@hal/protocol';
import {
  type AutocompleteInteraction,
  type ButtonInteraction,
  ButtonStyle,
  type ChatInputCommandInteraction,
  ComponentType,
  type Interaction,
  MessageFlags,
} from 'discord.js';
import type { Alerts } from './alerts.ts';
import { type BridgeMetrics, createBridgeMetrics, type InteractionOutcome } from './bridge-metrics.ts';
import { type BridgeStore, Key } from './bridge-store.ts';
import { type Answer, HANDLERS, type PagesState, pageAnswer } from './command-handlers.ts';
import { Colour, clip, embed, LIMITS } from './embeds.ts';
import { principalOf } from './member-roles.ts';
import { claim, describeError, isTaken } from './replies.ts';
import { commandSpec } from './slash-commands.ts';

export interface InteractionDeps {
  config: DiscordConfig;
  layer: CommandLayer;
  store: BridgeStore;
  alerts: Alerts;
  log: Logger;
  now: () => number;
  /** Interactions seen, by kind and outcome (the bench reads it). */
  onHandled?: (kind: string, ms: number, ok: boolean) => void;
  /** `hal_o_swarm_discord_interactions_total{kind,outcome}`. */
  metrics?: BridgeMetrics;
}

interface PickState {
  verb: string;
  prompt?: string;
  candidates: TargetCandidate[];
}

function principalFrom(config: DiscordConfig, i: Interaction): Principal {
  const roles = i.inCachedGuild()
    ? [...i.member.roles.cache.keys()]
    : Array.isArray((i.member as { roles?: unknown } | null)?.roles)
      ? ((i.member as { roles: string[] }).roles ?? [])
      : [];
  return principalOf(config.roles, { id: i.user.id, name: i.user.globalName ?? i.user.username }, roles);
}

/** Slash commands, autocomplete and buttons: role check → claim (defer) → the command layer → answer. */
export function createInteractionHandler(deps: InteractionDeps): (i: Interaction) => Promise<void> {
  const { layer, store, log } = deps;
  const metrics = deps.metrics ?? createBridgeMetrics(undefined);
  const count = (kind: 'command' | 'button' | 'autocomplete', outcome: InteractionOutcome) =>
    metrics.interaction(kind, outcome);

  async function refuse(
    i: ChatInputCommandInteraction | ButtonInteraction,
    principal: Principal,
    needed: string,
    action: string,
    target: Record<string, string>,
  ): Promise<void> {
    const text = `🚫 ${action} needs the ${needed} role; ${principal.name} is ${principal.role ?? 'not a HAL viewer, operator or admin'}.`;
    const kind = i.isButton() ? 'button' : 'command';
    try {
      await i.reply({ content: text, flags: MessageFlags.Ephemeral });
    } catch (err) {
      if (isTaken(err)) return count(kind, 'taken');
      throw err;
    }
    count(kind, 'refused');
    // Refusals are audited like actions: who tried what, and that it was FORBIDDEN.
    await layer.audit.record({
      principal,
      action,
      target,
      params: {},
      result: { ok: false, code: ErrorCode.FORBIDDEN, message: text },
    });
  }

  async function answerError(
    i: ChatInputCommandInteraction | ButtonInteraction,
    err: unknown,
    pick?: Omit<PickState, 'candidates'>,
  ) {
    const e = toHalError(err);
    const candidates = (e.details as { candidates?: TargetCandidate[] } | undefined)?.candidates;
    if (e.code === ErrorCode.TARGET_AMBIGUOUS && candidates && pick) {
      // Several busy sessions of one project: an ephemeral list, one button per session.
      const id = randomUUID().replaceAll('-', '');
      const list = candidates.slice(0, 20);
      await store.ui.put(Key.ui(id), { ...pick, candidates: list } satisfies PickState);
      const rows = [];
      for (let r = 0; r < list.length; r += 5) {
        rows.push({
          type: ComponentType.ActionRow as const,
          components: list.slice(r, r + 5).map((c, k) => ({
            type: ComponentType.Button as const,
            style: ButtonStyle.Secondary,
            label: clip(`${c.session} (${c.state})`, LIMITS.buttonLabel),
            custom_id: `pk:${id}:${r + k}`,
          })),
        });
      }
      await i.deleteReply().catch(() => undefined);
      await i.followUp({
        content: clip(e.message, LIMITS.content),
        components: rows.slice(0, 4),
        flags: MessageFlags.Ephemeral,
      });
      return;
    }
    await i.editReply({
      embeds: [embed({ title: 'Failed', description: describeError(err), colour: Colour.critical })],
      components: [],
    });
  }

  async function onCommand(i: ChatInputCommandInteraction): Promise<void> {
    const spec = commandSpec(i.commandName);
    const handler = HANDLERS[i.commandName];
    if (!spec || !handler) return;
    const principal = principalFrom(deps.config, i);
    const t0 = Date.now();
    const action =
      spec.action === 'policy.toggle'
        ? `policy.${i.options.getString('action') ?? 'toggle'}`
        : (spec.action ?? `read.${i.commandName}`);
    if (!roleAtLeast(principal.role, spec.role)) {
      const target =
        i.options.getString('target') ?? i.options.getString('project') ?? i.options.getString('name');
      await refuse(i, principal, spec.role, action, target ? { target } : {});
      deps.onHandled?.(`command.${i.commandName}`, Date.now() - t0, false);
      return;
    }
    // The target's look-up is a read: it runs while Discord acknowledges, off the critical path.
    // (The action itself waits for the claim, so two instances never both act.)
    const named = i.options.getString('target');
    const early = named === null ? undefined : layer.resolveSession(named);
    early?.catch(() => undefined);
    const resolve = (t: string) => (t === named && early ? early : layer.resolveSession(t));
    if (!(await claim(i, {}, log))) return count('command', 'taken');
    let ok = true;
    try {
      const answer: Answer = await handler({ layer, store, principal, now: deps.now, resolve }, i);
      await i.editReply({ ...answer, components: answer.components ?? [] });
    } catch (err) {
      ok = false;
      const target = i.options.getString('target');
      const prompt = i.options.getString('message') ?? undefined;
      await answerError(i, err, target ? { verb: i.commandName, ...(prompt ? { prompt } : {}) } : undefined);
    } finally {
      count('command', ok ? 'ok' : 'error');
      deps.onHandled?.(`command.${i.commandName}`, Date.now() - t0, ok);
    }
  }

  async function onAutocomplete(i: AutocompleteInteraction): Promise<void> {
    const focused = i.options.getFocused(true);
    const typed = String(focused.value).toLowerCase();
    let values: string[] = [];
    let lookupFailed = false;
    try {
      if (focused.name === 'name') {
        const { policies } = await layer.policy.query(PolicyQuery.LIST, {});
        values = policies.map((p) => p.name);
      } else {
        const { nodes } = await layer.tracker.query(TrackerQuery.NODES_LIST, {});
        const projects = [...new Set(nodes.flatMap((n) => n.projects.map((p) => p.name)))];
        if (focused.name === 'node') values = nodes.map((n) => n.node);
        else if (focused.name === 'project') values = projects;
        else {
          // A target: projects first (they mean "its live session"), then the live sessions.
          const page = await layer.tracker.query(TrackerQuery.SESSIONS_LIST, { limit: 200 });
          const live = page.sessions
            .filter((s) => !['completed', 'killed'].includes(s.state))
            .map((s) => s.session);
          values = [...projects, ...live];
        }
      }
    } catch (err) {
      lookupFailed = true;
      log.warn({ err }, 'autocomplete lookup failed');
    }
    const choices = values
      .filter((v) => v.toLowerCase().includes(typed))
      .slice(0, LIMITS.choices)
      .map((v) => ({ name: clip(v, LIMITS.choiceName), value: v.slice(0, 100) }));
    const answered = await i.respond(choices).then(
      () => true,
      (err: unknown) => {
        if (!isTaken(err)) throw err;
        return false;
      },
    );
    count('autocomplete', !answered ? 'taken' : lookupFailed ? 'error' : 'ok');
  }

  async function onButton(i: ButtonInteraction): Promise<void> {
    const principal = principalFrom(deps.config, i);
    const [prefix, id, arg] = i.customId.split(':');
    const t0 = Date.now();
    if (prefix === 'pg') {
      if (!(await claim(i, { update: true }, log))) return count('button', 'taken');
      count('button', 'ok');
      const state = await store.ui.get<PagesState>(Key.ui(id ?? ''));
      if (!state)
        return void (await i.followUp({
          content: 'These pages have expired.',
          flags: MessageFlags.Ephemeral,
        }));
      const answer = pageAnswer(id!, state, Number(arg));
      await i.editReply({ ...answer, components: answer.components ?? [] });
      return;
    }
    // Every other button acts on a session: operators only.
    if (!roleAtLeast(principal.role, 'operator')) {
      const verb = prefix === 'al' ? (id ?? 'alert') : prefix === 'kc' ? 'kill' : 'action';
      const action =
        verb === 'ack'
          ? 'alert.acknowledge'
          : ['once', 'always', 'reject'].includes(verb)
            ? 'session.permission'
            : `session.${verb}`;
      await refuse(i, principal, 'operator', action, {});
      deps.onHandled?.(`button.${prefix}`, Date.now() - t0, false);
      return;
    }
    if (!(await claim(i, { update: true }, log))) return count('button', 'taken');
    let ok = true;
    try {
      if (prefix === 'al') await deps.alerts.onButton(i, principal);
      else if (prefix === 'kn')
        await i.editReply({
          embeds: [embed({ title: 'Kill cancelled', colour: Colour.muted })],
          components: [],
        });
      else if (prefix === 'kc') {
        const state = await store.ui.get<{ session: string }>(Key.ui(id ?? ''));
        if (!state) throw new HalError(ErrorCode.NOT_FOUND, 'this confirmation has expired; run /kill again');
        const r = await layer.act(principal, 'kill', state.session);
        await i.editReply({
          embeds: [
            embed({
              title: 'Killed',
              description: `\`${r.session}\` (${r.project} on ${r.node}) — by ${principal.name}`,
              colour: Colour.ok,
            }),
          ],
          components: [],
        });
      } else if (prefix === 'pk') {
        const state = await store.ui.get<PickState>(Key.ui(id ?? ''));
        const c = state?.candidates[Number(arg)];
        if (!state || !c)
          throw new HalError(ErrorCode.NOT_FOUND, 'this list has expired; run the command again');
        const text = await runPicked(principal, state, c.session);
        await i.editReply({ content: text, components: [] });
      }
    } catch (err) {
      ok = false;
      await i
        .followUp({ content: `❌ ${describeError(err)}`, flags: MessageFlags.Ephemeral })
        .catch(() => undefined);
    } finally {
      count('button', ok ? 'ok' : 'error');
      deps.onHandled?.(`button.${prefix}`, Date.now() - t0, ok);
    }
  }

  async function runPicked(principal: Principal, state: PickState, session: string): Promise<string> {
    switch (state.verb) {
      case 'approve':
      case 'deny':
        await layer.answerPermission(principal, session, state.verb === 'approve' ? 'once' : 'reject');
        return `${state.verb === 'approve' ? 'Approved' : 'Rejected'} the pending permission of \`${session}\``;
      case 'inject':
      case 'resume':
      case 'restart':
      case 'kill': {
        const r = await layer.act(
          principal,
          state.verb,
          session,
          state.prompt ? { prompt: state.prompt } : {},
        );
        return `${state.verb} → \`${r.session}\` on ${r.node}: done`;
      }
      default:
        return `\`${session}\`: run /${state.verb} ${session}`;
    }
  }

  return async (i) => {
    try {
      if (i.isAutocomplete()) await onAutocomplete(i);
      else if (i.isChatInputCommand()) await onCommand(i);
      else if (i.isButton()) await onButton(i);
    } catch (err) {
      if (isTaken(err)) return;
      log.error({ err, interaction: i.id }, 'interaction failed');
    }
  };
}
