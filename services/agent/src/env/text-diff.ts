/**
 * A unified diff of two texts, line by line, for reporting how a managed file differs from what
 * the control plane wants. Files here are small (AGENT.md, hooks); past `MAX_LINES` a side is
 * summarised instead of diffed, so a hostile 100 MB file costs nothing.
 */

const MAX_LINES = 3_000;
const CONTEXT = 3;

type Op = { kind: ' ' | '-' | '+'; line: string };

/** Shortest edit script by the classic LCS table, trimmed of the common head and tail first. */
function editScript(a: readonly string[], b: readonly string[]): Op[] {
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (
    tail < a.length - head &&
    tail < b.length - head &&
    a[a.length - 1 - tail] === b[b.length - 1 - tail]
  ) {
    tail++;
  }
  const x = a.slice(head, a.length - tail);
  const y = b.slice(head, b.length - tail);
  const n = x.length;
  const m = y.length;
  // lcs[i][j] = LCS length of x[i..] and y[j..], in one flat array.
  const lcs = new Uint32Array((n + 1) * (m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i * (m + 1) + j] =
        x[i] === y[j]
          ? lcs[(i + 1) * (m + 1) + j + 1]! + 1
          : Math.max(lcs[(i + 1) * (m + 1) + j]!, lcs[i * (m + 1) + j + 1]!);
    }
  }
  const ops: Op[] = a.slice(0, head).map((line) => ({ kind: ' ', line }));
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && x[i] === y[j]) {
      ops.push({ kind: ' ', line: x[i]! });
      i++;
      j++;
    } else if (i < n && (j === m || lcs[(i + 1) * (m + 1) + j]! >= lcs[i * (m + 1) + j + 1]!)) {
      // Deletions before insertions, as diff(1) prints a changed line.
      ops.push({ kind: '-', line: x[i]! });
      i++;
    } else {
      ops.push({ kind: '+', line: y[j]! });
      j++;
    }
  }
  for (const line of a.slice(a.length - tail)) ops.push({ kind: ' ', line });
  return ops;
}

function splitLines(text: string): string[] {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines;
}

/**
 * `--- <fromName>` / `+++ <toName>` with `@@` hunks, or '' when the texts are equal. The result is
 * clipped to `maxChars` with a marker saying so.
 */
export function unifiedDiff(
  from: string,
  to: string,
  fromName: string,
  toName: string,
  maxChars: number,
): string {
  if (from === to) return '';
  const a = splitLines(from);
  const b = splitLines(to);
  const header = `--- ${fromName}\n+++ ${toName}\n`;
  if (a.length > MAX_LINES || b.length > MAX_LINES) {
    return `${header}@@ too large to diff: ${a.length} lines vs ${b.length} lines @@\n`;
  }
  const ops = editScript(a, b);
  let out = header;
  let k = 0;
  while (k < ops.length) {
    // Next change; a hunk runs from CONTEXT lines before it to CONTEXT lines after its last change.
    while (k < ops.length && ops[k]!.kind === ' ') k++;
    if (k >= ops.length) break;
    const start = Math.max(0, k - CONTEXT);
    let end = k;
    let lastChange = k;
    while (end < ops.length && end - lastChange <= CONTEXT * 2) {
      if (ops[end]!.kind !== ' ') lastChange = end;
      end++;
    }
    end = Math.min(ops.length, lastChange + CONTEXT + 1);
    let aStart = 0;
    let bStart = 0;
    for (let t = 0; t < start; t++) {
      if (ops[t]!.kind !== '+') aStart++;
      if (ops[t]!.kind !== '-') bStart++;
    }
    const slice = ops.slice(start, end);
    const aLen = slice.filter((o) => o.kind !== '+').length;
    const bLen = slice.filter((o) => o.kind !== '-').length;
    out += `@@ -${aLen === 0 ? aStart : aStart + 1},${aLen} +${bLen === 0 ? bStart : bStart + 1},${bLen} @@\n`;
    for (const o of slice) out += `${o.kind}${o.line}\n`;
    k = end;
  }
  if (out.length > maxChars) return `${out.slice(0, maxChars)}\n… diff clipped at ${maxChars} characters\n`;
  return out;
}
