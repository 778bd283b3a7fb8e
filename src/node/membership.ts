// Membership (HyParView: Leitao, Pereira, Rodrigues, DSN 2007). A small symmetric active view
// of `degree` open, handshaken links; a larger passive view of addresses in reserve. Joins
// travel as FORWARD_JOIN random walks; a lost link is replaced from the passive view with a
// NEIGHBOR request (high priority when we have no neighbour left); periodic SHUFFLE walks
// keep the passive view fresh, their replies routed back along the walk's path.

import { randomBytes } from "node:crypto";
import { parseAddress } from "../config/address.ts";
import type { Hostkey } from "../config/hostkey.ts";
import type { Conn } from "../net/conn.ts";
import { connect, listen, type Listener } from "../net/tcp.ts";
import type { Logger } from "../util/log.ts";
import { MAX_SHUFFLE_ENTRIES, type P2pMessage, type PeerRef, type Shuffle } from "../wire/p2p.ts";
import { PeerLink } from "./link.ts";
import { PeerScores, Points, addressPrefix, remoteHost } from "./scores.ts";
import { PassiveView, pickRandom, sample } from "./views.ts";

/** Active and passive random walk lengths (the paper's values). */
export const ARWL = 6;
export const PRWL = 3;
const SHUFFLE_ACTIVE = 3;
const SHUFFLE_PASSIVE = 4;
const MAX_SHUFFLE_STATE = 1024;

export interface MembershipOptions {
  readonly listenHost: string;
  readonly listenPort: number;
  readonly bootstrapper: string | null;
  readonly degree: number;
  readonly passiveSize: number;
  readonly keepaliveMs: number;
  readonly shuffleIntervalMs: number;
  readonly handshakeTimeoutMs: number;
  readonly maxHandshakes: number;
  readonly sendBufferBytes: number;
  readonly itemsPerS: number;
  readonly controlPerS: number;
  /** Per source IP, at once; 0: no limit. */
  readonly maxConnsPerIp: number;
  /** Entries per view sharing an address prefix; 0: no limit. */
  readonly viewPrefixLimit: number;
  readonly scores: PeerScores;
  readonly powBits: number;
  readonly hostkey: Hostkey;
  readonly log: Logger;
  /** Dissemination hooks. `message` returns false for messages it does not know. */
  readonly up: (link: PeerLink) => void;
  readonly down: (link: PeerLink) => void;
  readonly message: (link: PeerLink, msg: P2pMessage) => boolean;
}

type Role = "incoming" | "join" | "neighbor" | "active";
interface LinkInfo {
  role: Role;
  since: number;
  /** For links we dialed: the address we dialed, and whether we ask with high priority. */
  readonly dialed?: string;
  readonly high?: boolean;
}

export class Membership {
  readonly active = new Map<string, PeerLink>();
  readonly passive: PassiveView;
  private readonly roles = new Map<PeerLink, LinkInfo>();
  /** Addresses that declined a low-priority NEIGHBOR lately: not asked again until then. */
  private readonly declined = new Map<string, number>();
  private readonly dialing = new Set<string>();
  private readonly shuffleRoutes = new Map<bigint, PeerLink>();
  private readonly myShuffles = new Map<bigint, { target: PeerLink; sent: string[] }>();
  private listener: Listener | null = null;
  private timers: Array<ReturnType<typeof setInterval>> = [];
  private lastJoin = -Infinity;
  private joinBackoff: number;
  private stopped = false;
  selfAddr = "";

  constructor(private readonly opts: MembershipOptions) {
    this.passive = new PassiveView(opts.passiveSize);
    this.joinBackoff = this.tickMs;
  }

  private get tickMs(): number {
    return Math.min(this.opts.keepaliveMs, 1000);
  }
  get selfId(): string {
    return this.opts.hostkey.idHex;
  }

  /** Binds the p2p listener, then joins through the bootstrapper (if any). */
  start(): void {
    this.listener = listen(this.opts.listenHost, this.opts.listenPort, { highWater: this.opts.sendBufferBytes }, (conn) =>
      this.accept(conn),
    );
    this.selfAddr = this.listener.address;
    this.timers.push(setInterval(() => this.tick(), this.tickMs));
    this.timers.push(setInterval(() => this.shuffle(), this.opts.shuffleIntervalMs));
    this.maybeRejoin();
  }

