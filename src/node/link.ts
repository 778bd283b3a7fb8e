// One peer connection of the TCP transport: frames in and out, the handshake while it runs,
// then sealed records carrying decoded messages for the core. Every frame the link sends in
// one event-loop turn goes out in one record (protocol version 3), sealed at the turn's end,
// where the Conn writes anyway: nothing waits longer than it did. A malformed frame closes just
// this link with a log line and a stable code. The link exists from the moment it is dialed
// (state "connecting"), so the core can hold it before any socket does.

import type { Link } from "../core/transport.ts";
import type { Conn } from "../net/conn.ts";
import type { Logger } from "../util/log.ts";
import { toHex } from "../wire/bytes.ts";
import { isWireError } from "../wire/errors.ts";
import { FrameDecoder, frameTooSmall } from "../wire/frame.ts";
import { P2P_FRAME, decodeP2p, encodeP2p, type P2pMessage } from "../wire/p2p.ts";
import { SecureChannel, splitRecord } from "./channel.ts";
import { Handshake, HsCode, type HandshakeOptions, type HandshakeResult } from "./handshake.ts";

export type LinkState = "connecting" | "handshake" | "open" | "closed";

export interface LinkEvents {
  /** The handshake succeeded; the peer's identity is known. */
  established(link: PeerLink): void;
  /** A decoded message after the handshake. */
  message(link: PeerLink, msg: P2pMessage): void;
  /** Once, when the link is gone (also for a dial that never connected). */
  closed(link: PeerLink, reason: string): void;
  /** The peer provably broke the protocol (the link is being closed): for its score. */
  violated(link: PeerLink, why: string): void;
}

/**
 * Plaintext frames of messages sent to many links at once (an item forwarded to every
 * neighbour is one object, and so is an IHAVE batch that lazy neighbours share while it
 * holds one entry): encoded once, sealed per link. Messages are not changed once sent.
 */
const encoded = new WeakMap<P2pMessage, Uint8Array>();
function frameOf(msg: P2pMessage): Uint8Array {
  if (msg.kind !== "gossip" && msg.kind !== "ihave") return encodeP2p(msg);
  let f = encoded.get(msg);
  if (!f) encoded.set(msg, (f = encodeP2p(msg)));
  return f;
}

export class PeerLink implements Link {
  state: LinkState = "connecting";
  slot: unknown = undefined;
  peer: HandshakeResult | null = null;
  conn: Conn | null = null;
  log: Logger;
  private readonly decoder = new FrameDecoder(P2P_FRAME);
  private handshake: Handshake | null = null;
  /** Set when the handshake succeeds; from then on every frame is sealed. */
  private channel: SecureChannel | null = null;
  private closeReason: string | null = null;
  /** A dial of ours waiting for a slot in the transport's dial queue (not connecting yet). */
  waiting = false;
  /** The stable code of a failed handshake (ERR_HS_...), for the log line. */
  handshakeCode: string | null = null;
  /** Our accept end of this dial found our own identity (set by the transport, see reachedSelf). */
  selfAccepted = false;
  /** Our dial reached ourselves: our acceptor saw our identity, or the peer refused us for it. */
  get reachedSelf(): boolean {
    return this.selfAccepted || this.handshakeCode === HsCode.Self;
  }
  /** Closed hard by us: frames still in the current chunk are not handled. */
  private deaf = false;
  /** Sealed records opened so far (a late plaintext REFUSE can only come first). */
  private sealedIn = 0;
  /** Plain frames sent this turn, sealed together when it ends. */
  private outFrames: Uint8Array[] = [];
  private outBytes = 0;
  private readonly sealOut = (): void => {
    const frames = this.outFrames;
    if (frames.length === 0) return;
    this.outFrames = [];
    this.outBytes = 0;
    // Closed since (hard): the frames go nowhere; the counters no longer matter.
    if (this.conn?.writable && this.channel) this.conn.send(this.channel.seal(frames));
  };

  constructor(
    readonly initiator: boolean,
    private readonly hsOpts: HandshakeOptions,
    log: Logger,
    private readonly events: LinkEvents,
    /** For dials: the address dialed, until a socket gives the real remote. */
    private readonly target = "",
  ) {
    this.log = log;
  }

  get id(): string {
    return this.peer?.peerIdHex ?? "";
  }
  get addr(): string {
    return this.peer?.peerAddr ?? "";
  }
  get remote(): string {
    return this.conn?.remote ?? this.target;
  }
  /** The connection's number in log lines (link=N); 0 before a socket opened. */
  get num(): number {
    return this.conn?.id ?? 0;
  }
  /** Shared by both ends of this link (from the session key): the duplicate-link tie-break. */
  get tieBreak(): string {
    return this.peer ? toHex(this.peer.sessionKey) : "";
  }
  /** Sealed records this link has sent, and the frames in them (0 before the handshake). */
  get sealed(): { records: number; frames: number } {
    return { records: this.channel?.recordsSealed ?? 0, frames: this.channel?.framesSealed ?? 0 };
  }
  /** Bytes sent and not yet handed to the kernel, this turn's frames included. */
  get queuedBytes(): number {
    return (this.conn?.queuedBytes ?? 0) + this.outBytes;
  }
  /** Why the link was closed by us, if it was. */
  get closing(): string | null {
    return this.closeReason;
  }

