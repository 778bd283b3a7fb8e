// A hostile node for the simulator: speaks the protocol well enough to stay a neighbour and
// works against the network (the spec's threat model; gossipsub v1.1's evaluation). It
// - accepts every JOIN and NEIGHBOR (no degree limit) and asks honest nodes to take it as a
//   neighbour with high priority, to sit in as many active views as it can (eclipse);
// - drops every item and answers GRAFT with nothing (a black hole in the tree);
// - answers and starts SHUFFLEs with its colluders' addresses only (poisons passive views);
// - answers PINGs and pings its neighbours, so keepalive never drops it;
// - with `flood`, sends every neighbour FLOOD_PER_S junk items a second (data type JUNK_TYPE,
//   which honest modules judge invalid);
// - with `announce`, sends an IHAVE for every item it receives to its other neighbours (and
//   still answers no GRAFT): it looks as if it carried items (an IHAVE is no copy, so it is
//   still silent to Membership.evictFor), and lures GRAFTs.

import type { Config } from "../config/schema.ts";
import { type Env, pickRandom, type Timer } from "../core/env.ts";
import type { Link } from "../core/transport.ts";
import { gossipItem } from "../wire/item-id.ts";
import { ITEM_SALT_BYTES, type P2pMessage } from "../wire/p2p.ts";
import type { MemTransport } from "./network.ts";

/** Junk items per second a flooding hostile node sends each neighbour. */
export const FLOOD_PER_S = 20;
/** The data type of junk items (honest modules in the simulator reject it). */
export const JUNK_TYPE = 666;

/** What a hostile node does beyond dropping items (see the top of this file). */
export interface HostileBehaviour {
  readonly flood?: boolean;
  readonly announce?: boolean;
}

export class HostileNode {
  private readonly links = new Map<Link, "pending" | "active">();
  /** Honest addresses it has heard of (targets for NEIGHBOR requests). */
  private readonly known = new Set<string>();
  private timers: Timer[] = [];

  constructor(
    private readonly transport: MemTransport,
    private readonly env: Env,
    private readonly config: Config,
    private readonly colluders: () => string[],
    private readonly behaviour: HostileBehaviour = {},
  ) {}

  neighbourIds(): string[] {
    const out: string[] = [];
    for (const [l, s] of this.links) if (s === "active") out.push(l.id);
    return out;
  }

  start(bootstrapper: string | null): void {
    this.transport.start({
      established: (l) => this.onEstablished(l),
      message: (l, m) => this.onMessage(l, m),
      closed: (l) => void this.links.delete(l),
      violated: () => {},
    });
    const c = this.config;
    this.timers.push(this.env.every(Math.min(c.keepaliveMs, 1000), () => this.tick()));
    this.timers.push(this.env.every(c.shuffleIntervalMs, () => this.poison()));
    if (bootstrapper) {
      this.known.add(bootstrapper);
      this.links.set(this.transport.dial(bootstrapper), "pending");
    }
  }

  stop(): void {
    for (const t of this.timers) t.cancel();
  }

  private onEstablished(l: Link): void {
    if (l.initiator) {
      // Our dial: the first one joins, the rest ask to be taken in with high priority.
      const joining = this.links.size <= 1;
      l.send(joining ? { kind: "join" } : { kind: "neighbor", high: true });
      this.links.set(l, joining ? "active" : "pending");
    } else this.links.set(l, "pending");
  }

  private onMessage(l: Link, m: P2pMessage): void {
    switch (m.kind) {
      case "join":
        this.links.set(l, "active");
        return;
      case "neighbor":
        this.links.set(l, "active");
        l.send({ kind: "neighbor_reply", accepted: true });
        return;
      case "neighbor_reply":
        this.links.set(l, m.accepted ? "active" : "pending");
        if (!m.accepted) l.close("declined", true);
        return;
      case "ping":
        l.send({ kind: "pong" });
        return;
      case "forward_join":
        this.known.add(m.peer.addr);
        return;
      case "shuffle":
        for (const p of m.peers) this.known.add(p.addr);
        l.send({ kind: "shuffle_reply", id: m.id, peers: this.poisoned(m.peers.length) });
        return;
      case "shuffle_reply":
        for (const p of m.peers) this.known.add(p.addr);
        return;
      case "gossip":
        // Dropped; with `announce`, offered to everyone else, never delivered.
        if (this.behaviour.announce) {
          const ihave: P2pMessage = { kind: "ihave", entries: [{ id: m.id, hops: m.hops + 1 }] };
          for (const [x, st] of this.links) if (st === "active" && x !== l) x.send(ihave);
        }
        return;
      default:
        // GRAFT unanswered, IHAVE/PRUNE/DISCONNECT ignored.
        return;
    }
  }

  private poisoned(n: number): Array<{ addr: string }> {
    const c = this.colluders().filter((a) => a !== this.transport.addr);
    const out: Array<{ addr: string }> = [];
    for (let i = 0; i < Math.min(n, c.length, 8); i++) out.push({ addr: pickRandom(this.env, c)! });
    return out;
  }

  private tick(): void {
    const ms = Math.min(this.config.keepaliveMs, 1000);
    const junk = this.behaviour.flood ? Math.max(1, Math.round((FLOOD_PER_S * ms) / 1000)) : 0;
    for (const [l, s] of this.links) {
      if (s !== "active") continue;
      l.send({ kind: "ping" });
      for (let i = 0; i < junk; i++) {
        // Well-formed (the id matches): junk for the modules to judge, not a protocol violation.
        l.send(gossipItem(this.env.sha256, { salt: this.env.bytes(ITEM_SALT_BYTES), ttl: 32, hops: 1, dataType: JUNK_TYPE, data: this.env.bytes(16) }));
      }
    }
  }

  /** Shuffles colluders into neighbours' passive views and asks more honest nodes to take us in. */
  private poison(): void {
    const peers = this.poisoned(8);
    for (const [l, s] of this.links) {
      if (s === "active" && peers.length > 0) l.send({ kind: "shuffle", id: BigInt(Math.floor(this.env.random() * 2 ** 48)), ttl: 1, peers });
    }
    const colluders = new Set(this.colluders());
    const targets = [...this.known].filter((a) => !colluders.has(a) && a !== this.transport.addr);
    const mine = new Set([...this.links.keys()].map((l) => l.addr || l.remote));
    let dials = 0;
    while (dials < 2 && this.links.size < 2 * this.config.degree && targets.length > 0) {
      const a = targets.splice(Math.floor(this.env.random() * targets.length), 1)[0]!;
      if (mine.has(a)) continue;
      this.links.set(this.transport.dial(a), "pending");
      dials++;
    }
  }
}
