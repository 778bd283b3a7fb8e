// The local API: modules connect, subscribe (NOTIFY), announce (ANNOUNCE) and answer
// notifications (VALIDATION). Items from peers reach modules through `validate()`, which
// resolves with the verdict the contract defines; the overlay forwards only on "valid".

import type { Address } from "../config/schema.ts";
import type { Conn } from "../net/conn.ts";
import { listen, type Listener } from "../net/tcp.ts";
import { LogThrottle, TokenBucket } from "../util/bucket.ts";
import type { Logger } from "../util/log.ts";
import { realEnv } from "../util/real-env.ts";
import { copyOf } from "../wire/bytes.ts";
import { MODULE_FRAME, decodeModuleMessage, encodeNotification, type ModuleMessage } from "../wire/api.ts";
import { isWireError } from "../wire/errors.ts";
import { FrameDecoder } from "../wire/frame.ts";
import { VerdictTable, type Subscriber, type Verdict } from "./verdicts.ts";

export interface ApiServerOptions {
  readonly address: Address;
  readonly validationTimeoutMs: number;
  readonly maxPending: number;
  readonly maxConnections: number;
  readonly sendBufferBytes: number;
  /** ANNOUNCEs per second accepted from one connection (burst of the same size). */
  readonly announcesPerS?: number;
  readonly log: Logger;
}

/** Where a local ANNOUNCE goes once it is accepted: the overlay. */
export type AnnounceSink = (ttl: number, dataType: number, data: Uint8Array) => void;

class ModuleConn implements Subscriber {
  readonly decoder = new FrameDecoder(MODULE_FRAME);
  /**
   * Its subscriptions, one bit per data type (8 KiB from its first NOTIFY on): what a
   * connection subscribes to costs the same bounded memory however many types it names, where
   * a set per connection and an index per type grew by the entry (256 connections naming all
   * 65536 types took 1.6 GB).
   */
  private typeBits: Uint8Array | null = null;
  /** How many types it subscribed to. */
  subscriptions = 0;
  readonly announces: TokenBucket;
  readonly announceLog: LogThrottle;
  /** Ignored VALIDATIONs are logged at most once a second per connection, the last one's fields with the count. */
  readonly ignoredLog: LogThrottle;
  lastIgnored: { id: number; valid: boolean; why: string } = { id: 0, valid: false, why: "" };
  constructor(
    readonly conn: Conn,
    readonly log: Logger,
    announcesPerS: number,
  ) {
    this.announces = new TokenBucket(announcesPerS, realEnv);
    this.announceLog = new LogThrottle((n) => log.warn("announces dropped: module over api_announces_per_s", { dropped: n }), realEnv);
    this.ignoredLog = new LogThrottle((n) => log.info("validation ignored", { ...this.lastIgnored, count: n }), realEnv);
  }
  get id(): number {
    return this.conn.id;
  }
  /** Subscribes to `dataType`; false if it already was. */
  subscribe(dataType: number): boolean {
    const bits = (this.typeBits ??= new Uint8Array(65536 / 8));
    const bit = 1 << (dataType & 7);
    if ((bits[dataType >> 3]! & bit) !== 0) return false;
    bits[dataType >> 3]! |= bit;
    this.subscriptions++;
    return true;
  }
  subscribes(dataType: number): boolean {
    return this.typeBits !== null && (this.typeBits[dataType >> 3]! & (1 << (dataType & 7))) !== 0;
  }
}

/** A local announce's copy is spread whatever its subscribers answer. */
const ignoreVerdict = (): void => {};

export class ApiServer {
  private readonly listener: Listener;
  private readonly clients = new Set<ModuleConn>();
  private readonly verdicts: VerdictTable;
  private readonly log: Logger;
  private onAnnounce: AnnounceSink = () => {};
  /** Connections subscribed to at least one type (they split the verdict table: share()). */
  private subscribedConns = 0;
  private readonly stuckLog: LogThrottle;
  private readonly fullLog: LogThrottle;
  private readonly skippedLog: LogThrottle;