  get address(): string {
    return this.selfAddr;
  }

  activeLinks(): PeerLink[] {
    return [...this.active.values()];
  }

  stop(): void {
    this.stopped = true;
    this.listener?.stop();
    for (const t of this.timers) clearInterval(t);
    for (const link of [...this.roles.keys()]) {
      link.retired = true;
      link.close("node shutting down");
    }
  }

  // --- links ---

  private newLink(conn: Conn, initiator: boolean): PeerLink {
    const hs = {
      hostkey: this.opts.hostkey,
      advertisedAddr: this.selfAddr,
      powBits: this.opts.powBits,
      timeoutMs: this.opts.handshakeTimeoutMs,
      // Banned peers are refused before either side spends work on them.
      admit: (id: string, addr: string) => {
        const ms = Math.max(this.opts.scores.bannedFor(id), this.opts.scores.bannedFor(addr));
        return ms > 0 ? `banned for another ${Math.ceil(ms / 1000)} s` : null;
      },
    };
    const limits = { itemsPerS: this.opts.itemsPerS, controlPerS: this.opts.controlPerS };
    return new PeerLink(conn, initiator, hs, limits, this.opts.log, {
      established: (l) => this.established(l),
      message: (l, m) => this.onMessage(l, m),
      closed: (l, reason) => this.onClosed(l, reason),
      violated: (l, why) => this.penalize(l, Points.protocolViolation, why),
    });
  }

  private accept(conn: Conn) {
    if (this.stopped) return null;
    let handshaking = 0;
    for (const l of this.roles.keys()) if (l.state === "handshake" && !l.initiator) handshaking++;
    if (handshaking >= this.opts.maxHandshakes) {
      this.opts.log.warn("peer connection refused: too many handshakes in progress", { remote: conn.remote });
      return null;
    }
    if (this.opts.maxConnsPerIp > 0) {
      const ip = remoteHost(conn.remote);
      let fromIp = 0;
      for (const l of this.roles.keys()) if (!l.initiator && remoteHost(l.conn.remote) === ip) fromIp++;
      if (fromIp >= this.opts.maxConnsPerIp) {
        this.opts.log.warn("peer connection refused: too many connections from one address", { remote: conn.remote, max: this.opts.maxConnsPerIp });
        return null;
      }
    }
    const link = this.newLink(conn, false);
    this.roles.set(link, { role: "incoming", since: performance.now() });
    return { data: (c: Uint8Array) => link.onData(c), close: (r: string) => link.onClose(r) };
  }

  private dial(addr: string, role: "join" | "neighbor", high = false): void {
    if (this.stopped || addr === this.selfAddr || this.dialing.has(addr) || this.activeByAddr(addr)) return;
    let host: string, port: number;
    try {
      ({ host, port } = parseAddress(addr));
    } catch {
      this.passive.delete(addr);
      return;
    }
    this.dialing.add(addr);
    connect(host, port, { highWater: this.opts.sendBufferBytes, timeoutMs: this.opts.handshakeTimeoutMs }, (conn) => {
      if (this.stopped) {
        // The dial outlived the node: it must not bring a stopped node back into the overlay.
        conn.close("node stopped");
        return { data: () => {}, close: () => {} };
      }
      const l = this.newLink(conn, true);
      this.roles.set(l, { role, since: performance.now(), dialed: addr, high });
      return { data: (c) => l.onData(c), close: (r) => l.onClose(r) };
    }).catch((e: Error) => {
      this.dialing.delete(addr);
      this.opts.log.debug("dial failed", { addr, why: e.message });
      // A peer we cannot reach is no use in reserve.
      this.passive.delete(addr);
      if (role === "neighbor") this.refill();
    });
  }

  private established(link: PeerLink): void {
    const r = this.roles.get(link);
    if (!r || this.stopped) return;
    link.log.debug("handshake done", { peer: link.idHex.slice(0, 16), addr: link.addr });
    r.since = performance.now(); // the JOIN/NEIGHBOR deadline runs from here
    if (r.role === "join") {
      link.send({ kind: "join" });
      this.activate(link);
    } else if (r.role === "neighbor") {
      link.send({ kind: "neighbor", high: r.high === true });
    }
  }

