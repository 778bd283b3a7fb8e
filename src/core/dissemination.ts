// Spreading items over the active view. Two modes:
// - plumtree (Leitao, Pereira, Rodrigues, SRDS 2007): full items along a spanning tree of
//   "eager" links, item ids (IHAVE, batched) on the other "lazy" links; a duplicate PRUNEs
//   the link that sent it, an IHAVE whose item does not follow in time GRAFTs the link back;
// - flood (Gnutella): the full item to every neighbour but the sender; the benchmark baseline.
// An item from a peer is forwarded only after local validation says "valid" (the contract);
// a local ANNOUNCE is trusted and spread at once.

import type { Dissemination as Mode } from "../config/schema.ts";
import { LogThrottle } from "../util/bucket.ts";
import type { Logger } from "../util/log.ts";
import { copyOf } from "../wire/bytes.ts";
import { gossipItem, idMatches } from "../wire/item-id.ts";
import { GOSSIP_FIXED, ITEM_SALT_BYTES, MAX_IHAVE, type Gossip, type IHave, type IHaveEntry, type P2pMessage } from "../wire/p2p.ts";
import { ItemCache, SeenCache, idKey, type StoredItem } from "./caches.ts";
import { PruneDeciders } from "./deciders.ts";
import type { Env, Timer } from "./env.ts";
import type { Peer } from "./peers.ts";
import { Points, Violation } from "./scores.ts";

/** What local modules made of an item (the API server's verdict machinery, or the simulator's). */
export type Verdict = "valid" | "invalid" | "unsubscribed" | "timeout" | "abandoned" | "overloaded";
/** Local validation: calls `done` once with the verdict, now or later. */
export type Validate = (dataType: number, data: Uint8Array, done: (v: Verdict) => void) => void;

export interface DisseminationOptions {
  readonly mode: Mode;
  readonly ttlCap: number;
  readonly cacheSize: number;
  /** Bytes of items held past the knowledge base while neighbours may GRAFT them (see graftHoldMs). */
  readonly graftBufferBytes: number;
  readonly suppressMs: number;
  readonly seenMax: number;
  readonly graftTimeoutMs: number;
  readonly ihaveBatchMs: number;
  /** Items stored within this window are offered to a new neighbour; 0: off. */
  readonly offerRecentMs: number;
  /** Bytes queued to a peer above which items for it are dropped rather than queued. */
  readonly softQueueBytes: number;
}

export interface DisseminationDeps {
  readonly env: Env;
  readonly log: Logger;
  readonly validate: Validate;
  /** Score feedback on the peer an item came from. */
  readonly penalize: (peer: Peer, points: number, why: string) => void;
  /** The peer provably broke the protocol: log it, close its link, cost it score. */
  readonly violation: (peer: Peer, code: Violation, why: string) => void;
  /** Told of every item from a peer that local modules accepted (benchmarks, tests, simulator). */
  readonly onDelivered?: (d: Delivered) => void;
  /** Keys the seen cache's hash (SeenCache). */
  readonly secret?: Uint8Array;
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
  /** Items whose id did not match their content (the link was closed). */
  badIds: number;
  /** Item copies not sent because the peer's queue was over the soft limit. */
  queueDropped: number;
  /** Item copies not sent because the link had carried peer_items_per_s copies in the last second. */
  paced: number;
  /** GRAFT timers that fired late (this node was busy) and waited once more instead. */
  graftDeferred: number;
  /** Ids GRAFTed from us that we no longer held, past the knowledge base and the GRAFT hold (no copy could be sent). */
  graftMissed: number;
}

interface Missing {
  /** Announcers not yet asked, in the order their IHAVEs came. */
  readonly announcers: Peer[];
  /** Every announcer heard (at most MAX_HEARD_ANNOUNCERS): the repair push skips them. */
  readonly heard: Peer[];
  timer: Timer | null;
  /** When the timer is due (env.now() at arming, plus its wait). */
  due: number;
  /** The current wait was already extended once because its timer fired late. */
  extended: boolean;
}

