// The link table: every link the core knows, in exactly one state.
//
//   handshaking -> pending -> active -> retiring -> closed
//        |            |                    ^
//        +------------+--------------------+   (any state may retire or close)
//
// handshaking: we dialed; the transport is connecting and running the handshake.
// pending:     handshaken; waiting for JOIN/NEIGHBOR (incoming) or NEIGHBOR_REPLY (ours).
// active:      in the active view.
// retiring:    being closed on purpose (replaced, evicted, declined, disconnected); items it
//              still delivers are kept; it is closed for good by a deadline at the latest.
// closed:      the transport said it is gone; the entry leaves the table.
// An entry stays in the table, and counts against every limit, until its link is closed.

import { TokenBucket, refill } from "../util/bucket.ts";
import { addressPrefix } from "./scores.ts";
import type { Gossip, IHave, P2pMessage } from "../wire/p2p.ts";
import type { Env, Timer } from "./env.ts";
import type { Link } from "./transport.ts";

export type PeerState = "handshaking" | "pending" | "active" | "retiring" | "closed";
/**
 * How the link came about: our JOIN or NEIGHBOR dial, a connection to us, or our dial to a
 * joiner's advertised address to check that the joiner answers there (closed once checked).
 */
export type Role = "join" | "neighbor" | "incoming" | "verify";

export interface PeerLimits {
  /** Items (GOSSIP) per second accepted from one peer. */
  readonly itemsPerS: number;
  /** Other messages per second accepted from one peer. */
  readonly controlPerS: number;
  /** A retiring link still open after this long is closed hard. */
  readonly retireMs: number;
}

export class Peer {
  state: PeerState;
  /** When the entry entered its state (the JOIN/NEIGHBOR deadline runs from here). */
  since: number;
  lastReceived: number;
  lastSent: number;
  /** Items (GOSSIP) we accept from it: peer_items_per_s a second (§6.8). */
  readonly items: TokenBucket;
  /**
   * Items over `items` it may cost us without losing score: one second's worth, refilled at a
   * tenth of that a second. A neighbour that paces itself still arrives bunched now and then
   * (the network, or our own busy event loop, held its items back); a flood overruns this at once.
   */
  readonly itemSlack: TokenBucket;
  /** Copies we send it: at most peer_items_per_s a second, what it accepts if it runs our setting. */
  readonly outItems: TokenBucket;
  /** IHAVE messages we send it without batching (ihave_batch_ms 0): half of peer_control_per_s a second. */
  readonly outIHaves: TokenBucket;
  /** Dissemination's: copies waiting for `outItems` (oldest first, from `pacedHead`), and their bytes. */
  paced: Gossip[] = [];
  pacedHead = 0;
  pacedBytes = 0;
  /** At most this many copies wait for `outItems`: two seconds' worth. */
  readonly pacedMax: number;
  // The bucket of control messages (peer_control_per_s) in the peer's own fields, not an
  // object of its own: it is checked for every message but GOSSIP (see takeControl).
  private controlTokens: number;
  private controlLast: number;
  private readonly controlRate: number;
  /** Why it is retiring (for the log line when it closes). */
  deadline: Timer | null = null;
  /**
   * Dialed by refresh, for the overlay's sake rather than to carry items: dissemination starts
   * it lazy (plumtree), so refresh does not keep rewiring the tree.
   */
  spare = false;
  /** Since when its send queue has stayed above the soft limit (null: it is not). */
  queueFullSince: number | null = null;
  /**
   * Dissemination's IHAVE batch for this neighbour (null: none queued): kept on the peer, not
   * in a Map, because every item adds an entry for every lazy neighbour (at degree 30, most of
   * all the work a node does). Shared with other neighbours until `ihaveOwn`.
   */
  ihave: IHave | null = null;
  ihaveOwn = false;
  /** Its advertised address was checked by a dial of ours that found this identity there. */
  proven = false;
  /** We dialed it because a peer named its address (FORWARD_JOIN), not from our own views. */
  learnt = false;
  /** It came in on a high-priority NEIGHBOR that our full active view had to take. */
  forcedIn = false;
  /** Dissemination's: it has sent us a copy of an item (a GOSSIP, not an IHAVE) since the link came up. */
  sentCopy = false;
  /** Dissemination's: how many items we had delivered when the link came up. */
  deliveredAtUp = 0;

