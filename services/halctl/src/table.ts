export interface Column<T> {
  header: string;
  value: (row: T) => string;
  /** Columns that may shrink give way first when the terminal is narrow (ids should not). */
  shrink?: boolean;
  align?: 'left' | 'right';
}

const GAP = 2;
const MIN_SHRUNK = 6;

function cut(text: string, width: number): string {
  const flat = text.replace(/\s+/g, ' ');
  if (flat.length <= width) return flat;
  return width <= 1 ? flat.slice(0, width) : `${flat.slice(0, width - 1)}…`;
}

/**
 * A plain-text table no wider than `width`: when the natural widths do not fit, the widest
 * shrinkable column is narrowed step by step and its long cells end with `…`.
 */
export function renderTable<T>(rows: readonly T[], columns: ReadonlyArray<Column<T>>, width = 80): string {
  const cells = rows.map((row) => columns.map((c) => c.value(row).replace(/\s+/g, ' ')));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((r) => r[i]?.length ?? 0)));
  const total = () => widths.reduce((a, b) => a + b, 0) + GAP * (columns.length - 1);
  while (total() > width) {
    let widest = -1;
    columns.forEach((c, i) => {
      if (
        c.shrink &&
        (widths[i] ?? 0) > MIN_SHRUNK &&
        (widest === -1 || (widths[i] ?? 0) > (widths[widest] ?? 0))
      ) {
        widest = i;
      }
    });
    if (widest === -1) break;
    widths[widest] = Math.max(MIN_SHRUNK, (widths[widest] ?? 0) - Math.max(1, total() - width));
  }
  const line = (values: string[]) =>
    values
      .map((v, i) => {
        const w = widths[i] ?? 0;
        const text = cut(v, w);
        return columns[i]?.align === 'right' ? text.padStart(w) : text.padEnd(w);
      })
      .join(' '.repeat(GAP))
      .trimEnd();
  return [line(columns.map((c) => c.header)), ...cells.map(line)].join('\n');
}