/** Item ids awaited after an IHAVE, at most. */
export const MAX_MISSING = 10_000;
/** Announcers remembered per awaited id. */
export const MAX_ANNOUNCERS = 8;
const MAX_HEARD_ANNOUNCERS = 32;
/** A GRAFT timer this late (a share of graft_timeout_ms) shows a busy node: it waits once more. */
export const GRAFT_LATE_SHARE = 0.25;
/** Items we GRAFTed and still await, for the repair push (oldest forgotten first). */
const MAX_PULLED = 1024;
/** Duplicates of the node's first item held before they may prune, at most (one per neighbour). */
const MAX_HELD_PRUNES = 1024;
/** Lazy neighbours a repair push goes to, and the least time between two repair pushes of a node. */
export const REPAIR_PUSH_PEERS = 4;
export const REPAIR_PUSH_GAP_MS = 1000;
/** Lazy neighbours a repair push goes on to from a node that got one (see repairPushFor). */
export const CHAIN_PUSH_PEERS = 2;
/**
 * Announcers of an item per lazy neighbour, at most, for which a repair push goes to every lazy
 * neighbour that did not announce it (see forward): then most of the node's neighbours are
 * likely dead, and "heard from last" cannot tell which. One in 12: 2 of the ~28 lazy neighbours
 * of the default degree 30; with a small view (degree 7: at most 6 lazy) only a push onward
 * that nobody announced.
 */
export const FEW_ANNOUNCERS_SHARE = 1 / 12;
/**
 * Items we deliver after a neighbour's link came up before it counts as silent if it sent us no
 * copy of any item (see silent). An IHAVE does not count: it costs nothing to send, and black
 * holes that announce what they drop got past a rule that counted it (docs/SIMULATION.md,
 * experiment 5). Counting items rather than time keeps a quiet network, where nobody sends
 * anything, from judging everyone silent.
 */
export const SILENT_AFTER_ITEMS = 5;

/**
 * Graft timeouts an item stays GRAFTable past the knowledge base, after an IHAVE batch: a
 * neighbour GRAFTs the first announcer one timeout after the IHAVE, a busy node's late timer
 * waits up to one more, the second announcer is asked one later, and the trips take the rest.
 * Longer costs throughput: holding 2 s of items (10 timeouts), in flood mode too, cut flood's
 * highest sustained step at N = 50 from 2000/s to 1500/s and raised its p99 at 1000/s from
 * 82-120 to 162-197 ms (docs/BENCHMARKS.md: 25 nodes per process keep their items live).
 */
export const GRAFT_HOLD_TIMEOUTS = 3;
/** How often copies waiting for a link's budget (peer_items_per_s) are sent as it refills. */
const PACED_TICK_MS = 20;
/** With ihave_batch_ms = 0, how long IHAVE entries over a link's budget wait to go out together. */
const IHAVE_PACED_MS = 50;

/** How long an item stays GRAFTable past the knowledge base (flood: not at all; nobody GRAFTs it). */
export function graftHoldMs(o: Pick<DisseminationOptions, "mode" | "ihaveBatchMs" | "graftTimeoutMs">): number {
  return o.mode === "flood" ? 0 : o.ihaveBatchMs + GRAFT_HOLD_TIMEOUTS * o.graftTimeoutMs;
}

/** A repair push to make: to how many lazy neighbours, skipping those that announced the item. */
interface RepairPush {
  readonly peers: number;
  readonly announced: readonly Peer[];
}


export class Dissemination {
  readonly stats: DisseminationStats = {
    announced: 0, received: 0, duplicates: 0, delivered: 0, rejected: 0, dropped: 0,
    gossipSent: 0, ihaveSent: 0, graftSent: 0, pruneSent: 0, rateLimited: 0, badIds: 0, queueDropped: 0, paced: 0, graftDeferred: 0, graftMissed: 0,
  };
  private lastQueueDrop = "";
  private lastRateDrop = "";
  private lastPacedDrop = "";
  private readonly queueLog: LogThrottle;
  private readonly pacedLog: LogThrottle;
  private readonly rateLog: LogThrottle;
  private readonly eager = new Set<Peer>();
  private readonly lazy = new Set<Peer>();
  private readonly seen: SeenCache;
  private readonly cache: ItemCache;
  /** Items whose duplicates may prune (see deciders.ts). */
  private readonly deciders: PruneDeciders;
  private readonly missing = new Map<string, Missing>();
  /** Items we sent a GRAFT for and have not received, with the neighbours that announced them. */
  private readonly pulled = new Map<string, Peer[]>();
  private lastRepairPush = -Infinity;
  /** Neighbours whose duplicates of the node's first item wait to prune (see holdPrune). */
  private held: Peer[] = [];
  private heldTimer: Timer | null = null;
  /** When a first copy last came from an eager neighbour (see repairPushFor). */
  private lastTreeCopy = -Infinity;
  /** Neighbours with an IHAVE batch queued, in the order their batches began (see queueIHave). */
  private lazyPeers: Peer[] = [];
  private lazyTimer: Timer | null = null;
  /** Neighbours with copies waiting for their link's budget (see sendGossip). */
  private pacedPeers: Peer[] = [];
  private pacedTimer: Timer | null = null;
  private stopped = false;
  private readonly env: Env;
  /** opts.mode is plumtree (read for every message: a field, not a lookup in opts). */
  private readonly plumtree: boolean;
  private readonly log: Logger;
  /** Per-item debug lines (received, forwarded): checked once, not per item. */
  private readonly debug: boolean;

