import { randomInt } from 'node:crypto';

/**
 * Session → owning node, for up to `limit` sessions, in less memory than a `Map`. A gateway
 * caches the owner of every session of every agent it holds (10,000 at 1,000 agents × 10), and
 * each Map entry cost ~45 B of hash table besides its key (three 8-byte slots and a bucket, at a
 * table V8 doubles when full): the largest part of a loaded connection's memory after its
 * socket (#13). Here an entry is two 8-byte slots (key, owner) in open-addressing tables kept at
 * most ¾ full, ~26 B; the session id strings are the keys, as before.
 *
 * Bounded by generations: entries go into the young table; once it holds `limit / 2`, it
 * becomes the old one (the previous old one is dropped) and a new young one starts. A hit in the
 * old table is copied to the young one, so sessions in use survive every turn.
 *
 * The hash is seeded per process, so a host cannot choose session ids that all land in one probe
 * chain (the ids are attacker input); an owner is recorded only after the KV said so, and a miss
 * here only costs a KV read.
 */
export class OwnerCache {
  readonly #generation: number;
  readonly #seed = randomInt(0x7fffffff);
  #young: Table;
  #old: Table | undefined;
  /**
   * Each owner's name once: an owner read back from KV (every session after a gateway restart)
   * is a new string per session otherwise. Started afresh with each young table, so it is bounded.
   */
  #names = new Map<string, string>();

  constructor(limit: number) {
    this.#generation = Math.max(1, Math.floor(limit / 2));
    this.#young = new Table(this.#seed, 16);
  }

  /** Entries held (both generations; a promoted one counts twice until its old copy goes). */
  get size(): number {
    return this.#young.size + (this.#old?.size ?? 0);
  }

  get(session: string): string | undefined {
    const hash = hashOf(session, this.#seed);
    const young = this.#young.get(session, hash);
    if (young !== undefined) return young;
    const old = this.#old?.get(session, hash);
    if (old !== undefined) this.#put(session, hash, old);
    return old;
  }

  set(session: string, owner: string): void {
    let name = this.#names.get(owner);
    if (name === undefined) {
      name = owner;
      this.#names.set(owner, owner);
    }
    this.#put(session, hashOf(session, this.#seed), name);
  }

  #put(session: string, hash: number, owner: string): void {
    if (this.#young.size >= this.#generation) {
      this.#old = this.#young;
      this.#young = new Table(this.#seed, 16);
      this.#names = new Map();
    }
    this.#young = this.#young.set(session, hash, owner);
  }
}

/** FNV-1a over the UTF-16 code units from a per-process seed, then murmur3's finaliser. */
function hashOf(s: string, seed: number): number {
  let h = seed ^ 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Linear probing; keys and owners side by side in one array (`[k0, o0, k1, o1, …]`). */
class Table {
  readonly #seed: number;
  readonly #slots: Array<string | undefined>;
  readonly #mask: number;
  size = 0;

  constructor(seed: number, capacity: number) {
    this.#seed = seed;
    this.#slots = new Array<string | undefined>(capacity * 2).fill(undefined);
    this.#mask = capacity - 1;
  }

  get(key: string, hash: number): string | undefined {
    const slots = this.#slots;
    for (let i = hash & this.#mask; ; i = (i + 1) & this.#mask) {
      const k = slots[i * 2];
      if (k === undefined) return undefined;
      if (k === key) return slots[i * 2 + 1];
    }
  }

  /** Returns the table now holding the entry: this one, or a copy twice its size once ¾ full. */
  set(key: string, hash: number, owner: string): Table {
    if ((this.size + 1) * 4 > (this.#mask + 1) * 3) {
      const bigger = new Table(this.#seed, (this.#mask + 1) * 2);
      const slots = this.#slots;
      for (let i = 0; i < slots.length; i += 2) {
        const k = slots[i];
        if (k !== undefined) bigger.set(k, hashOf(k, this.#seed), slots[i + 1] as string);
      }
      return bigger.set(key, hash, owner);
    }
    const slots = this.#slots;
    for (let i = hash & this.#mask; ; i = (i + 1) & this.#mask) {
      const k = slots[i * 2];
      if (k === undefined) {
        slots[i * 2] = key;
        slots[i * 2 + 1] = owner;
        this.size++;
        return this;
      }
      if (k === key) {
        slots[i * 2 + 1] = owner;
        return this;
      }
    }
  }
}
