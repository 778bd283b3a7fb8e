// The in-memory network of the simulator: transports that carry message objects between
// simulated nodes on the virtual clock, with no sockets and no crypto. Links behave like the
// TCP transport's as the core sees them: messages arrive whole, in order, after a latency;
// a dial becomes `established` after a handshake's round trips or `closed` when nobody
// answers; a graceful close delivers what was sent first. Faults: per-message loss, kills
// (with or without the kernel closing the dead node's connections) and partitions (traffic
// across the cut is held, as TCP would retransmit it, until the cut heals or the link dies).

import type { DialKind, Link, Transport, TransportEvents } from "../core/transport.ts";
import { idKey } from "../core/caches.ts";
import { encodeP2p, type P2pMessage } from "../wire/p2p.ts";
import { mulberry32 } from "../util/prng.ts";
import { type SimClock, subSeed } from "./clock.ts";

function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** One-way delay in ms between two hosts, for one message; `base` is fixed per pair. */
export interface LatencyModel {
  readonly name: string;
  /** The pair's base delay (drawn once per pair of hosts). */
  base(rnd: () => number): number;
  /** The delay of one message on a pair with that base. */
  sample(base: number, rnd: () => number): number;
}

export const Latency = {
  constant(ms: number): LatencyModel {
    return { name: `constant ${ms} ms`, base: () => ms, sample: (b) => b };
  },
  /** Every message independently uniform in [min, max] (links stay FIFO). */
  uniform(min: number, max: number): LatencyModel {
    return { name: `uniform ${min}-${max} ms`, base: () => 0, sample: (_b, r) => min + r() * (max - min) };
  },
  /**
   * WAN-like: each pair of hosts has its own base delay, log-normal between min and max
   * (most pairs near the geometric middle, a long tail), plus up to 10% jitter per message.
   */
  wan(min = 10, max = 150): LatencyModel {
    const mid = Math.log(Math.sqrt(min * max));
    const spread = (Math.log(max) - Math.log(min)) / 4;
    return {
      name: `wan ${min}-${max} ms`,
      base(r) {
        // Box-Muller from two uniforms; clipped to [min, max].
        const z = Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
        return Math.min(max, Math.max(min, Math.exp(mid + spread * z)));
      },
      sample: (b, r) => b * (1 + 0.1 * r()),
    };
  },
};

/** Parses "5", "10-150", "wan", "wan:10-150", "uniform:5-50". */
export function parseLatency(text: string): LatencyModel {
  const m = /^(?:(constant|uniform|wan):?)?(\d+(?:\.\d+)?)?(?:-(\d+(?:\.\d+)?))?$/.exec(text.trim());
  if (!m || (!m[1] && !m[2])) throw new Error(`latency: expected MS, MIN-MAX, wan or wan:MIN-MAX, got ${JSON.stringify(text)}`);
  const kind = m[1] ?? (m[3] ? "wan" : "constant");
  const a = m[2] === undefined ? undefined : Number(m[2]);
  const b = m[3] === undefined ? undefined : Number(m[3]);
  if (kind === "constant") return Latency.constant(a ?? 10);
  if (a !== undefined && b !== undefined && !(a > 0 && b >= a)) throw new Error(`latency: expected 0 < MIN <= MAX, got ${text}`);
  if (kind === "uniform") return Latency.uniform(a ?? 5, b ?? a ?? 50);
  return Latency.wan(a ?? 10, b ?? a ?? 150);
}

export interface NetOptions {
  readonly latency: LatencyModel;
  /** Probability that one message is lost (0: none). */
  readonly loss: number;
  /** A dial nobody answers (dead host, cut network) fails after this long. */
  readonly dialTimeoutMs: number;
  readonly rnd: () => number;
}

/** Counters of everything the network carried. */
export interface NetStats {
  /** Messages sent, by kind (a counter object per kind). */
  readonly sent: ReadonlyMap<string, { readonly n: number }>;
  /** GOSSIP messages delivered, by item key. */
  readonly gossipByItem: Map<string, number>;
  lost: number;
  dials: number;
}