  constructor(
    private readonly opts: DisseminationOptions,
    private readonly deps: DisseminationDeps,
  ) {
    this.env = deps.env;
    this.plumtree = opts.mode === "plumtree";
    this.deciders = new PruneDeciders(deps.env.now());
    this.log = deps.log;
    this.debug = deps.log.enabled("debug");
    this.seen = new SeenCache(opts.suppressMs, opts.seenMax, deps.env, deps.secret);
    this.cache = new ItemCache(opts.cacheSize, graftHoldMs(opts), opts.graftBufferBytes);
    this.queueLog = new LogThrottle(
      (n) => this.log.warn("item copies dropped: peer send queue full", { peer: this.lastQueueDrop, dropped: n }),
      this.env,
    );
    this.pacedLog = new LogThrottle(
      (n) => this.log.warn("item copies dropped: link at peer_items_per_s", { peer: this.lastPacedDrop, dropped: n }),
      this.env,
    );
    this.rateLog = new LogThrottle(
      (n) => this.log.warn("items dropped: peer over its rate limit", { peer: this.lastRateDrop, dropped: n }),
      this.env,
    );
  }

  get eagerCount(): number {
    return this.eager.size;
  }
  get lazyCount(): number {
    return this.lazy.size;
  }
  isEager(peer: Peer): boolean {
    return this.eager.has(peer);
  }
  /** A neighbour whose loss breaks no tree branch (plumtree: lazy; flood: none is special). */
  expendable(peer: Peer): boolean {
    return !this.plumtree || this.lazy.has(peer);
  }
  /**
   * A neighbour that has sent us no copy of any of the SILENT_AFTER_ITEMS or more items we
   * delivered since its link came up: a black hole, a tree branch that only ever receives from
   * us, or a link lazy at both ends (a refresh link: IHAVEs only). A link that came up before
   * we delivered any item is not judged: the first items build the tree out of the links the
   * overlay formed with, many of them forced in, and evicting the silent ones cut branches of
   * a fresh tree (N = 10,000: p50 240 against 205 ms to the last delivery).
   */
  silent(peer: Peer): boolean {
    return !peer.sentCopy && peer.deliveredAtUp > 0 && this.stats.delivered - peer.deliveredAtUp >= SILENT_AFTER_ITEMS;
  }
  /** Item ids seen lately (the newest `max`), as [key, ms they are still suppressed]: for the state file. */
  seenSnapshot(max: number): Array<[string, number]> {
    return this.seen.snapshot(max);
  }

  /** Ids a previous run of this node had seen: copies of them are not delivered again. Call before start. */
  restoreSeen(entries: ReadonlyArray<readonly [string, number]>): void {
    this.seen.restore(entries);
  }

  /** Sizes of the bounded tables (tests and the simulator check the bounds). */
  get tableSizes(): { seen: number; cache: number; cacheBytes: number; missing: number; lazyQueue: number; deciders: number; paced: number } {
    let paced = 0;
    for (const p of this.pacedPeers) paced += p.paced.length - p.pacedHead;
    return {
      seen: this.seen.size,
      cache: this.cache.size,
      cacheBytes: this.cache.bytes,
      missing: this.missing.size,
      deciders: this.deciders.size,
      // Entries of the list the batch timer walks (a neighbour may be listed twice, see flushAllIHave).
      lazyQueue: this.lazyPeers.length,
      paced,
    };
  }

