// The protocol core: membership, dissemination and peer scores, wired together on the
// seams (Env, Transport, Validate). The binary wraps it with the API server and the TCP
// transport (src/node/node.ts); the simulator runs thousands of them on the in-memory
// transport and a virtual clock (src/sim/).

import type { Config } from "../config/schema.ts";
import { formatHostPort } from "../util/hostport.ts";
import type { Logger } from "../util/log.ts";
import { Dissemination, type Delivered, type Validate } from "./dissemination.ts";
import type { Env } from "./env.ts";
import { Membership } from "./membership.ts";
import { PeerScores } from "./scores.ts";
import type { Transport } from "./transport.ts";

export interface CoreDeps {
  readonly config: Config;
  readonly env: Env;
  readonly transport: Transport;
  readonly log: Logger;
  readonly validate: Validate;
  /** Shared with the transport's admission; made here when absent. */
  readonly scores?: PeerScores;
  /** Told of every item from a peer that local modules accepted. */
  readonly onDelivered?: (d: Delivered) => void;
  /** 16 secret bytes keying the seen cache's hash (the binary: random; see SeenCache). */
  readonly secret?: Uint8Array;
}

/** What a node keeps across restarts. */
export interface CoreState {
  /** Peer addresses it knew. */
  readonly peers: readonly string[];
  /** Item ids it had seen, with the ms each is still suppressed: never delivered twice. */
  readonly seen: ReadonlyArray<readonly [string, number]>;
}

/** How long a leaving node waits for its goodbyes to be taken before it closes what is left. */
export const LEAVE_GRACE_MS = 2000;

/** Peer addresses kept in the state, at most. */
export const STATE_MAX_PEERS = 512;
/** Seen item ids kept in the state, at most (the newest). */
export const STATE_MAX_SEEN = 20_000;

export function newScores(config: Config, env: Env): PeerScores {
  return new PeerScores({ banScore: config.banScore, banMs: config.banS * 1000, now: () => env.now() });
}

export class GossipCore {
  readonly membership: Membership;
  readonly dissemination: Dissemination;
  readonly scores: PeerScores;
  private stopped = false;

  constructor(deps: CoreDeps) {
    const c = deps.config;
    this.scores = deps.scores ?? newScores(c, deps.env);
    // Past this, item copies for a peer are dropped (dissemination), and a neighbour whose
    // queue stays past it is dropped (membership).
    const softQueueBytes = Math.floor(c.peerSendBufferBytes / 2);
    this.dissemination = new Dissemination(
      {
        mode: c.dissemination,
        ttlCap: c.ttlCap,
        cacheSize: c.cacheSize,
        graftBufferBytes: c.graftBufferBytes,
        suppressMs: c.suppressS * 1000,
        seenMax: c.seenCacheSize,
        graftTimeoutMs: c.graftTimeoutMs,
        ihaveBatchMs: c.ihaveBatchMs,
        offerRecentMs: c.offerRecentMs,
        softQueueBytes,
      },
      {
        env: deps.env,
        log: deps.log.child("spread"),
        validate: deps.validate,
        penalize: (p, pts, why) => this.membership.penalize(p, pts, why),
        violation: (p, code, why) => this.membership.violation(p, code, why),
        onDelivered: deps.onDelivered,
        ...(deps.secret ? { secret: deps.secret } : {}),
      },
    );
    this.membership = new Membership(
      {
        bootstrappers: c.bootstrappers.map((b) => formatHostPort(b.host, b.port)),
        degree: c.degree,
        passiveSize: c.passiveSize,
        keepaliveMs: c.keepaliveMs,
        shuffleIntervalMs: c.shuffleIntervalMs,
        handshakeTimeoutMs: c.handshakeTimeoutMs,
        itemsPerS: c.peerItemsPerS,
        controlPerS: c.peerControlPerS,
        viewPrefixLimit: c.viewPrefixLimit,
        refreshIntervalMs: c.refreshIntervalMs,
        softQueueBytes,
        banSourceIp: c.maxConnsPerIp > 0,
      },
      {
        env: deps.env,
        transport: deps.transport,
        scores: this.scores,
        log: deps.log.child("overlay"),
        hooks: this.dissemination,
      },
    );
  }

  /** Starts the transport (binding its listener) and joins; `state`: what a previous run saved. */
  start(state?: CoreState): void {
    if (state) this.dissemination.restoreSeen(state.seen);
    this.membership.start(state?.peers ?? []);
  }

  /** What a restart needs: known peers and the ids seen lately (see src/node/state.ts). */
  snapshot(): CoreState {
    return {
      peers: this.membership.knownPeers(STATE_MAX_PEERS),
      seen: this.dissemination.seenSnapshot(STATE_MAX_SEEN),
    };
  }

  get address(): string {
    return this.membership.address;
  }

  /** A local item: spread at once. Returns its id (hex). */
  announce(ttl: number, dataType: number, data: Uint8Array): string {
    return this.dissemination.announce(ttl, dataType, data);
  }

  /** graceful: a leave (neighbours are told); see Membership.stop. */
  stop(graceful = false): void {
    if (!this.stopped) this.dissemination.stop();
    this.stopped = true;
    this.membership.stop(graceful);
  }
}
