/**
 * Every size, depth and length limit on what enters HAL-O-SWARM, defined once. Agents are the
 * least trusted party (they run LLMs that run shell commands), so each limit is chosen so that
 * no single input can crash a listener, stall a loop or make nats-server drop a shared
 * connection. Schemas, subject builders, the gateway and the agent all read these numbers.
 */
export const LIMITS = {
  /** Longest node id, project name or session id, in UTF-16 code units (what zod counts). */
  idChars: 256,
  /**
   * Longest subject token an id may become once escaped (`escapeToken`: 3 bytes per byte outside
   * `[A-Za-z0-9_-]`). Any ASCII id of `idChars` fits; an id of many non-ASCII characters must be
   * shorter. Three tokens and a type still fit well inside `subjectBytes`.
   */
  idTokenBytes: 768,
  /**
   * Longest subject any builder returns. nats-server drops a client whose protocol line passes
   * 4,096 bytes (max_control_line) — the whole shared connection of a service, not one request —
   * so builders refuse at half of that, leaving room for the reply inbox and sizes on the line.
   */
  subjectBytes: 2048,
  /** Longest event type (`session.idle`, `opencode.file.edited`). */
  eventTypeChars: 128,
  /**
   * Deepest nesting of free-form JSON an agent sends: an event's `data`, a command result's
   * `data`, error `details`. A plain object is depth 1. `JSON.stringify` (and every recursive
   * walk) overflows the stack a few thousand levels down; 32 is far above any real payload.
   */
  dataDepth: 32,
  /**
   * Largest event record once serialized. The agent clips fields to fit (with a visible marker);
   * the gateway refuses a larger one with PAYLOAD_TOO_LARGE and its seq, so it never loops.
   */
  eventBytes: 256 * 1024,
  /** Sessions in one `snapshot` frame. */
  snapshotSessions: 10_000,
  /** Projects one node may serve (`hello.projects`). */
  projectsPerNode: 100,
  /** Longest value of a query filter (node, project, session, type, actor, action). */
  filterChars: 256,
  /**
   * Longest agent-provided text a regular expression is run on (error and retry messages): the
   * text is clipped first, so a megabyte of error message costs what 2 KiB does.
   */
  matchTextChars: 2048,
} as const;

/**
 * The path to the first container nested deeper than `maxDepth`, or undefined when none is.
 * Iterative on purpose: it must survive exactly the inputs (100,000 levels) that would overflow
 * the stack of a recursive walk or of `JSON.stringify`. A plain object or array is depth 1.
 */
export function findTooDeep(value: unknown, maxDepth: number): PropertyKey[] | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  // Each frame: a container, its depth, the path to it. Paths are rebuilt only for the report.
  const stack: Array<{ node: object; depth: number; parent: number; key: PropertyKey }> = [
    { node: value, depth: 1, parent: -1, key: '' },
  ];
  const visited: Array<{ parent: number; key: PropertyKey }> = [];
  while (stack.length > 0) {
    const frame = stack.pop()!;
    const index = visited.length;
    visited.push({ parent: frame.parent, key: frame.key });
    if (frame.depth > maxDepth) {
      const path: PropertyKey[] = [];
      for (let i = index; i > 0; i = visited[i]!.parent) path.unshift(visited[i]!.key);
      return path;
    }
    const entries: Iterable<[PropertyKey, unknown]> = Array.isArray(frame.node)
      ? frame.node.entries()
      : Object.entries(frame.node);
    for (const [key, child] of entries) {
      if (typeof child === 'object' && child !== null) {
        stack.push({ node: child, depth: frame.depth + 1, parent: index, key });
      }
    }
  }
  return undefined;
}

/** `text` cut to `max` characters (never inside a surrogate pair), for bounded matching. */
export function clipText(text: string, max: number = LIMITS.matchTextChars): string {
  if (text.length <= max) return text;
  const code = text.charCodeAt(max - 1);
  return text.slice(0, code >= 0xd800 && code <= 0xdbff ? max - 1 : max);
}
