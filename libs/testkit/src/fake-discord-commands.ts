// Guild application commands of the fake Discord: the bulk overwrite discord.js does at start,
// validated as Discord does (names, descriptions, at most 100).
import { type FormError, invalidFormBody } from './fake-discord-limits.ts';
import { err, isObj, type Obj, type RestAnswer, type RestContext } from './fake-discord-rest-answer.ts';
import { type FakeDiscordCommand, snowflake } from './fake-discord-state.ts';

export function bulkOverwrite(ctx: RestContext, appId: string, guildId: string): RestAnswer {
  if (appId !== ctx.state.applicationId) return err(403, 'Missing Access', 50001);
  if (guildId !== ctx.state.guild.id) return err(404, 'Unknown Guild', 10004);
  if (!Array.isArray(ctx.body)) {
    return {
      status: 400,
      body: invalidFormBody([{ path: '', code: 'BASE_TYPE_LIST', message: 'Must be a list.' }]),
    };
  }
  const problems: FormError[] = [];
  const next = new Map<string, FakeDiscordCommand>();
  for (const [i, raw] of ctx.body.entries()) {
    if (!isObj(raw) || typeof raw.name !== 'string' || !/^[-_\p{L}\p{N}]{1,32}$/u.test(raw.name)) {
      problems.push({ path: `${i}.name`, code: 'APPLICATION_COMMAND_INVALID_NAME', message: 'Invalid name' });
      continue;
    }
    const description = typeof raw.description === 'string' ? raw.description : '';
    if (description.length < 1 || description.length > 100) {
      problems.push({
        path: `${i}.description`,
        code: 'BASE_TYPE_BAD_LENGTH',
        message: 'Must be between 1 and 100 in length.',
      });
    }
    const existing = ctx.state.commands.get(raw.name);
    next.set(raw.name, {
      // Overwriting keeps a command's id when its name stays, as Discord does.
      id: existing?.id ?? snowflake(),
      application_id: appId,
      guild_id: guildId,
      name: raw.name,
      description,
      type: typeof raw.type === 'number' ? raw.type : 1,
      ...(Array.isArray(raw.options) ? { options: raw.options as Obj[] } : {}),
      default_member_permissions:
        typeof raw.default_member_permissions === 'string' ? raw.default_member_permissions : null,
      version: snowflake(),
    });
  }
  if (ctx.body.length > 100) {
    problems.push({ path: '', code: 'BASE_TYPE_MAX_LENGTH', message: 'Must be 100 or fewer in length.' });
  }
  if (problems.length > 0) return { status: 400, body: invalidFormBody(problems) };
  ctx.state.commands.clear();
  for (const [k, v] of next) ctx.state.commands.set(k, v);
  return { status: 200, body: [...next.values()] };
}
