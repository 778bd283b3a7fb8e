// Membership (HyParView: Leitao, Pereira, Rodrigues, DSN 2007). A small symmetric active view
// of `degree` handshaken links; a larger passive view of addresses in reserve. Joins travel
// as FORWARD_JOIN random walks; a lost link is replaced from the passive view with a NEIGHBOR
// request (high priority when we have no neighbour left); periodic SHUFFLE walks
// (shuffle.ts) keep the passive view fresh. Links live in one table (peers.ts).
// Time, randomness and connections come only through the Env and Transport seams.

import type { Logger } from "../util/log.ts";
import type { P2pMessage } from "../wire/p2p.ts";
import { Claims } from "./claims.ts";
import { type Env, pickRandom, sample, type Timer } from "./env.ts";
import { type Peer, PeerTable, peerOf } from "./peers.ts";
import { type PeerScores, Points, Violation, addressPrefix, remoteHost } from "./scores.ts";
import { Repair } from "./repair.ts";
import { ARWL, Shuffler } from "./shuffle.ts";
import type { Link, Transport, TransportEvents } from "./transport.ts";
import { PassiveView } from "./views.ts";

export { ARWL };
export { DIAL_BACKOFF_MS, MAX_DECLINED, MAX_DIAL_FAILURES, MAX_FAILURES_KEPT, MAX_HEARD, MAX_JOIN_BACKOFF_MS } from "./repair.ts";
/** Other names of ours remembered (a bootstrapper list names each node at most a few times). */
const MAX_SELF_ALIASES = 16;
/** Passive random walk length: a FORWARD_JOIN at this TTL leaves the joiner in the passive view. */
export const PRWL = 3;
/** Longest wait before asking a peer that keeps declining again. */
export const MAX_DECLINE_BACKOFF_MS = 300_000;
/** Keepalive intervals a neighbour's send queue may stay above the soft limit before it is dropped. */
export const STUCK_QUEUE_INTERVALS = 3;
/** Why a handshaken link that sent no JOIN or NEIGHBOR (or no reply) in time is closed. */
const NO_JOIN_OR_NEIGHBOR = "no JOIN or NEIGHBOR after the handshake";
export interface MembershipOptions {
  /** Peers to join through (none: we are the first peer). */
  readonly bootstrappers: readonly string[];
  readonly degree: number;
  readonly passiveSize: number;
  readonly keepaliveMs: number;
  readonly shuffleIntervalMs: number;
  /** A handshaken link that sends no JOIN/NEIGHBOR (or reply) within this is dropped. */
  readonly handshakeTimeoutMs: number;
  readonly itemsPerS: number;
  readonly controlPerS: number;
  /** Entries per view sharing an address prefix; 0: no limit. */
  readonly viewPrefixLimit: number;
  /** A full active view swaps one neighbour for a passive peer this often; 0: never. */
  readonly refreshIntervalMs: number;
  /** Send-queue bytes above which dissemination drops item copies; a neighbour stuck above it is dropped. */
  readonly softQueueBytes: number;
  /**
   * Scores and bans also hold against the source IP of a peer's connection. Off where one IP
   * is many peers (max_conns_per_ip = 0: a local network on 127.0.0.1, a NAT).
   */
  readonly banSourceIp: boolean;
}

/** What membership tells dissemination. `message` returns false for kinds it does not know. */
export interface NeighbourHooks {
  neighborUp(peer: Peer): void;
  neighborDown(peer: Peer): void;
  /** A message from the peer, which arrived at `now` (membership's reading of the clock). */
  handle(peer: Peer, msg: P2pMessage, now: number): boolean;
  /** Whether losing this neighbour costs dissemination little (plumtree: a lazy link, not a tree branch). */
  expendable(peer: Peer): boolean;
  /** Whether the neighbour has sent us no copy of any item (GOSSIP) while we delivered several since its link came up (after our first item). */
  silent(peer: Peer): boolean;
}

export interface MembershipDeps {
  readonly env: Env;
  readonly transport: Transport;
  readonly scores: PeerScores;
  readonly log: Logger;
  readonly hooks: NeighbourHooks;
}

/**
 * HyParView over the transport. It is the transport's event sink itself (established,
 * message, closed, violated), and dissemination is its NeighbourHooks: a message reaches its
 * handler through no closure, which at 10,000 simulated nodes saves a cache miss or two per
 * message (docs/SIMULATION.md, "Speed").
 */