  /**
   * A new neighbour starts eager (the paper), except a refresh link (`spare`): it exists to
   * keep the overlay whole; starting it eager on every refresh keeps rewiring the tree (the
   * simulator: GRAFTs in 17% of deliveries, time to last delivery x3). If the tree needs it,
   * a GRAFT makes it eager.
   */
  neighborUp(peer: Peer): void {
    peer.deliveredAtUp = this.stats.delivered;
    if (peer.spare && this.plumtree) this.lazy.add(peer);
    else this.eager.add(peer);
    this.offerRecent(peer);
  }

  /**
   * Anti-entropy for new links: Plumtree only repairs along links that existed when an item
   * spread, so an item announced while the overlay was changing (start-up, mass failure)
   * could miss a whole region for good, and so would the other side of a healed partition. A
   * new neighbour is therefore offered what we spread lately (the knowledge base, up to
   * offer_recent_ms back): ids (it GRAFTs what it lacks) or, in flood mode, the items themselves.
   */
  private offerRecent(peer: Peer): void {
    if (this.opts.offerRecentMs === 0) return;
    // At most half of suppress_s back: a peer that had the item still remembers it, so an
    // offer never makes it deliver the item twice.
    const window = Math.min(this.opts.offerRecentMs, this.opts.suppressMs / 2);
    const recent = this.cache.since(this.env.now() - window);
    if (recent.length === 0) return;
    if (!this.plumtree) {
      for (const item of recent) this.sendGossip(peer, item.msg);
      return;
    }
    for (let i = 0; i < recent.length; i += MAX_IHAVE) {
      const entries = recent.slice(i, i + MAX_IHAVE).map((it) => ({ id: it.msg.id, hops: it.msg.hops }));
      if (peer.send({ kind: "ihave", entries })) this.stats.ihaveSent++;
    }
  }

  neighborDown(peer: Peer): void {
    this.eager.delete(peer);
    this.lazy.delete(peer);
    this.dropIHave(peer);
    this.dropPaced(peer);
    for (const [key, m] of this.missing) {
      const i = m.announcers.indexOf(peer);
      if (i >= 0) m.announcers.splice(i, 1);
      if (m.announcers.length === 0 && m.timer === null) this.missing.delete(key);
    }
  }

  /** A local ANNOUNCE: trusted, spread at once. TTL 0 (unlimited) and large TTLs are capped. Returns the item's key. */
  announce(ttl: number, dataType: number, data: Uint8Array): string {
    // A fresh salt per ANNOUNCE: the same data announced again is a new item (a new id).
    const out = ttl === 0 || ttl > this.opts.ttlCap ? this.opts.ttlCap : ttl;
    const msg = gossipItem(this.env.sha256, { salt: this.env.bytes(ITEM_SALT_BYTES), ttl: out, hops: 1, dataType, data });
    const key = idKey(msg.id);
    if (this.stopped) return key;
    const item: StoredItem = { msg, at: this.env.now() };
    this.seen.add(msg.id);
    if (this.plumtree) this.deciders.first(key, msg.id, this.env.now());
    this.cache.add(key, item);
    this.stats.announced++;
    this.log.debug("spreading local item", { item: key, type: dataType, ttl: out });
    this.forward(item, null);
    return key;
  }

  /** A message from an active neighbour, arrived at `now`; false for kinds that are not dissemination's. */
  handle(peer: Peer, msg: P2pMessage, now: number): boolean {
    switch (msg.kind) {
      case "gossip":
        peer.sentCopy = true;
        this.onGossip(peer, msg, now);
        return true;
      case "ihave":
        if (this.plumtree) this.onIHave(peer, msg.entries, now);
        return true;
      case "graft":
        this.setEager(peer);
        for (const key of new Set(msg.ids.map(idKey))) {
          const item = this.cache.get(key);
          if (item) this.sendGossip(peer, item.msg);
          else this.stats.graftMissed++;
        }
        return true;
      case "prune":
        if (this.plumtree) this.setLazy(peer);
        return true;
      default:
        return false;
    }
  }