  /**
   * Puts a link in the active view; resolves duplicate links between the same two peers.
   * `accepted` runs once the link is in, before dissemination hears of it (which may send at
   * once): a NEIGHBOR_REPLY must be the first thing the dialer reads on its new link.
   */
  private activate(link: PeerLink, accepted?: () => void): boolean {
    const dialed = this.roles.get(link)?.dialed;
    if (dialed) this.dialing.delete(dialed);
    const existing = this.active.get(link.idHex);
    if (existing && existing !== link) {
      // Both ends keep the link whose session key is smaller: the two ends of one link share
      // its key, so they agree whoever dialed and in whatever order the links came up.
      // Closed gracefully: items the peer already sent on the losing link still arrive.
      if (link.sessionKeyHex >= existing.sessionKeyHex) {
        void link.goodbye(null, "duplicate link");
        return false;
      }
      this.removeActive(existing);
      void existing.goodbye(null, "replaced by a newer link");
    }
    // The real source of the connection, not the address the peer claims: one host cannot
    // fill our active view by advertising addresses from many prefixes.
    const source = (l: PeerLink) => l.conn.remote;
    if (!this.prefixRoom(this.activeLinks().filter((l) => l !== existing).map(source), source(link))) {
      link.log.info("neighbour refused: too many neighbours share its address prefix", { addr: link.addr });
      link.retired = true;
      link.close("address prefix limit");
      return false;
    }
    if (this.active.size >= this.opts.degree) this.evictRandom();
    this.active.set(link.idHex, link);
    this.roles.set(link, { role: "active", since: performance.now() });
    this.declined.delete(link.addr);
    this.passive.delete(link.addr);
    this.joinBackoff = this.tickMs;
    link.log.info("neighbour up", { peer: link.idHex.slice(0, 16), addr: link.addr, active: this.active.size });
    accepted?.();
    this.opts.up(link);
    return true;
  }

  private removeActive(link: PeerLink): void {
    if (this.active.get(link.idHex) !== link) return;
    this.active.delete(link.idHex);
    this.opts.down(link);
    link.log.info("neighbour down", { peer: link.idHex.slice(0, 16), addr: link.addr, active: this.active.size });
  }

  private evictRandom(): void {
    const victim = pickRandom(this.activeLinks());
    if (!victim) return;
    this.removeActive(victim);
    this.roles.delete(victim);
    this.addPassive(victim.addr);
    void victim.goodbye({ kind: "disconnect" }, "evicted to make room");
  }

  private onClosed(link: PeerLink, reason: string): void {
    const r = this.roles.get(link);
    this.roles.delete(link);
    if (r?.dialed) {
      this.dialing.delete(r.dialed);
      // A dial that never got through its handshake (refused, not a gossip peer, ourselves
      // under another name) is no use in reserve either: do not pay for it again.
      if (link.peer === null) this.passive.delete(r.dialed);
    }
    const wasActive = this.active.get(link.idHex) === link;
    if (wasActive) this.removeActive(link);
    if (!link.retired) {
      // Lost neighbours and failed handshakes are worth seeing at info; an unneeded spare
      // link closing is not.
      if (wasActive || link.peer === null) link.log.info("link closed", { reason });
      else link.log.debug("link closed", { reason });
    }
    if (this.stopped) return;
    if (wasActive && !link.retired) this.refill();
    if (r?.role === "join") this.maybeRejoin();
    if (r?.role === "neighbor") this.refill();
  }

  private activeByAddr(addr: string): PeerLink | undefined {
    for (const l of this.active.values()) if (l.addr === addr) return l;
    return undefined;
  }

  private addPassive(addr: string, evictFirst: readonly string[] = []): void {
    if (!addr || addr === this.selfAddr || this.activeByAddr(addr) || this.opts.scores.isBanned(addr)) return;
    if (!this.passive.has(addr) && !this.prefixRoom(this.passive.list(), addr)) return;
    this.passive.add(addr, evictFirst);
  }

  /** Whether a view holding `addrs` may take one more entry with addr's prefix. */
  private prefixRoom(addrs: readonly string[], addr: string): boolean {
    const limit = this.opts.viewPrefixLimit;
    if (limit === 0) return true;
    const p = addressPrefix(addr);
    let n = 0;
    for (const a of addrs) if (a !== addr && addressPrefix(a) === p) n++;
    return n < limit;
  }

