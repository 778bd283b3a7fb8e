// Spreading items over the active view. Two modes:
// - plumtree (Leitao, Pereira, Rodrigues, SRDS 2007): full items along a spanning tree of
//   "eager" links, item ids (IHAVE, batched) on the other "lazy" links; a duplicate PRUNEs
//   the link that sent it, an IHAVE whose item does not follow in time GRAFTs the link back;
// - flood (Gnutella): the full item to every neighbour but the sender; the benchmark baseline.
// An item from a peer is forwarded only after local validation says "valid" (the contract);
// a local ANNOUNCE is trusted and spread at once.

import { randomBytes } from "node:crypto";
import type { Dissemination as Mode } from "../config/schema.ts";
import { LogThrottle } from "../util/bucket.ts";
import type { Logger } from "../util/log.ts";
import { MAX_IHAVE, encodeP2p, type Gossip, type IHaveEntry, type P2pMessage } from "../wire/p2p.ts";
import { ItemCache, SeenCache, idKey, type StoredItem } from "./caches.ts";
import type { PeerLink } from "./link.ts";
import { Points } from "./scores.ts";
import type { Verdict } from "./verdicts.ts";

export interface DisseminationOptions {
  readonly mode: Mode;
  readonly ttlCap: number;
  readonly cacheSize: number;
  readonly suppressMs: number;
  readonly seenMax: number;
  readonly graftTimeoutMs: number;
  readonly ihaveBatchMs: number;
  /** Items stored within this window are offered to a new neighbour; 0: off. */
  readonly offerRecentMs: number;
  readonly log: Logger;
  /** Local validation: the API server's verdict machinery. */
  readonly validate: (dataType: number, data: Uint8Array) => Promise<Verdict>;
  /** Bytes queued to a peer above which items for it are dropped rather than queued. */
  readonly softQueueBytes: number;
  /** Score feedback on the peer an item came from. */
  readonly penalize: (link: PeerLink, points: number, why: string) => void;
  /** Told of every item from a peer that local modules accepted (benchmarks, tests). */
  readonly onDelivered?: (d: Delivered) => void;
}

export interface Delivered {
  readonly key: string;
  /** Hops the item made to reach us (1: straight from its origin). */
  readonly hops: number;
  readonly dataType: number;
  readonly data: Uint8Array;
}

/** Counters for logs, tests and benchmarks. */
export interface DisseminationStats {
  announced: number;
  received: number;
  duplicates: number;
  delivered: number;
  rejected: number;
  dropped: number;
  gossipSent: number;
  ihaveSent: number;
  graftSent: number;
  pruneSent: number;
  rateLimited: number;
  /** Item copies not sent because the peer's queue was over the soft limit. */
  queueDropped: number;
}

interface Missing {
  readonly announcers: PeerLink[];
  timer: ReturnType<typeof setTimeout> | null;
}

const MAX_MISSING = 10_000;

/** The GOSSIP frame that carries a stored item onward. */
function gossipFrame(item: StoredItem): Uint8Array {
  return encodeP2p({ kind: "gossip", id: item.id, ttl: item.ttl, hops: item.hops, dataType: item.dataType, data: item.data });
}
const MAX_ANNOUNCERS = 8;

export class Dissemination {
  readonly stats: DisseminationStats = {
    announced: 0, received: 0, duplicates: 0, delivered: 0, rejected: 0, dropped: 0,
    gossipSent: 0, ihaveSent: 0, graftSent: 0, pruneSent: 0, rateLimited: 0, queueDropped: 0,
  };
  private lastQueueDrop = "";
  private lastRateDrop = "";
  private readonly queueLog = new LogThrottle((n) =>
    this.opts.log.warn("item copies dropped: peer send queue full", { peer: this.lastQueueDrop, dropped: n }),
  );
  private readonly rateLog = new LogThrottle((n) =>
    this.opts.log.warn("items dropped: peer over its rate limit", { peer: this.lastRateDrop, dropped: n }),
  );
  private readonly eager = new Set<PeerLink>();
  private readonly lazy = new Set<PeerLink>();
  private readonly seen: SeenCache;
  private readonly cache: ItemCache;
  private readonly missing = new Map<string, Missing>();
  private readonly lazyQueue = new Map<PeerLink, IHaveEntry[]>();
  private lazyTimer: ReturnType<typeof setTimeout> | null = null;
  private stopped = false;

  constructor(private readonly opts: DisseminationOptions) {
    this.seen = new SeenCache(opts.suppressMs, opts.seenMax);
    this.cache = new ItemCache(opts.cacheSize);
  }