  stop(): void {
    this.stopped = true;
    this.lazyTimer?.cancel();
    this.heldTimer?.cancel();
    this.held = [];
    for (const m of this.missing.values()) m.timer?.cancel();
    this.missing.clear();
    this.pulled.clear();
    for (const p of this.lazyPeers) this.dropIHave(p);
    this.lazyPeers = [];
    this.pacedTimer?.cancel();
    for (const p of this.pacedPeers) this.dropPaced(p);
    this.pacedPeers = [];
  }

  private onGossip(peer: Peer, msg: Gossip, now: number): void {
    if (!peer.items.take(now)) {
      this.stats.rateLimited++;
      if (this.debug) this.log.debug("item dropped", { item: idKey(msg.id), reason: "rate_limited", from: peer.addr });
      this.lastRateDrop = peer.addr;
      this.rateLog.hit();
      if (!peer.itemSlack.take(now)) this.deps.penalize(peer, Points.rateLimited, "item flood");
      return;
    }
    this.stats.received++;
    if (this.seen.has(msg.id, now)) {
      this.stats.duplicates++;
      // A redundant copy: its link is not needed in the tree for this source. Only a decider
      // says so (deciders.ts): items crossing a cycle at once would each break it elsewhere.
      // Whether or not the sender is eager at our end: it is at its own (it pushed, or the
      // two ends disagree), and only a PRUNE makes it stop.
      if (this.plumtree) {
        const key = idKey(msg.id);
        const v = this.deciders.verdict(key, now);
        if (v === "yes") this.prune(peer);
        else if (v !== "no") this.holdPrune(key, peer, v);
      }
      return;
    }
    // The id must be the hash of the content before it may enter the seen cache: a neighbour
    // that saw the id (in an IHAVE) and sends other data under it first must not suppress the
    // real item. Once per new item; duplicates are dropped above without hashing.
    const key = idKey(msg.id);
    if (!idMatches(this.env.sha256, msg.id, msg.salt, msg.dataType, msg.data)) {
      this.stats.badIds++;
      this.deps.violation(peer, Violation.ItemId, `item id ${key} does not match its salt, type and data`);
      return;
    }
    this.seen.add(msg.id, now);
    const fromTree = this.eager.has(peer);
    const push = this.repairPushFor(key, fromTree, now);
    // The tree works (an answer to our GRAFT does not count: it says the tree was broken).
    if (fromTree && push === null) this.lastTreeCopy = now;
    this.clearMissing(key);
    if (this.plumtree) {
      this.deciders.first(key, msg.id, now);
      this.setEager(peer);
    }
    if (this.debug) this.log.debug("item received", { item: key, type: msg.dataType, from: peer.addr, hops: msg.hops, ttl: msg.ttl });
    // Messages are ours to keep (the Transport contract): no copies.
    const id = msg.id;
    const data = msg.data;
    const ttl = Math.min(msg.ttl, this.opts.ttlCap);
    const hops = msg.hops;
    const salt = msg.salt;
    const dataType = msg.dataType;
    this.deps.validate(dataType, data, (verdict) => {
      if (this.stopped) return;
      if (verdict !== "valid") {
        if (verdict === "invalid") {
          this.stats.rejected++;
          this.deps.penalize(peer, Points.invalidItem, "sent an item local modules judged invalid");
        } else this.stats.dropped++;
        this.log.debug("item not forwarded", { item: key, verdict, from: peer.addr });
        return;
      }
      this.stats.delivered++;
      this.deps.penalize(peer, Points.validItem, "valid item");
      this.deps.onDelivered?.({ key, hops, dataType, data });
      if (this.debug) this.log.debug("item delivered", { item: key, type: dataType, hops, bytes: data.byteLength });
      // TTL 1 reached its last hop here; the hop limit bounds even a lying peer's TTL.
      if (ttl <= 1 || hops >= this.opts.ttlCap) return;
      const item: StoredItem = { msg: { kind: "gossip", id, ttl: ttl - 1, hops: hops + 1, salt, dataType, data }, at: this.env.now() };
      this.cache.add(key, item);
      this.forward(item, peer, push !== null && this.takePushSlot() ? push : null);
    });
  }

