// The admin listener (admin_address): GET /metrics in the Prometheus text exposition format,
// GET /status as JSON for `gossip status`. Read-only: HEAD is GET without the body, another
// method is 405 (Allow: GET, HEAD), another path 404. It is meant for loopback: it is not
// authenticated, so another host is allowed but logged as a warning.

import { formatAddress } from "../config/address.ts";
import type { Address } from "../config/schema.ts";
import { NetError } from "../net/tcp.ts";
import { LogThrottle } from "../util/bucket.ts";
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

/**
 * Admin connections open at once; more are refused (answered 503 and closed at once), so
 * held-open admin connections cannot take the file descriptors the API and peers need.
 */
export const ADMIN_MAX_CONNECTIONS = 16;
/** How long an admin connection may live: the request must arrive and the answer leave within it. */
export const ADMIN_CONNECTION_MS = 5000;
/** Request line and headers together; a longer head is answered 431. */
const MAX_HEAD_BYTES = 8192;
const ALLOW = "GET, HEAD";
const REASONS: Record<number, string> = {
  200: "OK",
  400: "Bad Request",
  404: "Not Found",
  405: "Method Not Allowed",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

interface Answer {
  readonly status: number;
  readonly body: string;
  readonly type?: string;
  readonly allow?: boolean;
}

/** One admin connection: one request, one answer, then closed. Null for a refused one. */
interface AdminConn {
  head: string;
  answered: boolean;
  out: Uint8Array;
  timer: ReturnType<typeof setTimeout>;
}

type AdminSocket = Bun.Socket<AdminConn | null>;

/**
 * A small HTTP/1.x server on Bun.listen rather than Bun.serve, which has no bound on
 * connections: one request per connection (answered with `connection: close`), a head of at
 * most MAX_HEAD_BYTES, ADMIN_CONNECTION_MS per connection, ADMIN_MAX_CONNECTIONS at once.
 */
export class AdminServer {
  private readonly listener: Bun.TCPSocketListener<AdminConn | null>;
  private readonly host: string;
  private readonly open = new Set<AdminSocket>();
  private readonly refusedLog: LogThrottle;

  constructor(node: GossipNode, address: Address, log: Logger) {
    const registry = nodeRegistry(node);
    this.host = address.host;
    this.refusedLog = new LogThrottle((n) => log.warn("admin connections refused: too many open", { refused: n, max: ADMIN_MAX_CONNECTIONS }), realEnv);
    const route = async (method: string, path: string): Promise<Answer> => {
      if (method !== "GET" && method !== "HEAD") return { status: 405, body: `method not allowed: ${ALLOW}\n`, allow: true };
      if (path === "/metrics") return { status: 200, body: await registry.metrics(), type: registry.contentType };
      if (path === "/status") return { status: 200, body: JSON.stringify(nodeStatus(node)), type: "application/json" };
      return { status: 404, body: "not found: GET /metrics or GET /status\n" };
    };
    const answer = (s: AdminSocket, a: Answer, head: boolean): void => {
      const c = s.data;
      if (c === null || c.answered) return;
      c.answered = true;
      const body = Buffer.from(a.body);
      const lines = [
        `HTTP/1.1 ${a.status} ${REASONS[a.status] ?? ""}`,
        `content-type: ${a.type ?? "text/plain; charset=utf-8"}`,
        `content-length: ${body.length}`,
        "connection: close",
        ...(a.allow ? [`allow: ${ALLOW}`] : []),
      ];
      const bytes = Buffer.from(lines.join("\r\n") + "\r\n\r\n");
      c.out = head ? bytes : Buffer.concat([bytes, body]);
      flush(s);
    };
    // socket.write may take fewer bytes than given: the rest goes on drain.
    const flush = (s: AdminSocket): void => {
      const c = s.data;
      if (c === null || c.out.length === 0) return;
      const n = s.write(c.out);
      c.out = c.out.subarray(Math.max(0, n));
      if (c.out.length === 0) s.end();
    };
    const request = (s: AdminSocket, head: string): void => {
      const m = /^([A-Za-z]+) (\S+) HTTP\/1\.[01]$/.exec(head.split(/\r?\n/, 1)[0]!);
      if (m === null) return answer(s, { status: 400, body: "bad request\n" }, false);
      let path: string;
      try {
        // Origin form (/metrics?x) or absolute form (http://host/metrics); no Host header needed.
        path = new URL(m[2]!, "http://admin.invalid").pathname;
      } catch {
        return answer(s, { status: 400, body: "bad request target\n" }, false);
      }
      route(m[1]!, path).then(
        (a) => answer(s, a, m[1] === "HEAD"),
        (e) => {
          log.error("admin request failed", { path, why: String((e as Error)?.stack ?? e) });
          answer(s, { status: 500, body: "internal error\n" }, false);
        },
      );
    };
    try {
      this.listener = Bun.listen<AdminConn | null>({
        hostname: address.host,
        port: address.port,
        socket: {
          open: (s) => {
            if (this.open.size >= ADMIN_MAX_CONNECTIONS) {
              s.data = null;
              this.refusedLog.hit();
              s.end(`HTTP/1.1 503 ${REASONS[503]}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`);
              return;
            }
            this.open.add(s);
            s.data = { head: "", answered: false, out: new Uint8Array(0), timer: setTimeout(() => s.terminate(), ADMIN_CONNECTION_MS) };
          },
          data: (s, chunk) => {
            const c = s.data;
            if (c === null || c.answered) return;
            c.head += chunk.toString("latin1");
            const end = c.head.search(/\r?\n\r?\n/);
            if (end >= 0 && end <= MAX_HEAD_BYTES) return request(s, c.head.slice(0, end));
            if (c.head.length > MAX_HEAD_BYTES) answer(s, { status: 431, body: "request head too large\n" }, false);
          },
          drain: (s) => flush(s),
          close: (s) => {
            if (s.data !== null) clearTimeout(s.data.timer);
            this.open.delete(s);
          },
          error: (s) => {
            if (s.data !== null) clearTimeout(s.data.timer);
            this.open.delete(s);
          },
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
    return formatAddress({ host: this.host, port: this.listener.port });
  }

  stop(): void {
    this.listener.stop(true);
    for (const s of this.open) s.terminate();
    this.open.clear();
  }
}
