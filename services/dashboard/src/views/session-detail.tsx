import { useEffect, useMemo, useState } from 'preact/hooks';
import { ApiError } from '../api.ts';
import { can } from '../auth.ts';
import { Chart } from '../components/chart.tsx';
import { PermissionRequests } from '../components/permissions.tsx';
import { useApp } from '../context.ts';
import { count, dateTime, since, usd } from '../format.ts';
import { useLoad, useNow } from '../hooks.ts';
import { href } from '../router.ts';
import type { CostReport, SessionView } from '../types.ts';
import { EventsTable, type SessionEvent, useSessionEvents } from './session-events.tsx';
import { Log } from './session-log.tsx';

/** The tracker's view includes an event of `time` once its last activity has reached it. */
export function projected(s: SessionView, time: string): boolean {
  return s.last_activity_at !== null && Date.parse(s.last_activity_at) >= Date.parse(time);
}

export function SessionDetail({ id }: { id: string }) {
  const { api } = useApp();
  const now = useNow();
  const path = `api/v1/sessions/${encodeURIComponent(id)}`;
  const { data: s, error } = useLoad(async () => (await api.get<SessionView>(path)).data, [id], {
    when: (e) => e.session === id,
    fresh: projected,
    debounceMs: 200,
  });
  // The parts that grow with the session re-render only when their own input changes: this view
  // re-renders every second (the clock) and at each reload of the session, and redrawing the log
  // and the event table each time kept a busy session's new rows seconds behind the stream.
  const live = useMemo(() => <SessionLive id={id} />, [id]);
  if (error !== undefined && s === undefined) return <section class="card error">{error}</section>;
  if (s === undefined) return <section class="card muted">Loading {id}…</section>;
  return (
    <div class="detail" data-testid="session-detail" data-session={s.session}>
      <section class="card">
        <h2>
          <span class={`badge state-${s.state}`} data-testid="session-state">
            {s.state}
          </span>{' '}
          {s.title ?? s.session}
        </h2>
        <dl class="facts">
          <dt>session</dt>
          <dd>
            <code>{s.session}</code>
          </dd>
          <dt>project / node</dt>
          <dd>
            {s.project} on <a href={href('sessions', undefined, { node: s.node })}>{s.node}</a>
          </dd>
          <dt>model</dt>
          <dd>{s.model === null ? '—' : `${s.provider ?? ''}/${s.model}`}</dd>
          <dt>in this state</dt>
          <dd>{since(s.state_since ?? s.last_activity_at, now)}</dd>
          <dt>tokens</dt>
          <dd data-testid="session-tokens">
            in {count(s.tokens.input)} · out {count(s.tokens.output)} · cache {count(s.tokens.cache_read)}
          </dd>
          <dt>cost</dt>
          <dd>
            <span data-testid="session-cost">{usd(s.cost_usd)}</span> <span class="muted">(opencode)</span> ·
            observed <ObservedCost session={s.session} />
          </dd>
          <dt>started</dt>
          <dd>{dateTime(s.started_at)}</dd>
          <dt>task</dt>
          <dd class="task">{s.current_task ?? '—'}</dd>
          {s.last_error !== null && (
            <>
              <dt>last error</dt>
              <dd class="error">{s.last_error}</dd>
            </>
          )}
        </dl>
        <HandOff session={s} />
        <PermissionRequests session={s.session} pendingIds={s.pending_permissions} />
        <Actions session={s} />
      </section>
      {live}
    </div>
  );
}

/**
 * The log, the cost trend and the event table: the live events re-render this part alone (at
 * most once a frame), not the session's facts and actions above it.
 */
function SessionLive({ id }: { id: string }) {
  const events = useSessionEvents(id);
  // Keyed by session: another session opens new boxes, at their newest line.
  const log = useMemo(() => <Log key={id} id={id} />, [id]);
  const trend = useMemo(() => <CostTrend events={events} />, [events]);
  return (
    <>
      <div class="grid2">
        {log}
        <section class="card">
          <h3>Cost trend</h3>
          {trend}
        </section>
      </div>
      <EventsTable key={id} events={events} />
    </>
  );
}

/** The chain of sessions a restart hands off through, walked over the API both ways. */
function HandOff({ session }: { session: SessionView }) {
  const { api } = useApp();
  const { data } = useLoad(async () => {
    const walk = async (
      start: string | null,
      dir: 'previous_session' | 'next_session',
    ): Promise<string[]> => {
      const out: string[] = [];
      let cur = start;
      while (cur !== null && out.length < 20 && !out.includes(cur)) {
        out.push(cur);
        try {
          cur = (await api.get<SessionView>(`api/v1/sessions/${encodeURIComponent(cur)}`)).data[dir] ?? null;
        } catch {
          cur = null;
        }
      }
      return out;
    };
    const before = await walk(session.previous_session ?? null, 'previous_session');
    const after = await walk(session.next_session ?? null, 'next_session');
    return [...before.reverse(), session.session, ...after];
  }, [session.session, session.previous_session, session.next_session]);
  if (data === undefined || data.length < 2) return null;
  return (
    <p class="handoff" data-testid="handoff">
      hand-off chain:{' '}
      {data.map((id, i) => (
        <span key={id}>
          {i > 0 && ' → '}
          {id === session.session ? <b>{id}</b> : <a href={href('session', id)}>{id}</a>}
        </span>
      ))}
    </p>
  );
}