export class Membership implements TransportEvents {
  /** The active view, by peer identity. */
  readonly active = new Map<string, Peer>();
  private activeList: Peer[] | null = null;
  /** The active view, by advertised address. */
  private readonly activeAddrs = new Map<string, Peer>();
  readonly passive: PassiveView;
  readonly peers: PeerTable;
  /** Dials in flight (handshaking or awaiting their reply), by the address dialed. */
  private readonly dialing = new Map<string, Peer>();
  /** Addresses we have not proven: JOIN checks, claimed passive entries, walk dials. */
  private readonly claims: Claims;
  private readonly shuffler: Shuffler;
  private timers: Timer[] = [];
  private refreshTimer: Timer | null = null;
  /** When the last tick ran (or the node started). */
  private lastTick = 0;
  private readonly repair: Repair;
  private stopped = false;
  private selfAddr = "";
  /** Other names of ours that dials found us at (at most MAX_SELF_ALIASES, first ones kept). */
  private readonly aliases = new Set<string>();
  private readonly env: Env;
  private readonly hooks: NeighbourHooks;
  private readonly log: Logger;

  constructor(
    private readonly opts: MembershipOptions,
    private readonly deps: MembershipDeps,
  ) {
    this.env = deps.env;
    this.hooks = deps.hooks;
    this.log = deps.log;
    this.passive = new PassiveView(opts.passiveSize, deps.env, addressPrefix);
    this.claims = new Claims(deps.env, deps.log, (a) => this.passive.has(a), opts.passiveSize);
    this.peers = new PeerTable(deps.env, {
      itemsPerS: opts.itemsPerS,
      controlPerS: opts.controlPerS,
      retireMs: 3 * opts.keepaliveMs,
    });
    this.repair = new Repair(
      {
        env: deps.env,
        log: deps.log,
        degree: opts.degree,
        passiveSize: opts.passiveSize,
        shuffleIntervalMs: opts.shuffleIntervalMs,
        bootstrappers: opts.bootstrappers,
        passive: this.passive,
        isSelf: (a) => this.isSelf(a),
        stopped: () => this.stopped,
        activeSize: () => this.active.size,
        isActive: (a) => this.activeAddrs.has(a),
        isDialing: (a) => this.dialing.has(a),
        dialsInFlight: () => this.dialsInFlight(),
        joinInFlight: () => {
          for (const p of this.peers.values()) if (p.role === "join" && p.state !== "retiring") return true;
          return false;
        },
        dial: (a, role, high, spare) => this.dial(a, role, high, spare),
        crowding: () => this.crowding(),
      },
      this.tickMs,
    );
    this.shuffler = new Shuffler({
      env: deps.env,
      selfAddr: () => this.selfAddr,
      activePeers: () => this.activePeers(),
      // Passive addresses held only on an incoming peer's word are not passed on.
      passiveSample: (n) => sample(this.env, this.claims.passable(this.passive.list()), n),
      integrate: (addrs, evictFirst) => {
        for (const a of addrs) this.addPassive(a, evictFirst);
      },
      heard: (addrs) => this.repair.heard(addrs),
    });
  }

  private get tickMs(): number {
    return Math.min(this.opts.keepaliveMs, 1000);
  }

  /**
   * Starts the transport, then joins through the bootstrapper (if any). `known`: peers a
   * previous run of this node knew (its state file): they fill the passive view and the node
   * joins through one of them, so a restarted node finds its network again even when its
   * bootstrapper is gone, or when it is the first peer and has none.
   */
  start(known: readonly string[] = []): void {
    this.selfAddr = this.deps.transport.start(this);
    this.lastTick = this.env.now();
    this.timers.push(this.env.every(this.tickMs, () => this.tick()));
    this.timers.push(this.env.every(this.opts.shuffleIntervalMs, () => this.shuffle()));
    if (this.opts.refreshIntervalMs > 0) this.armRefresh();
    for (const a of known) if (this.passive.size < this.opts.passiveSize) this.addPassive(a);
    if (this.passive.size > 0) this.repair.joinKnown();
    else this.repair.maybeRejoin();
  }