  /**
   * Repair push: an item we had to GRAFT means our tree parent is gone or cut off, and so,
   * likely, are the lazy neighbours that hang below us; announcing it to them costs each an
   * IHAVE batch, a GRAFT timeout and a round trip per hop (17 hops, 5.8 s, across the sparse
   * survivors of a 95% crash). So the item also goes in full to the REPAIR_PUSH_PEERS lazy
   * neighbours heard from last that did not announce it (to all that did not, when at most
   * FEW_ANNOUNCERS_SHARE of them did), and those links become eager. A node that gets such a
   * copy (a first copy, unasked, from a lazy neighbour) and no first copy through the tree for
   * REPAIR_PUSH_GAP_MS is likely cut off too, and passes it on the same way to
   * CHAIN_PUSH_PEERS lazy neighbours, so the push crosses a fragment at link speed. Either
   * push at most once per REPAIR_PUSH_GAP_MS (a GRAFT storm of a busy network is not
   * amplified; see takePushSlot). Returns the push this item calls for, or null.
   */
  private repairPushFor(key: string, fromTree: boolean, now: number): RepairPush | null {
    const grafted = this.pulled.get(key);
    if (grafted !== undefined) {
      this.pulled.delete(key);
      return { peers: REPAIR_PUSH_PEERS, announced: grafted };
    }
    if (!this.plumtree || fromTree) return null;
    // Cut off: nothing came first through the tree for a while. A node whose tree works (in a
    // GRAFT storm of a busy network, say) does not push on: that only feeds the storm.
    if (now - this.lastTreeCopy < REPAIR_PUSH_GAP_MS) return null;
    return { peers: CHAIN_PUSH_PEERS, announced: this.missing.get(key)?.heard ?? [] };
  }

  /**
   * Whether a repair push may go now (at most one per REPAIR_PUSH_GAP_MS); taken only by an
   * item that is forwarded, so one that turns out invalid or at its last hop wastes nothing.
   */
  private takePushSlot(): boolean {
    const now = this.env.now();
    if (now - this.lastRepairPush < REPAIR_PUSH_GAP_MS) return false;
    this.lastRepairPush = now;
    return true;
  }

  private forward(item: StoredItem, from: Peer | null, repair: RepairPush | null = null): void {
    const msg = item.msg;
    const now = this.env.now();
    if (this.debug) {
      this.log.debug("item forwarded", { item: idKey(msg.id), eager: this.eager.size - (from && this.eager.has(from) ? 1 : 0), lazy: this.lazy.size });
    }
    if (!this.plumtree) {
      for (const p of this.eager) if (p !== from) this.sendGossip(p, msg, now);
      for (const p of this.lazy) if (p !== from) this.sendGossip(p, msg, now);
      return;
    }
    for (const p of this.eager) if (p !== from) this.sendGossip(p, msg, now);
    if (this.lazy.size === 0) return;
    // One entry, and one IHAVE message, for every lazy neighbour whose batch holds only this
    // item (the usual case below ihave_batch_ms between items): messages are only read, by the
    // transport and by the receiving core.
    const entry: IHaveEntry = { id: msg.id, hops: msg.hops };
    const alone: IHave = { kind: "ihave", entries: [entry] };
    let push: Peer[] = [];
    if (repair !== null) {
      push = [...this.lazy].filter((p) => p !== from && !repair.announced.includes(p));
      push.sort((a, b) => b.lastReceived - a.lastReceived);
      // After a mass crash the dead neighbours were heard from as lately as the live ones:
      // with few announcers, every one that did not announce it.
      if (repair.announced.length > this.lazy.size * FEW_ANNOUNCERS_SHARE) {
        push.length = Math.min(push.length, repair.peers);
      }
      for (const p of push) {
        // It takes the copy as from its tree parent (a first copy makes its sender eager at its
        // end): so do we, or it would get the next items only by IHAVE and GRAFT again.
        this.setEager(p);
        this.sendGossip(p, msg, now);
      }
    }
    for (const p of this.lazy) if (p !== from && !push.includes(p)) this.queueIHave(p, entry, alone);
  }