  get eagerCount(): number {
    return this.eager.size;
  }
  get lazyCount(): number {
    return this.lazy.size;
  }

  neighborUp(link: PeerLink): void {
    this.eager.add(link);
    this.lazy.delete(link);
    this.offerRecent(link);
  }

  /**
   * Anti-entropy for new links: Plumtree only repairs along links that existed when an item
   * spread, so an item announced while the overlay was changing (start-up, mass failure)
   * could miss a whole region for good. A new neighbour is therefore offered what we spread
   * lately: ids (it GRAFTs what it lacks) or, in flood mode, the items themselves.
   */
  private offerRecent(link: PeerLink): void {
    if (this.opts.offerRecentMs === 0) return;
    const recent = this.cache.since(performance.now() - this.opts.offerRecentMs);
    if (recent.length === 0) return;
    if (this.opts.mode === "flood") {
      for (const item of recent) this.sendItem(link, item);
      return;
    }
    for (let i = 0; i < recent.length; i += MAX_IHAVE) {
      const entries = recent.slice(i, i + MAX_IHAVE).map((it) => ({ id: it.id, hops: it.hops }));
      if (link.send({ kind: "ihave", entries })) this.stats.ihaveSent++;
    }
  }

  neighborDown(link: PeerLink): void {
    this.eager.delete(link);
    this.lazy.delete(link);
    this.lazyQueue.delete(link);
    for (const [key, m] of this.missing) {
      const i = m.announcers.indexOf(link);
      if (i >= 0) m.announcers.splice(i, 1);
      if (m.announcers.length === 0 && m.timer === null) this.missing.delete(key);
    }
  }

  /** A local ANNOUNCE: trusted, spread at once. TTL 0 (unlimited) and large TTLs are capped. */
  announce(ttl: number, dataType: number, data: Uint8Array): void {
    if (this.stopped) return;
    const id = new Uint8Array(randomBytes(16));
    const key = idKey(id);
    const out = ttl === 0 || ttl > this.opts.ttlCap ? this.opts.ttlCap : ttl;
    const item: StoredItem = { id, ttl: out, hops: 1, dataType, data, at: performance.now() };
    this.seen.add(key);
    this.cache.add(key, item);
    this.stats.announced++;
    this.opts.log.debug("spreading local item", { item: key, type: dataType, ttl: out });
    this.forward(item, null);
  }

  handle(link: PeerLink, msg: P2pMessage): boolean {
    switch (msg.kind) {
      case "gossip":
        this.onGossip(link, msg);
        return true;
      case "ihave":
        if (this.opts.mode === "plumtree") this.onIHave(link, msg.entries);
        return true;
      case "graft":
        this.setEager(link);
        for (const key of new Set(msg.ids.map(idKey))) {
          const item = this.cache.get(key);
          if (item) this.sendItem(link, item);
        }
        return true;
      case "prune":
        if (this.opts.mode === "plumtree") this.setLazy(link);
        return true;
      default:
        return false;
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.lazyTimer) clearTimeout(this.lazyTimer);
    for (const m of this.missing.values()) if (m.timer) clearTimeout(m.timer);
    this.missing.clear();
    this.lazyQueue.clear();
  }

  private onGossip(link: PeerLink, msg: Gossip): void {
    if (!link.items.take()) {
      this.stats.rateLimited++;
      this.lastRateDrop = link.addr;
      this.rateLog.hit();
      this.opts.penalize(link, Points.rateLimited, "item flood");
      return;
    }
    this.stats.received++;
    const key = idKey(msg.id);
    if (this.seen.has(key)) {
      this.stats.duplicates++;
      // A redundant copy: its link is not needed in the tree for this source.
      if (this.opts.mode === "plumtree" && this.eager.has(link)) {
        this.setLazy(link);
        link.send({ kind: "prune" });
        this.stats.pruneSent++;
      }
      return;
    }
    this.seen.add(key);
    this.clearMissing(key);
    if (this.opts.mode === "plumtree") this.setEager(link);
    // Keep our own copies: the frame's bytes belong to a socket chunk.
    const id = msg.id.slice();
    const data = msg.data.slice();
    const ttl = Math.min(msg.ttl, this.opts.ttlCap);
    const hops = msg.hops;
    this.opts.validate(msg.dataType, data).then((verdict) => {
      if (this.stopped) return;
      if (verdict !== "valid") {
        if (verdict === "invalid") {
          this.stats.rejected++;
          this.opts.penalize(link, Points.invalidItem, "sent an item local modules judged invalid");
        } else this.stats.dropped++;
        this.opts.log.debug("item not forwarded", { item: key, verdict, from: link.addr });
        return;
      }
      this.stats.delivered++;
      this.opts.penalize(link, Points.validItem, "valid item");
      this.opts.onDelivered?.({ key, hops, dataType: msg.dataType, data });
      // TTL 1 reached its last hop here; the hop limit bounds even a lying peer's TTL.
      if (ttl <= 1 || hops >= this.opts.ttlCap) return;
      const item: StoredItem = { id, ttl: ttl - 1, hops: hops + 1, dataType: msg.dataType, data, at: performance.now() };
      this.cache.add(key, item);
      this.forward(item, link);
    });
  }

