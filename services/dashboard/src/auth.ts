/** Roles of API tokens, lowest first (viewer < operator < admin). */
export const Role = { VIEWER: 'viewer', OPERATOR: 'operator', ADMIN: 'admin' } as const;
export type Role = (typeof Role)[keyof typeof Role];

const RANK: Readonly<Record<Role, number>> = { viewer: 0, operator: 1, admin: 2 };

export interface Principal {
  name: string;
  role: Role;
}

/** Whether the signed-in role may do what needs `needed`; the API checks again on every call. */
export function can(principal: Principal | null, needed: Role): boolean {
  return principal !== null && RANK[principal.role] >= RANK[needed];
}

// Session storage: gone when the tab closes, never sent anywhere by the browser, never in a URL.
const KEY = 'hal.dashboard.token';

export const tokenStore = {
  load(): string | null {
    return sessionStorage.getItem(KEY);
  },
  save(token: string): void {
    sessionStorage.setItem(KEY, token);
  },
  clear(): void {
    sessionStorage.removeItem(KEY);
  },
};
