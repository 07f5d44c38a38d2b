import { findTooDeep, LIMITS } from '@hal/protocol';

/**
 * Makes an event's `data` fit the protocol's limits before it is spooled, so every record the
 * agent keeps can be sent: what an LLM puts in a tool call (a whole file as `tool_input`, a
 * pathological nesting) is clipped here, at the source, with a marker people can see —
 * `…[clipped 123456 bytes]` — instead of being refused later by the gateway.
 *
 * Deep structures are cut at LIMITS.dataDepth; then, while the serialized record is too large,
 * the smallest single value whose removal is enough is clipped (a string keeps its beginning, a
 * container is replaced by the marker), or the largest one when none is enough on its own.
 */
export function fitEventData(
  data: Record<string, unknown>,
  /** Bytes the rest of the record takes (everything but `data`), serialized. */
  overheadBytes: number,
  maxBytes: number = LIMITS.eventBytes,
): { data: Record<string, unknown>; clipped: boolean } {
  const budget = maxBytes - overheadBytes;
  // The common case costs one walk and one serialisation, and returns `data` itself.
  if (findTooDeep(data, LIMITS.dataDepth) === undefined && bytesOf(data) <= budget) {
    return { data, clipped: false };
  }
  const shallow = prune(data, LIMITS.dataDepth);
  let value = shallow.value as Record<string, unknown>;
  let clipped = shallow.clipped;
  let size = bytesOf(value);
  for (let round = 0; size > budget && round < 64; round++) {
    const excess = size - budget;
    const target = pick(value, excess);
    if (target === undefined) break;
    clipped = true;
    const current = target.parent[target.key as never] as unknown;
    (target.parent as Record<PropertyKey, unknown>)[target.key] =
      typeof current === 'string' ? clipString(current, target.size, excess) : marker(target.size);
    size = bytesOf(value);
  }
  if (size > budget) {
    // Nothing left to clip piecewise (e.g. thousands of tiny keys): the whole data goes.
    value = { clipped: marker(size) };
    clipped = true;
  }
  return { data: value, clipped };
}

const marker = (bytes: number): string => `…[clipped ${bytes} bytes]`;
/** Serialized size of the longest marker, with room to spare. */
const MARKER_BYTES = 48;

function bytesOf(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value));
}

/** A copy of `value` with every container deeper than `maxDepth` replaced by a marker (iterative). */
function prune(value: unknown, maxDepth: number): { value: unknown; clipped: boolean } {
  if (typeof value !== 'object' || value === null) return { value, clipped: false };
  let clipped = false;
  const root: Record<string, unknown> | unknown[] = Array.isArray(value) ? [] : {};
  const stack: Array<{ from: object; to: Record<PropertyKey, unknown>; depth: number }> = [
    { from: value, to: root as Record<PropertyKey, unknown>, depth: 1 },
  ];
  while (stack.length > 0) {
    const { from, to, depth } = stack.pop()!;
    const entries: Iterable<[PropertyKey, unknown]> = Array.isArray(from)
      ? from.entries()
      : Object.entries(from);
    for (const [key, child] of entries) {
      if (typeof child !== 'object' || child === null) {
        to[key] = child;
      } else if (depth + 1 > maxDepth) {
        clipped = true;
        to[key] = `…[clipped: nested deeper than ${maxDepth} levels]`;
      } else {
        const copy: Record<PropertyKey, unknown> = Array.isArray(child)
          ? ([] as unknown as Record<PropertyKey, unknown>)
          : {};
        to[key] = copy;
        stack.push({ from: child, to: copy, depth: depth + 1 });
      }
    }
  }
  return { value: root, clipped };
}

interface Candidate {
  parent: object;
  key: PropertyKey;
  size: number;
}

/**
 * The value to clip: the smallest whose size covers `excess` plus its marker, preferring strings
 * (a clipped string keeps its start); else the largest value of all. Sizes are serialized bytes.
 */
function pick(root: object, excess: number): Candidate | undefined {
  let bestString: Candidate | undefined;
  let bestContainer: Candidate | undefined;
  let largest: Candidate | undefined;
  const stack: object[] = [root];
  while (stack.length > 0) {
    const node = stack.pop()!;
    const entries: Iterable<[PropertyKey, unknown]> = Array.isArray(node)
      ? node.entries()
      : Object.entries(node);
    for (const [key, child] of entries) {
      const isString = typeof child === 'string';
      if (!isString && (typeof child !== 'object' || child === null)) continue;
      const size = bytesOf(child);
      // A value no bigger than its own marker gains nothing by clipping.
      if (size <= MARKER_BYTES) continue;
      const candidate = { parent: node, key, size };
      if (largest === undefined || size > largest.size) largest = candidate;
      if (size - MARKER_BYTES >= excess) {
        if (isString) {
          if (bestString === undefined || size < bestString.size) bestString = candidate;
        } else if (bestContainer === undefined || size < bestContainer.size) {
          bestContainer = candidate;
        }
      }
      if (!isString) stack.push(child as object);
    }
  }
  return bestString ?? bestContainer ?? largest;
}

/** The start of `text`, short enough to drop `excess` serialized bytes, plus the marker. */
function clipString(text: string, size: number, excess: number): string {
  const keepBytes = Math.max(0, size - excess - 64);
  // Serialized bytes per character vary (escapes, UTF-8); scale, then back off until it fits.
  let keep = Math.floor((text.length * keepBytes) / size);
  let out = '';
  for (let i = 0; i < 8; i++) {
    const code = text.charCodeAt(keep - 1);
    if (keep > 0 && code >= 0xd800 && code <= 0xdbff) keep -= 1;
    const removed = Buffer.byteLength(text.slice(keep));
    out = `${text.slice(0, keep)}${marker(removed)}`;
    if (bytesOf(out) <= size - excess || keep === 0) return out;
    keep = Math.floor(keep * 0.9);
  }
  return out;
}
