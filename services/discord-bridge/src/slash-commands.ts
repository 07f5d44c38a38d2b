import type { Role } from '@hal/commands';
import {
  ApplicationCommandOptionType,
  type RESTPostAPIChatInputApplicationCommandsJSONBody,
} from 'discord.js';

type Option = NonNullable<RESTPostAPIChatInputApplicationCommandsJSONBody['options']>[number];

const str = (
  name: string,
  description: string,
  extra: { required?: boolean; autocomplete?: boolean; choices?: string[] } = {},
): Option =>
  ({
    type: ApplicationCommandOptionType.String,
    name,
    description,
    required: extra.required ?? false,
    ...(extra.autocomplete ? { autocomplete: true } : {}),
    ...(extra.choices ? { choices: extra.choices.map((c) => ({ name: c, value: c })) } : {}),
    max_length: 2000,
  }) as Option;

const target = (required = true) =>
  str('target', 'A session id, or a project (its most recently active live session)', {
    required,
    autocomplete: true,
  });
const project = (required = false) => str('project', 'A project', { required, autocomplete: true });
const node = () => str('node', 'A node (host)', { autocomplete: true });

export interface SlashCommandSpec {
  body: RESTPostAPIChatInputApplicationCommandsJSONBody;
  /** The HAL role the command needs. */
  role: Role;
  /** The audit action of a mutating command (refusals are audited under it too). */
  action?: string;
}

const spec = (
  name: string,
  description: string,
  role: Role,
  options: Option[] = [],
  action?: string,
): SlashCommandSpec => ({
  body: { name, description, options, dm_permission: false },
  role,
  ...(action ? { action } : {}),
});

/** Every slash command, registered as guild commands at start (one bulk overwrite: idempotent). */
export const SLASH_COMMANDS: readonly SlashCommandSpec[] = [
  spec('status', 'Fleet status, or one session', 'viewer', [target(false)]),
  spec('sessions', 'List sessions', 'viewer', [
    project(),
    str('state', 'Only sessions in this state', {
      choices: [
        'starting',
        'running',
        'idle',
        'waiting_input',
        'compacted',
        'error',
        'completed',
        'killed',
        'unreachable',
      ],
    }),
    node(),
  ]),
  spec('nodes', 'List nodes with their projects and load', 'viewer'),
  spec('session', 'One session in detail', 'viewer', [target()]),
  spec('logs', "A session's log (assistant text and tool calls)", 'viewer', [
    target(),
    {
      type: ApplicationCommandOptionType.Integer,
      name: 'limit',
      description: 'How many entries (1-200)',
      min_value: 1,
      max_value: 200,
    } as Option,
  ]),
  spec(
    'start',
    'Start a session of a project',
    'operator',
    [project(true), str('prompt', 'First prompt'), node()],
    'session.start',
  ),
  spec(
    'inject',
    'Send a prompt into a session',
    'operator',
    [target(), str('message', 'The prompt', { required: true })],
    'session.inject',
  ),
  spec('resume', 'Resume a session', 'operator', [target()], 'session.resume'),
  spec(
    'restart',
    'Restart a session: it writes .context/, then a new session continues (hand-off)',
    'operator',
    [target()],
    'session.restart',
  ),
  spec('kill', 'Abort a session (asks to confirm)', 'operator', [target()], 'session.kill'),
  spec(
    'approve',
    "Approve a session's pending permission once",
    'operator',
    [target()],
    'session.permission',
  ),
  spec('deny', "Reject a session's pending permission", 'operator', [target()], 'session.permission'),
  spec('cost', 'Spend over a period', 'viewer', [
    str('period', 'today, week or month', { choices: ['today', 'week', 'month'] }),
    str('by', 'Group by', { choices: ['project', 'model', 'provider', 'node', 'session'] }),
  ]),
  spec('budgets', 'Budgets: spend, state and forecast', 'viewer'),
  spec('policies', 'Policies: enabled, and what they did lately', 'viewer'),
  spec(
    'policy',
    'Enable or disable a policy',
    'admin',
    [
      str('name', 'Policy name', { required: true, autocomplete: true }),
      str('action', 'enable or disable', { required: true, choices: ['enable', 'disable'] }),
    ],
    'policy.toggle',
  ),
];

export const commandSpec = (name: string) => SLASH_COMMANDS.find((c) => c.body.name === name);
