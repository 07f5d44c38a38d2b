/**
 * Text that came from the supervisor — session titles, error messages, task names — was written
 * by an LLM on some host. Printed as it is, an escape sequence in it can rewrite the screen,
 * retitle the terminal, hide lines or (in some terminals) inject input. For people, every control
 * character except newline and tab is shown as a visible `�`; ESC-introduced sequences go whole.
 * `--json` output keeps every character of the data: JSON.stringify escapes C0 itself, and
 * `jsonForTerminal` escapes the rest (C1, bidi) the same way, which JSON parsers read back as is.
 */

// ESC [ … final byte (CSI), ESC ] … BEL/ST (OSC), ESC P/X/^/_ … ST (DCS, SOS, PM, APC), ESC + one byte.
const ESCAPE_SEQUENCE =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
  /\u001b(?:\[[0-?]*[ -/]*[@-~]?|\][^\u0007\u001b]*(?:\u0007|\u001b\\)?|[PX^_][^\u001b]*(?:\u001b\\)?|[\s\S]?)|\u009b[0-?]*[ -/]*[@-~]?/g;
// C0 (but \t and \n), DEL, C1, and the bidi controls that reorder what is shown (Trojan Source).
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

export const REPLACEMENT = '\ufffd';

export function safeForTerminal(text: string): string {
  return text.replace(ESCAPE_SEQUENCE, REPLACEMENT).replace(CONTROL, REPLACEMENT);
}

// Only inside JSON strings (the structure is ASCII), so a \uXXXX escape is the same value.
const JSON_UNSAFE = /[\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

export function jsonForTerminal(json: string): string {
  return json.replace(JSON_UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
