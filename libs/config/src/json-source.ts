import type { ConfigProblem } from './config-error.ts';

export type JsonResult = { ok: true; value: unknown } | { ok: false; problem: ConfigProblem };

/** JSON.parse, with the place of a syntax error given as line and column (1-based). */
export function parseJsonText(text: string, source: string): JsonResult {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    const { line, column } = locate(text, reason);
    const cleaned = reason
      .replace(/\s*(in JSON )?at position \d+.*$/, '')
      .replace(/\s*\(line \d+ column \d+\)/, '');
    return {
      ok: false,
      problem: {
        path: source,
        message: `invalid JSON at line ${line}, column ${column}: ${cleaned}; nothing in this file was loaded`,
      },
    };
  }
}

function locate(text: string, reason: string): { line: number; column: number } {
  const lineCol = /line (\d+) column (\d+)/.exec(reason);
  if (lineCol) return { line: Number(lineCol[1]), column: Number(lineCol[2]) };
  const pos = /position (\d+)/.exec(reason);
  const offset = pos ? Number(pos[1]) : text.length;
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  const column = offset - (before.lastIndexOf('\n') + 1) + 1;
  return { line, column };
}
