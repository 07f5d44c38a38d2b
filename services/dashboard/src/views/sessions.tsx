import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from '../api.ts';
import { VirtualList } from '../components/virtual-list.tsx';
import { useApp } from '../context.ts';
import { count, since, usd } from '../format.ts';
import { useNow } from '../hooks.ts';
import { href } from '../router.ts';
import { type SessionView, STATES } from '../types.ts';
import { projected } from './session-detail.tsx';

const PAGE = 200;
const ROW = 34;

interface Filters {
  state: string;
  node: string;
  project: string;
  q: string;
}

interface ListState {
  rows: SessionView[];
  total: number;
  cursor: string | null;
  loading: boolean;
  error: string | undefined;
  /** performance.now() when the first page was on screen, for the first-render figure. */
  firstPageMs?: number;
}

function filtersOf(params: URLSearchParams): Filters {
  return {
    state: params.get('state') ?? '',
    node: params.get('node') ?? '',
    project: params.get('project') ?? '',
    q: params.get('q') ?? '',
  };
}

const matches = (s: SessionView, f: Filters): boolean =>
  (f.state === '' || s.state === f.state) &&
  (f.node === '' || s.node === f.node) &&
  (f.project === '' || s.project === f.project);

/** Every session, filtered and paged by the server, rendered as a virtualised list. */
export function SessionsView({ params }: { params: URLSearchParams }) {
  const { api, live } = useApp();
  const filters = filtersOf(params);
  const key = JSON.stringify(filters);
  const [list, setList] = useState<ListState>({
    rows: [],
    total: 0,
    cursor: null,
    loading: true,
    error: undefined,
  });
  const listRef = useRef(list);
  listRef.current = list;
  const generation = useRef(0);
  const now = useNow(5000);
  const [height, setHeight] = useState(600);

  useEffect(() => {
    const on = () => setHeight(Math.max(300, window.innerHeight - 190));
    on();
    addEventListener('resize', on);
    return () => removeEventListener('resize', on);
  }, []);

  const query = (cursor?: string) => ({
    ...filters,
    limit: PAGE,
    ...(cursor === undefined ? {} : { cursor }),
  });

  useEffect(() => {
    const gen = ++generation.current;
    const t0 = performance.now();
    setList({ rows: [], total: 0, cursor: null, loading: true, error: undefined });
    api.get<SessionView[]>('api/v1/sessions', query()).then(
      ({ data, meta }) => {
        if (gen !== generation.current) return;
        setList({
          rows: data,
          total: Number(meta.total ?? data.length),
          cursor: (meta.next_cursor as string | null) ?? null,
          loading: false,
          error: undefined,
        });
        // Marked after the browser has painted the first page.
        requestAnimationFrame(() =>
          setTimeout(() => {
            if (gen === generation.current)
              performance.mark('hal:sessions-first-page', { detail: performance.now() - t0 });
          }, 0),
        );
      },
      (err: unknown) => {
        if (gen !== generation.current) return;
        setList((l) => ({
          ...l,
          loading: false,
          error: err instanceof ApiError ? `${err.code}: ${err.message}` : String(err),
        }));
      },
    );
  }, [key]);

  const more = (): void => {
    const l = listRef.current;
    if (l.loading || l.cursor === null) return;
    const gen = generation.current;
    setList({ ...l, loading: true });
    api.get<SessionView[]>('api/v1/sessions', query(l.cursor)).then(
      ({ data, meta }) => {
        if (gen !== generation.current) return;
        setList((cur) => {
          const seen = new Set(cur.rows.map((r) => r.session));
          return {
            ...cur,
            rows: [...cur.rows, ...data.filter((r) => !seen.has(r.session))],
            total: Number(meta.total ?? cur.total),
            cursor: (meta.next_cursor as string | null) ?? null,
            loading: false,
          };
        });
      },
      (err: unknown) => {
        if (gen === generation.current)
          setList((cur) => ({
            ...cur,
            loading: false,
            error: err instanceof ApiError ? err.message : String(err),
          }));
      },
    );
  };

  // Live: a known row is re-read from the API (debounced per session); a new session that fits
  // the filters is put on top.
  useEffect(() => {
    const timers = new Map<string, ReturnType<typeof setTimeout>>();
    const latest = new Map<string, string>();
    const off = live.onEvent((e) => {
      if (e.session === null || !/^(session|message|permission|question)\./.test(e.type)) return;
      const id = e.session;
      const known = listRef.current.rows.some((r) => r.session === id);
      if (!known && e.type !== 'session.created') return;
      const newest = latest.get(id);
      if (newest === undefined || e.time > newest) latest.set(id, e.time);
      if (timers.has(id)) return;
      const read = (tries: number): void => {
        timers.set(
          id,
          setTimeout(
            () => {
              api.get<SessionView>(`api/v1/sessions/${encodeURIComponent(id)}`).then(
                ({ data }) => {
                  // The tracker may not have projected the event yet: read again until it has.
                  const want = latest.get(id);
                  if (want !== undefined && !projected(data, want) && tries < 25) {
                    read(tries + 1);
                  } else {
                    timers.delete(id);
                    latest.delete(id);
                  }
                  apply(data);
                },
                // A new session may not be projected yet (SESSION_NOT_FOUND): try again shortly.
                () => (tries < 25 ? read(tries + 1) : timers.delete(id)),
              );
            },
            tries === 0 ? 250 : 400,
          ),
        );
      };
      read(0);
    });
    const apply = (data: SessionView): void =>
      setList((cur) => {
        const i = cur.rows.findIndex((r) => r.session === data.session);
        if (i >= 0) {
          const rows = cur.rows.slice();
          rows[i] = data;
          return { ...cur, rows };
        }
        if (!matches(data, filters) || filters.q !== '') return cur;
        return { ...cur, rows: [data, ...cur.rows], total: cur.total + 1 };
      });
    return () => {
      off();
      for (const t of timers.values()) clearTimeout(t);
    };
  }, [live, key]);

  const setFilter = (name: keyof Filters, value: string): void => {
    location.hash = href('sessions', undefined, { ...filters, [name]: value });
  };

  return (
    <section class="card sessions">
      <h2>
        Sessions{' '}
        <span class="count" data-testid="session-total">
          {count(list.total)}
        </span>
      </h2>
      <form class="filters" onSubmit={(e) => e.preventDefault()}>
        <select
          value={filters.state}
          onChange={(e) => setFilter('state', (e.target as HTMLSelectElement).value)}
          aria-label="state"
        >
          <option value="">every state</option>
          {STATES.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
        <FilterInput label="node" value={filters.node} onCommit={(v) => setFilter('node', v)} />
        <FilterInput label="project" value={filters.project} onCommit={(v) => setFilter('project', v)} />
        <FilterInput label="search title / id / task" value={filters.q} onCommit={(v) => setFilter('q', v)} />
      </form>
      {list.error !== undefined && <p class="error">{list.error}</p>}
      <div class="vhead">
        <span>state</span>
        <span>session</span>
        <span>project</span>
        <span>node</span>
        <span>tokens</span>
        <span>cost</span>
        <span>activity</span>
      </div>
      <VirtualList
        rows={list.rows}
        total={list.total}
        rowHeight={ROW}
        height={height}
        onNeedMore={more}
        rowKey={(s) => s.session}
        placeholder={() => <span class="muted">loading…</span>}
        render={(s) => (
          <a class="srow" href={href('session', s.session)} data-session={s.session} data-state={s.state}>
            <span class={`badge state-${s.state}`}>{s.state}</span>
            <span class="title">{s.title ?? s.session}</span>
            <span>{s.project}</span>
            <span>{s.node}</span>
            <span>{count(s.tokens.input + s.tokens.output)}</span>
            <span>{usd(s.cost_usd)}</span>
            <span class="muted">{since(s.last_activity_at, now)}</span>
          </a>
        )}
      />
      {!list.loading && list.total === 0 && <p class="muted">No session matches.</p>}
    </section>
  );
}

function FilterInput({
  label,
  value,
  onCommit,
}: {
  label: string;
  value: string;
  onCommit(v: string): void;
}) {
  const [text, setText] = useState(value);
  useEffect(() => setText(value), [value]);
  return (
    <input
      type="search"
      placeholder={label}
      aria-label={label}
      value={text}
      onInput={(e) => setText((e.target as HTMLInputElement).value)}
      onChange={() => onCommit(text.trim())}
    />
  );
}
