import { PermissionRequests } from '../components/permissions.tsx';
import { useApp } from '../context.ts';
import type { LiveEvent } from '../event-stream.ts';
import { bytes, count, since, time } from '../format.ts';
import { useLoad, useNow } from '../hooks.ts';
import { href } from '../router.ts';
import { useStore } from '../store.ts';
import { type FleetSummary, type NodeView, type SessionView, STATES } from '../types.ts';

const sessionEvent = (e: LiveEvent) => e.session !== null && /^(session|permission|question)\./.test(e.type);
const nodeEvent = (e: LiveEvent) => e.type.startsWith('node.') || e.type.startsWith('agent.');
/** Waiting sessions whose requests are shown in full on the overview; the rest are listed. */
const DETAILED = 10;

export function Overview() {
  return (
    <div class="overview">
      <Waiting />
      <div class="grid2">
        <Nodes />
        <States />
      </div>
      <Feed />
    </div>
  );
}

/** First on screen: who waits for a person, and for how long (longest first). */
function Waiting() {
  const { api } = useApp();
  const now = useNow();
  const { data, error } = useLoad(
    async () =>
      (await api.get<SessionView[]>('api/v1/sessions', { state: 'waiting_input', limit: 200 })).data,
    [],
    { when: sessionEvent, everyMs: 15_000 },
  );
  const waiting = [...(data ?? [])].sort((a, b) =>
    (a.state_since ?? a.last_activity_at ?? '').localeCompare(b.state_since ?? b.last_activity_at ?? ''),
  );
  return (
    <section class="card waiting" data-testid="waiting">
      <h2>
        Waiting for a person <span class="count">{data === undefined ? '' : count(waiting.length)}</span>
      </h2>
      {error !== undefined && <p class="error">{error}</p>}
      {data !== undefined && waiting.length === 0 && (
        <p class="muted">Nobody is waiting for input or approval.</p>
      )}
      <ul class="rows">
        {waiting.map((s, i) => (
          <li key={s.session} data-session={s.session}>
            <div class="row-head">
              <a href={href('session', s.session)}>{s.title ?? s.session}</a>
              <span class="muted">
                {s.project} on {s.node}
              </span>
              <span class="wait" title={`since ${s.state_since ?? s.last_activity_at ?? ''}`}>
                waiting {since(s.state_since ?? s.last_activity_at, now)}
              </span>
              <span class="muted">
                {s.pending_permissions.length > 0
                  ? `${s.pending_permissions.length} approval(s)`
                  : 'a question'}
              </span>
            </div>
            {i < DETAILED && <PermissionRequests session={s.session} pendingIds={s.pending_permissions} />}
          </li>
        ))}
      </ul>
    </section>
  );
}

function Nodes() {
  const { api } = useApp();
  const now = useNow(5000);
  const { data, error } = useLoad(
    async () => (await api.get<{ nodes: NodeView[] }>('api/v1/nodes')).data.nodes,
    [],
    {
      when: nodeEvent,
      everyMs: 5_000,
    },
  );
  return (
    <section class="card" data-testid="nodes">
      <h2>Nodes</h2>
      {error !== undefined && <p class="error">{error}</p>}
      <table>
        <thead>
          <tr>
            <th>node</th>
            <th>health</th>
            <th>opencode</th>
            <th>load</th>
            <th>memory</th>
            <th>spool</th>
            <th>sessions</th>
            <th>heartbeat</th>
          </tr>
        </thead>
        <tbody>
          {(data ?? []).map((n) => {
            const r = n.resources;
            const used = r === null ? undefined : r.mem_total_bytes - r.mem_free_bytes;
            return (
              <tr key={n.node} data-node={n.node}>
                <td>
                  <a href={href('sessions', undefined, { node: n.node })}>{n.node}</a>
                </td>
                <td>
                  <span class={`badge ${n.status === 'online' ? 'ok' : 'bad'}`}>{n.status}</span>
                </td>
                <td>
                  {r === null ? (
                    '—'
                  ) : (
                    <span class={`badge ${r.opencode_ok ? 'ok' : 'bad'}`}>
                      {r.opencode_ok ? 'up' : 'down'}
                    </span>
                  )}
                </td>
                <td>{r === null ? '—' : (r.load[0] ?? 0).toFixed(2)}</td>
                <td>
                  {r === null || used === undefined ? '—' : `${bytes(used)} / ${bytes(r.mem_total_bytes)}`}
                </td>
                <td class={r !== null && r.spool_depth > 0 ? 'warn' : ''}>
                  {r === null ? '—' : count(r.spool_depth)}
                </td>
                <td>{count(n.sessions)}</td>
                <td>{since(n.last_heartbeat_at, now)}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {data !== undefined && data.length === 0 && <p class="muted">No node has connected yet.</p>}
    </section>
  );
}

function States() {
  const { api } = useApp();
  const { data, error } = useLoad(
    async () => (await api.get<FleetSummary>('api/v1/fleet/summary')).data,
    [],
    {
      when: sessionEvent,
      everyMs: 15_000,
    },
  );
  const byState = data?.sessions.by_state ?? {};
  return (
    <section class="card" data-testid="states">
      <h2>
        Sessions <span class="count">{data === undefined ? '' : count(data.sessions.total)}</span>
      </h2>
      {error !== undefined && <p class="error">{error}</p>}
      <ul class="chips">
        {STATES.map((state) => (
          <li key={state}>
            <a href={href('sessions', undefined, { state })} class={`chip state-${state}`} data-state={state}>
              <span>{state.replace('_', ' ')}</span> <b>{count(byState[state] ?? 0)}</b>
            </a>
          </li>
        ))}
      </ul>
    </section>
  );
}

function Feed() {
  const { live } = useApp();
  const recent = useStore(live.store, (s) => s.recent);
  const shown = recent.slice(-50).reverse();
  return (
    <section class="card" data-testid="feed">
      <h2>Live events</h2>
      {shown.length === 0 && <p class="muted">No event since the page opened.</p>}
      <table class="compact">
        <tbody>
          {shown.map((e) => (
            <tr key={e.seq} data-seq={e.seq}>
              <td class="muted">{time(e.time)}</td>
              <td>
                <code>{e.type}</code>
              </td>
              <td>{e.node}</td>
              <td>{e.session === null ? '' : <a href={href('session', e.session)}>{e.session}</a>}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
