import { type Column, renderTable } from './table.ts';

export interface Output {
  write(text: string): void;
  /** Raw JSON for scripts (`--json`), else the human form. */
  readonly json: boolean;
  /** Terminal width for tables. */
  readonly width: number;
}

export function writeTable<T>(out: Output, rows: readonly T[], columns: ReadonlyArray<Column<T>>): void {
  out.write(rows.length === 0 ? '(none)\n' : `${renderTable(rows, columns, out.width)}\n`);
}

export function writeJson(out: Output, value: unknown): void {
  out.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** `key: value` lines for one object, keys aligned. */
export function writeFields(out: Output, fields: ReadonlyArray<[string, string]>): void {
  const pad = Math.max(...fields.map(([k]) => k.length));
  out.write(`${fields.map(([k, v]) => `${`${k}:`.padEnd(pad + 2)}${v}`).join('\n')}\n`);
}

export const dash = (v: string | number | null | undefined): string =>
  v === null || v === undefined ? '-' : String(v);

/** `2026-11-25 10:00` (UTC): minutes are enough in a table and leave room for titles. */
export const shortTime = (iso: string | null | undefined): string =>
  iso === null || iso === undefined ? '-' : iso.replace('T', ' ').slice(0, 16);
