import type { VNode } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { type BlockCache, blocksOf } from '../components/blocks.ts';
import { useApp } from '../context.ts';
import { count, time, usd } from '../format.ts';
import { onNextFrame, usePinnedToEnd } from '../hooks.ts';
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

/**
 * A row is built once per event, as a component vnode: preact skips a component whose vnode is the
 * one it rendered last time (an element vnode given again is copied and diffed down to its text),
 * so a new event renders one row and the others cost a comparison each.
 */
function rowOf(cache: WeakMap<SessionEvent, VNode>, e: SessionEvent): VNode {
  let row = cache.get(e);
  if (row === undefined) {
    row = <EventRow key={e.stream_seq} e={e} />;
    cache.set(e, row);
  }
  return row;
}

function EventRow({ e }: { e: SessionEvent }) {
  return (
    <tr data-seq={e.stream_seq} data-type={e.type}>
      <td class="muted">{e.stream_seq}</td>
      <td class="muted">{time(e.time)}</td>
      <td>
        <code>{e.type}</code>
      </td>
      <td class="summary">{summary(e)}</td>
    </tr>
  );
}

/** Rows a block holds: a new event lays out and repaints its block, not the others. */
const BLOCK = 20;
/** At least this many of the newest events are shown (whole blocks: up to BLOCK - 1 more). */
const SHOWN = 500;

/**
 * The newest events, in stream order, in a box that keeps the newest row in view while the reader
 * is at its end (usePinnedToEnd). The rows are split into tables of BLOCK rows with the same fixed
 * columns: a new event adds a row to the last one, and the tables before it keep their layout and
 * paint. One table of all rows was laid out again, whole, for each new row (in chromium, 300 rows:
 * ~5 ms of layout a frame, against ~0.8 ms in tables of 20).
 */
export function EventsTable({ events }: { events: SessionEvent[] }) {
  const rows = useRef(new WeakMap<SessionEvent, VNode>());
  const blocks = useRef<BlockCache<SessionEvent>>(new Map());
  const box = useRef<HTMLDivElement>(null);
  const content = useRef<HTMLDivElement>(null);
  const first = Math.max(0, Math.floor((events.length - SHOWN) / BLOCK) * BLOCK);
  const shown = events.length - first;
  const { vnodes: tables, cache } = blocksOf(
    blocks.current,
    events,
    first,
    BLOCK,
    (e) => e.stream_seq,
    (part, key) => <EventBlock key={key} rows={part.map((e) => rowOf(rows.current, e))} />,
  );
  blocks.current = cache;
  usePinnedToEnd(box, content);
  return (
    <section class="card events" data-testid="events">
      <h3>
        Events{' '}
        <span class="count" data-testid="event-count">
          {count(events.length)}
        </span>
      </h3>
      {first > 0 && (
        <p class="muted">
          The newest {shown} of {count(events.length)}.
        </p>
      )}
      <table class="compact events-table">
        <Columns />
        <thead>
          <tr>
            <th>seq</th>
            <th>time</th>
            <th>type</th>
            <th>summary</th>
          </tr>
        </thead>
      </table>
      <div class="events-scroll" ref={box}>
        <div ref={content}>{tables}</div>
      </div>
    </section>
  );
}

function Columns() {
  return (
    <colgroup>
      <col class="seq" />
      <col class="time" />
      <col class="type" />
      <col />
    </colgroup>
  );
}

function EventBlock({ rows }: { rows: VNode[] }) {
  return (
    <table class="compact events-table events-block">
      <Columns />
      <tbody>{rows}</tbody>
    </table>
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
