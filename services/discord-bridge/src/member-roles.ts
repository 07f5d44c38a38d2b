import type { Principal, Role } from '@hal/commands';
import type { DiscordConfig } from '@hal/config';

/**
 * A guild member → the HAL principal the command layer checks and audits: actor
 * `discord:<user id>` with the user's name, and the highest HAL role any of its Discord roles
 * maps to (`channels.discord.roles`), or none.
 */
export function principalOf(
  roles: DiscordConfig['roles'],
  user: { id: string; name: string },
  memberRoles: readonly string[],
): Principal {
  const has = (ids: readonly string[]) => ids.some((id) => memberRoles.includes(id));
  const role: Role | null = has(roles.admin)
    ? 'admin'
    : has(roles.operator)
      ? 'operator'
      : has(roles.viewer)
        ? 'viewer'
        : null;
  return { kind: 'discord', id: user.id, name: user.name, role };
}
