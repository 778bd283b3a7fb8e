// The two bounded memories of dissemination: the seen-id cache (duplicate suppression,
// expiring after suppress_s, hard-capped) and the knowledge base (the cache_size most recent
// valid items, served to peers that GRAFT).

import { fromHex, toHex } from "../wire/bytes.ts";
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

/** The id's bytes [4i, 4i+4) as a little-endian word (an id may sit at any offset of a frame). */
function word(id: Uint8Array, i: number): number {
  const o = 4 * i;
  return (id[o]! | (id[o + 1]! << 8) | (id[o + 2]! << 16) | (id[o + 3]! << 24)) >>> 0;
}

/**
 * Remembers item ids for `ttlMs`, at most `max` of them (oldest forgotten first): asked for
 * every item and every IHAVE entry, so it works on the id's bytes, with no key string made
 * and no object per entry.
 *
 * Entries sit in a ring in the order they were added, which is also the order they expire in
 * (every entry lives equally long): the oldest is always at the head. An open-addressing
 * table (linear probing, at most half full) maps an id to its ring entry. Its hash is keyed
 * by `secret` (random in the binary), so that ids chosen to collide cannot make lookups slow.
 * Both grow by doubling from a small start, and never past what `max` entries need.
 */
export class SeenCache {
  /** Ring capacity (a power of two); the table has twice as many slots. */
  private cap = 16;
  /** Ring: each entry's id as 4 words. */
  private words = new Uint32Array(4 * this.cap);
  /** Ring: when each entry expires; DEAD for an entry whose id was added again since. */
  private expiry = new Float64Array(this.cap);
  /** Ring: each entry's hash (for moving it within the table). */
  private hashes = new Int32Array(this.cap);
  /** Table: a ring index, or EMPTY. */
  private slots = new Int32Array(2 * this.cap).fill(EMPTY);
  /** Ring index of the oldest entry, and entries in the ring (dead ones included). */
  private head = 0;
  private count = 0;
  /** Entries not dead: what the cache holds. */
  private live = 0;
  private readonly k0: number;
  private readonly k1: number;
  private readonly k2: number;
  private readonly k3: number;

  constructor(
    private readonly ttlMs: number,
    private readonly max: number,
    /** The node's clock (its Env): an object, not a closure, so that a lookup touches one object less. */
    private readonly clock: { now(): number },
    /** 16 bytes that key the hash (none: a fixed key, for the simulator). */
    secret?: Uint8Array,
  ) {
    const key = secret ?? new Uint8Array(16);
    this.k0 = word(key, 0);
    this.k1 = word(key, 1);
    this.k2 = word(key, 2);
    this.k3 = word(key, 3);
  }

  get size(): number {
    return this.live;
  }

  /** Whether the id is remembered at `now` (the caller's reading of the clock, if it has one). */
  has(id: Uint8Array, now = this.clock.now()): boolean {
    const w0 = word(id, 0);
    const w1 = word(id, 1);
    const w2 = word(id, 2);
    const w3 = word(id, 3);
    const slot = this.find(w0, w1, w2, w3, this.hash(w0, w1, w2, w3));
    return slot >= 0 && this.expiry[this.slots[slot]!]! > now;
  }

  add(id: Uint8Array, now = this.clock.now()): void {
    this.putId(id, now + this.ttlMs);
    this.prune(now);
  }

  /** The newest `max` live entries, oldest first, as [key (idKey), ms left]. */
  snapshot(max: number): Array<[string, number]> {
    const now = this.clock.now();
    const out: Array<[string, number]> = [];
    const id = new Uint8Array(16);
    const ids = new DataView(id.buffer);
    for (let n = 0; n < this.count; n++) {
      const e = (this.head + n) & (this.cap - 1);
      const t = this.expiry[e]!;
      if (t <= now) continue; // expired, or dead
      for (let i = 0; i < 4; i++) ids.setUint32(4 * i, this.words[4 * e + i]!, true);
      out.push([toHex(id), t - now]);
    }
    return out.slice(Math.max(0, out.length - max));
  }

  /**
   * Puts back what snapshot() returned (before anything else is added: entries are kept in
   * expiry order). Entries are never kept longer than ttlMs.
   */
  restore(entries: ReadonlyArray<readonly [string, number]>): void {
    const now = this.clock.now();
    const sorted = entries.filter(([, left]) => left > 0).sort((a, b) => a[1] - b[1]);
    for (const [k, left] of sorted) {
      this.putId(fromHex(k), now + Math.min(left, this.ttlMs));
    }
    this.prune();
  }

  private hash(w0: number, w1: number, w2: number, w3: number): number {
    let h = Math.imul(w0 ^ this.k0, 0x9e3779b1) ^ Math.imul(w1 ^ this.k1, 0x85ebca77) ^ Math.imul(w2 ^ this.k2, 0xc2b2ae3d) ^ Math.imul(w3 ^ this.k3, 0x27d4eb2f);
    h ^= h >>> 15;
    h = Math.imul(h, 0x2c1b3c6d);
    return h ^ (h >>> 13);
  }