export class MemLink implements Link {
  id = "";
  slot: unknown = undefined;
  addr = "";
  tieBreak = "";
  /** Simulated hosts have one address each: a dial never reaches its own node by another name. */
  readonly reachedSelf = false;
  /** Bytes sent to an end that does not read (see `stalled`); 0 otherwise. */
  queuedBytes = 0;
  private isStalled = false;
  /** The other end's `stalled`, mirrored here: checked for every message sent, so it is read from this end. */
  otherStalled = false;
  /**
   * This end does not read (a peer that stopped reading, for rule tests): what the other end
   * sends is never delivered and piles up in the other end's queuedBytes, as in a TCP send
   * queue behind a full window.
   */
  get stalled(): boolean {
    return this.isStalled;
  }
  set stalled(v: boolean) {
    this.isStalled = v;
    if (this.other) this.other.otherStalled = v;
  }
  other: MemLink | null = null;
  /** open: may send; closing: closed gracefully by us, still receiving; closed: gone. */
  state: "connecting" | "open" | "closing" | "closed" = "connecting";
  // Delivery bookkeeping of the direction from this end to the other (fields of the link, not
  // an object of their own: read for every message sent).
  /** When the last message sent this way arrives (FIFO: none may arrive before it). */
  outLast = 0;
  /** What waits for a cut between the two hosts to heal, in order (null: nothing). */
  outHeld: Array<() => void> | null = null;
  /** The pair's base delay. */
  outBase = 0;

  /** Who takes what arrives: the owner's events, kept here so a delivery does not go through the owner. */
  readonly sink: TransportEvents | null;

  /** Dials start at once here (no dial slots): never held back. */
  readonly waiting: boolean = false;
  /** Numbered per network, in order of creation (log lines: link=N). */
  readonly num: number;

  constructor(
    readonly owner: MemTransport,
    readonly initiator: boolean,
    public remote: string,
  ) {
    this.sink = owner.events;
    this.num = ++owner.net.linksMade;
  }

  send(msg: P2pMessage): boolean {
    if (this.state !== "open" || !this.other) return false;
    this.owner.net.carry(this, msg);
    return true;
  }

  close(reason: string, graceful: boolean): void {
    if (this.state === "closed" || this.state === "closing") {
      if (!graceful && this.state === "closing") this.owner.net.gone(this, reason);
      return;
    }
    const net = this.owner.net;
    if (this.state === "connecting" || !this.other) {
      // A dial given up: the acceptor's end, if the handshake got that far, learns of it.
      const other = this.other;
      if (other) net.after(this, () => net.gone(other, "closed by remote"));
      this.state = "closed";
      this.owner.links.delete(this);
      net.clock.at(0, () => this.owner.events?.closed(this, reason));
      return;
    }
    // The other end learns after what we sent before; our end is gone once it has answered
    // (graceful) or at once (hard close).
    const other = this.other;
    net.after(this, () => net.gone(other, "closed by remote"));
    if (graceful) {
      this.state = "closing";
      net.after(this, () => net.after(other, () => net.gone(this, reason)));
    } else net.gone(this, reason);
  }
}

export class MemTransport implements Transport {
  events: TransportEvents | null = null;
  /** Accepting connections (started, not stopped, not killed). */
  listening = false;
  /** The host is dead: nothing reaches it, nothing leaves it. */
  dead = false;
  readonly links = new Set<MemLink>();
  /**
   * The address this end tells peers in the handshake, when it is not its own (a peer that
   * claims another's address, for rule tests); it still listens, and connects from, `addr`.
   */
  claims: string | null = null;
  private ports = 40000;

  constructor(
    readonly net: SimNet,
    readonly addr: string,
    readonly id: string,
    /** A refusal reason for a peer's identity and source IP (bans), or null to let it in. */
    readonly admit: (id: string, ip: string) => string | null = () => null,
  ) {}

