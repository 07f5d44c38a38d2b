import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';

export interface VirtualListProps<T> {
  /** Rows loaded so far (a prefix of `total`). */
  rows: readonly T[];
  /** How many rows exist on the server; the scroll height is sized for all of them. */
  total: number;
  rowHeight: number;
  height: number;
  /** Asked for when the visible window reaches past the loaded rows. */
  onNeedMore(): void;
  render(row: T, index: number): ComponentChildren;
  placeholder(index: number): ComponentChildren;
  rowKey(row: T): string;
}

const OVERSCAN = 8;

/**
 * Renders only the rows in view (plus a few), absolutely placed inside a spacer as tall as all
 * `total` rows: 10,000 sessions cost as much DOM as 40.
 */
export function VirtualList<T>(p: VirtualListProps<T>) {
  const box = useRef<HTMLDivElement>(null);
  const [top, setTop] = useState(0);
  const first = Math.max(0, Math.floor(top / p.rowHeight) - OVERSCAN);
  const last = Math.min(p.total, Math.ceil((top + p.height) / p.rowHeight) + OVERSCAN);
  const needMore = last > p.rows.length && p.rows.length < p.total;
  useEffect(() => {
    if (needMore) p.onNeedMore();
  }, [needMore, p.rows.length]);
  const items = [];
  for (let i = first; i < last; i++) {
    const row = p.rows[i];
    items.push(
      <div
        key={row === undefined ? `placeholder-${i}` : p.rowKey(row)}
        class="vrow"
        style={{ transform: `translateY(${i * p.rowHeight}px)`, height: `${p.rowHeight}px` }}
      >
        {row === undefined ? p.placeholder(i) : p.render(row, i)}
      </div>,
    );
  }
  return (
    <div
      ref={box}
      class="vlist"
      style={{ height: `${p.height}px` }}
      onScroll={(e) => setTop((e.currentTarget as HTMLDivElement).scrollTop)}
      data-testid="session-list"
    >
      <div class="vspacer" style={{ height: `${p.total * p.rowHeight}px` }}>
        {items}
      </div>
    </div>
  );
}