  /** The table slot holding the id, or -1 - (the empty slot where its probe ended). */
  private find(w0: number, w1: number, w2: number, w3: number, h: number): number {
    const mask = 2 * this.cap - 1;
    const words = this.words;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const e = this.slots[i]!;
      if (e === EMPTY) return -1 - i;
      const o = 4 * e;
      if (words[o] === w0 && words[o + 1] === w1 && words[o + 2] === w2 && words[o + 3] === w3) return i;
    }
  }

  private putId(id: Uint8Array, until: number): void {
    this.put(word(id, 0), word(id, 1), word(id, 2), word(id, 3), until);
  }

  /** Adds the id (again: its older entry dies) as the newest entry, expiring at `until`. */
  private put(w0: number, w1: number, w2: number, w3: number, until: number): void {
    if (this.count === this.cap) this.makeRoom();
    const h = this.hash(w0, w1, w2, w3);
    let slot = this.find(w0, w1, w2, w3, h);
    if (slot >= 0) {
      this.expiry[this.slots[slot]!] = DEAD;
      this.live--;
    } else slot = -1 - slot;
    const e = (this.head + this.count) & (this.cap - 1);
    const o = 4 * e;
    this.words[o] = w0;
    this.words[o + 1] = w1;
    this.words[o + 2] = w2;
    this.words[o + 3] = w3;
    this.expiry[e] = until;
    this.hashes[e] = h;
    this.slots[slot] = e;
    this.count++;
    this.live++;
  }

  /** Drops expired and dead entries from the head, and the oldest beyond `max`. */
  private prune(now = this.clock.now()): void {
    while (this.count > 0) {
      const e = this.head;
      const t = this.expiry[e]!;
      if (t !== DEAD) {
        if (t > now && this.live <= this.max) return;
        this.unlink(e);
        this.live--;
      }
      this.head = (e + 1) & (this.cap - 1);
      this.count--;
    }
  }

  /** Removes ring entry e's slot from the table, moving later entries of its probe run back. */
  private unlink(e: number): void {
    const mask = 2 * this.cap - 1;
    const slots = this.slots;
    let i = this.hashes[e]! & mask;
    while (slots[i] !== e) i = (i + 1) & mask;
    for (let j = (i + 1) & mask; ; j = (j + 1) & mask) {
      const f = slots[j]!;
      if (f === EMPTY) break;
      const home = this.hashes[f]! & mask;
      // f may move back to i only if its home is not within (i, j] (cyclically).
      if (i <= j ? home <= i || home > j : home <= i && home > j) {
        slots[i] = f;
        i = j;
      }
    }
    slots[i] = EMPTY;
  }

  /** The ring is full: drop what can go; then rebuild it, twice as large if still over half full. */
  private makeRoom(): void {
    this.prune();
    if (this.count < this.cap) return;
    const cap = this.live > this.cap / 2 ? 2 * this.cap : this.cap;
    const { words, expiry, head, count } = this;
    const old = this.cap;
    this.cap = cap;
    this.words = new Uint32Array(4 * cap);
    this.expiry = new Float64Array(cap);
    this.hashes = new Int32Array(cap);
    this.slots = new Int32Array(2 * cap).fill(EMPTY);
    this.head = 0;
    this.count = 0;
    this.live = 0;
    for (let n = 0; n < count; n++) {
      const e = (head + n) & (old - 1);
      if (expiry[e] === DEAD) continue;
      const o = 4 * e;
      this.put(words[o]!, words[o + 1]!, words[o + 2]!, words[o + 3]!, expiry[e]!);
    }
  }
}

/** An empty table slot. */
const EMPTY = -1;
/** The expiry of a ring entry whose id was added again (it no longer counts). */
const DEAD = -1;

/** What an item is reckoned to weigh besides its data: key string, message object, map entry. */
export const ITEM_OVERHEAD_BYTES = 200;

function weight(item: StoredItem): number {
  return item.msg.data.byteLength + ITEM_OVERHEAD_BYTES;
}

/**
 * The knowledge base, `max` (cache_size) items, most recent first to stay, and the items
 * still held past it for GRAFTs: an item evicted from the knowledge base stays until it is
 * `holdMs` old or all held items weigh more than `holdBytes`, whichever comes first. Items
 * announced by IHAVE must stay GRAFTable while neighbours may still ask; at 1000 items/s the
 * 50 items of the spec's example last 50 ms, and a GRAFT comes graft_timeout_ms after the IHAVE.
 */
export class ItemCache {
  private readonly items = new Map<string, StoredItem>();
  private held = 0;

  constructor(
    private readonly max: number,
    private readonly holdMs = 0,
    private readonly holdBytes = 0,
  ) {}

  get size(): number {
    return this.items.size;
  }

  /** What all items held weigh (data plus ITEM_OVERHEAD_BYTES each). */
  get bytes(): number {
    return this.held;
  }

  /** An item held, in the knowledge base or past it (GRAFT answers). */
  get(key: string): StoredItem | undefined {
    return this.items.get(key);
  }

  /** Items of the knowledge base stored at or after `since`, oldest first. */
  since(since: number): StoredItem[] {
    const out: StoredItem[] = [];
    // Insertion order is storage order: walk back from the newest, through the knowledge base only.
    const all = [...this.items.values()];
    const first = Math.max(0, all.length - this.max);
    for (let i = all.length - 1; i >= first && all[i]!.at >= since; i--) out.push(all[i]!);
    return out.reverse();
  }

  add(key: string, item: StoredItem): void {
    const old = this.items.get(key);
    if (old !== undefined) {
      this.items.delete(key);
      this.held -= weight(old);
    }
    this.items.set(key, item);
    this.held += weight(item);
    const expired = item.at - this.holdMs;
    // Oldest first: past the knowledge base, an item goes when it is too old or too heavy to hold.
    for (const [k, it] of this.items) {
      if (this.items.size <= this.max || (it.at > expired && this.held <= this.holdBytes)) break;
      this.items.delete(k);
      this.held -= weight(it);
    }
  }
}
