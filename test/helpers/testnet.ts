// In-process test networks: N real nodes on 127.0.0.1 with ephemeral ports and short timers
// (the Holepunch `testnet` habit). The first node is the bootstrapper.

import { generateHostkey, type Hostkey } from "../../src/config/hostkey.ts";
import { parseConfig } from "../../src/config/load.ts";
import { ApiClient, type Incoming } from "../../src/net/api-client.ts";
import type { CoreState } from "../../src/core/core.ts";
import { GossipNode } from "../../src/node/node.ts";
import type { ApiServer } from "../../src/node/api-server.ts";
import type { Verdict } from "../../src/node/verdicts.ts";
import { Logger, type Level } from "../../src/util/log.ts";
import type { Notification } from "../../src/wire/api.ts";

/** Short timers so multi-node tests run in well under a second per phase. */
export const FAST: Record<string, string> = {
  pow_bits: "4",
  keepalive_ms: "200",
  shuffle_interval_ms: "300",
  graft_timeout_ms: "100",
  ihave_batch_ms: "5",
  handshake_timeout_ms: "3000",
  validation_timeout_s: "2",
  // Every test peer is on 127.0.0.1: per-address limits would cut the network apart.
  max_conns_per_ip: "0",
  view_prefix_limit: "0",
};

const keyPool: Hostkey[] = [];
/** 1024-bit keys, generated once per test process and reused. */
export async function testKeys(n: number): Promise<Hostkey[]> {
  while (keyPool.length < n) keyPool.push(...(await Promise.all(Array.from({ length: Math.min(8, n - keyPool.length) }, () => generateHostkey(1024)))));
  return keyPool.slice(0, n);
}

export function testLogger(): Logger {
  const level = (process.env.GOSSIP_TEST_LOG ?? "silent") as Level;
  return new Logger(level, "test");
}

export interface TestNodeOptions {
  bootstrapper?: string | null;
  keys?: Record<string, string>;
  hostkey: Hostkey;
  log?: Logger;
  /** A state file, and what it held (see src/node/state.ts). */
  state?: { path: string; saved: CoreState | null };
}

export function startNode(o: TestNodeOptions): GossipNode {
  const settings: Record<string, string> = {
    p2p_address: "127.0.0.1:0",
    api_address: "127.0.0.1:0",
    ...FAST,
    ...o.keys,
  };
  if (o.bootstrapper) settings.bootstrapper = o.bootstrapper;
  const text = "[gossip]\n" + Object.entries(settings).map(([k, v]) => `${k} = ${v}`).join("\n") + "\n";
  const { config } = parseConfig(text, "test.ini");
  return GossipNode.start({ config, hostkey: o.hostkey, log: (o.log ?? testLogger()).child("node"), state: o.state });
}

export class Testnet {
  readonly nodes: GossipNode[] = [];
  private readonly clients: ApiClient[] = [];

  static async start(n: number, keys: Record<string, string> = {}): Promise<Testnet> {
    const net = new Testnet();
    const hostkeys = await testKeys(n + 4);
    net.keys = keys;
    const first = startNode({ hostkey: hostkeys[0]!, keys });
    net.nodes.push(first);
    for (let i = 1; i < n; i++) net.nodes.push(startNode({ hostkey: hostkeys[i]!, keys, bootstrapper: first.p2pAddress }));
    return net;
  }

  private keys: Record<string, string> = {};

  /** Adds a node that joins through node 0 (keys beyond the initial n are spare ones). */
  async addNode(): Promise<GossipNode> {
    const keys = await testKeys(this.nodes.length + 1);
    const node = startNode({ hostkey: keys[this.nodes.length]!, keys: this.keys, bootstrapper: this.nodes[0]!.p2pAddress });
    this.nodes.push(node);
    return node;
  }

  /** Waits until every live node has at least `min` neighbours. */
  async settled(min = 1, deadlineMs = 10_000, nodes = this.nodes): Promise<void> {
    await until(() => nodes.every((n) => n.membership.active.size >= min), deadlineMs, `every node has >= ${min} neighbour(s)`);
  }

