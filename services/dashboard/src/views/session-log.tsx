import type { VNode } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { useApp } from '../context.ts';
import type { LiveEvent } from '../event-stream.ts';
import { time } from '../format.ts';
import { onNextFrame } from '../hooks.ts';
import type { LogEntry } from '../types.ts';

interface LogState {
  entries: Map<string, LogEntry>;
  version: number;
}

/** The session's messages and tool calls: the tracker's log, then live `message.part` events. */
export function Log({ id }: { id: string }) {
  const { api, live } = useApp();
  const [state, setState] = useState<LogState>({ entries: new Map(), version: 0 });
  const built = useRef(new WeakMap<LogEntry, VNode>());
  useEffect(() => {
    let stale = false;
    const entries = new Map<string, LogEntry>();
    const put = (e: LogEntry): void => {
      const key = `${e.message_id}/${e.part_id}`;
      const old = entries.get(key);
      entries.set(key, old === undefined ? e : { ...e, stream_seq: old.stream_seq, time: old.time });
    };
    const buffered: LiveEvent[] = [];
    let loaded = false;
    let render: (() => void) | undefined;
    const apply = (e: LiveEvent): void => {
      const d = e.data;
      if (e.type !== 'message.part' || (d.part_type !== 'text' && d.part_type !== 'tool')) return;
      put({
        stream_seq: e.seq,
        time: e.time,
        message_id: String(d.message_id),
        part_id: String(d.part_id),
        role: d.role === 'user' ? 'user' : 'assistant',
        kind: String(d.part_type),
        text: typeof d.text === 'string' ? d.text : null,
        tool: typeof d.tool === 'string' ? d.tool : null,
        tool_status: typeof d.tool_status === 'string' ? d.tool_status : null,
      });
    };
    const off = live.onEvent((e) => {
      if (e.session !== id) return;
      if (!loaded) {
        buffered.push(e);
        return;
      }
      apply(e);
      // One render per frame however many parts arrive in it: a render per event, each sorting
      // and laying out the whole log, was what kept a busy session's rows seconds behind.
      render ??= onNextFrame(() => {
        render = undefined;
        if (!stale) setState((s) => ({ entries, version: s.version + 1 }));
      });
    });
    api.get<LogEntry[]>(`api/v1/sessions/${encodeURIComponent(id)}/logs`, { limit: 5000 }).then(
      ({ data }) => {
        if (stale) return;
        for (const e of data) put(e);
        loaded = true;
        for (const e of buffered) apply(e);
        setState((s) => ({ entries, version: s.version + 1 }));
      },
      () => {
        loaded = true;
      },
    );
    return () => {
      stale = true;
      off();
      render?.();
    };
  }, [id]);
  const rows = useMemo(
    () => [...state.entries.values()].sort((a, b) => a.stream_seq - b.stream_seq),
    [state.version],
  );
  return (
    <section class="card log" data-testid="log">
      <h3>Log</h3>
      {rows.length === 0 && <p class="muted">Nothing said yet.</p>}
      {/* Pinned to its newest line by CSS (a column-reverse scroller), not by scrolling from script:
          a scrollIntoView per new line forced a layout of the page each time, on a page that a busy
          session already keeps drawing every frame. */}
      <div class="log-scroll">
        <div class="log-lines">{rows.map((e) => entryOf(built.current, e))}</div>
      </div>
    </section>
  );
}

/** An entry is built once per version of it: a new part adds one, never re-renders the others. */
function entryOf(cache: WeakMap<LogEntry, VNode>, e: LogEntry): VNode {
  let entry = cache.get(e);
  if (entry === undefined) {
    entry = (
      <div
        key={`${e.message_id}/${e.part_id}`}
        class={`entry ${e.role} ${e.kind}`}
        data-kind={e.kind}
        data-role={e.role}
      >
        <span class="muted">{time(e.time)}</span>
        {e.kind === 'tool' ? (
          <span>
            <span class="badge">{e.tool}</span>{' '}
            <span class={`tool-${e.tool_status ?? ''}`}>{e.tool_status}</span>
          </span>
        ) : (
          <pre class="text">{e.text}</pre>
        )}
      </div>
    );
    cache.set(e, entry);
  }
  return entry;
}