  private sendGossip(peer: Peer, msg: Gossip, now = this.env.now()): void {
    // A peer that reads slower than we produce (or a module announcing faster than the
    // network carries) must not grow our memory: past the soft limit, copies are dropped.
    if (peer.queuedBytes > this.opts.softQueueBytes) {
      this.stats.queueDropped++;
      if (this.debug) this.log.debug("item copy dropped", { item: idKey(msg.id), reason: "queue_full", to: peer.addr });
      this.lastQueueDrop = peer.addr;
      this.queueLog.hit();
      return;
    }
    // Never more copies a second on one link than a neighbour on our settings accepts: past
    // its peer_items_per_s it would drop them and count them against our score, and a burst
    // from a local module, or the sum of many origins' items at a relay, would get this node
    // banned. A copy over the budget waits for it (in order, behind any that wait already),
    // up to two seconds' worth of copies and the soft queue limit in bytes; past that it is
    // skipped, as for a full queue.
    const waiting = peer.paced.length - peer.pacedHead;
    if (waiting === 0 && peer.outItems.take(now)) {
      if (peer.send(msg, now)) this.stats.gossipSent++;
      return;
    }
    const bytes = msg.data.byteLength + GOSSIP_FIXED;
    if (waiting >= peer.pacedMax || peer.pacedBytes + bytes > this.opts.softQueueBytes) {
      this.stats.paced++;
      if (this.debug) this.log.debug("item copy dropped", { item: idKey(msg.id), reason: "paced", to: peer.addr });
      this.lastPacedDrop = peer.addr;
      this.pacedLog.hit();
      return;
    }
    peer.paced.push(msg);
    peer.pacedBytes += bytes;
    if (waiting === 0) this.pacedPeers.push(peer);
    this.pacedTimer ??= this.env.after(PACED_TICK_MS, () => this.sendPaced());
  }

  /** Sends the copies that wait for their links' budgets, as far as the budgets have refilled. */
  private sendPaced(): void {
    this.pacedTimer = null;
    const now = this.env.now();
    const still: Peer[] = [];
    for (const p of this.pacedPeers) {
      while (p.pacedHead < p.paced.length && p.queuedBytes <= this.opts.softQueueBytes && p.outItems.take(now)) {
        const msg = p.paced[p.pacedHead++]!;
        p.pacedBytes -= msg.data.byteLength + GOSSIP_FIXED;
        if (p.send(msg, now)) this.stats.gossipSent++;
      }
      if (p.pacedHead < p.paced.length) {
        if (p.pacedHead > 1024) {
          p.paced = p.paced.slice(p.pacedHead);
          p.pacedHead = 0;
        }
        still.push(p);
      } else this.dropPaced(p);
    }
    this.pacedPeers = still;
    if (still.length > 0) this.pacedTimer = this.env.after(PACED_TICK_MS, () => this.sendPaced());
  }

  private dropPaced(peer: Peer): void {
    peer.paced = [];
    peer.pacedHead = 0;
    peer.pacedBytes = 0;
  }

  // Only neighbours move between eager and lazy (setLazy): an item that arrives on a link being
  // retired must not make it a neighbour again. Its sender still hears the PRUNE: it may not
  // know yet that the link is going.
  private prune(peer: Peer): void {
    this.setLazy(peer);
    peer.send({ kind: "prune" });
    this.stats.pruneSent++;
  }

  /** A duplicate of the node's first item, before it may prune: decided again at `at`. */
  private holdPrune(key: string, peer: Peer, at: number): void {
    if (this.held.length >= MAX_HELD_PRUNES || this.held.includes(peer)) return;
    this.held.push(peer);
    this.heldTimer ??= this.env.after(at - this.env.now(), () => {
      const peers = this.held;
      this.held = [];
      this.heldTimer = null;
      if (this.stopped || !this.deciders.decides(key, this.env.now())) return;
      for (const p of peers) this.prune(p);
    });
  }

  private setEager(peer: Peer): void {
    if (!this.lazy.delete(peer)) return;
    this.eager.add(peer);
  }

  private setLazy(peer: Peer): void {
    if (!this.eager.delete(peer)) return;
    this.lazy.add(peer);
  }

