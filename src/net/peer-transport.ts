// The TCP transport of the core: the p2p listener, dials, and admission. Each connection is
// a PeerLink (handshake, then the sealed channel); the core hears of a link only once its
// handshake is done (or, for its own dials, when it ends). Admission lives here: banned
// identities (at the handshake), handshakes in progress and connections per source IP, each
// counted until the socket is really closed.

import type { DialKind, Link, Transport, TransportEvents } from "../core/transport.ts";
import { parseAddress } from "../config/address.ts";
import type { Hostkey } from "../config/hostkey.ts";
import { remoteHost } from "../core/scores.ts";
import { HsCode } from "../node/handshake.ts";
import { PeerLink } from "../node/link.ts";
import type { Logger } from "../util/log.ts";
import type { Conn } from "./conn.ts";
import { DialQueue, type QueuedDial } from "./dial-queue.ts";
import { connect, listen, type Listener } from "./tcp.ts";
import type { Env } from "../core/env.ts";
import { LogThrottle } from "../util/bucket.ts";
import { realEnv } from "../util/real-env.ts";

export { MAX_ASKED_DIALS_AT_ONCE, MAX_ASKED_DIALS_QUEUED, MAX_DIALS_AT_ONCE } from "./dial-queue.ts";

export interface TcpTransportOptions {
  readonly listenHost: string;
  readonly listenPort: number;
  /** The address peers are told to dial (HELLO/CHALLENGE, JOIN walks); null: the listener's. */
  readonly advertise: string | null;
  readonly sendBufferBytes: number;
  readonly handshakeTimeoutMs: number;
  readonly maxHandshakes: number;
  /** Per source IP, at once; 0: no limit. */
  readonly maxConnsPerIp: number;
  readonly powBits: number;
  readonly hostkey: Hostkey;
  readonly log: Logger;
  /** A refusal reason for a peer identity and the IP its connection comes from (e.g. banned), or null to let it in. */
  readonly admit: (id: string, ip: string) => string | null;
  /** Opens outgoing connections (tcp.ts `connect`); tests pass one whose socket opens late. */
  readonly connect?: typeof connect;
  /** Clock and timers of the dial queue (realEnv in the node; tests pass a virtual clock's). */
  readonly env?: Env;
}

export class TcpTransport implements Transport {
  private listener: Listener | null = null;
  private events: TransportEvents | null = null;
  /** Every link until its socket is closed (or its dial has failed). */
  private readonly links = new Set<PeerLink>();
  private stopped = false;
  /** Our dials, started or waiting for a slot, until established or closed. */
  private readonly dialing = new Map<PeerLink, QueuedDial>();
  private readonly dials: DialQueue;
  /** Dials a peer asked for that were dropped, logged at most once a second. */
  private readonly dropped: LogThrottle;
  /** Handshakes finished, by outcome (for metrics). */
  readonly handshakes = { ok: 0, failed: 0 };
  /** What links that are gone sealed (live links are added when `sealed` is read). */
  private readonly sealedGone = { records: 0, frames: 0 };

  constructor(private readonly opts: TcpTransportOptions) {
    const env = opts.env ?? realEnv;
    this.dials = new DialQueue((ms, fn) => env.after(ms, fn), opts.handshakeTimeoutMs);
    this.dropped = new LogThrottle((n) => opts.log.info("dials a peer asked for dropped: too many waiting, or waiting too long", { dropped: n }), env);
  }

  /**
   * Sealed records sent on every link so far, and the plain frames in them: frames per record
   * is how much a turn's frames share a record (protocol version 3). Read at scrape time.
   */
  get sealed(): { records: number; frames: number } {
    let { records, frames } = this.sealedGone;
    for (const l of this.links) {
      const s = l.sealed;
      records += s.records;
      frames += s.frames;
    }
    return { records, frames };
  }

  /** Connections until their sockets close, dials included. */
  get linkCount(): number {
    return this.links.size;
  }
  /** Connections in their handshake, both directions. */
  get handshaking(): number {
    let n = 0;
    for (const l of this.links) if (l.state === "handshake") n++;
    return n;
  }
  /** Incoming connections still in their handshake. */
  get handshakingIn(): number {
    let n = 0;
    for (const l of this.links) if (l.state === "handshake" && !l.initiator) n++;
    return n;
  }

  start(events: TransportEvents): string {
    this.events = events;
    this.listener = listen(this.opts.listenHost, this.opts.listenPort, { highWater: this.opts.sendBufferBytes }, (conn) =>
      this.accept(conn),
    );
    return this.opts.advertise ?? this.listener.address;
  }

  /**
   * An accepted connection presented our own identity: if it comes from one of our own dials
   * (its source port is that dial's local port), that dial reached ourselves under another
   * name. Marked before the dial's own end sees the close, which it may see only as a socket
   * closed mid-handshake.
   */
  private selfDialFound(remote: string): void {
    const port = Number(remote.slice(remote.lastIndexOf(":") + 1));
    for (const d of this.links) if (d.initiator && d.conn !== null && d.conn.localPort === port) d.selfAccepted = true;
  }

  /** Where the p2p listener is bound (the real port when 0 was asked for), whatever we advertise. */
  get listenAddress(): string {
    return this.listener?.address ?? "";
  }

  stop(): void {
    this.stopped = true;
    this.listener?.stop();
  }

  /** Our dials connecting or in their handshake (each solving a proof of work). */
  get dialsInProgress(): number {
    return this.dials.inProgress;
  }
  /** Our dials waiting for a slot (dial-queue.ts). */
  get dialsQueued(): number {
    return this.dials.queued;
  }

