import type { APIEmbed, APIEmbedField } from 'discord.js';

/** Discord's limits (API reference, "Embed Limits" and "Create Message"). */
export const LIMITS = {
  content: 2000,
  title: 256,
  description: 4096,
  fields: 25,
  fieldName: 256,
  fieldValue: 1024,
  footer: 2048,
  embedTotal: 6000,
  customId: 100,
  buttonLabel: 80,
  choices: 25,
  choiceName: 100,
  threadName: 100,
} as const;

/** Cuts to `max` characters (code points), ending with "…" when something was cut. */
export function clip(text: string, max: number): string {
  const chars = [...text];
  return chars.length <= max ? text : `${chars.slice(0, max - 1).join('')}…`;
}

export const Colour = {
  info: 0x3498db,
  warning: 0xf1c40f,
  critical: 0xe74c3c,
  ok: 0x2ecc71,
  muted: 0x95a5a6,
} as const;

/** An embed that Discord accepts whatever the input: every part clipped, empty fields dropped. */
export function embed(e: {
  title: string;
  description?: string;
  colour?: number;
  fields?: Array<{ name: string; value: string; inline?: boolean }>;
  footer?: string;
  timestamp?: string;
}): APIEmbed {
  const fields: APIEmbedField[] = (e.fields ?? [])
    .filter((f) => f.name !== '' && f.value !== '')
    .slice(0, LIMITS.fields)
    .map((f) => ({
      name: clip(f.name, LIMITS.fieldName),
      value: clip(f.value, LIMITS.fieldValue),
      inline: f.inline ?? true,
    }));
  const out: APIEmbed = { title: clip(e.title, LIMITS.title) };
  if (e.description) out.description = clip(e.description, LIMITS.description);
  if (e.colour !== undefined) out.color = e.colour;
  if (fields.length > 0) out.fields = fields;
  if (e.footer) out.footer = { text: clip(e.footer, LIMITS.footer) };
  if (e.timestamp) out.timestamp = e.timestamp;
  // The 6,000-character total: shorten the description first, then drop trailing fields.
  while (embedSize(out) > LIMITS.embedTotal) {
    const over = embedSize(out) - LIMITS.embedTotal;
    if (out.description && out.description.length > over + 1) {
      out.description = clip(out.description, [...out.description].length - over);
    } else if (out.fields && out.fields.length > 0) {
      out.fields.pop();
    } else break;
  }
  return out;
}

export function embedSize(e: APIEmbed): number {
  let n =
    [...(e.title ?? '')].length + [...(e.description ?? '')].length + [...(e.footer?.text ?? '')].length;
  for (const f of e.fields ?? []) n += [...f.name].length + [...f.value].length;
  return n;
}

/**
 * Lines → pages of a description that each fit `max` characters; a line longer than a page is
 * clipped. Used for answers too long for one embed, shown one page at a time with buttons.
 */
export function paginate(lines: readonly string[], max = 1800): string[] {
  const pages: string[] = [];
  let cur = '';
  for (const raw of lines) {
    const line = clip(raw, max);
    if (cur !== '' && [...cur].length + 1 + [...line].length > max) {
      pages.push(cur);
      cur = line;
    } else cur = cur === '' ? line : `${cur}\n${line}`;
  }
  if (cur !== '' || pages.length === 0) pages.push(cur);
  return pages;
}

export const usd = (v: number | null | undefined) =>
  v === null || v === undefined ? '—' : `$${v.toFixed(2)}`;

export function since(iso: string | null | undefined, now: number): string {
  if (!iso) return '—';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 90) return `${s} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}
