// SHUFFLE (HyParView): a periodic random walk that swaps a sample of our addresses for a
// sample of a distant node's passive view, keeping passive views fresh and mixed. A walk
// goes out with ttl ARWL; each hop decrements it and remembers where the walk came from, so
// the SHUFFLE_REPLY travels back along the same path. Route and walk tables are bounded.

import { MAX_SHUFFLE_ENTRIES, type PeerRef, type Shuffle } from "../wire/p2p.ts";
import { type Env, pickRandom, sample } from "./env.ts";
import type { Peer } from "./peers.ts";

/** Active random walk length (the paper's value): the TTL a SHUFFLE starts with. */
export const ARWL = 6;
const SHUFFLE_ACTIVE = 3;
const SHUFFLE_PASSIVE = 4;
/** Routes kept for walks passing through, and walks of our own awaiting replies, at most. */
export const MAX_SHUFFLE_STATE = 1024;

export interface ShuffleHost {
  readonly env: Env;
  readonly selfAddr: () => string;
  readonly activePeers: () => readonly Peer[];
  /** A random sample of our passive view. */
  readonly passiveSample: (n: number) => string[];
  /** Takes addresses into the passive view, evicting `evictFirst` entries first when full. */
  readonly integrate: (addrs: readonly string[], evictFirst: readonly string[]) => void;
  /** Addresses a walk carried to us, passing through or ending here (a last reserve: repair.ts, heardOf). */
  readonly heard: (addrs: readonly string[]) => void;
}

export class Shuffler {
  private readonly routes = new Map<bigint, Peer>();
  private readonly mine = new Map<bigint, { target: Peer; sent: string[] }>();

  constructor(private readonly host: ShuffleHost) {}

  get sizes(): { routes: number; walks: number } {
    return { routes: this.routes.size, walks: this.mine.size };
  }

  /** Starts a walk from us through a random neighbour. */
  start(): void {
    const active = this.host.activePeers();
    const target = pickRandom(this.host.env, active);
    if (!target) return;
    // Only neighbours whose addresses we proved (peers.ts, Peer.verified): an incoming peer's
    // claim is not passed on, so it cannot make distant nodes dial an address of its choosing.
    const addrs = [
      this.host.selfAddr(),
      ...sample(this.host.env, active.filter((p) => p !== target && p.verified).map((p) => p.addr), SHUFFLE_ACTIVE),
      ...this.host.passiveSample(SHUFFLE_PASSIVE),
    ];
    const id = walkId(this.host.env);
    bounded(this.mine, id, { target, sent: addrs });
    target.send({ kind: "shuffle", id, ttl: ARWL, peers: addrs.map((addr) => ({ addr })) });
  }

  onShuffle(from: Peer, msg: Shuffle): void {
    // Every walk that passes through us names live peers somewhere in the overlay: kept
    // aside (not in the passive view) for the day every peer we know is gone.
    this.host.heard(msg.peers.map((p) => p.addr));
    const walkOn = this.host.activePeers().filter((p) => p !== from);
    if (msg.ttl > 1 && walkOn.length > 0 && !this.routes.has(msg.id)) {
      bounded(this.routes, msg.id, from);
      pickRandom(this.host.env, walkOn)!.send({ ...msg, ttl: Math.min(msg.ttl, ARWL) - 1 });
      return;
    }
    const reply = this.host.passiveSample(Math.min(msg.peers.length, MAX_SHUFFLE_ENTRIES));
    from.send({ kind: "shuffle_reply", id: msg.id, peers: reply.map((addr) => ({ addr })) });
    this.host.integrate(
      msg.peers.map((p) => p.addr),
      reply,
    );
  }

  onReply(from: Peer, id: bigint, peers: readonly PeerRef[]): void {
    const back = this.routes.get(id);
    if (back) {
      // Replies travel back the way the walk came, so it can only come from further along
      // the walk; we do not know that link, but it cannot be the one we route back to.
      if (back === from) return;
      this.routes.delete(id);
      if (back.state === "active") back.send({ kind: "shuffle_reply", id, peers });
      return;
    }
    const mine = this.mine.get(id);
    if (!mine || mine.target !== from) return;
    this.mine.delete(id);
    this.host.integrate(
      peers.map((p) => p.addr),
      mine.sent,
    );
  }

  /** A neighbour is gone: routes through it lead nowhere. */
  forget(peer: Peer): void {
    for (const [id, p] of this.routes) if (p === peer) this.routes.delete(id);
    for (const [id, w] of this.mine) if (w.target === peer) this.mine.delete(id);
  }
}

function walkId(env: Env): bigint {
  const b = env.bytes(8);
  let v = 0n;
  for (const x of b) v = (v << 8n) | BigInt(x);
  return v;
}

/** Map insert that forgets the oldest entry past MAX_SHUFFLE_STATE. */
function bounded<K, V>(m: Map<K, V>, k: K, v: V): void {
  m.set(k, v);
  if (m.size > MAX_SHUFFLE_STATE) m.delete(m.keys().next().value as K);
}