  /**
   * Starts a connection, or queues it while MAX_DIALS_AT_ONCE are connecting or in their
   * handshake: each of those solves a proof of work on this one thread, and a node that
   * dialled every missing neighbour at once would have them all time out together. The
   * handshake deadline runs from the connect, so a queued dial does not lose its time. Dials a
   * peer asked for (walks, checks) wait behind ours, never take the last slot, and are dropped
   * (the dial fails) when too many wait or one waits past the handshake deadline.
   */
  dial(addr: string, kind: DialKind = "own"): Link {
    const link = this.newLink(true, addr, kind === "check");
    let host: string, port: number;
    try {
      ({ host, port } = parseAddress(addr));
    } catch (e) {
      queueMicrotask(() => link.onClose(`bad address: ${(e as Error).message}`));
      return link;
    }
    const d: QueuedDial = {
      asked: kind !== "own",
      start: () => this.connect(link, host, port),
      drop: (why) => {
        this.dropped.hit();
        link.onClose(`dial dropped: ${why}`);
      },
    };
    this.dialing.set(link, d);
    link.waiting = true;
    if (!this.dials.submit(d)) {
      this.dialing.delete(link);
      this.dropped.hit();
      queueMicrotask(() => link.onClose("dial dropped: too many dials a peer asked for are waiting"));
    }
    return link;
  }

  private connect(link: PeerLink, host: string, port: number): void {
    link.waiting = false;
    // Node stopped while queued: nothing to start (the core closes the link).
    if (link.state === "closed" || this.stopped) return;
    (this.opts.connect ?? connect)(host, port, { highWater: this.opts.sendBufferBytes, timeoutMs: this.opts.handshakeTimeoutMs }, (conn) => {
      if (link.state === "closed" || this.stopped) {
        // The dial was given up (timed out, cancelled, node stopped) before its socket
        // opened: a late socket must not become a link.
        conn.close(link.closing ?? "dial abandoned");
        return { data: () => {}, close: () => {} };
      }
      link.attach(conn);
      return { data: (c) => link.onData(c), close: (r) => link.onClose(r) };
    }).catch((e: Error) => link.onClose(e.message));
  }

  /** A dial of ours finished its handshake or ended (also while it waited): the next may start. */
  private dialDone(link: PeerLink): void {
    const d = this.dialing.get(link);
    if (d === undefined) return;
    this.dialing.delete(link);
    this.dials.finish(d);
  }

  private newLink(initiator: boolean, target = "", check = false): PeerLink {
    const hs = {
      hostkey: this.opts.hostkey,
      advertisedAddr: this.opts.advertise ?? this.listener?.address ?? "",
      powBits: this.opts.powBits,
      // An address check is work we do for a joiner that paid only our own difficulty: a
      // joiner demanding more (up to 28 bits, 128 times the default) would make every JOIN it
      // sends cost us that much. Refused; the joiner just gets no walks.
      ...(check ? { maxPowBits: this.opts.powBits } : {}),
      timeoutMs: this.opts.handshakeTimeoutMs,
      // Banned peers are refused before either side spends work on them: by the identity in
      // HELLO/CHALLENGE and the IP seen on the socket, never by the address the peer claims.
      admit: (id: string): string | null => this.opts.admit(id, remoteHost(link.remote)),
    };
    const link: PeerLink = new PeerLink(initiator, hs, this.opts.log, {
      established: (l) => {
        this.handshakes.ok++;
        this.dialDone(l);
        this.events?.established(l);
      },
      message: (l, m) => this.events?.message(l, m),
      closed: (l, reason) => {
        if (this.links.delete(l)) {
          const { records, frames } = l.sealed;
          this.sealedGone.records += records;
          this.sealedGone.frames += frames;
        }
        this.dialDone(l);
        if (!initiator && l.handshakeCode === HsCode.Self && l.conn !== null) this.selfDialFound(l.conn.remote);
        if (l.peer === null && l.conn !== null) this.handshakes.failed++;
        if (l.peer === null && l.conn !== null && !this.stopped) {
          // A handshake that failed is worth seeing; the core never heard of incoming ones.
          l.log.info("handshake failed, link closed", { code: l.handshakeCode ?? "ERR_HS_ABORTED", reason });
        }
        if (initiator || l.peer !== null) this.events?.closed(l, reason);
      },
      violated: (l, why) => this.events?.violated(l, why),
    }, target);
    this.links.add(link);
    return link;
  }

  private accept(conn: Conn) {
    if (this.stopped) return null;
    if (this.handshakingIn >= this.opts.maxHandshakes) {
      this.opts.log.warn("peer connection refused: too many handshakes in progress", { remote: conn.remote });
      return null;
    }
    if (this.opts.maxConnsPerIp > 0) {
      const ip = remoteHost(conn.remote);
      let fromIp = 0;
      for (const l of this.links) if (!l.initiator && l.conn && remoteHost(l.conn.remote) === ip) fromIp++;
      if (fromIp >= this.opts.maxConnsPerIp) {
        this.opts.log.warn("peer connection refused: too many connections from one address", { remote: conn.remote, max: this.opts.maxConnsPerIp });
        return null;
      }
    }
    const link = this.newLink(false);
    link.attach(conn);
    return { data: (c: Uint8Array) => link.onData(c), close: (r: string) => link.onClose(r) };
  }
}