  /** Adds entry to peer's batch; `alone` is the batch to share while it holds only this entry. */
  private queueIHave(peer: Peer, entry: IHaveEntry, alone: IHave): void {
    let q: IHave;
    const fresh = peer.ihave === null;
    if (fresh) {
      q = peer.ihave = alone;
      peer.ihaveOwn = false;
    } else if (!peer.ihaveOwn) {
      q = peer.ihave = { kind: "ihave", entries: [...peer.ihave!.entries, entry] };
      peer.ihaveOwn = true;
    } else {
      q = peer.ihave!;
      (q.entries as IHaveEntry[]).push(entry);
    }
    if (q.entries.length >= MAX_IHAVE) return this.flushIHave(peer);
    // Without batching an IHAVE goes out per item, unless that would spend more than half of
    // the control messages a second a neighbour on our settings accepts (peer_control_per_s):
    // past that it would drop them and count them against our score. Then the entries wait
    // IHAVE_PACED_MS and go out together.
    if (this.opts.ihaveBatchMs === 0 && fresh && peer.outIHaves.take()) return this.flushIHave(peer);
    // Listed once per batch, for the timer (a batch flushed early when full is listed again).
    if (fresh) this.lazyPeers.push(peer);
    this.lazyTimer ??= this.env.after(this.opts.ihaveBatchMs || IHAVE_PACED_MS, () => this.flushAllIHave());
  }

  private flushAllIHave(): void {
    this.lazyTimer = null;
    const list = this.lazyPeers;
    this.lazyPeers = [];
    // A peer flushed early (a full batch) and queued again is listed twice: its batch goes at
    // the first place, and the second finds nothing.
    for (const p of list) if (p.ihave !== null) this.flushIHave(p);
  }

  private dropIHave(peer: Peer): void {
    peer.ihave = null;
  }

  private flushIHave(peer: Peer): void {
    const q = peer.ihave;
    this.dropIHave(peer);
    if (q !== null && peer.send(q)) this.stats.ihaveSent++;
  }

  private onIHave(peer: Peer, entries: readonly IHaveEntry[], now: number): void {
    for (const e of entries) {
      if (this.seen.has(e.id, now)) continue;
      const key = idKey(e.id);
      let m = this.missing.get(key);
      if (!m) {
        if (this.missing.size >= MAX_MISSING) continue;
        m = { announcers: [], heard: [], timer: null, due: 0, extended: false };
        this.missing.set(key, m);
      }
      if (m.announcers.length < MAX_ANNOUNCERS && !m.announcers.includes(peer)) m.announcers.push(peer);
      if (m.heard.length < MAX_HEARD_ANNOUNCERS && !m.heard.includes(peer)) m.heard.push(peer);
      if (m.timer === null) this.armGraft(m, key, copyOf(e.id), now, this.opts.graftTimeoutMs);
    }
  }

  /** The announced item did not come through the tree in time: pull it from an announcer. */
  private graft(key: string, id: Uint8Array): void {
    const m = this.missing.get(key);
    if (!m || this.stopped) return;
    m.timer = null;
    // A timer that fires late says this node was busy, not that the tree is broken: the copy
    // may be waiting unread in its own sockets, and a GRAFT now would add a second copy to the
    // load that made it late (a node at its limit otherwise GRAFTs for nearly every item).
    // So it waits once more, as long as it was late (at most one timeout), before asking.
    const now = this.env.now();
    const late = now - m.due;
    if (!m.extended && late > this.opts.graftTimeoutMs * GRAFT_LATE_SHARE) {
      m.extended = true;
      this.armGraft(m, key, id, now, Math.min(late, this.opts.graftTimeoutMs));
      this.stats.graftDeferred++;
      return;
    }
    m.extended = false;
    const peer = m.announcers.shift();
    if (!peer) {
      this.missing.delete(key);
      return;
    }
    this.setEager(peer);
    if (!this.pulled.has(key)) {
      this.pulled.set(key, m.heard);
      if (this.pulled.size > MAX_PULLED) this.pulled.delete(this.pulled.keys().next().value!);
    }
    if (peer.send({ kind: "graft", ids: [id] })) this.stats.graftSent++;
    // Keep trying the other announcers until the item arrives (the paper's second timer).
    if (m.announcers.length === 0) this.missing.delete(key);
    else this.armGraft(m, key, id, now, this.opts.graftTimeoutMs);
  }

  /** Starts the GRAFT timer of a missing id: it fires `wait` ms from `now` (m.due). */
  private armGraft(m: Missing, key: string, id: Uint8Array, now: number, wait: number): void {
    m.due = now + wait;
    m.timer = this.env.after(wait, () => this.graft(key, id));
  }

  private clearMissing(key: string): void {
    const m = this.missing.get(key);
    if (!m) return;
    m.timer?.cancel();
    this.missing.delete(key);
  }
}
