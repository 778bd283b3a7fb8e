// The two bounded memories of dissemination: the seen-id cache (duplicate suppression,
// expiring after suppress_s, hard-capped) and the knowledge base (the cache_size most recent
// valid items, served to peers that GRAFT).

import { toHex } from "../wire/bytes.ts";
import type { Gossip } from "../wire/p2p.ts";

export interface StoredItem {
  /**
   * The GOSSIP message that carries the item onward (TTL already decremented, hops counted
   * for the next hop): one object for every copy, so a transport can encode it once.
   */
  readonly msg: Gossip;
  /** When we stored it (env.now()). */
  readonly at: number;
}

let memo: WeakMap<Uint8Array, string> | null = null;

/**
 * Keys made are remembered by id object from now on, for this process: for the simulator,
 * which hands one id object from node to node, so that a key is made and hashed once instead
 * of at every node. Not for the binary, whose every decoded id is a new object: it would pay a
 * WeakMap entry per id and never find one.
 */
export function rememberIdKeys(): void {
  memo ??= new WeakMap();
}

/** An item id as a map key (lowercase hex). */
export function idKey(id: Uint8Array): string {
  // One flat string (toHex): about a quarter of what 16 concatenations cost, and no rope left
  // to flatten at the Map lookup.
  if (memo === null) return toHex(id);
  let s = memo.get(id);
  if (s === undefined) memo.set(id, (s = toHex(id)));
  return s;
}

/** Remembers keys for `ttlMs`, at most `max` of them (oldest forgotten first). */
export class SeenCache {
  // Insertion order equals expiry order, since every entry lives equally long.
  private readonly expiry = new Map<string, number>();

  constructor(
    private readonly ttlMs: number,
    private readonly max: number,
    /** The node's clock (its Env): an object, not a closure, so that a lookup touches one object less. */
    private readonly clock: { now(): number },
  ) {}

  get size(): number {
    return this.expiry.size;
  }

  has(key: string): boolean {
    const t = this.expiry.get(key);
    if (t === undefined) return false;
    if (t > this.clock.now()) return true;
    this.expiry.delete(key);
    return false;
  }

  add(key: string): void {
    this.expiry.delete(key);
    this.expiry.set(key, this.clock.now() + this.ttlMs);
    this.prune();
  }

  /** The newest `max` live entries, oldest first, as [key, ms left]. */
  snapshot(max: number): Array<[string, number]> {
    const now = this.clock.now();
    const out: Array<[string, number]> = [];
    let skip = this.expiry.size - max;
    for (const [k, t] of this.expiry) {
      if (skip-- > 0 || t <= now) continue;
      out.push([k, t - now]);
    }
    return out;
  }

  /**
   * Puts back what snapshot() returned (before anything else is added: entries are kept in
   * expiry order). Entries are never kept longer than ttlMs.
   */
  restore(entries: ReadonlyArray<readonly [string, number]>): void {
    const now = this.clock.now();
    const sorted = entries.filter(([, left]) => left > 0).sort((a, b) => a[1] - b[1]);
    for (const [k, left] of sorted) {
      this.expiry.delete(k);
      this.expiry.set(k, now + Math.min(left, this.ttlMs));
    }
    this.prune();
  }

  private prune(): void {
    const now = this.clock.now();
    for (const [k, t] of this.expiry) {
      if (t > now && this.expiry.size <= this.max) break;
      this.expiry.delete(k);
    }
  }
}

/** The knowledge base: most recent items first to stay, oldest evicted. */
export class ItemCache {
  private readonly items = new Map<string, StoredItem>();
  constructor(private readonly max: number) {}

  get size(): number {
    return this.items.size;
  }

  get(key: string): StoredItem | undefined {
    return this.items.get(key);
  }

  /** Items stored at or after `since`, oldest first. */
  since(since: number): StoredItem[] {
    const out: StoredItem[] = [];
    // Insertion order is storage order: walk back from the newest.
    const all = [...this.items.values()];
    for (let i = all.length - 1; i >= 0 && all[i]!.at >= since; i--) out.push(all[i]!);
    return out.reverse();
  }

  add(key: string, item: StoredItem): void {
    this.items.delete(key);
    this.items.set(key, item);
    while (this.items.size > this.max) {
      const oldest = this.items.keys().next().value as string;
      this.items.delete(oldest);
    }
  }
}
