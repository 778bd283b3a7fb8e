// A hand-driven peer for simulated rule tests: a MemTransport of its own in a World's SimNet
// that speaks the protocol only as the test script says. It records every message it
// receives (per link, with the virtual time), every link it dialed or accepted and when each
// closed, and answers PINGs unless told to stay silent. Nothing runs by itself: the test
// advances the World's virtual clock (runUntil) and reads what arrived.

import type { Peer } from "../../src/core/peers.ts";
import type { Link } from "../../src/core/transport.ts";
import { Latency, type MemLink, MemTransport } from "../../src/sim/network.ts";
import { type SimNode, World } from "../../src/sim/world.ts";
import type { P2pMessage } from "../../src/wire/p2p.ts";

export type Kind = P2pMessage["kind"];
export type MessageOf<K extends Kind> = Extract<P2pMessage, { kind: K }>;

export interface Received {
  readonly link: MemLink;
  readonly msg: P2pMessage;
  /** Virtual time of arrival. */
  readonly at: number;
}

/** An address nobody listens on (a peer known only by name); each k in its own /24. */
export function nowhere(k: number): string {
  return `10.${210 + (k >> 8)}.${k & 255}.1:6001`;
}

/** The address of probe n: each probe in its own /24, so view_prefix_limit never counts two together. */
export function probeAddress(n: number): string {
  return `10.200.${n}.1:6001`;
}

export class Probe {
  readonly addr: string;
  readonly id: string;
  readonly transport: MemTransport;
  /** Every message received, in order of arrival. */
  readonly got: Received[] = [];
  /** Every link, dialed or accepted, in order of creation (dials) or establishment (accepts). */
  readonly links: MemLink[] = [];
  readonly established = new Set<MemLink>();
  /** Links that are gone, with the reason and the virtual time. */
  readonly closed = new Map<MemLink, { reason: string; at: number }>();
  /** Answer PING with PONG, as a live neighbour does; false: stay silent. */
  autoPong = true;

  constructor(
    readonly world: World,
    n: number,
    /**
     * addr: where it listens and dials from (default probeAddress(n)); claims: the address it
     * claims in handshakes instead of its own.
     */
    o: { addr?: string; claims?: string | null } = {},
  ) {
    const claims = o.claims ?? null;
    this.addr = o.addr ?? probeAddress(n);
    this.id = ("beef" + n.toString(16).padStart(8, "0")).padEnd(64, "0");
    this.transport = new MemTransport(world.net, this.addr, this.id);
    this.transport.claims = claims;
    this.transport.start({
      established: (l) => {
        const link = l as MemLink;
        if (!link.initiator) this.links.push(link);
        this.established.add(link);
      },
      message: (l, msg) => {
        this.got.push({ link: l as MemLink, msg, at: this.world.clock.now() });
        if (msg.kind === "ping" && this.autoPong) l.send({ kind: "pong" });
      },
      closed: (l, reason) => void this.closed.set(l as MemLink, { reason, at: this.world.clock.now() }),
      violated: () => {},
    });
  }

  /** Starts a connection; it is established (or closed) later, as the clock runs. */
  dial(addr: string): MemLink {
    const link = this.transport.dial(addr) as MemLink;
    this.links.push(link);
    return link;
  }

  /** Dials a node and runs the clock until the link is established. */
  connect(node: SimNode, maxMs = 1000): MemLink {
    const link = this.dial(node.addr);
    runUntil(this.world, () => this.established.has(link), maxMs, `probe ${this.addr} connects to ${node.addr}`);
    return link;
  }

  /** Connects, sends JOIN and runs the clock until the node has the probe in its active view. */
  join(node: SimNode, maxMs = 1000): MemLink {
    const link = this.connect(node, maxMs);
    this.send(link, { kind: "join" });
    runUntil(this.world, () => this.nodeEnd(node, link)?.state === "active", maxMs, `node ${node.addr} takes probe ${this.addr} in`);
    return link;
  }

  send(link: Link, msg: P2pMessage): void {
    if (!link.send(msg)) throw new Error(`probe ${this.addr}: cannot send ${msg.kind} on a link that is not open`);
  }

  /** The node's entry (peer table) for the other end of one of our links. */
  nodeEnd(node: SimNode, link: MemLink): Peer | undefined {
    return link.other ? node.core!.membership.peers.get(link.other) : undefined;
  }

  /** Messages of one kind received (on one link, when given), in order. */
  of<K extends Kind>(kind: K, link?: Link): Array<MessageOf<K>> {
    return this.received(kind, link).map((r) => r.msg as MessageOf<K>);
  }

  /** Arrivals of one kind (on one link, when given), with their times. */
  received(kind: Kind, link?: Link): Received[] {
    return this.got.filter((r) => r.msg.kind === kind && (link === undefined || r.link === link));
  }

  /** Links the other side opened to us. */
  get accepted(): MemLink[] {
    return this.links.filter((l) => !l.initiator);
  }

  isOpen(link: MemLink): boolean {
    return this.established.has(link) && !this.closed.has(link);
  }

  /** Kills the probe's host: `silent` as a crash (peers notice only by silence), otherwise its connections are reset. */
  kill(silent = false): void {
    this.world.net.kill(this.transport, silent);
  }
}

/** Advances the virtual clock 1 ms at a time until `done` holds; throws past `maxMs`. Returns the virtual ms it took. */
export function runUntil(world: World, done: () => boolean, maxMs: number, what = "condition"): number {
  const start = world.clock.now();
  while (!done()) {
    if (world.clock.now() - start >= maxMs) throw new Error(`${what}: not within ${maxMs} virtual ms`);
    world.clock.run(1);
  }
  return world.clock.now() - start;
}

/** Runs the virtual clock up to the absolute time `t`. */
export function runTo(world: World, t: number): void {
  if (t > world.clock.now()) world.clock.runUntil(t);
}

/** One-way latency of quietWorld by default, in virtual ms. */
export const LATENCY = 5;

/**
 * A small World for rule tests: fixed seed, constant latency (LATENCY ms unless given), and
 * the periodic work a rule test does not look at turned off (own SHUFFLE walks once an
 * hour, no refresh), so every message a probe sees comes from what the test did.
 */
export function quietWorld(
  settings: Readonly<Record<string, string>> = {},
  o: { seed?: number; latencyMs?: number; /** Collects the nodes' log lines (info and up). */ lines?: string[] } = {},
): World {
  const lines = o.lines;
  return new World({
    seed: o.seed ?? 1,
    mode: "plumtree",
    latency: Latency.constant(o.latencyMs ?? LATENCY),
    settings: { shuffle_interval_ms: "3600000", refresh_interval_ms: "0", ...settings },
    ...(lines ? { logLevel: "info" as const, logSink: (l: string) => void lines.push(l) } : {}),
  });
}