  /** Waits until the overlay is connected: every live node reaches every other by active links. */
  async connected(nodes = this.nodes, deadlineMs = 10_000): Promise<void> {
    await until(() => isConnected(nodes), deadlineMs, "the overlay is connected");
  }

  async subscribe(node: GossipNode, dataType: number, reply: "valid" | "invalid" | "none" = "valid"): Promise<Subscriber> {
    const sub = new Subscriber(reply);
    const [host, port] = splitHostPort(node.apiAddress);
    const client = await ApiClient.connect(host, port, { onFrame: (f) => sub.onFrame(f) });
    sub.client = client;
    this.clients.push(client);
    client.notify(dataType);
    await client.flushed();
    await until(() => node.api.subscriberCount(dataType) > 0, 2000, "subscription registered");
    return sub;
  }

  async module(node: GossipNode): Promise<ApiClient> {
    const [host, port] = splitHostPort(node.apiAddress);
    const client = await ApiClient.connect(host, port);
    this.clients.push(client);
    return client;
  }

  stop(): void {
    for (const c of this.clients) c.close();
    for (const n of this.nodes) n.stop();
  }
}

export class Subscriber {
  client!: ApiClient;
  readonly received: Notification[] = [];
  constructor(public reply: "valid" | "invalid" | "none") {}
  onFrame(f: Incoming): void {
    if (!("msg" in f) || f.msg.kind !== "notification") return;
    const m = f.msg;
    this.received.push({ ...m, data: m.data.slice() });
    if (this.reply !== "none") this.client.validate(m.id, this.reply === "valid");
  }
  count(data?: Uint8Array): number {
    if (!data) return this.received.length;
    return this.received.filter((r) => Buffer.compare(r.data, data) === 0).length;
  }
}

export function splitHostPort(addr: string): [string, number] {
  const i = addr.lastIndexOf(":");
  return [addr.slice(0, i).replace(/^\[|\]$/g, ""), Number(addr.slice(i + 1))];
}

/** ApiServer.validate as a promise of the verdict. */
export function verdictOf(api: ApiServer, dataType: number, data: Uint8Array): Promise<Verdict> {
  return new Promise((resolve) => api.validate(dataType, data, resolve));
}

/** Polls `cond` until true or the deadline passes (then throws naming what was awaited). */
export async function until(cond: () => boolean, deadlineMs: number, what: string): Promise<void> {
  const end = performance.now() + deadlineMs;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`timed out after ${deadlineMs} ms waiting for: ${what}`);
    await Bun.sleep(10);
  }
}

/** Connectivity of the active-view graph over `nodes` (BFS from the first). */
export function isConnected(nodes: readonly GossipNode[]): boolean {
  if (nodes.length === 0) return true;
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const seen = new Set<string>([nodes[0]!.id]);
  const queue = [nodes[0]!];
  while (queue.length > 0) {
    const n = queue.pop()!;
    for (const id of n.membership.active.keys()) {
      if (!seen.has(id) && byId.has(id)) {
        seen.add(id);
        queue.push(byId.get(id)!);
      }
    }
  }
  return seen.size === nodes.length;
}

/** Hop distance from `from` to every node over active links. */
export function distances(nodes: readonly GossipNode[], from: GossipNode): Map<string, number> {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const dist = new Map<string, number>([[from.id, 0]]);
  const queue = [from];
  while (queue.length > 0) {
    const n = queue.shift()!;
    for (const id of n.membership.active.keys()) {
      if (!dist.has(id) && byId.has(id)) {
        dist.set(id, dist.get(n.id)! + 1);
        queue.push(byId.get(id)!);
      }
    }
  }
  return dist;
}

/** A port that was free a moment ago (listen on 0, read it, stop): for tests that need a fixed port. */
export function freePort(): number {
  const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = l.port;
  l.stop(true);
  return port;
}

