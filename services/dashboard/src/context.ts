import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { Api } from './api.ts';
import type { Principal } from './auth.ts';
import type { Live } from './live.ts';

export interface AppContext {
  api: Api;
  principal: Principal;
  live: Live;
  /** Shows a message bar (an action's result or error). */
  notify(kind: 'ok' | 'error', text: string): void;
}

export const Ctx = createContext<AppContext | null>(null);

export function useApp(): AppContext {
  const ctx = useContext(Ctx);
  if (ctx === null) throw new Error('useApp outside the signed-in app');
  return ctx;
}
