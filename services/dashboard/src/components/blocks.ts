import type { VNode } from 'preact';

/** The blocks of the last render, by key: what `blocksOf` reuses. */
export type BlockCache<T> = Map<string | number, { items: T[]; vnode: VNode }>;

/**
 * `items` from index `from` on, in runs of `size`, each rendered by `render` as one component
 * vnode keyed by its first item. A run holding the same objects as last time keeps its vnode, so
 * preact skips it: a new item renders its own run only. Returns the vnodes and the cache to keep.
 */
export function blocksOf<T>(
  last: BlockCache<T>,
  items: readonly T[],
  from: number,
  size: number,
  keyOf: (item: T) => string | number,
  render: (items: T[], key: string | number) => VNode,
): { vnodes: VNode[]; cache: BlockCache<T> } {
  const cache: BlockCache<T> = new Map();
  const vnodes: VNode[] = [];
  for (let at = from; at < items.length; at += size) {
    const part = items.slice(at, at + size);
    const key = keyOf(part[0] as T);
    const old = last.get(key);
    const block =
      old !== undefined && old.items.length === part.length && old.items.every((e, i) => e === part[i])
        ? old
        : { items: part, vnode: render(part, key) };
    cache.set(key, block);
    vnodes.push(block.vnode);
  }
  return { vnodes, cache };
}