  /** Addresses worth keeping across a restart (the state file): neighbours, then the passive view, then remembered ones. */
  knownPeers(max: number): string[] {
    const out = new Set<string>();
    for (const p of this.active.values()) out.add(p.addr);
    for (const a of this.passive.list()) out.add(a);
    for (const a of this.repair.rememberedAll()) out.add(a);
    out.delete(this.selfAddr);
    out.delete("");
    return [...out].filter((a) => !this.deps.scores.isBanned(a)).slice(0, max);
  }

  /**
   * Refresh at a random point of each interval (0.5-1.5 x refresh_interval_ms): nodes started
   * together must not all swap a link in the same second (the simulator showed the burst
   * tripling plumtree's tree depth).
   */
  private armRefresh(): void {
    const ms = this.opts.refreshIntervalMs * (0.5 + this.env.random());
    this.refreshTimer = this.env.after(ms, () => {
      this.repair.refresh();
      if (!this.stopped) this.armRefresh();
    });
  }

  get address(): string {
    return this.selfAddr;
  }

  /** The active view as an array (shared: callers must not change it). */
  activePeers(): readonly Peer[] {
    return (this.activeList ??= [...this.active.values()]);
  }

  /** Sizes of the bounded tables (tests and the simulator check the bounds). */
  get tableSizes(): { links: number; dialing: number; checking: number; declined: number; failures: number; heard: number; routes: number; walks: number } {
    return { links: this.peers.size, dialing: this.dialing.size, checking: this.claims.checks, ...this.repair.sizes, ...this.shuffler.sizes };
  }

  /**
   * Stops: no more dials, timers or accepted connections. graceful (a leave): every neighbour
   * is sent DISCONNECT, so it replaces us at once instead of after a keepalive timeout, and its
   * link is closed once that is flushed; other links close at once. A later stop() without
   * graceful closes whatever is still open.
   */
  stop(graceful = false): void {
    if (this.stopped) {
      if (!graceful) for (const p of [...this.peers.values()]) p.link.close("node stopped", false);
      return;
    }
    this.stopped = true;
    this.deps.transport.stop();
    for (const t of this.timers) t.cancel();
    this.refreshTimer?.cancel();
    if (graceful && this.active.size > 0) this.log.info("leaving: telling neighbours", { active: this.active.size });
    for (const p of [...this.peers.values()]) {
      if (graceful && p.state === "active") this.peers.retire(p, "node leaving", true, { kind: "disconnect" });
      else this.peers.retire(p, "node shutting down", false);
    }
  }

  // --- links ---

  private dial(addr: string, role: "join" | "neighbor", high = false, spare = false, learnt = false): void {
    if (this.stopped || this.isSelf(addr) || this.dialing.has(addr) || this.activeByAddr(addr)) return;
    const link = this.deps.transport.dial(addr, learnt ? "walk" : "own");
    const p = this.peers.add(link, role, "handshaking", addr, high);
    p.spare = spare;
    p.learnt = learnt;
    this.dialing.set(addr, p);
  }

  established(link: Link): void {
    if (this.stopped) return link.close("node stopped", false);
    let p = this.peers.get(link);
    if (!p) {
      if (link.initiator) return link.close("unknown dial", false);
      p = this.peers.add(link, "incoming", "pending");
    } else {
      if (p.role === "verify") return this.addressChecked(p);
      p.enter("pending"); // the JOIN/NEIGHBOR deadline runs from here
      p.lastReceived = this.env.now(); // a finished handshake is a sign of life
    }
    this.log.debug("handshake done", { peer: link.id.slice(0, 16), addr: link.addr });
    if (p.role === "join") {
      p.send({ kind: "join" });
      this.activate(p);
    } else if (p.role === "neighbor") {
      p.send({ kind: "neighbor", high: p.high });
    }
  }

  /**
   * Our dials in flight (waiting, connecting, handshaking or awaiting their reply), which
   * refill and rejoin wait for; but not a dial a walk asked for (section 5.4) while the
   * transport still holds it back. Any neighbour can send walks naming addresses that accept
   * and stay silent, and such dials queue up behind the few the transport runs at once
   * (TCP: 2); counting the queued ones let a neighbour stop our refill and rejoin for as long
   * as it liked. Started ones still count: not counting walk dials at all made nodes of a
   * joining overlay dial past their degree and churn (the simulator: RMR 5.5 against < 0.5).
   */
  private dialsInFlight(): number {
    let n = 0;
    for (const p of this.dialing.values()) if (!(p.learnt && p.link.waiting)) n++;
    return n;
  }

