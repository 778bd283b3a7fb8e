// The admin listener (admin_address): GET /metrics in the Prometheus text exposition format,
// GET /status as JSON for `gossip status`. Read-only: HEAD is GET without the body, another
// method is 405 (Allow: GET, HEAD), another path 404. It is meant for loopback: it is not
// authenticated, so another host is allowed but logged as a warning.

import { formatAddress } from "../config/address.ts";
import type { Address } from "../config/schema.ts";
import { NetError } from "../net/tcp.ts";
import type { Logger } from "../util/log.ts";
import { realEnv } from "../util/real-env.ts";
import { nodeCounters, nodeRegistry } from "./metrics.ts";
import type { GossipNode } from "./node.ts";

export interface NeighbourStatus {
  readonly address: string;
  readonly id: string;
  /** out: we dialed the link; in: the peer did. */
  readonly direction: "out" | "in";
  /** Milliseconds since the link became active. */
  readonly ageMs: number;
  readonly mode: "eager" | "lazy";
  readonly queuedBytes: number;
}

export interface NodeStatus {
  readonly id: string;
  readonly p2pAddress: string;
  readonly apiAddress: string;
  readonly uptimeS: number;
  readonly neighbours: readonly NeighbourStatus[];
  readonly passiveViewSize: number;
  readonly apiConnections: number;
  readonly apiSubscriptions: number;
  readonly counters: ReturnType<typeof nodeCounters>;
}

export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

export function nodeStatus(node: GossipNode): NodeStatus {
  const now = realEnv.now();
  const neighbours = [...node.membership.active.values()].map((p) => ({
    address: p.addr,
    id: p.id,
    direction: p.link.initiator ? ("out" as const) : ("in" as const),
    ageMs: Math.round(now - p.since),
    mode: node.dissemination.isEager(p) ? ("eager" as const) : ("lazy" as const),
    queuedBytes: p.queuedBytes,
  }));
  return {
    id: node.id,
    p2pAddress: node.p2pAddress,
    apiAddress: node.apiAddress,
    uptimeS: Math.round((Date.now() - node.startedAt) / 1000),
    neighbours,
    passiveViewSize: node.membership.passive.size,
    apiConnections: node.api.connectionCount,
    apiSubscriptions: node.api.subscriptionCount,
    counters: nodeCounters(node),
  };
}

export class AdminServer {
  private readonly server: ReturnType<typeof Bun.serve>;
  private readonly host: string;

  constructor(node: GossipNode, address: Address, log: Logger) {
    const registry = nodeRegistry(node);
    this.host = address.host;
    try {
      this.server = Bun.serve({
        hostname: address.host,
        port: address.port,
        fetch: async (req) => {
          // HEAD is GET without the body (Bun leaves the body out); so `curl -I` works.
          if (req.method !== "GET" && req.method !== "HEAD") {
            return new Response("method not allowed: GET or HEAD\n", { status: 405, headers: { allow: "GET, HEAD" } });
          }
          // An HTTP/1.0 request without a Host header has no absolute URL to parse.
          const path = new URL(req.url, "http://admin.invalid").pathname;
          if (path === "/metrics") return new Response(await registry.metrics(), { headers: { "content-type": registry.contentType } });
          if (path === "/status") return Response.json(nodeStatus(node));
          return new Response("not found: GET /metrics or GET /status\n", { status: 404 });
        },
        error: (e) => {
          log.error("admin request failed", { why: String(e?.stack ?? e) });
          return new Response("internal error\n", { status: 500 });
        },
      });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const why =
        code === "EADDRINUSE" ? "address already in use" : code === "EADDRNOTAVAIL" ? "address not available on this host" : (e as Error).message;
      throw new NetError("ERR_LISTEN", `cannot listen on ${formatAddress(address)}: ${why}${code ? ` (${code})` : ""}`);
    }
    if (!isLoopback(address.host)) {
      log.warn("admin_address is not a loopback address: /metrics and /status are readable by anyone who can reach it", {
        addr: this.address,
      });
    }
  }

  /** The bound address (the real port when 0 was asked for). */
  get address(): string {
    return formatAddress({ host: this.host, port: this.server.port ?? 0 });
  }

  stop(): void {
    void this.server.stop(true);
  }
}
