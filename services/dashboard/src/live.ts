import type { Api } from './api.ts';
import { type EventStream, type LiveEvent, openEventStream, StreamStatus } from './event-stream.ts';
import { createStore, type Store } from './store.ts';

/** How many recent events the overview's feed keeps. */
const RECENT = 200;

export interface LiveState {
  status: StreamStatus;
  detail: string | undefined;
  /** Newest last, at most RECENT. */
  recent: LiveEvent[];
  /** Events received since sign-in (for the header). */
  received: number;
}

export interface Live {
  store: Store<LiveState>;
  /** Every event as it arrives; returns the unsubscribe function. */
  onEvent(fn: (e: LiveEvent) => void): () => void;
  close(): void;
}

/** One SSE connection for the whole page, shared by every view. */
export function startLive(api: Api, token: string): Live {
  const store = createStore<LiveState>({
    status: StreamStatus.CONNECTING,
    detail: undefined,
    recent: [],
    received: 0,
  });
  const listeners = new Set<(e: LiveEvent) => void>();
  let pending: LiveEvent[] = [];
  let flush: ReturnType<typeof setTimeout> | undefined;
  const stream: EventStream = openEventStream({
    url: api.url('api/v1/events/stream'),
    token,
    onStatus: (status, detail) => store.set({ status, detail }),
    onEvent(e) {
      for (const fn of listeners) fn(e);
      // The feed re-renders at most every 100 ms however fast events come.
      pending.push(e);
      flush ??= setTimeout(() => {
        flush = undefined;
        const batch = pending;
        pending = [];
        store.set((s) => ({
          recent: [...s.recent, ...batch].slice(-RECENT),
          received: s.received + batch.length,
        }));
      }, 100);
    },
  });
  return {
    store,
    onEvent(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    close() {
      clearTimeout(flush);
      stream.close();
    },
  };
}