  /** Lowers a peer's score; at the ban threshold it is disconnected and kept out of both views. */
  penalize(link: PeerLink, points: number, why: string): void {
    if (!link.idHex) return;
    if (!this.opts.scores.adjust(link.idHex, link.addr, points)) return;
    link.log.warn("peer banned", { peer: link.idHex.slice(0, 16), addr: link.addr, why });
    this.passive.delete(link.addr);
    link.close(`banned: ${why}`);
  }

  // --- messages ---

  private onMessage(link: PeerLink, msg: P2pMessage): void {
    if (msg.kind !== "gossip" && !link.control.take()) {
      // Flooding with control messages: drop, and let the score decide when to cut the peer.
      this.penalize(link, Points.rateLimited, "control message flood");
      return;
    }
    // Keepalives are answered on a link in any state (a sign of life is a sign of life).
    if (msg.kind === "ping") {
      link.send({ kind: "pong" });
      return;
    }
    if (msg.kind === "pong") return;
    const role = this.roles.get(link)?.role;
    if (role === "active") {
      if (this.opts.message(link, msg)) return;
      return this.onActiveMessage(link, msg);
    }
    if (role === "incoming" && (msg.kind === "join" || msg.kind === "neighbor")) {
      return msg.kind === "join" ? this.onJoin(link) : this.onNeighbor(link, msg.high);
    }
    if (role === "neighbor" && msg.kind === "neighbor_reply") {
      if (msg.accepted && this.activate(link)) return;
      const dialed = this.roles.get(link)?.dialed;
      this.roles.delete(link);
      if (dialed) this.dialing.delete(dialed);
      this.addPassive(link.addr);
      bounded(this.declined, link.addr, performance.now() + this.opts.shuffleIntervalMs);
      void link.goodbye(null, "neighbour request declined");
      return;
    }
    // A link we evicted, declined or replaced may still deliver what the peer sent before it
    // knew: items are kept (they may be all some part of the network gets), the rest ignored.
    if (role === undefined || link.retired) {
      if (msg.kind === "gossip") this.opts.message(link, msg);
      return;
    }
    link.unexpected(msg, `on a ${role} link`);
  }

  private onActiveMessage(link: PeerLink, msg: P2pMessage): void {
    switch (msg.kind) {
      case "forward_join":
        return this.onForwardJoin(link, msg.ttl, msg.peer);
      case "disconnect":
        link.retired = true;
        this.removeActive(link);
        this.roles.delete(link);
        this.addPassive(link.addr);
        link.close("peer disconnected us");
        this.refill();
        return;
      case "shuffle":
        return this.onShuffle(link, msg);
      case "shuffle_reply":
        return this.onShuffleReply(link, msg.id, msg.peers);
      default:
        link.unexpected(msg, "on an active link");
    }
  }

  private onJoin(link: PeerLink): void {
    if (!this.activate(link)) return;
    for (const other of this.active.values()) {
      if (other !== link) other.send({ kind: "forward_join", ttl: ARWL, peer: { addr: link.addr } });
    }
  }

  private onNeighbor(link: PeerLink, high: boolean): void {
    const reply = (accepted: boolean) => link.send({ kind: "neighbor_reply", accepted });
    const ok = (high || this.active.size < this.opts.degree) && this.activate(link, () => reply(true));
    if (ok) return;
    reply(false);
    if (link.state === "open") {
      this.roles.delete(link);
      void link.goodbye(null, "neighbour request declined");
    }
  }

  private onForwardJoin(from: PeerLink, ttl: number, peer: PeerRef): void {
    const addr = peer.addr;
    if (addr === this.selfAddr) return;
    const walkOn = this.activeLinks().filter((l) => l !== from && l.addr !== addr);
    if (ttl === 0 || walkOn.length === 0) {
      if (!this.activeByAddr(addr)) this.dial(addr, "neighbor", true);
      return;
    }
    if (ttl === PRWL) this.addPassive(addr);
    pickRandom(walkOn)!.send({ kind: "forward_join", ttl: Math.min(ttl, ARWL) - 1, peer });
  }

  // --- passive view upkeep ---

