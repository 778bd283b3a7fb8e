// The transport seam. The core asks for connections (`dial`) and is told of links that are
// ready (`established`), of messages on them and of their end; it never sees a socket, a
// handshake or a cipher. The TCP transport (src/net/peer-transport.ts) owns sockets, the
// handshake, the secure channel and admission (bans, per-IP and handshake limits); the
// in-memory transport (src/sim/network.ts) carries message objects between simulated nodes.

import type { P2pMessage } from "../wire/p2p.ts";

/** One connection to a peer, as the core sees it. */
export interface Link {
  /** The peer's identity (hex); "" until established. */
  readonly id: string;
  /** The p2p address the peer advertises; "" until established. */
  readonly addr: string;
  /** Where the connection really comes from (host:port seen on the socket). */
  readonly remote: string;
  /**
   * The transport's number of this connection, as its own log lines name it (`link=N`), so
   * the core's lines about the link can too; 0 while it has none (a dial not connected yet).
   */
  readonly num: number;
  /** We dialed this link. */
  readonly initiator: boolean;
  /**
   * A dial the transport holds back and has not started (TCP: waiting for one of its dial
   * slots, dial-queue.ts); false once it started, and for every other link.
   */
  readonly waiting: boolean;
  /**
   * Our dial reached ourselves: the peer presented our own identity (TCP: ERR_HS_SELF). The
   * address dialled is one of ours under another name (a bootstrapper list naming us as
   * `localhost` or by another interface).
   */
  readonly reachedSelf: boolean;
  /** A value both ends of this link share and no other link has: the duplicate-link tie-break. */
  readonly tieBreak: string;
  /** The core's own record of this link (the transport never reads it): one lookup less per message. */
  slot: unknown;
  /** Bytes accepted by send() and not yet handed to the network. */
  readonly queuedBytes: number;
  /** Queues a message; false when the link is closed (or just closed for not reading). */
  send(msg: P2pMessage): boolean;
  /**
   * Ends the link. graceful: what is queued is delivered first; otherwise it is dropped.
   * `closed` follows either way, once.
   */
  close(reason: string, graceful: boolean): void;
}

export interface TransportEvents {
  /** The link is ready: its peer's identity and address are known (both directions). */
  established(link: Link): void;
  /**
   * A whole, decoded message from an established link. The message and the bytes it points
   * to are the core's to keep: a transport must not reuse or change them afterwards.
   */
  message(link: Link, msg: P2pMessage): void;
  /** Once per link the core was given (by dial or established), when it is gone. */
  closed(link: Link, reason: string): void;
  /** The peer provably broke the protocol (an authenticated frame that is malformed). */
  violated(link: Link, why: string): void;
}

/**
 * Why we dial. own: for our own views (refill, rejoin, refresh, the bootstrapper). walk: a
 * FORWARD_JOIN that ended here named the address (section 5.4). check: a JOIN's advertised
 * address, to prove who answers there (section 5.3); the link carries nothing, so the transport
 * may refuse to spend much on it (TCP: a proof of work harder than our own pow_bits). Walks
 * and checks are dials a peer asked for.
 */
export type DialKind = "own" | "walk" | "check";

export interface Transport {
  /** Starts accepting connections; returns the address peers are to dial. */
  start(events: TransportEvents): string;
  /**
   * Starts a connection; the link reports `established` or `closed` later, never at once.
   * kind (default "own"): what the dial is for (see DialKind); the transport may pace dials a
   * peer asked for behind the node's own, and drop them rather than let them wait long.
   */
  dial(addr: string, kind?: DialKind): Link;
  /** Stops accepting; links already handed out stay open until their owner closes them. */
  stop(): void;
  /** Links handed out (dials included) whose connection is not closed yet. */
  readonly linkCount: number;
}
