// One peer connection: frames in and out, the handshake while it runs, then decoded
// messages for the overlay. A malformed frame or an unexpected message closes just this
// link with a log line.

import type { Conn } from "../net/conn.ts";
import { TokenBucket } from "../util/bucket.ts";
import type { Logger } from "../util/log.ts";
import { isWireError } from "../wire/errors.ts";
import { FrameDecoder } from "../wire/frame.ts";
import { P2P_FRAME, decodeP2p, encodeP2p, type P2pMessage } from "../wire/p2p.ts";
import { SEALED_FRAME, SecureChannel } from "./channel.ts";
import { Handshake, type HandshakeOptions, type HandshakeResult } from "./handshake.ts";

export type LinkState = "handshake" | "open" | "closed";

export interface LinkEvents {
  /** The handshake succeeded; the peer's identity is known. */
  established(link: PeerLink): void;
  /** A decoded message after the handshake. */
  message(link: PeerLink, msg: P2pMessage): void;
  /** Once, when the link is gone. */
  closed(link: PeerLink, reason: string): void;
  /** The peer broke the protocol (the link is being closed): for its score. */
  violated(link: PeerLink, why: string): void;
}

export interface LinkLimits {
  /** Items (GOSSIP) per second accepted from the peer. */
  readonly itemsPerS: number;
  /** Other messages per second accepted from the peer. */
  readonly controlPerS: number;
}

export class PeerLink {
  state: LinkState = "handshake";
  peer: HandshakeResult | null = null;
  lastReceived = performance.now();
  lastSent = performance.now();
  /** Set when this link is being replaced or evicted on purpose: its close is expected. */
  retired = false;
  readonly items: TokenBucket;
  readonly control: TokenBucket;
  readonly log: Logger;
  private readonly decoder = new FrameDecoder(P2P_FRAME);
  private readonly handshake: Handshake;
  /** Set when the handshake succeeds; from then on every frame is sealed. */
  private channel: SecureChannel | null = null;

  constructor(
    readonly conn: Conn,
    readonly initiator: boolean,
    hsOpts: HandshakeOptions,
    limits: LinkLimits,
    log: Logger,
    private readonly events: LinkEvents,
  ) {
    this.log = log.child("peer", { link: conn.id, remote: conn.remote });
    this.items = new TokenBucket(limits.itemsPerS);
    this.control = new TokenBucket(limits.controlPerS);
    this.handshake = new Handshake(initiator ? "initiator" : "acceptor", hsOpts, (m) => this.send(m));
    this.handshake.result.catch((e: Error) => this.close(`handshake failed: ${e.message}`));
    this.handshake.start();
    this.openIfDone();
  }

  get idHex(): string {
    return this.peer?.peerIdHex ?? "";
  }
  /** Shared by both ends of this link: a tie-break both ends compute alike. */
  get sessionKeyHex(): string {
    return this.peer ? Buffer.from(this.peer.sessionKey).toString("hex") : "";
  }
  /** The peer's advertised p2p address (known after the handshake). */
  get addr(): string {
    return this.peer?.peerAddr ?? "";
  }

  send(msg: P2pMessage): boolean {
    return this.sendFrame(encodeP2p(msg));
  }

  /** Sends a plaintext p2p frame (sealed once the handshake is done). */
  sendFrame(frame: Uint8Array): boolean {
    if (this.state === "closed") return false;
    this.lastSent = performance.now();
    return this.conn.send(this.channel ? this.channel.seal(frame) : frame);
  }

  /** Sends a last message, then closes once it is flushed. */
  async goodbye(msg: P2pMessage | null, reason: string): Promise<void> {
    this.retired = true;
    if (msg) this.send(msg);
    await this.conn.end(reason);
  }

  close(reason: string): void {
    if (this.state === "closed") return;
    this.conn.close(reason);
  }

  // --- from the connection ---

  onData(chunk: Uint8Array): void {
    // Whether the frame being handled opened under the channel key: only then do we know the
    // peer itself sent what we object to.
    let authenticated = false;
    try {
      this.decoder.feed(chunk, (frame) => {
        // Only whole frames count as signs of life: a peer dribbling a frame it never
        // finishes is as silent as one that sends nothing.
        this.lastReceived = performance.now();
        authenticated = false;
        const plain = this.channel ? this.channel.open(frame) : frame;
        authenticated = this.channel !== null;
        this.dispatch(decodeP2p(plain));
        return this.state !== "closed";
      });
    } catch (e) {
      this.violation(e, authenticated);
    }
  }

  private dispatch(msg: P2pMessage): void {
    if (this.state === "open") return this.events.message(this, msg);
    this.handshake.receive(msg);
    this.openIfDone();
  }

  /** Switches to the sealed channel at the exact frame boundary where the handshake ended. */
  private openIfDone(): void {
    const r = this.handshake.outcome;
    if (!r || this.state !== "handshake") return;
    this.peer = r;
    this.channel = new SecureChannel(r.sessionKey, this.initiator);
    this.decoder.spec = SEALED_FRAME;
    this.state = "open";
    this.events.established(this);
  }

  onClose(reason: string): void {
    if (this.state === "closed") return;
    this.state = "closed";
    this.handshake.abort(reason);
    this.events.closed(this, reason);
  }

  /** Closes for a message that is not allowed here. */
  unexpected(msg: P2pMessage, where: string): void {
    const why = `unexpected ${msg.kind} ${where}`;
    this.log.warn("protocol violation, closing peer link", { why });
    if (this.peer) this.events.violated(this, why);
    this.close(`protocol violation: ${why}`);
  }

  private violation(e: unknown, authenticated: boolean): void {
    if (!isWireError(e)) {
      // A bug of ours, not the peer's: keep the node up, drop just this link.
      this.log.error("internal error while handling peer input, closing link", { why: String((e as Error)?.stack ?? e) });
      this.close("internal error");
      return;
    }
    this.log.warn("protocol violation, closing peer link", { code: e.code, why: e.message });
    // A frame that fails to open (or whose framing is broken) may have been damaged by anyone
    // on the path: close, but hold against the peer's identity only what it provably sent.
    if (authenticated) this.events.violated(this, e.message);
    this.close(`protocol violation: ${e.message}`);
  }
}
