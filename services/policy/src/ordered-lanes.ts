/**
 * Runs tasks concurrently across lanes and in order within one. A lane is a path — `[]` (every
 * lane), `[node]`, `[node, session]` — and a task waits for every task scheduled before it on its
 * own lane, on the lanes below it and on the lanes above it: a session's events run one after
 * another, different sessions side by side, a node's own event (online, snapshot) after every
 * earlier event of its sessions and before every later one, and an event about everything alone.
 * The same order the stream gives, kept where it can matter and only there.
 */
export interface OrderedLanes {
  /** Schedules `task` on `path`; the returned promise settles when it has run (never rejects). */
  run(path: readonly string[], task: () => Promise<void>): Promise<void>;
  /** Tasks scheduled and not finished. */
  size(): number;
  /** Settles when every task scheduled so far has finished. */
  idle(): Promise<void>;
}

interface Lane {
  /** Settles when the last task scheduled on this lane (or on one above it, before it was made) ends. */
  tail: Promise<void>;
  children: Map<string, Lane>;
  /** Tasks scheduled on this lane or below, not finished. */
  pending: number;
}

export function createOrderedLanes(): OrderedLanes {
  const root: Lane = { tail: Promise.resolve(), children: new Map(), pending: 0 };

  const tailsBelow = (lane: Lane, out: Array<Promise<void>>): Array<Promise<void>> => {
    for (const child of lane.children.values()) {
      out.push(child.tail);
      tailsBelow(child, out);
    }
    return out;
  };

  return {
    run(path, task) {
      const chain: Array<{ parent: Lane; key: string; lane: Lane }> = [];
      let lane = root;
      for (const key of path) {
        let child = lane.children.get(key);
        if (child === undefined) {
          // A new lane starts after everything scheduled above it so far.
          child = { tail: lane.tail, children: new Map(), pending: 0 };
          lane.children.set(key, child);
        }
        chain.push({ parent: lane, key, lane: child });
        lane = child;
      }
      const before = Promise.all([lane.tail, ...tailsBelow(lane, [])]);
      // Lanes below now start after this task: they are dropped, and made anew from its tail.
      lane.children.clear();
      const done = before.then(task).catch(() => undefined);
      lane.tail = done;
      root.pending += 1;
      for (const link of chain) link.lane.pending += 1;
      void done.then(() => {
        root.pending -= 1;
        for (const link of chain.reverse()) {
          link.lane.pending -= 1;
          // A lane with nothing left to run is forgotten (only if it is still the one in place).
          if (link.lane.pending === 0 && link.parent.children.get(link.key) === link.lane) {
            link.parent.children.delete(link.key);
          }
        }
      });
      return done;
    },
    size: () => root.pending,
    async idle() {
      await Promise.all([root.tail, ...tailsBelow(root, [])]);
    },
  };
}
