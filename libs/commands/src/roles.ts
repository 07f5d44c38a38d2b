import { type Actor, ErrorCode, HalError } from '@hal/protocol';

/** What a person may do: viewers read, operators act on sessions, admins change policies and budgets. */
export const Role = { VIEWER: 'viewer', OPERATOR: 'operator', ADMIN: 'admin' } as const;
export type Role = (typeof Role)[keyof typeof Role];

const RANK: Readonly<Record<Role, number>> = { viewer: 0, operator: 1, admin: 2 };

/**
 * Who asks, as every front-end (HTTP API token, Discord member) hands it to the command layer:
 * the audit actor (`user:<token name>`, `discord:<user id>`), a name people recognise, and the
 * role. `role: null` is someone the front-end knows but who holds no HAL role at all.
 */
export interface Principal {
  kind: Actor['kind'];
  id: string;
  name: string;
  role: Role | null;
}

export function roleAtLeast(role: Role | null, needed: Role): boolean {
  return role !== null && RANK[role] >= RANK[needed];
}

/** Throws FORBIDDEN when the principal's role is below what the action needs. */
export function requireRole(principal: Principal, needed: Role, what: string): void {
  if (roleAtLeast(principal.role, needed)) return;
  const who =
    principal.kind === 'user' ? `token "${principal.name}"` : `${principal.kind} user "${principal.name}"`;
  throw new HalError(
    ErrorCode.FORBIDDEN,
    `${what} needs the ${needed} role; ${who} is ${principal.role ?? 'not a viewer, operator or admin'}`,
  );
}

/** The actor written into audit records and command requests. */
export function actorOf(principal: Principal): Actor {
  // An API token's name is its id: the name is written only where it tells more (Discord).
  return principal.name === principal.id
    ? { kind: principal.kind, id: principal.id }
    : { kind: principal.kind, id: principal.id, name: principal.name };
}