  constructor(
    readonly link: Link,
    readonly role: Role,
    state: PeerState,
    /** For links we dialed: the address we dialed, and whether NEIGHBOR asks with high priority. */
    readonly dialed: string | null,
    readonly high: boolean,
    private readonly env: Env,
    limits: PeerLimits,
  ) {
    this.state = state;
    this.since = this.lastReceived = this.lastSent = env.now();
    this.items = new TokenBucket(limits.itemsPerS, env);
    this.itemSlack = new TokenBucket(limits.itemsPerS / 10, env, limits.itemsPerS);
    this.outItems = new TokenBucket(limits.itemsPerS, env);
    this.pacedMax = 2 * limits.itemsPerS;
    this.outIHaves = new TokenBucket(limits.controlPerS / 2, env);
    this.controlRate = this.controlTokens = limits.controlPerS;
    this.controlLast = this.lastReceived;
  }

  /** Takes a token from the control-message bucket; false when it is empty. `now`: the caller's reading of the clock, if it has one. */
  takeControl(now = this.env.now()): boolean {
    const t = refill(this.controlTokens, this.controlLast, this.controlRate, now);
    this.controlLast = now;
    if (t < 1) {
      this.controlTokens = t;
      return false;
    }
    this.controlTokens = t - 1;
    return true;
  }

  get id(): string {
    return this.link.id;
  }
  get addr(): string {
    return this.link.addr;
  }
  /**
   * Whether its advertised address is proven: we dialled that very address and this identity
   * answered (an outbound link whose peer advertises the address we dialled, or a check).
   * An incoming peer's address is only claimed until then.
   */
  get verified(): boolean {
    return this.proven || (this.dialed !== null && this.dialed === this.link.addr);
  }
  get queuedBytes(): number {
    return this.link.queuedBytes;
  }
  private prefix: string | null = null;
  /** The address prefix of where the connection really comes from (view_prefix_limit). */
  get remotePrefix(): string {
    return (this.prefix ??= addressPrefix(this.link.remote));
  }

  /** Sends on the link; `now`: the caller's reading of the clock, if it has one. */
  send(msg: P2pMessage, now = this.env.now()): boolean {
    if (this.state === "closed") return false;
    this.lastSent = now;
    return this.link.send(msg);
  }

  enter(state: PeerState): void {
    this.state = state;
    this.since = this.env.now();
  }
}

/** The live peer entry of a link (what PeerTable.get answers, without touching the table). */
export function peerOf(link: Link): Peer | undefined {
  const p = link.slot;
  return p instanceof Peer && p.link === link && p.state !== "closed" ? p : undefined;
}

export class PeerTable {
  private readonly byLink = new Map<Link, Peer>();

  constructor(
    private readonly env: Env,
    private readonly limits: PeerLimits,
  ) {}

  get size(): number {
    return this.byLink.size;
  }

  add(link: Link, role: Role, state: PeerState, dialed: string | null = null, high = false): Peer {
    const p = new Peer(link, role, state, dialed, high, this.env, this.limits);
    this.byLink.set(link, p);
    link.slot = p;
    return p;
  }

  get(link: Link): Peer | undefined {
    return peerOf(link);
  }

  values(): IterableIterator<Peer> {
    return this.byLink.values();
  }

  count(state: PeerState): number {
    let n = 0;
    for (const p of this.byLink.values()) if (p.state === state) n++;
    return n;
  }

  /**
   * Closes a link on purpose. graceful: `last` (if any) and everything queued before it
   * still reach the peer; the link is closed hard if it has not gone within retireMs.
   */
  retire(p: Peer, reason: string, graceful: boolean, last: P2pMessage | null = null): void {
    if (p.state === "retiring" || p.state === "closed") return;
    if (last) p.send(last);
    p.enter("retiring");
    if (graceful) {
      p.deadline = this.env.after(this.limits.retireMs, () =>
        p.link.close(`${reason}: not closed within ${this.limits.retireMs} ms`, false),
      );
    }
    p.link.close(reason, graceful);
  }

  /** The transport said the link is gone: the entry leaves the table. */
  remove(link: Link): Peer | undefined {
    const p = this.byLink.get(link);
    link.slot = undefined;
    if (!p) return undefined;
    this.byLink.delete(link);
    p.deadline?.cancel();
    p.deadline = null;
    p.state = "closed";
    return p;
  }
}