  constructor(private readonly opts: ApiServerOptions) {
    this.log = opts.log;
    this.verdicts = new VerdictTable(opts.validationTimeoutMs, opts.maxPending);
    this.stuckLog = new LogThrottle((n) =>
      this.log.warn("items dropped: a subscriber owes too many verdicts", { dropped: n, limit: this.share() }), realEnv,
    );
    this.fullLog = new LogThrottle((n) =>
      this.log.warn("items dropped: too many verdicts pending", { dropped: n, pending: this.verdicts.size }), realEnv,
    );
    this.skippedLog = new LogThrottle((n) =>
      this.log.warn("local deliveries skipped: too many verdicts pending", { skipped: n, pending: this.verdicts.size }), realEnv,
    );
    this.listener = listen(opts.address.host, opts.address.port, { highWater: opts.sendBufferBytes }, (conn) =>
      this.accept(conn),
    );
  }

  /** The bound address (the real port when 0 was asked for). */
  get address(): string {
    return this.listener.address;
  }
  get port(): number {
    return this.listener.port;
  }
  get connectionCount(): number {
    return this.clients.size;
  }
  get pendingCount(): number {
    return this.verdicts.size;
  }

  setAnnounceSink(sink: AnnounceSink): void {
    this.onAnnounce = sink;
  }

  /** Subscriptions over all connections and types (a connection counts once per type). */
  get subscriptionCount(): number {
    let n = 0;
    for (const c of this.clients) n += c.subscriptions;
    return n;
  }
  /** Number of local connections subscribed to `dataType`. */
  subscriberCount(dataType: number): number {
    return this.subscribersOf(dataType).length;
  }

  /** The connections subscribed to `dataType`, in the order they connected. */
  private subscribersOf(dataType: number): ModuleConn[] {
    const out: ModuleConn[] = [];
    for (const c of this.clients) if (c.subscribes(dataType)) out.push(c);
    return out;
  }

  /**
   * Hands an item received from a peer to every subscriber of its type and calls `done` once
   * with the verdict: "valid" only when every notified subscriber still connected said valid.
   * A callback, not a promise: this runs for every item, and the promise, its reaction and a
   * timer per item were a tenth of the node's work per delivery.
   */
  validate(dataType: number, data: Uint8Array, done: (v: Verdict) => void): void {
    const targets = this.subscribersOf(dataType);
    if (targets.length === 0) return done("unsubscribed");
    // A module that stops answering may hold at most its share of the table, so it cannot
    // starve the other modules' data types of verdict slots.
    if (targets.some((t) => this.owesTooMany(t))) {
      this.stuckLog.hit();
      return done("overloaded");
    }
    const id = this.verdicts.open(targets, true, done);
    if (id === null) {
      this.fullLog.hit();
      return done("overloaded");
    }
    this.notifyAll(id, targets, dataType, data);
  }

  stop(): void {
    this.listener.stop();
    for (const c of [...this.clients]) c.conn.close("node shutting down");
    this.verdicts.clear();
  }

  private notifyAll(id: number, targets: readonly ModuleConn[], dataType: number, data: Uint8Array): void {
    const frame = encodeNotification({ id, dataType, data });
    for (const t of targets) {
      if (!t.conn.send(frame)) this.verdicts.withdraw(id, t);
    }
  }

  private accept(conn: Conn) {
    if (this.clients.size >= this.opts.maxConnections) {
      this.log.warn("module connection refused: too many connections", { remote: conn.remote, max: this.opts.maxConnections });
      return null;
    }
    const client = new ModuleConn(conn, this.log.child("api", { conn: conn.id }), this.opts.announcesPerS ?? 5000);
    this.clients.add(client);
    client.log.debug("module connected", { remote: conn.remote });
    return {
      data: (chunk: Uint8Array) => this.onData(client, chunk),
      close: (reason: string) => this.onClose(client, reason),
    };
  }