  /** Our dial is over (its link activated, declined or closed): another may follow. */
  private dialDone(p: Peer): void {
    if (p.dialed !== null && this.dialing.get(p.dialed) === p) this.dialing.delete(p.dialed);
  }

  /**
   * Puts a link in the active view; resolves duplicate links between the same two peers.
   * `accepted` runs once the link is in, before dissemination hears of it (which may send at
   * once): a NEIGHBOR_REPLY must be the first thing the dialer reads on its new link.
   */
  private activate(p: Peer, accepted?: () => void): boolean {
    this.dialDone(p);
    const existing = this.active.get(p.id);
    if (existing && existing !== p) {
      // Both ends keep the link whose tie-break value is smaller: the two ends of one link
      // share it, so they agree whoever dialed and in whatever order the links came up.
      // Closed gracefully: items the peer already sent on the losing link still arrive.
      if (p.link.tieBreak >= existing.link.tieBreak) {
        this.peers.retire(p, "duplicate link", true);
        return false;
      }
      this.removeActive(existing);
      this.peers.retire(existing, "replaced by a newer link", true);
    }
    if (this.active.size >= this.opts.degree) this.evictFor(p);
    this.active.set(p.id, p);
    this.activeList = null;
    this.activeAddrs.set(p.addr, p);
    p.enter("active");
    this.passive.delete(p.addr);
    if (p.verified) this.claims.proven(p.addr);
    this.repair.activated(p.addr, p.dialed);
    this.log.info("neighbour up", { peer: p.id.slice(0, 16), addr: p.addr, active: this.active.size });
    accepted?.();
    this.hooks.neighborUp(p);
    return true;
  }

  private removeActive(p: Peer): void {
    if (this.active.get(p.id) !== p) return;
    this.active.delete(p.id);
    this.activeList = null;
    if (this.activeAddrs.get(p.addr) === p) this.activeAddrs.delete(p.addr);
    this.shuffler.forget(p);
    this.hooks.neighborDown(p);
    this.log.info("neighbour down", { peer: p.id.slice(0, 16), addr: p.addr, active: this.active.size });
  }

  /**
   * Makes room for `p` by evicting a random neighbour. Prefix diversity is preferred, never
   * required (a LAN whose hosts share one /24 must still fill its views): while a prefix has
   * more than view_prefix_limit neighbours, the victim comes from such a crowded prefix, and a
   * newcomer that would crowd its own prefix replaces one of that prefix. So one host posing
   * as many identities fills only what nobody else wants, and gives it up as soon as peers
   * from other prefixes come. Prefixes are those of the connection's real source, not of the
   * address a peer claims. Among the candidates, one that forced its way in (a high-priority
   * NEIGHBOR into our full view) and has sent us no item since goes first: that is how a black
   * hole takes a place, and it now takes another black hole's rather than that of a neighbour
   * that carries items (without it, 30% hostile nodes that ask in with high priority left
   * 14-18 of 700 honest nodes eclipsed within five minutes; docs/SIMULATION.md, experiment
   * 5). Next, one dissemination can spare: a plumtree tree branch lost means GRAFT repairs
   * and longer branches (the simulator showed refresh churn tripling the time to last
   * delivery when any link could go).
   */
  private evictFor(p: Peer): void {
    const all = this.activePeers();
    let pool: readonly Peer[] = all;
    const limit = this.opts.viewPrefixLimit;
    if (limit > 0) {
      const counts = new Map<string, number>();
      for (const x of all) counts.set(x.remotePrefix, (counts.get(x.remotePrefix) ?? 0) + 1);
      const crowded = all.filter((x) => counts.get(x.remotePrefix)! > limit);
      if (crowded.length > 0) pool = crowded;
      else if ((counts.get(p.remotePrefix) ?? 0) >= limit) pool = all.filter((x) => x.remotePrefix === p.remotePrefix);
    }
    let spare = pool.filter((x) => x.forcedIn && this.hooks.silent(x));
    if (spare.length === 0) spare = pool.filter((x) => this.hooks.expendable(x));
    const victim = pickRandom(this.env, spare.length > 0 ? spare : pool);
    if (!victim) return;
    this.removeActive(victim);
    this.keep(victim);
    this.peers.retire(victim, "evicted to make room", true, { kind: "disconnect" });
  }