  get host(): string {
    return this.addr.slice(0, this.addr.lastIndexOf(":"));
  }

  start(events: TransportEvents): string {
    this.events = events;
    this.listening = true;
    this.net.hosts.set(this.addr, this);
    return this.addr;
  }

  stop(): void {
    this.listening = false;
  }

  get linkCount(): number {
    return this.links.size;
  }

  /** Every kind of dial starts at once: the simulator has no dial slots (TCP's, dial-queue.ts). */
  dial(addr: string, _kind?: DialKind): Link {
    const link = new MemLink(this, true, addr);
    this.links.add(link);
    this.net.connect(link, addr);
    return link;
  }

  /** An ephemeral source address of ours, as the other end sees it. */
  nextSource(): string {
    this.ports = this.ports >= 65535 ? 40000 : this.ports + 1;
    return `${this.host}:${this.ports}`;
  }
}

export class SimNet {
  readonly hosts = new Map<string, MemTransport>();
  private readonly sentByKind = new Map<string, { n: number }>();
  readonly stats: NetStats = {
    sent: this.sentByKind,
    gossipByItem: new Map(),
    lost: 0,
    dials: 0,
  };
  /** Link ends made so far (each MemLink's num). */
  linksMade = 0;
  /** Pairs of hosts whose traffic is cut: a function of the two addresses. */
  private cut: ((a: string, b: string) => boolean) | null = null;
  private readonly seed: number;
  private readonly heldDirs = new Set<MemLink>();
  private tieBreaks = 0;

  constructor(
    readonly clock: SimClock,
    private readonly opts: NetOptions,
  ) {
    this.seed = Math.floor(opts.rnd() * 2 ** 32);
  }

  /** Cuts the network: traffic between hosts for which `blocked` says true is held. */
  partition(blocked: (a: string, b: string) => boolean): void {
    this.cut = blocked;
  }

  /** Heals the cut: held traffic flows again, in order. */
  heal(): void {
    this.cut = null;
    for (const l of this.heldDirs) {
      const held = l.outHeld ?? [];
      l.outHeld = null;
      for (const deliver of held) this.schedule(l, deliver);
    }
    this.heldDirs.clear();
  }

  /** Kills a host. `silent`: a crash or a cut cable (peers notice only by silence); otherwise the kernel closes its connections. */
  kill(t: MemTransport, silent: boolean): void {
    t.dead = true;
    t.listening = false;
    this.hosts.delete(t.addr);
    for (const l of [...t.links]) {
      l.state = "closed";
      t.links.delete(l);
      const other = l.other;
      if (!silent && other) this.after(l, () => this.gone(other, "connection reset by peer"), true);
    }
  }

  private blocked(a: MemTransport, b: MemTransport): boolean {
    return this.cut !== null && this.cut(a.addr, b.addr);
  }

  /** The pair's base delay: drawn from the pair itself, so it is the same on every link between them. */
  private pairBase(a: MemTransport, b: MemTransport): number {
    const [x, y] = a.addr < b.addr ? [a.addr, b.addr] : [b.addr, a.addr];
    return this.opts.latency.base(mulberry32(subSeed(subSeed(this.seed, hashString(x)), hashString(y))));
  }

  /** Runs fn at the other end of `from` after what `from` already sent (FIFO per direction). */
  after(from: MemLink, fn: () => void, evenIfDead = false): void {
    const to = from.other;
    if (!to || (!evenIfDead && from.owner.dead)) return;
    if (from.outHeld !== null || this.blocked(from.owner, to.owner)) {
      (from.outHeld ??= []).push(fn);
      this.heldDirs.add(from);
      return;
    }
    this.schedule(from, fn);
  }