  private onData(client: ModuleConn, chunk: Uint8Array): void {
    try {
      client.decoder.feed(chunk, (frame) => {
        this.handle(client, decodeModuleMessage(frame));
        return !client.conn.closed;
      });
    } catch (e) {
      this.violation(client, e);
    }
  }

  private handle(client: ModuleConn, msg: ModuleMessage): void {
    switch (msg.kind) {
      case "notify": {
        if (!client.subscribe(msg.dataType)) return;
        if (client.subscriptions === 1) this.subscribedConns++;
        client.log.debug("subscribed", { type: msg.dataType });
        return;
      }
      case "announce": {
        if (!client.announces.take()) {
          // A module announcing faster than we let it: drop, and say so (once a second).
          client.announceLog.hit();
          return;
        }
        // The frame's bytes belong to the socket's chunk; keep our own copy.
        const data = copyOf(msg.data);
        client.log.debug("announce", { type: msg.dataType, ttl: msg.ttl, bytes: data.byteLength });
        this.deliverLocal(client, msg.dataType, data);
        this.onAnnounce(msg.ttl, msg.dataType, data);
        return;
      }
      case "validation": {
        const r = this.verdicts.answer(msg.id, client, msg.valid);
        if (r !== "accepted") {
          client.lastIgnored = { id: msg.id, valid: msg.valid, why: r };
          client.ignoredLog.hit();
        }
        return;
      }
    }
  }

  /**
   * The verdicts one subscriber may owe: an equal share of the table among the subscribed
   * connections plus one more share kept free for a module that subscribes next, and at most a
   * quarter. So however many modules stop answering, together they leave room for the others.
   */
  private share(): number {
    const max = this.opts.maxPending;
    // Small tables (tests, tiny deployments) are not split that finely: the cap bites from 256 entries up.
    if (max < 256) return Math.min(max, 64);
    return Math.max(1, Math.floor(max / Math.max(4, this.subscribedConns + 1)));
  }

  /** Whether `sub` already owes its share of the verdict table (the per-module cap). */
  private owesTooMany(sub: ModuleConn): boolean {
    const share = this.share();
    return share < this.opts.maxPending && this.verdicts.owedBy(sub) >= share;
  }

  /**
   * A local ANNOUNCE is shown to the other local subscribers; their answers gate nothing. Its
   * slots fall under the same per-module cap as items from peers: a subscriber that owes its
   * share is not shown it, so a fast local announcer and a silent co-subscriber cannot fill
   * the table and starve items from peers.
   */
  private deliverLocal(from: ModuleConn, dataType: number, data: Uint8Array): void {
    const others = this.subscribersOf(dataType).filter((s) => s !== from);
    const targets = others.filter((s) => !this.owesTooMany(s));
    if (targets.length < others.length) this.stuckLog.hit();
    if (targets.length === 0) return;
    const id = this.verdicts.open(targets, false, ignoreVerdict);
    if (id === null) {
      this.skippedLog.hit();
      return;
    }
    this.notifyAll(id, targets, dataType, data);
  }

  private violation(client: ModuleConn, e: unknown): void {
    if (!isWireError(e)) {
      // A bug of ours, not the module's: keep the node up, drop just this connection.
      client.log.error("internal error while handling module input, closing connection", { why: String((e as Error)?.stack ?? e) });
      client.conn.close("internal error");
      return;
    }
    client.log.warn("protocol violation, closing module connection", { code: e.code, why: e.message });
    client.conn.close(`protocol violation: ${e.message}`);
  }

  private onClose(client: ModuleConn, reason: string): void {
    this.clients.delete(client);
    if (client.subscriptions > 0) this.subscribedConns--;
    this.verdicts.forget(client);
    // A module we cut off is news; one that just went away is not.
    if (reason === "closed by remote") client.log.debug("module disconnected", { reason });
    else client.log.info("module disconnected", { reason });
  }
}
