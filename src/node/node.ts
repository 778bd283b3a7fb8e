// A Gossip node: the API server for local modules, the membership overlay and dissemination,
// wired together. The same class runs in the binary, in tests and in benchmarks.

import { formatAddress } from "../config/address.ts";
import type { Hostkey } from "../config/hostkey.ts";
import type { Config } from "../config/schema.ts";
import type { Logger } from "../util/log.ts";
import { ApiServer } from "./api-server.ts";
import { Dissemination, type Delivered } from "./dissemination.ts";
import { Membership } from "./membership.ts";
import { PeerScores } from "./scores.ts";

export interface NodeOptions {
  readonly config: Config;
  readonly hostkey: Hostkey;
  readonly log: Logger;
  /** Told of every item from a peer that local modules accepted. */
  readonly onDelivered?: (d: Delivered) => void;
}

export class GossipNode {
  readonly api: ApiServer;
  readonly membership: Membership;
  readonly dissemination: Dissemination;
  readonly scores: PeerScores;
  readonly log: Logger;
  private stopped = false;

  private constructor(readonly opts: NodeOptions) {
    const c = opts.config;
    this.log = opts.log;
    this.scores = new PeerScores({ banScore: c.banScore, banMs: c.banS * 1000 });
    this.api = new ApiServer({
      address: c.apiAddress,
      validationTimeoutMs: c.validationTimeoutS * 1000,
      maxPending: c.maxPendingValidations,
      maxConnections: c.apiMaxConnections,
      sendBufferBytes: c.apiSendBufferBytes,
      announcesPerS: c.apiAnnouncesPerS,
      log: opts.log.child("api"),
    });
    this.dissemination = new Dissemination({
      mode: c.dissemination,
      ttlCap: c.ttlCap,
      cacheSize: c.cacheSize,
      suppressMs: c.suppressS * 1000,
      seenMax: c.seenCacheSize,
      graftTimeoutMs: c.graftTimeoutMs,
      ihaveBatchMs: c.ihaveBatchMs,
      offerRecentMs: c.offerRecentMs,
      log: opts.log.child("spread"),
      validate: (t, d) => this.api.validate(t, d),
      softQueueBytes: Math.floor(c.peerSendBufferBytes / 2),
      penalize: (l, pts, why) => this.membership.penalize(l, pts, why),
      onDelivered: opts.onDelivered,
    });
    this.api.setAnnounceSink((ttl, t, d) => this.dissemination.announce(ttl, t, d));
    this.membership = new Membership({
      listenHost: c.p2pAddress.host,
      listenPort: c.p2pAddress.port,
      bootstrapper: c.bootstrapper ? formatAddress(c.bootstrapper) : null,
      degree: c.degree,
      passiveSize: c.passiveSize,
      keepaliveMs: c.keepaliveMs,
      shuffleIntervalMs: c.shuffleIntervalMs,
      handshakeTimeoutMs: c.handshakeTimeoutMs,
      maxHandshakes: c.maxHandshakes,
      sendBufferBytes: c.peerSendBufferBytes,
      itemsPerS: c.peerItemsPerS,
      controlPerS: c.peerControlPerS,
      maxConnsPerIp: c.maxConnsPerIp,
      viewPrefixLimit: c.viewPrefixLimit,
      scores: this.scores,
      powBits: c.powBits,
      hostkey: opts.hostkey,
      log: opts.log.child("overlay"),
      up: (l) => this.dissemination.neighborUp(l),
      down: (l) => this.dissemination.neighborDown(l),
      message: (l, m) => this.dissemination.handle(l, m),
    });
  }

  /** Binds both listeners (throws NetError if either cannot) and starts joining. */
  static start(opts: NodeOptions): GossipNode {
    const node = new GossipNode(opts);
    try {
      node.membership.start();
    } catch (e) {
      node.api.stop();
      throw e;
    }
    return node;
  }

  get apiAddress(): string {
    return this.api.address;
  }
  get p2pAddress(): string {
    return this.membership.address;
  }
  get id(): string {
    return this.opts.hostkey.idHex;
  }

  /** Closes listeners and every connection; pending verdicts are dropped. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.dissemination.stop();
    this.membership.stop();
    this.api.stop();
  }
}