  private shuffle(): void {
    const target = pickRandom(this.activeLinks());
    if (!target || this.stopped) return;
    const peers = [
      this.selfAddr,
      ...sample(this.activeLinks().filter((l) => l !== target).map((l) => l.addr), SHUFFLE_ACTIVE),
      ...this.passive.random(SHUFFLE_PASSIVE),
    ].map((addr) => ({ addr }));
    const id = randomBytes(8).readBigUInt64BE();
    bounded(this.myShuffles, id, { target, sent: peers.map((p) => p.addr) });
    target.send({ kind: "shuffle", id, ttl: ARWL, peers });
  }

  private onShuffle(from: PeerLink, msg: Shuffle): void {
    const walkOn = this.activeLinks().filter((l) => l !== from);
    if (msg.ttl > 1 && walkOn.length > 0 && !this.shuffleRoutes.has(msg.id)) {
      bounded(this.shuffleRoutes, msg.id, from);
      pickRandom(walkOn)!.send({ ...msg, ttl: Math.min(msg.ttl, ARWL) - 1 });
      return;
    }
    const reply = this.passive.random(Math.min(msg.peers.length, MAX_SHUFFLE_ENTRIES)).map((addr) => ({ addr }));
    from.send({ kind: "shuffle_reply", id: msg.id, peers: reply });
    this.integrate(msg.peers, reply.map((p) => p.addr));
  }

  private onShuffleReply(from: PeerLink, id: bigint, peers: readonly PeerRef[]): void {
    const back = this.shuffleRoutes.get(id);
    if (back) {
      // Replies travel back the way the walk came, so it can only come from further along
      // the walk; we do not know that link, but it cannot be the one we route back to.
      if (back === from) return;
      this.shuffleRoutes.delete(id);
      if (back.state === "open") back.send({ kind: "shuffle_reply", id, peers });
      return;
    }
    const mine = this.myShuffles.get(id);
    if (!mine || mine.target !== from) return;
    this.myShuffles.delete(id);
    this.integrate(peers, mine.sent);
  }

  private integrate(peers: readonly PeerRef[], evictFirst: readonly string[]): void {
    for (const p of peers) this.addPassive(p.addr, evictFirst);
  }

  // --- repair ---

  /** Replaces lost neighbours from the passive view. */
  private refill(): void {
    if (this.stopped) return;
    const want = this.opts.degree - this.active.size;
    // Dials still connecting or handshaking count as in flight too.
    const inFlight = this.dialing.size;
    const now = performance.now();
    const candidates = this.passive
      .list()
      .filter((a) => !this.dialing.has(a) && !this.activeByAddr(a) && !((this.declined.get(a) ?? 0) > now));
    for (const addr of sample(candidates, Math.max(0, want - inFlight))) this.dial(addr, "neighbor", this.active.size === 0);
    if (this.active.size === 0) this.maybeRejoin();
  }

  private maybeRejoin(): void {
    const b = this.opts.bootstrapper;
    if (this.stopped || !b || b === this.selfAddr || this.active.size > 0 || this.passive.size > 0) return;
    const now = performance.now();
    if (now - this.lastJoin < this.joinBackoff || this.dialing.has(b)) return;
    for (const r of this.roles.values()) if (r.role === "join") return;
    this.lastJoin = now;
    this.joinBackoff = Math.min(this.joinBackoff * 2, 30_000);
    this.opts.log.info("joining through bootstrapper", { bootstrapper: b });
    this.dial(b, "join");
  }

  private tick(): void {
    const now = performance.now();
    const silent = 3 * this.opts.keepaliveMs;
    for (const [link, r] of this.roles) {
      // A link in its handshake has its own deadline (the joiner may be solving work).
      if (link.state === "open" && now - link.lastReceived > silent) {
        link.close(`keepalive timeout: silent for ${Math.round(now - link.lastReceived)} ms`);
      } else if (r.role !== "active" && link.state === "open" && now - r.since > this.opts.handshakeTimeoutMs) {
        link.close("no JOIN or NEIGHBOR after the handshake");
      } else if (r.role === "active" && now - link.lastSent >= this.opts.keepaliveMs) {
        link.send({ kind: "ping" });
      }
    }
    if (this.active.size < this.opts.degree) this.refill();
    this.maybeRejoin();
  }
}

/** Map insert that forgets the oldest entry past MAX_SHUFFLE_STATE. */
function bounded<K, V>(m: Map<K, V>, k: K, v: V): void {
  m.set(k, v);
  if (m.size > MAX_SHUFFLE_STATE) m.delete(m.keys().next().value as K);
}