  /** Whether addr is ours: the address we advertise, or another name a dial found us at. */
  private isSelf(addr: string): boolean {
    return addr === this.selfAddr || this.aliases.has(addr);
  }

  /**
   * Our dial to addr reached ourselves (the peer had our identity): addr is another name of
   * ours. It is never dialled again, leaves the passive view and is skipped in the bootstrapper
   * list, where dialling it backed off and retried for ever.
   */
  private reachedSelf(addr: string): void {
    if (this.aliases.size < MAX_SELF_ALIASES) this.aliases.add(addr);
    this.passive.delete(addr);
    this.log.info("an address that reaches this node itself: not dialled again", { addr });
    if (this.stopped) return;
    this.repair.refill();
    this.repair.maybeRejoin();
  }

  closed(link: Link, reason: string): void {
    const p = this.peers.get(link);
    if (!p) return;
    const was = p.state;
    this.peers.remove(link);
    if (p.role === "verify") return this.checkEnded(p, was, reason);
    this.dialDone(p);
    if (link.reachedSelf && p.dialed !== null) return this.reachedSelf(p.dialed);
    if (p.dialed !== null && was === "handshaking") this.repair.dialFailed(p.dialed);
    else if (p.dialed !== null && was === "pending" && this.hungUp(p, reason)) this.repair.declinedBy(p.dialed);
    // A dial a walk asked for that was handshaken but got no neighbour (refused, no reply):
    // not dialled for a walk again soon.
    if (p.learnt && was === "pending") this.claims.hold(p.dialed!);
    const wasActive = this.active.get(p.id) === p;
    if (wasActive) {
      this.removeActive(p);
      // A neighbour lost without a goodbye may be back soon (a restart, a healed cut): keep
      // its address in reserve; failed dials to it back off, and enough of them drop it.
      if (!this.deps.scores.isBanned(p.id)) this.keep(p);
    }
    if (was !== "retiring") {
      const fields = { peer: p.id.slice(0, 16), addr: p.addr || p.dialed || link.remote, reason };
      // A lost neighbour and an unreachable bootstrapper are worth seeing; a dial to an
      // address from the passive view failing is routine (it leaves the view), and the
      // transport reports failed handshakes itself.
      if (wasActive) this.log.info("link closed", fields);
      else if (was === "handshaking" && p.role === "join") this.log.warn("cannot reach the bootstrapper", fields);
      else if (was === "handshaking") this.log.debug("dial failed", fields);
      else this.log.debug("link closed", fields);
    }
    if (this.stopped) return;
    if (wasActive) this.repair.refill();
    if (p.role === "join" && was !== "retiring") this.repair.maybeRejoin();
    if (p.role === "neighbor" && !wasActive) this.repair.refill();
  }

  /**
   * Whether our NEIGHBOR dial, handshaken, closed before its reply because the peer hung up (or
   * the connection broke): that counts as a decline (section 5.9: not asked again before
   * shuffle_interval_ms, then at doubling gaps), not as a failed dial, since a live peer may
   * do it for a reason of its own (our NEIGHBOR lost, its deadline passed) and a failed dial
   * would soon drop it from the passive view (with message loss, the fuzzer's seed 137 cut a
   * node off that way). Without it refill redialled such a peer at once, about 40 times a
   * second (a proof of work each). Not when we gave up waiting for the reply ourselves (that
   * paces the dials by handshake_timeout_ms already), and not when we hold another link to
   * that identity: the peer then retired the loser of a duplicate-link race (section 5.11),
   * and backing off would hold a neighbour's address back for nothing.
   */
  private hungUp(p: Peer, reason: string): boolean {
    if (p.role !== "neighbor" || reason === NO_JOIN_OR_NEIGHBOR) return false;
    for (const x of this.peers.values()) if (x.id === p.id && x.state !== "handshaking") return false;
    return true;
  }

  private activeByAddr(addr: string): Peer | undefined {
    return this.activeAddrs.get(addr);
  }