/** True when every active link is mirrored: A has B in its active view iff B has A. */
export function isSymmetric(nodes: readonly GossipNode[]): boolean {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  return nodes.every((n) => [...n.membership.active.keys()].every((id) => byId.get(id)?.membership.active.has(n.id) === true));
}

/** The active-view graph as a comparable string (sorted adjacency lists). */
export function overlaySignature(nodes: readonly GossipNode[]): string {
  return nodes
    .map((n) => `${n.id}:${[...n.membership.active.keys()].sort().join(",")}`)
    .sort()
    .join(" ");
}

/** Waits until `probe()` has returned the same value for `quietMs` in a row. */
export async function steady(probe: () => string, quietMs: number, deadlineMs: number, what: string): Promise<void> {
  let last = probe();
  let since = performance.now();
  await until(
    () => {
      const now = probe();
      if (now !== last) {
        last = now;
        since = performance.now();
      }
      return performance.now() - since >= quietMs;
    },
    deadlineMs,
    what,
  );
}

/**
 * Waits until the overlay is connected and symmetric and will not change by itself: every
 * active view full (`degree`), or no view changed for `quietMs` (HyParView only adds links
 * between two nodes that both have room, so full views stay as they are until a link fails).
 */
export async function stableOverlay(nodes: readonly GossipNode[], degree: number, quietMs = 1000, deadlineMs = 15_000): Promise<void> {
  await until(() => isConnected(nodes) && isSymmetric(nodes), deadlineMs, "a connected, symmetric overlay");
  let last = overlaySignature(nodes);
  let since = performance.now();
  await until(
    () => {
      if (nodes.every((n) => n.membership.active.size === degree) && isSymmetric(nodes)) return true;
      const now = overlaySignature(nodes);
      if (now !== last) {
        last = now;
        since = performance.now();
      }
      return performance.now() - since >= quietMs && isSymmetric(nodes);
    },
    deadlineMs,
    `full active views, or none changed for ${quietMs} ms`,
  );
}

/** Waits until no dissemination counter moves on any node for `quietMs` (nothing left in flight). */
export async function quiet(nodes: readonly GossipNode[], quietMs = 300, deadlineMs = 10_000): Promise<void> {
  await steady(() => JSON.stringify(nodes.map((n) => n.dissemination.stats)), quietMs, deadlineMs, `dissemination quiet for ${quietMs} ms`);
}

/** For failure messages: each node's active view as indices into `all` ("x" marks a node not in `live`). */
export function describeOverlay(all: readonly GossipNode[], live: readonly GossipNode[] = all): string {
  const index = new Map(all.map((n, i) => [n.id, i]));
  const alive = new Set(live.map((n) => n.id));
  return live
    .map((n) => {
      const peers = [...n.membership.active].map(([id, l]) => {
        if (alive.has(id)) return `${index.get(id) ?? "?"}`;
        // A link to a stopped node: show why it is still there.
        return `x${index.get(id) ?? "?"}(${l.state},silent ${Math.round(performance.now() - l.lastReceived)} ms)`;
      });
      return `${index.get(n.id)}:[${peers.join(",")}] passive=${n.membership.passive.size}`;
    })
    .join("\n");
}

/** Links added and removed between two overlaySignature() values (ids shortened): for failure messages. */
export function overlayDiff(before: string, after: string): string {
  const edges = (sig: string) =>
    new Set(
      sig
        .split(" ")
        .filter(Boolean)
        .flatMap((entry) => {
          const [id, peers] = entry.split(":") as [string, string];
          return peers ? peers.split(",").map((p) => `${id.slice(0, 8)}->${p.slice(0, 8)}`) : [];
        }),
    );
  const [b, a] = [edges(before), edges(after)];
  const added = [...a].filter((e) => !b.has(e));
  const removed = [...b].filter((e) => !a.has(e));
  return added.length + removed.length === 0 ? "unchanged" : `added ${added.join(" ") || "-"}; removed ${removed.join(" ") || "-"}`;
}
