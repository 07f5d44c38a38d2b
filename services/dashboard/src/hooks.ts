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
export interface LoadOptions<T> {
  /** Reload when a live event passes this test. */
  when?: (e: LiveEvent) => boolean;
  /**
   * Whether an answer already reflects the newest triggering event (`time`): the tracker projects
   * the stream a moment after the stream delivers it, so a reload right after an event can read
   * the state before it. Not fresh → read again shortly (a few times). Without it, one extra
   * reload a second later settles the same race.
   */
  fresh?: (data: T, time: string) => boolean;
  everyMs?: number;
  debounceMs?: number;
}

const RETRY_MS = 400;
const RETRIES = 25;

export function useLoad<T>(
  load: () => Promise<T>,
  deps: readonly unknown[],
  opts: LoadOptions<T> = {},
): Loaded<T> {
  const { live } = useApp();
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [tick, setTick] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  const freshRef = useRef(opts.fresh);
  freshRef.current = opts.fresh;
  /** The newest event time that asked for a reload, and how many re-reads it has had. */
  const pending = useRef<{ time: string; tries: number } | null>(null);
  useEffect(() => {
    let stale = false;
    let retry: ReturnType<typeof setTimeout> | undefined;
    loadRef.current().then(
      (d) => {
        if (stale) return;
        setData(d);
        setError(undefined);
        const p = pending.current;
        if (p === null) return;
        const fresh = freshRef.current;
        const settled = fresh === undefined ? p.tries >= 1 : fresh(d, p.time);
        if (settled || p.tries >= RETRIES) {
          pending.current = null;
          return;
        }
        p.tries++;
        retry = setTimeout(() => setTick((t) => t + 1), fresh === undefined ? 1000 : RETRY_MS);
      },
      (err: unknown) => {
        if (stale) return;
        setError(err instanceof ApiError ? `${err.code}: ${err.message}` : String(err));
      },
    );
    return () => {
      stale = true;
      clearTimeout(retry);
    };
  }, [...deps, tick]);
  const when = opts.when;
  useEffect(() => {
    if (when === undefined) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const off = live.onEvent((e) => {
      if (!when(e)) return;
      const p = pending.current;
      pending.current = { time: p !== null && p.time > e.time ? p.time : e.time, tries: 0 };
      if (timer !== undefined) return;
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

/**
 * Runs `fn` once at the next frame (or after 250 ms in a tab that draws no frames); returns a
 * cancel function. Live updates render through it: at most once a frame, never later than one.
 */
export function onNextFrame(fn: () => void): () => void {
  let done = false;
  const run = (): void => {
    if (done) return;
    done = true;
    cancelAnimationFrame(frame);
    clearTimeout(fallback);
    fn();
  };
  const frame = requestAnimationFrame(run);
  const fallback = setTimeout(run, 250);
  return () => {
    done = true;
    cancelAnimationFrame(frame);
    clearTimeout(fallback);
  };
}

/**
 * Keeps the scroll box `box` at its end while `content` grows, as long as the reader is there
 * (scrolled up, they keep their place until they scroll back down). The scroll is set from a
 * ResizeObserver on the content, which runs after the frame's layout and before its paint: the
 * new line is on screen in the frame that adds it, and following costs no layout of its own (a
 * scrollIntoView per line did: a forced layout each time). The content keeps its place in the
 * box as it grows, so a new line repaints that line, not every line before it (a column-reverse
 * box moved them all).
 */
export function usePinnedToEnd(
  box: { current: HTMLElement | null },
  content: { current: HTMLElement | null },
): void {
  useEffect(() => {
    const b = box.current;
    const c = content.current;
    if (b === null || c === null) return;
    let pinned = true;
    const onScroll = (): void => {
      pinned = b.scrollTop + b.clientHeight >= b.scrollHeight - 8;
    };
    const grown = new ResizeObserver(() => {
      if (pinned) b.scrollTop = b.scrollHeight;
    });
    b.addEventListener('scroll', onScroll, { passive: true });
    grown.observe(c);
    return () => {
      grown.disconnect();
      b.removeEventListener('scroll', onScroll);
    };
  }, []);
}
