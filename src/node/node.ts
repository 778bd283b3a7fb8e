// A Gossip node: the protocol core (membership, dissemination) on the TCP transport and the
// real clock, with the API server for local modules in front. The binary, the real-socket
// tests and the benchmark all run this class; the simulator runs the same core on its own
// seams.

import { formatAddress } from "../config/address.ts";
import type { Hostkey } from "../config/hostkey.ts";
import type { Config } from "../config/schema.ts";
import { type CoreState, GossipCore, LEAVE_GRACE_MS, newScores } from "../core/core.ts";
import type { Delivered, Verdict } from "../core/dissemination.ts";
import type { Env } from "../core/env.ts";
import type { Transport } from "../core/transport.ts";
import { TcpTransport } from "../net/peer-transport.ts";
import type { Logger } from "../util/log.ts";
import { realEnv } from "../util/real-env.ts";
import { AdminServer } from "./admin.ts";
import { ApiServer } from "./api-server.ts";
import { HealthWatch } from "./health.ts";
import { StateWriter } from "./state.ts";

export interface NodeOptions {
  readonly config: Config;
  readonly hostkey: Hostkey;
  readonly log: Logger;
  /** Told of every item from a peer that local modules accepted. */
  readonly onDelivered?: (d: Delivered) => void;
  /** The state file (src/node/state.ts) and what it held at start; absent: none. */
  readonly state?: { readonly path: string; readonly saved: CoreState | null };
}

export interface NodeDeps {
  readonly config: Config;
  readonly env: Env;
  readonly transport: Transport;
  readonly log: Logger;
  readonly id: string;
  readonly scores?: ReturnType<typeof newScores>;
  readonly onDelivered?: (d: Delivered) => void;
}

export class GossipNode {
  readonly api: ApiServer;
  readonly core: GossipCore;
  readonly log: Logger;
  readonly id: string;
  readonly transport: Transport;
  /** Counts the core does not keep: local verdicts by outcome, peers banned (for /metrics). */
  readonly counts = { verdicts: {} as Partial<Record<Verdict, number>> };
  readonly startedAt = Date.now();
  private admin: AdminServer | null = null;
  private health: HealthWatch | null = null;
  private state: StateWriter | null = null;
  private stopped = false;

  constructor(deps: NodeDeps) {
    const c = deps.config;
    this.log = deps.log;
    this.transport = deps.transport;
    this.id = deps.id;
    this.api = new ApiServer({
      address: c.apiAddress,
      validationTimeoutMs: c.validationTimeoutS * 1000,
      maxPending: c.maxPendingValidations,
      maxConnections: c.apiMaxConnections,
      sendBufferBytes: c.apiSendBufferBytes,
      announcesPerS: c.apiAnnouncesPerS,
      log: deps.log.child("api"),
    });
    this.core = new GossipCore({
      config: c,
      env: deps.env,
      transport: deps.transport,
      log: deps.log,
      scores: deps.scores,
      onDelivered: deps.onDelivered,
      // Unknown outside this process: nobody can pick item ids that collide in its seen cache.
      secret: deps.env.bytes(16),
      validate: (t, d, done) => {
        let settled = false;
        const settle = (v: Verdict): void => {
          if (settled) return;
          settled = true;
          this.counts.verdicts[v] = (this.counts.verdicts[v] ?? 0) + 1;
          // A verdict comes from a module's VALIDATION, a timer or a closing connection: a bug
          // of ours in handling it must not be blamed on that module, nor stop the node.
          try {
            done(v);
          } catch (e) {
            this.log.error("handling a verdict failed", { verdict: v, why: String((e as Error)?.stack ?? e) });
          }
        };
        try {
          this.api.validate(t, d, settle);
        } catch (e) {
          // A bug of ours; the item is dropped, the node stays up.
          this.log.error("validation failed", { why: String((e as Error)?.stack ?? e) });
          settle("abandoned");
        }
      },
    });
    this.api.setAnnounceSink((ttl, t, d) => void this.core.announce(ttl, t, d));
  }

  /** A node on the TCP transport and the real clock. Binds both listeners (throws NetError if either cannot) and starts joining. */
  static start(opts: NodeOptions): GossipNode {
    const c = opts.config;
    const scores = newScores(c, realEnv);
    const transport = new TcpTransport({
      listenHost: c.p2pAddress.host,
      listenPort: c.p2pAddress.port,
      advertise: c.advertiseAddress ? formatAddress(c.advertiseAddress) : null,
      sendBufferBytes: c.peerSendBufferBytes,
      handshakeTimeoutMs: c.handshakeTimeoutMs,
      maxHandshakes: c.maxHandshakes,
      maxConnsPerIp: c.maxConnsPerIp,
      powBits: c.powBits,
      hostkey: opts.hostkey,
      log: opts.log.child("overlay"),
      // Banned peers (identity or source IP) are refused before either side spends work on them.
      admit: (id, ip) => {
        const ms = Math.max(scores.bannedFor(id), scores.bannedFor(ip));
        return ms > 0 ? `banned for another ${Math.ceil(ms / 1000)} s` : null;
      },
    });
    const node = new GossipNode({ config: c, env: realEnv, transport, log: opts.log, id: opts.hostkey.idHex, scores, onDelivered: opts.onDelivered });
    try {
      node.core.start(opts.state?.saved ?? undefined);
    } catch (e) {
      node.api.stop();
      throw e;
    }
    if (opts.state) {
      node.state = new StateWriter(opts.state.path, () => node.core.snapshot(), opts.log.child("state"));
      node.state.save();
      node.state.start();
    }
    node.health = new HealthWatch({ neighbours: () => node.membership.active.size, expectsPeers: c.bootstrappers.length > 0, env: realEnv, log: opts.log });
    if (c.adminAddress) {
      try {
        node.admin = new AdminServer(node, c.adminAddress, opts.log.child("admin"));
      } catch (e) {
        node.stop();
        throw e;
      }
    }
    return node;
  }

  get membership() {
    return this.core.membership;
  }
  get dissemination() {
    return this.core.dissemination;
  }
  get scores() {
    return this.core.scores;
  }
  get apiAddress(): string {
    return this.api.address;
  }
  /** The address peers are told to dial: advertise_address, else where the p2p listener is bound. */
  get p2pAddress(): string {
    return this.core.address;
  }
  /** Where the p2p listener is bound (the real port), also when advertise_address says otherwise. */
  get p2pListenAddress(): string {
    return this.transport instanceof TcpTransport ? this.transport.listenAddress : this.core.address;
  }
  /** The bound admin address, or null when admin_address is not configured. */
  get adminAddress(): string | null {
    return this.admin?.address ?? null;
  }

  /**
   * A graceful stop (SIGINT/SIGTERM): neighbours are sent DISCONNECT, so they replace us at
   * once instead of after a keepalive timeout, and get up to graceMs to take it; then stop().
   */
  async leave(graceMs = LEAVE_GRACE_MS): Promise<void> {
    if (this.stopped) return;
    // Saved while the neighbours are still known as such.
    this.state?.stop();
    this.core.stop(true);
    const deadline = Date.now() + graceMs;
    while (this.transport.linkCount > 0 && Date.now() < deadline) await Bun.sleep(10);
    this.stop();
  }

  /** Closes listeners and every connection; pending verdicts are dropped. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.state?.stop();
    this.health?.stop();
    this.admin?.stop();
    this.core.stop();
    this.api.stop();
  }
}
