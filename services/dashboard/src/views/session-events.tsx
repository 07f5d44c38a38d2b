import type { VNode } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { useApp } from '../context.ts';
import { count, time, usd } from '../format.ts';
import { onNextFrame } from '../hooks.ts';
import type { StoredEvent } from '../types.ts';

export type SessionEvent = Omit<StoredEvent, 'stream_seq'> & { stream_seq: number };

/**
 * The session's events: the event index, then the live stream; one row per stream sequence.
 * A live event is on screen at the next frame: the list is extended in place (events arrive in
 * stream order; a late or repeated one re-sorts) and handed to the page once per frame.
 */
export function useSessionEvents(id: string): SessionEvent[] {
  const { api, live } = useApp();
  const [list, setList] = useState<SessionEvent[]>([]);
  useEffect(() => {
    let stale = false;
    const bySeq = new Map<number, SessionEvent>();
    let sorted: SessionEvent[] = [];
    let resort = false;
    let render: (() => void) | undefined;
    const put = (e: SessionEvent): void => {
      const last = sorted[sorted.length - 1];
      if (!bySeq.has(e.stream_seq) && (last === undefined || e.stream_seq > last.stream_seq)) sorted.push(e);
      else resort = true;
      bySeq.set(e.stream_seq, e);
    };
    const publish = (): void => {
      render ??= onNextFrame(() => {
        render = undefined;
        if (stale) return;
        if (resort) {
          sorted = [...bySeq.values()].sort((a, b) => a.stream_seq - b.stream_seq);
          resort = false;
        }
        setList(sorted.slice());
      });
    };
    const off = live.onEvent((e) => {
      if (e.session !== id) return;
      const { seq, ...record } = e;
      put({ ...(record as unknown as StoredEvent), stream_seq: seq });
      publish();
    });
    const load = async (): Promise<void> => {
      let after: number | undefined;
      for (let page = 0; page < 50 && !stale; page++) {
        const { data, meta } = await api.get<StoredEvent[]>(
          `api/v1/sessions/${encodeURIComponent(id)}/events`,
          {
            limit: 1000,
            ...(after === undefined ? {} : { after_seq: after }),
          },
        );
        for (const e of data) {
          bySeq.set(e.stream_seq, e);
          resort = true;
        }
        const next = meta.next_after_seq as number | null;
        if (next === null || next === undefined) break;
        after = next;
      }
      publish();
    };
    load().catch(() => undefined);
    return () => {
      stale = true;
      off();
      render?.();
    };
  }, [id]);
  return list;
}

/** A row is built once per event: a new event adds one row, never re-renders the others. */
function rowOf(cache: WeakMap<SessionEvent, VNode>, e: SessionEvent): VNode {
  let row = cache.get(e);
  if (row === undefined) {
    row = (
      <tr key={e.stream_seq} data-seq={e.stream_seq} data-type={e.type}>
        <td class="muted">{e.stream_seq}</td>
        <td class="muted">{time(e.time)}</td>
        <td>
          <code>{e.type}</code>
        </td>
        <td class="summary">{summary(e)}</td>
      </tr>
    );
    cache.set(e, row);
  }
  return row;
}

export function EventsTable({ events }: { events: SessionEvent[] }) {
  const rows = useRef(new WeakMap<SessionEvent, VNode>());
  const shown = events.slice(-500);
  return (
    <section class="card events" data-testid="events">
      <h3>
        Events{' '}
        <span class="count" data-testid="event-count">
          {count(events.length)}
        </span>
      </h3>
      {events.length > shown.length && (
        <p class="muted">
          The newest {shown.length} of {count(events.length)}.
        </p>
      )}
      <table class="compact events-table">
        <colgroup>
          <col class="seq" />
          <col class="time" />
          <col class="type" />
          <col />
        </colgroup>
        <thead>
          <tr>
            <th>seq</th>
            <th>time</th>
            <th>type</th>
            <th>summary</th>
          </tr>
        </thead>
        <tbody>{shown.map((e) => rowOf(rows.current, e))}</tbody>
      </table>
    </section>
  );
}

function summary(e: SessionEvent): string {
  const d = e.data;
  switch (e.type) {
    case 'message.part':
      return d.part_type === 'tool'
        ? `${String(d.tool ?? '')} ${String(d.tool_status ?? '')}`
        : `${String(d.role ?? '')} ${String(d.part_type ?? '')}: ${String(d.text ?? '').slice(0, 120)}`;
    case 'message.completed':
      return `${String(d.model ?? '')} ${usd(Number(d.cost_usd ?? 0))}`;
    case 'permission.asked':
      return `${String(d.permission ?? '')} ${Array.isArray(d.patterns) ? d.patterns.join(' ') : ''}`;
    case 'permission.replied':
      return String(d.response ?? '');
    case 'session.error':
      return `${String(d.kind ?? '')} ${String(d.message ?? '')}`;
    case 'command.executed':
      return `${String(d.command_type ?? '')} by ${String((d.actor as { id?: string } | undefined)?.id ?? '')} ${d.ok ? 'ok' : String(d.code ?? 'failed')}`;
    default:
      return '';
  }
}