  private forward(item: StoredItem, from: PeerLink | null): void {
    const frame = gossipFrame(item);
    if (this.opts.mode === "flood") {
      for (const l of [...this.eager, ...this.lazy]) if (l !== from) this.sendFrame(l, frame);
      return;
    }
    for (const l of this.eager) if (l !== from) this.sendFrame(l, frame);
    for (const l of this.lazy) if (l !== from) this.queueIHave(l, { id: item.id, hops: item.hops });
  }

  private sendItem(link: PeerLink, item: StoredItem): void {
    this.sendFrame(link, gossipFrame(item));
  }

  private sendFrame(link: PeerLink, frame: Uint8Array): void {
    // A peer that reads slower than we produce (or a module announcing faster than the
    // network carries) must not grow our memory: past the soft limit, copies are dropped.
    if (link.conn.queuedBytes > this.opts.softQueueBytes) {
      this.stats.queueDropped++;
      this.lastQueueDrop = link.addr;
      this.queueLog.hit();
      return;
    }
    if (link.sendFrame(frame)) this.stats.gossipSent++;
  }

  // Only neighbours move between eager and lazy: an item that arrives on a link being retired
  // must not make it a neighbour again.
  private setEager(link: PeerLink): void {
    if (link.state !== "open" || !(this.eager.has(link) || this.lazy.has(link))) return;
    this.lazy.delete(link);
    this.eager.add(link);
  }

  private setLazy(link: PeerLink): void {
    if (link.state !== "open" || !(this.eager.has(link) || this.lazy.has(link))) return;
    this.eager.delete(link);
    this.lazy.add(link);
  }

  private queueIHave(link: PeerLink, entry: IHaveEntry): void {
    let q = this.lazyQueue.get(link);
    if (!q) this.lazyQueue.set(link, (q = []));
    q.push(entry);
    if (q.length >= MAX_IHAVE || this.opts.ihaveBatchMs === 0) this.flushIHave(link);
    else this.lazyTimer ??= setTimeout(() => this.flushAllIHave(), this.opts.ihaveBatchMs);
  }

  private flushAllIHave(): void {
    this.lazyTimer = null;
    for (const link of [...this.lazyQueue.keys()]) this.flushIHave(link);
  }

  private flushIHave(link: PeerLink): void {
    const q = this.lazyQueue.get(link);
    this.lazyQueue.delete(link);
    if (!q || q.length === 0) return;
    if (link.send({ kind: "ihave", entries: q })) this.stats.ihaveSent++;
  }

  private onIHave(link: PeerLink, entries: readonly IHaveEntry[]): void {
    for (const e of entries) {
      const key = idKey(e.id);
      if (this.seen.has(key)) continue;
      let m = this.missing.get(key);
      if (!m) {
        if (this.missing.size >= MAX_MISSING) continue;
        m = { announcers: [], timer: null };
        this.missing.set(key, m);
      }
      if (m.announcers.length < MAX_ANNOUNCERS && !m.announcers.includes(link)) m.announcers.push(link);
      if (m.timer === null) m.timer = setTimeout(() => this.graft(key, e.id.slice()), this.opts.graftTimeoutMs);
    }
  }

  /** The announced item did not come through the tree in time: pull it from an announcer. */
  private graft(key: string, id: Uint8Array): void {
    const m = this.missing.get(key);
    if (!m || this.stopped) return;
    m.timer = null;
    const link = m.announcers.shift();
    if (!link) {
      this.missing.delete(key);
      return;
    }
    this.setEager(link);
    if (link.send({ kind: "graft", ids: [id] })) this.stats.graftSent++;
    // Keep trying the other announcers until the item arrives (the paper's second timer).
    m.timer = setTimeout(() => this.graft(key, id), this.opts.graftTimeoutMs);
    if (m.announcers.length === 0) {
      clearTimeout(m.timer);
      m.timer = null;
      this.missing.delete(key);
    }
  }

  private clearMissing(key: string): void {
    const m = this.missing.get(key);
    if (!m) return;
    if (m.timer) clearTimeout(m.timer);
    this.missing.delete(key);
  }
}
