import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from './api.ts';
import { useApp } from './context.ts';
import type { LiveEvent } from './event-stream.ts';

export interface Loaded<T> {
  data: T | undefined;
  error: string | undefined;
  reload(): void;
}

/**
 * Loads with `load` when `deps` change, and again (debounced) when a live event passes `when`
 * and every `everyMs` when given. The data shown is always what the API answered.
 */
export function useLoad<T>(
  load: () => Promise<T>,
  deps: readonly unknown[],
  opts: { when?: (e: LiveEvent) => boolean; everyMs?: number; debounceMs?: number } = {},
): Loaded<T> {
  const { live } = useApp();
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [tick, setTick] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  useEffect(() => {
    let stale = false;
    loadRef.current().then(
      (d) => {
        if (stale) return;
        setData(d);
        setError(undefined);
      },
      (err: unknown) => {
        if (stale) return;
        setError(err instanceof ApiError ? `${err.code}: ${err.message}` : String(err));
      },
    );
    return () => {
      stale = true;
    };
  }, [...deps, tick]);
  const when = opts.when;
  useEffect(() => {
    if (when === undefined) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const off = live.onEvent((e) => {
      if (!when(e) || timer !== undefined) return;
      timer = setTimeout(() => {
        timer = undefined;
        setTick((t) => t + 1);
      }, opts.debounceMs ?? 300);
    });
    return () => {
      off();
      clearTimeout(timer);
    };
  }, [live, ...deps]);
  useEffect(() => {
    if (opts.everyMs === undefined) return;
    const t = setInterval(() => setTick((n) => n + 1), opts.everyMs);
    return () => clearInterval(t);
  }, [opts.everyMs]);
  return { data, error, reload: () => setTick((t) => t + 1) };
}

/** The current time, refreshed every `ms` (for "waiting for 3m 12s"). */
export function useNow(ms = 1000): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}