function Actions({ session }: { session: SessionView }) {
  const { api, principal, notify } = useApp();
  const [prompt, setPrompt] = useState('');
  const [busy, setBusy] = useState<string | null>(null);
  const [confirmKill, setConfirmKill] = useState(false);
  // A restart is a hand-off: it answers at once, and the new session exists only once the old one
  // wrote .context/ and went idle. The page follows when the tracker links the two.
  const [following, setFollowing] = useState(false);
  useEffect(() => {
    if (following && session.next_session) location.hash = href('session', session.next_session);
  }, [following, session.next_session]);
  if (!can(principal, 'operator')) return null;
  const path = `api/v1/sessions/${encodeURIComponent(session.session)}`;
  const act = async (
    verb: 'inject' | 'resume' | 'restart' | 'kill',
    body: Record<string, unknown> = {},
  ): Promise<void> => {
    setBusy(verb);
    try {
      const { data } = await api.post<Record<string, unknown>>(`${path}/${verb}`, body);
      notify('ok', `${verb}: done`);
      if (verb === 'inject') setPrompt('');
      if (verb === 'restart' && typeof data.handoff_id === 'string') {
        notify('ok', `restart: hand-off ${data.handoff_id} started; the new session opens when it is ready`);
        setFollowing(true);
      } else if (verb === 'restart' && typeof data.session === 'string' && data.session !== session.session)
        // An agent of the previous protocol answers with the new session itself.
        location.hash = href('session', data.session);
    } catch (err) {
      notify('error', err instanceof ApiError ? `${err.code}: ${err.message}` : String(err));
    } finally {
      setBusy(null);
      setConfirmKill(false);
    }
  };
  const text = prompt.trim();
  return (
    <div class="actions-box" data-testid="actions">
      <form
        class="inject"
        onSubmit={(e) => {
          e.preventDefault();
          if (text !== '') void act('inject', { prompt: text });
        }}
      >
        <textarea
          placeholder="A prompt for this session…"
          value={prompt}
          rows={2}
          onInput={(e) => setPrompt((e.target as HTMLTextAreaElement).value)}
          data-testid="inject-prompt"
        />
        <button type="submit" disabled={busy !== null || text === ''} data-action="inject">
          Inject
        </button>
      </form>
      <div class="buttons">
        <button
          type="button"
          disabled={busy !== null}
          onClick={() => act('resume', text === '' ? {} : { prompt: text })}
          data-action="resume"
        >
          Resume
        </button>
        <button
          type="button"
          disabled={busy !== null}
          onClick={() => act('restart', text === '' ? {} : { prompt: text })}
          data-action="restart"
        >
          Restart
        </button>
        {confirmKill ? (
          <button
            type="button"
            class="danger"
            disabled={busy !== null}
            onClick={() => act('kill')}
            data-action="kill-confirm"
          >
            Really kill?
          </button>
        ) : (
          <button
            type="button"
            class="danger"
            disabled={busy !== null}
            onClick={() => setConfirmKill(true)}
            data-action="kill"
          >
            Kill
          </button>
        )}
      </div>
    </div>
  );
}

function CostTrend({ events }: { events: SessionEvent[] }) {
  // Rebuilt only when a message completes: recreating the chart on every event (a busy session
  // sends dozens a second) would cost more than everything else on the page.
  const completed = events.filter((e) => e.type === 'message.completed');
  const key = completed.map((e) => e.stream_seq).join(',');
  const data = useMemo(() => {
    // The latest figures of each message, summed in time order: the session's spend so far.
    const perMessage = new Map<string, { usd: number; tokens: number }>();
    const xs: number[] = [];
    const usdSoFar: number[] = [];
    const tokensSoFar: number[] = [];
    for (const e of completed) {
      const t = (e.data.tokens ?? {}) as Record<string, number | undefined>;
      perMessage.set(String(e.data.message_id), {
        usd: Number(e.data.cost_usd ?? 0),
        tokens: (t.input ?? 0) + (t.output ?? 0) + (t.reasoning ?? 0),
      });
      let usdTotal = 0;
      let tokenTotal = 0;
      for (const v of perMessage.values()) {
        usdTotal += v.usd;
        tokenTotal += v.tokens;
      }
      xs.push(Date.parse(e.time) / 1000);
      usdSoFar.push(usdTotal);
      tokensSoFar.push(tokenTotal);
    }
    return [xs, usdSoFar, tokensSoFar] as [number[], number[], number[]];
  }, [key]);
  if (data[0].length === 0) return <p class="muted">No completed message yet.</p>;
  return (
    <Chart
      data={data}
      series={[
        { label: 'cost so far (opencode, USD)', stroke: '#c2410c', fill: 'rgba(194,65,12,0.1)' },
        { label: 'tokens so far', stroke: '#2563eb', scale: 'right' },
      ]}
      yLabel="USD"
      rightLabel="tokens"
      height={180}
      testId="cost-trend"
    />
  );
}

/** What the cost service observed for this session this month (model rates apply where opencode says 0). */
function ObservedCost({ session }: { session: string }) {
  const { api } = useApp();
  const { data } = useLoad(
    async () => {
      const { data: report } = await api.get<CostReport>('api/v1/cost', {
        period: 'month',
        group_by: 'session',
      });
      return report.rows.find((r) => r.key.session === session) ?? null;
    },
    [session],
    { when: (e) => e.session === session && e.type === 'message.completed', debounceMs: 1000 },
  );
  if (data === undefined) return <>…</>;
  if (data === null) return <span class="muted">none this month</span>;
  return (
    <span data-testid="session-observed">
      {usd(data.observed_usd)}
      {data.estimated_usd > 0 ? ` (${usd(data.estimated_usd)} estimated from cost.model_rates)` : ''}
    </span>
  );
}