  private schedule(from: MemLink, fn: () => void): void {
    const now = this.clock.now();
    const at = Math.max(now + this.opts.latency.sample(from.outBase, this.opts.rnd), from.outLast);
    from.outLast = at;
    this.clock.at(at - now, fn);
  }

  carry(from: MemLink, msg: P2pMessage): void {
    const kind = msg.kind;
    // One counter object per kind: a get and a set per message cost two hash lookups.
    let c = this.sentByKind.get(kind);
    if (c === undefined) this.sentByKind.set(kind, (c = { n: 0 }));
    c.n++;
    if (from.otherStalled) {
      from.queuedBytes += encodeP2p(msg).byteLength;
      return;
    }
    if (this.opts.loss > 0 && this.opts.rnd() < this.opts.loss) {
      this.stats.lost++;
      return;
    }
    const to = from.other!;
    if (from.outHeld === null && !this.blocked(from.owner, to.owner) && !from.owner.dead) {
      // The common case without a closure per message: millions of these per run.
      const now = this.clock.now();
      const at = Math.max(now + this.opts.latency.sample(from.outBase, this.opts.rnd), from.outLast);
      from.outLast = at;
      this.clock.call(at - now, this.deliver, to, msg);
      return;
    }
    this.after(from, () => this.deliver(to, msg));
  }

  private readonly deliver = (to: MemLink, msg: P2pMessage): void => {
    // A dead host's links are all closed (kill), so the state alone tells.
    if (to.state === "closed") return;
    if (msg.kind === "gossip") {
      const key = idKey(msg.id);
      this.stats.gossipByItem.set(key, (this.stats.gossipByItem.get(key) ?? 0) + 1);
    }
    to.sink?.message(to, msg);
  };

  /** The link's end is gone: its owner is told once. */
  gone(l: MemLink, reason: string): void {
    if (l.state === "closed") return;
    l.state = "closed";
    l.owner.links.delete(l);
    if (!l.owner.dead) l.owner.events?.closed(l, reason);
  }

  /** A dial: SYN, then the handshake's round trips (acceptor ready after 3 one-way trips, dialer after 4). */
  connect(link: MemLink, addr: string): void {
    this.stats.dials++;
    const from = link.owner;
    const fail = (reason: string, ms: number) =>
      this.clock.at(ms, () => {
        if (link.state !== "connecting") return;
        link.state = "closed";
        from.links.delete(link);
        from.events?.closed(link, reason);
      });
    const to = this.hosts.get(addr);
    if (!to || to === from) return void fail(to ? "dialed ourselves" : "connection refused", 2 * this.opts.latency.base(this.opts.rnd));
    if (this.blocked(from, to) || to.dead) return void fail("connection timed out", this.opts.dialTimeoutMs);
    const base = this.pairBase(from, to);
    link.outBase = base;
    const d = this.opts.latency.sample(base, this.opts.rnd);
    this.clock.at(3 * d, () => {
      if (link.state !== "connecting" || from.dead) return;
      if (to.dead || !to.listening || this.blocked(from, to)) return void fail("connection refused", d);
      const refusal = to.admit(from.id, from.host) ?? from.admit(to.id, to.host);
      if (refusal !== null) return void fail(`handshake failed: ${refusal}`, d);
      const acc = new MemLink(to, false, from.nextSource());
      acc.outBase = base;
      acc.other = link;
      link.other = acc;
      acc.otherStalled = link.stalled;
      link.otherStalled = acc.stalled;
      const tie = `${this.tieBreaks++}`;
      acc.tieBreak = link.tieBreak = tie;
      acc.id = from.id;
      acc.addr = from.claims ?? from.addr;
      acc.state = "open";
      to.links.add(acc);
      // WELCOME travels back ahead of anything the acceptor sends on its new link.
      this.after(acc, () => {
        if (link.state !== "connecting") return;
        link.id = to.id;
        link.addr = to.claims ?? to.addr;
        link.state = "open";
        from.events?.established(link);
      });
      to.events?.established(acc);
    });
  }
}