  /**
   * Keeps a lost or evicted neighbour's address in reserve. An incoming peer's advertised
   * address is only claimed (not Peer.verified): we may dial it ourselves, but it is not passed
   * on to other nodes until a dial of ours proves it.
   */
  private keep(p: Peer): void {
    this.addPassive(p.addr);
    if (!p.verified && this.passive.has(p.addr)) this.claims.claim(p.addr);
  }

  private addPassive(addr: string, evictFirst: readonly string[] = []): void {
    if (!addr || this.isSelf(addr) || this.activeByAddr(addr) || this.deps.scores.isBanned(remoteHost(addr))) return;
    // A prefix at its limit gets more entries only while the view has room; a full view
    // makes room from its most crowded prefix first (PassiveView.add).
    const limit = this.opts.viewPrefixLimit;
    const full = this.passive.size >= this.passive.capacity;
    if (limit > 0 && full && !this.passive.has(addr) && this.passive.countPrefix(addressPrefix(addr)) >= limit) return;
    this.passive.add(addr, evictFirst, limit);
  }

  /** Tells whether a neighbour at an address would add to a prefix the active view already holds view_prefix_limit of. */
  private crowding(): (addr: string) => boolean {
    const limit = this.opts.viewPrefixLimit;
    if (limit === 0) return () => false;
    const counts = new Map<string, number>();
    for (const x of this.active.values()) counts.set(x.remotePrefix, (counts.get(x.remotePrefix) ?? 0) + 1);
    return (addr) => (counts.get(addressPrefix(addr)) ?? 0) >= limit;
  }

  /**
   * Lowers a peer's score (its identity's and, where IPs are peers, its source IP's: never its
   * advertised address, which is only claimed); at the ban threshold it is disconnected.
   */
  penalize(p: Peer, points: number, why: string): void {
    if (!p.id) return;
    const ip = this.opts.banSourceIp ? remoteHost(p.link.remote) : "";
    if (!this.deps.scores.adjust(p.id, ip, points)) return;
    this.log.warn("peer banned", { peer: p.id.slice(0, 16), addr: p.addr, remote: p.link.remote, why });
    // Closed for cause, not retired: its loss is repaired like any lost neighbour's.
    p.link.close(`banned: ${why}`, false);
  }

  /** Closes a link whose peer provably broke the protocol: a log line with a stable code, and the score. */
  violation(p: Peer, code: Violation, why: string): void {
    // Named like the transport's own violation lines (decoding errors): link=N remote=HOST:PORT.
    this.log.warn("protocol violation, closing peer link", { link: p.link.num || undefined, remote: p.link.remote, code, why, peer: p.id.slice(0, 16), addr: p.addr });
    this.penalize(p, Points.protocolViolation, why);
    p.link.close(`protocol violation: ${why}`, false);
  }

  /** Closes a link for a message that is not allowed in its state (ERR_STATE). */
  private unexpected(p: Peer, msg: P2pMessage, where: string): void {
    this.violation(p, Violation.State, `unexpected ${msg.kind} ${where}`);
  }

  // --- messages ---

  violated(link: Link, why: string): void {
    const p = this.peers.get(link);
    if (p) this.penalize(p, Points.protocolViolation, why);
  }

  message(link: Link, msg: P2pMessage): void {
    const p = peerOf(link);
    if (!p) return;
    const now = this.env.now();
    p.lastReceived = now;
    if (msg.kind !== "gossip" && !p.takeControl(now)) {
      // Flooding with control messages: drop, and let the score decide when to cut the peer.
      this.penalize(p, Points.rateLimited, "control message flood");
      return;
    }
    // Keepalives are answered on a link in any state (a sign of life is a sign of life).
    if (msg.kind === "ping") {
      p.send({ kind: "pong" });
      return;
    }
    if (msg.kind === "pong") return;
    switch (p.state) {
      case "active":
        if (this.hooks.handle(p, msg, now)) return;
        return this.onActiveMessage(p, msg);
      case "pending":
        if (p.role === "incoming" && msg.kind === "join") return this.onJoin(p);
        if (p.role === "incoming" && msg.kind === "neighbor") return this.onNeighbor(p, msg.high);
        if (p.role === "neighbor" && msg.kind === "neighbor_reply") return this.onNeighborReply(p, msg.accepted);
        return this.unexpected(p, msg, `on a pending ${p.role} link`);
      case "retiring":
        // A link we evicted, declined or replaced may still deliver what the peer sent before
        // it knew: items are kept (they may be all some part of the network gets), the rest
        // ignored.
        if (msg.kind === "gossip") this.hooks.handle(p, msg, now);
        return;
      default:
        return this.unexpected(p, msg, `on a ${p.state} link`);
    }
  }

