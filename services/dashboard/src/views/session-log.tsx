import type { VNode } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { type BlockCache, blocksOf } from '../components/blocks.ts';
import { useApp } from '../context.ts';
import type { LiveEvent } from '../event-stream.ts';
import { time } from '../format.ts';
import { onNextFrame, usePinnedToEnd } from '../hooks.ts';
import type { LogEntry } from '../types.ts';

/** Log lines a block holds. */
const LINES = 20;

/** The session's messages and tool calls: the tracker's log, then live `message.part` events. */
export function Log({ id }: { id: string }) {
  const { api, live } = useApp();
  /** In stream order; a new array whenever it changed. */
  const [rows, setRows] = useState<LogEntry[]>([]);
  const built = useRef(new WeakMap<LogEntry, VNode>());
  const blocks = useRef<BlockCache<LogEntry>>(new Map());
  const box = useRef<HTMLDivElement>(null);
  const content = useRef<HTMLDivElement>(null);
  usePinnedToEnd(box, content);
  useEffect(() => {
    let stale = false;
    // Kept in stream order as parts arrive (they come in order: a new one is appended, an update
    // replaces its entry in place), so a frame's render copies the list instead of sorting it.
    const entries = new Map<string, { entry: LogEntry; at: number }>();
    let lines: LogEntry[] = [];
    let resort = false;
    const put = (e: LogEntry): void => {
      const key = `${e.message_id}/${e.part_id}`;
      const old = entries.get(key);
      if (old !== undefined) {
        const entry = { ...e, stream_seq: old.entry.stream_seq, time: old.entry.time };
        old.entry = entry;
        if (lines[old.at]?.stream_seq === entry.stream_seq) lines[old.at] = entry;
        else resort = true;
        return;
      }
      const last = lines[lines.length - 1];
      entries.set(key, { entry: e, at: lines.length });
      lines.push(e);
      if (last !== undefined && e.stream_seq < last.stream_seq) resort = true;
    };
    const show = (): void => {
      if (resort) {
        lines = [...entries.values()].map((v) => v.entry).sort((a, b) => a.stream_seq - b.stream_seq);
        lines.forEach((e, at) => {
          const v = entries.get(`${e.message_id}/${e.part_id}`);
          if (v !== undefined) v.at = at;
        });
        resort = false;
      }
      setRows(lines.slice());
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
        if (!stale) show();
      });
    });
    api.get<LogEntry[]>(`api/v1/sessions/${encodeURIComponent(id)}/logs`, { limit: 5000 }).then(
      ({ data }) => {
        if (stale) return;
        for (const e of data) put(e);
        loaded = true;
        for (const e of buffered) apply(e);
        show();
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
  // In runs of LINES: a new part renders, lays out and paints its run; a run scrolled far out of the
  // box is neither laid out nor painted (content-visibility).
  const { vnodes: lines, cache } = blocksOf(
    blocks.current,
    rows,
    0,
    LINES,
    (e) => `${e.message_id}/${e.part_id}`,
    (part, key) => <LogBlock key={key} lines={part.map((e) => entryOf(built.current, e))} />,
  );
  blocks.current = cache;
  return (
    <section class="card log" data-testid="log">
      <h3>Log</h3>
      {rows.length === 0 && <p class="muted">Nothing said yet.</p>}
      <div class="log-scroll" ref={box}>
        <div class="log-lines" ref={content}>
          {lines}
        </div>
      </div>
    </section>
  );
}

/**
 * An entry is built once per version of it, as a component vnode: preact skips a component whose
 * vnode is the one it rendered last time, so a new part renders one line and the others cost a
 * comparison each (an element vnode given again is copied and diffed down to its text).
 */
function entryOf(cache: WeakMap<LogEntry, VNode>, e: LogEntry): VNode {
  let entry = cache.get(e);
  if (entry === undefined) {
    entry = <LogLine key={`${e.message_id}/${e.part_id}`} e={e} />;
    cache.set(e, entry);
  }
  return entry;
}

function LogLine({ e }: { e: LogEntry }) {
  return (
    <div class={`entry ${e.role} ${e.kind}`} data-kind={e.kind} data-role={e.role}>
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
}

function LogBlock({ lines }: { lines: VNode[] }) {
  return <div class="log-block">{lines}</div>;
}