  /** The socket is open: run the handshake over it. */
  attach(conn: Conn): void {
    this.conn = conn;
    this.log = this.log.child("peer", { link: conn.id, remote: conn.remote });
    this.state = "handshake";
    const hs = new Handshake(this.initiator ? "initiator" : "acceptor", this.hsOpts, (m) => this.send(m));
    this.handshake = hs;
    hs.result.catch((e: Error & { code?: string }) => {
      this.handshakeCode = e.code ?? "ERR_HS_INTERNAL";
      this.close(`handshake failed: ${e.message}`, false);
    });
    hs.start();
    this.openIfDone();
  }

  send(msg: P2pMessage): boolean {
    if (this.state === "closed" || this.state === "connecting" || !this.conn) return false;
    const frame = frameOf(msg);
    if (!this.channel) return this.conn.send(frame);
    if (!this.conn.writable) return false;
    // Sealed at the end of this turn with whatever else the turn sends here: a microtask
    // queued now runs before the Conn's own write (queued by the send it makes).
    if (this.outFrames.length === 0) queueMicrotask(this.sealOut);
    this.outFrames.push(frame);
    this.outBytes += frame.byteLength;
    return true;
  }

  close(reason: string, graceful = false): void {
    if (this.state === "closed") return;
    this.closeReason ??= reason;
    if (!this.conn) {
      // Still connecting: the dial's socket is closed when (if) it opens.
      this.onClose(reason);
      return;
    }
    if (graceful) {
      // What this turn sent (e.g. a DISCONNECT) goes out before the socket is shut.
      this.sealOut();
      void this.conn.end(reason);
    } else {
      this.outFrames = [];
      this.outBytes = 0;
      this.deaf = true;
      this.conn.close(reason);
    }
  }

  // --- from the connection ---

  onData(chunk: Uint8Array): void {
    if (this.deaf) return;
    // Whether the record being handled opened under the channel key: only then do we know the
    // peer itself sent what we object to (an inner frame that is malformed, for one). True
    // only while that record's frames are handled: the next record's size field, read by the
    // decoder before the callback runs, is not authenticated, and its failure must cost the
    // same whether it came in this read or the next (an on-path attacker chooses the split).
    let authenticated = false;
    try {
      this.decoder.feed(chunk, (frame) => {
        authenticated = false;
        if (!this.channel) {
          this.dispatch(decodeP2p(frame));
          return this.state !== "closed" && !this.deaf;
        }
        let plain: Uint8Array;
        const min = this.channel.spec.minSize;
        if (frame.byteLength < min) {
          // Admitted only as the first frame after the handshake, in case it is a short
          // plaintext REFUSE (see openIfDone); anything else that small is refused as before.
          if (this.sealedIn === 0 && this.lateRefuse(frame)) return false;
          throw frameTooSmall(frame.byteLength, min);
        }
        try {
          plain = this.channel.open(frame);
          // From the second record on, sizes are checked before anything is buffered.
          if (this.sealedIn++ === 0) this.decoder.spec = this.channel.spec;
        } catch (e) {
          if (this.sealedIn === 0 && this.lateRefuse(frame)) return false;
          throw e;
        }
        authenticated = true;
        // Inner frames are views of the record's plaintext, decoded in place; only an item's
        // fields are copied (the core keeps items: a view would keep the whole record alive).
        for (const f of splitRecord(plain)) {
          this.dispatch(decodeP2p(f, true));
          if (this.state === "closed" || this.deaf) return false;
        }
        authenticated = false;
        return true;
      });
    } catch (e) {
      this.violation(e, authenticated);
    }
  }

  private dispatch(msg: P2pMessage): void {
    if (this.state === "open") return this.events.message(this, msg);
    this.handshake?.receive(msg);
    this.openIfDone();
  }

  /** Switches to the sealed channel at the exact frame boundary where the handshake ended. */
  private openIfDone(): void {
    const r = this.handshake?.outcome;
    if (!r || this.state !== "handshake") return;
    this.peer = r;
    this.channel = new SecureChannel(r.sessionKey, this.initiator, r.version);
    // A peer whose handshake timer ran out as ours ended sends a plaintext REFUSE where the
    // first record should be, and a short one is smaller than any record: until a record has
    // opened, a frame below the record minimum (25 bytes at most) is read whole, so that
    // onData can tell such a REFUSE from a record that is too small.
    this.decoder.spec = { ...this.channel.spec, minSize: this.channel.spec.sizeBytes };
    this.state = "open";
    this.events.established(this);
  }

  onClose(reason: string): void {
    if (this.state === "closed") return;
    this.state = "closed";
    this.handshake?.abort(reason);
    this.events.closed(this, this.closeReason ?? reason);
  }

  /**
   * The handshake ended on our side, but the peer's timer ran out while our last message was
   * on its way: it sends a plaintext REFUSE where we expect the first sealed frame. That is
   * a handshake that failed, not a frame tampered with. True if the frame is one (the link is
   * then closed).
   */
  private lateRefuse(frame: Uint8Array): boolean {
    let msg: P2pMessage;
    try {
      msg = decodeP2p(frame);
    } catch {
      return false;
    }
    if (msg.kind !== "refuse") return false;
    this.log.info("peer gave up the handshake as it ended here (late REFUSE), closing link", { code: "ERR_HS_REFUSED", reason: msg.reason });
    this.close(`refused by peer: ${msg.reason}`);
    return true;
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