  private onActiveMessage(p: Peer, msg: P2pMessage): void {
    switch (msg.kind) {
      case "forward_join":
        return this.onForwardJoin(p, msg.ttl, msg.peer.addr);
      case "disconnect":
        // The peer left (or evicted us to make room): it stays in reserve, since it may come
        // back. A peer that left refuses the connection while it is down, and the failed dial
        // backs off; keeping a peer that evicted us out of reach instead (a back-off of
        // shuffle_interval_ms) made the simulator's trees twice as deep: RMR 0.003 -> 0.22.
        this.removeActive(p);
        this.keep(p);
        this.peers.retire(p, "peer disconnected us", false);
        this.repair.refill();
        return;
      case "shuffle":
        return this.shuffler.onShuffle(p, msg);
      case "shuffle_reply":
        return this.shuffler.onReply(p, msg.id, msg.peers);
      default:
        return this.unexpected(p, msg, "on an active link");
    }
  }

  private onJoin(p: Peer): void {
    if (!this.activate(p)) return;
    this.checkAddress(p);
  }

  /**
   * FORWARD_JOIN walks make distant nodes dial the joiner's address and put it in their
   * passive views, so they go out only for an address proven to be the joiner's: we dial it
   * ourselves first (one check per address at a time), and the walks follow if the identity
   * that answers is the joiner's (section 5.3). A joiner cannot aim the network at someone
   * else's address; the check costs us one handshake per JOIN, which cost the joiner one.
   */
  private checkAddress(joiner: Peer): void {
    const addr = joiner.addr;
    if (joiner.verified) return this.forwardJoin(joiner);
    if (this.isSelf(addr) || !this.claims.startCheck(addr, joiner)) {
      this.log.debug("joiner's address not checked: no walks", { peer: joiner.id.slice(0, 16), addr });
      return;
    }
    this.peers.add(this.deps.transport.dial(addr, "check"), "verify", "handshaking", addr);
  }

  private forwardJoin(joiner: Peer): void {
    for (const other of this.active.values()) {
      if (other !== joiner) other.send({ kind: "forward_join", ttl: ARWL, peer: { addr: joiner.addr } });
    }
  }

  /** A check's dial is handshaken: the walks go out if the joiner answered; the link is closed either way. */
  private addressChecked(p: Peer): void {
    const addr = p.dialed!;
    const joiner = this.claims.endCheck(addr);
    if (joiner && joiner.id === p.id) {
      joiner.proven = true;
      this.log.debug("joiner's address verified", { peer: joiner.id.slice(0, 16), addr });
      this.forwardJoin(joiner);
    } else if (joiner) {
      this.log.info("joiner's address not verified: another identity answers there, no walks", { peer: joiner.id.slice(0, 16), addr, answered: p.id.slice(0, 16) });
    }
    this.peers.retire(p, "address checked", true);
  }

  /** A check's link is gone; if before its handshake ended, the address is not the joiner's (or not reachable). */
  private checkEnded(p: Peer, was: Peer["state"], reason: string): void {
    if (was !== "handshaking") return;
    const joiner = this.claims.endCheck(p.dialed!);
    this.log.debug("joiner's address not verified: no walks", { peer: joiner?.id.slice(0, 16), addr: p.dialed, reason });
  }

  private onNeighbor(p: Peer, high: boolean): void {
    const reply = (accepted: boolean) => p.send({ kind: "neighbor_reply", accepted });
    p.forcedIn = high && this.active.size >= this.opts.degree;
    const ok = (high || this.active.size < this.opts.degree) && this.activate(p, () => reply(true));
    if (ok) return;
    reply(false);
    this.peers.retire(p, "neighbour request declined", true);
  }

  private onNeighborReply(p: Peer, accepted: boolean): void {
    if (accepted && this.activate(p)) return;
    this.dialDone(p);
    this.keep(p);
    this.repair.declinedBy(p.addr);
    this.peers.retire(p, "neighbour request declined", true);
  }

  private onForwardJoin(from: Peer, ttl: number, addr: string): void {
    if (this.isSelf(addr)) return;
    const walkOn = this.activePeers().filter((x) => x !== from && x.addr !== addr);
    if (ttl === 0 || walkOn.length === 0) return this.dialLearnt(addr);
    if (ttl === PRWL) this.addPassive(addr);
    pickRandom(this.env, walkOn)!.send({ kind: "forward_join", ttl: Math.min(ttl, ARWL) - 1, peer: { addr } });
  }

  /**
   * Whether an active neighbour's send queue has stayed above the soft limit for
   * STUCK_QUEUE_INTERVALS keepalive intervals. Past that limit dissemination drops every item
   * copy for it, and keepalive only watches what it sends: a peer that stopped reading but
   * keeps sending PINGs would otherwise stay a neighbour for good, receiving nothing.
   */
  private stuck(p: Peer, now: number): boolean {
    if (p.queuedBytes <= this.opts.softQueueBytes) {
      p.queueFullSince = null;
      return false;
    }
    p.queueFullSince ??= now;
    return now - p.queueFullSince > STUCK_QUEUE_INTERVALS * this.opts.keepaliveMs;
  }

  /** Drops a neighbour that does not read, and replaces it; its address is not kept in reserve. */
  private dropStuck(p: Peer, now: number): void {
    const ms = Math.round(now - p.queueFullSince!);
    this.log.warn("neighbour dropped: not reading", { peer: p.id.slice(0, 16), addr: p.addr, queued: p.queuedBytes, ms });
    this.removeActive(p);
    this.peers.retire(p, `not reading: send queue above ${this.opts.softQueueBytes} bytes for ${ms} ms`, false);
    this.repair.refill();
  }

  /**
   * A walk that ends here asks us to dial an address we only heard of, and any neighbour can
   * send one naming anybody (section 5.4). Such dials are bounded: one at a time per address,
   * none while the address's failed dials back off (repair.ts) or for LEARNT_HOLD_MS after a
   * handshaken one got no neighbour, and LEARNT_DIALS_PER_S in all; a walk beyond those ends
   * without a dial.
   */
  private dialLearnt(addr: string): void {
    if (this.activeByAddr(addr) || this.dialing.has(addr) || this.repair.backingOff(addr)) return;
    if (this.claims.mayDial(addr)) this.dial(addr, "neighbor", true, false, true);
  }

  private shuffle(): void {
    if (!this.stopped) this.shuffler.start();
  }

  private tick(): void {
    const now = this.env.now();
    const silent = 3 * this.opts.keepaliveMs;
    // A tick much later than due means this process was stalled (SIGSTOP, a paused VM, a
    // long pause): what peers sent meanwhile is still unread, and timers run before reads on
    // resume. The stall is not the peers' silence: it is credited to every link.
    const stalled = now - this.lastTick - this.tickMs;
    this.lastTick = now;
    if (stalled > this.tickMs) {
      const line = "resumed after a stall: keepalive deadlines moved on";
      if (stalled >= this.opts.keepaliveMs) this.log.info(line, { stalledMs: Math.round(stalled) });
      else this.log.debug(line, { stalledMs: Math.round(stalled) });
      for (const p of this.peers.values()) p.lastReceived = Math.min(now, p.lastReceived + stalled);
    }
    for (const p of [...this.peers.values()]) {
      // A link in its handshake has the transport's deadline (the joiner may be solving work);
      // a retiring one has its own.
      if (p.state !== "pending" && p.state !== "active") continue;
      if (now - p.lastReceived > silent) {
        p.link.close(`keepalive timeout: silent for ${Math.round(now - p.lastReceived)} ms`, false);
      } else if (p.state === "pending" && now - p.since > this.opts.handshakeTimeoutMs) {
        p.link.close(NO_JOIN_OR_NEIGHBOR, false);
      } else if (p.state === "active" && this.stuck(p, now)) {
        this.dropStuck(p, now);
      } else if (p.state === "active" && now - p.lastSent >= this.opts.keepaliveMs) {
        p.send({ kind: "ping" });
      }
    }
    if (this.active.size < this.opts.degree) this.repair.refill();
    this.repair.maybeRejoin();
  }
}
